//! Errors of the Snowflake client, classified so callers know whether a retry can help and
//! which setting to check. Messages never contain tokens or key material.

/// A Snowflake call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnowflakeError {
    /// Snowflake answered with an error status. `code` and `message` are Snowflake's.
    #[error("{operation} failed: HTTP {status}{}: {message} (requestId {request_id})", code.as_deref().map(|c| format!(", code {c}")).unwrap_or_default())]
    Http {
        operation: &'static str,
        status: u16,
        code: Option<String>,
        message: String,
        request_id: String,
    },
    /// The SQL statement failed (HTTP 422): Snowflake's error code, SQLSTATE and message.
    #[error("statement failed: {code} ({sql_state}): {message} (requestId {request_id})")]
    StatementFailed {
        code: String,
        sql_state: String,
        message: String,
        statement_handle: Option<String>,
        request_id: String,
    },
    /// No HTTP answer: connection refused or reset, timeout.
    #[error("{operation} failed: {message} (requestId {request_id})")]
    Transport {
        operation: &'static str,
        message: String,
        request_id: String,
    },
    /// Retryable failures until the caller's deadline left no time for another attempt.
    #[error(
        "{operation} gave up after {attempts} attempts, the deadline left no time for another: {last}"
    )]
    DeadlineExceeded {
        operation: &'static str,
        attempts: u32,
        last: Box<SnowflakeError>,
    },
    /// The answer was not what the API documents.
    #[error("{operation}: unexpected response: {message} (requestId {request_id})")]
    UnexpectedResponse {
        operation: &'static str,
        message: String,
        request_id: String,
    },
    /// A request the API would refuse, caught before sending.
    #[error("{0}")]
    InvalidRequest(String),
    /// The private key cannot be used (message says what to do; never the key itself).
    #[error("private key: {0}")]
    Key(String),
}

/// HTTP statuses worth retrying: timeouts, throttling, transient server errors.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

impl SnowflakeError {
    /// Whether the same request may succeed later.
    pub fn retryable(&self) -> bool {
        match self {
            SnowflakeError::Http { status, .. } => is_retryable_status(*status),
            SnowflakeError::Transport { .. } | SnowflakeError::DeadlineExceeded { .. } => true,
            SnowflakeError::UnexpectedResponse { .. }
            | SnowflakeError::InvalidRequest(_)
            | SnowflakeError::Key(_)
            | SnowflakeError::StatementFailed { .. } => false,
        }
    }

    /// The HTTP status, if Snowflake answered (looking through a deadline error).
    pub fn status(&self) -> Option<u16> {
        match self {
            SnowflakeError::Http { status, .. } => Some(*status),
            SnowflakeError::StatementFailed { .. } => Some(422),
            SnowflakeError::DeadlineExceeded { last, .. } => last.status(),
            _ => None,
        }
    }

    /// For configuration errors, which setting to check.
    pub fn configuration_hint(&self) -> Option<&'static str> {
        match self.status() {
            Some(401) => Some(
                "authentication failed after re-signing: check the account and user, and that the user's \
                 RSA_PUBLIC_KEY_FP (DESCRIBE USER) equals the key's fingerprint",
            ),
            Some(403) => {
                Some("the user's default role lacks a privilege on the pipe or its objects")
            }
            Some(404) => Some(
                "the pipe was not found: check the pipe name (DB.SCHEMA.PIPE as SHOW PIPES shows it, \
                 case-sensitive) and that the user's default role has OPERATE and MONITOR on it, USAGE \
                 on its stage and INSERT, SELECT on its table (sql/06_grants.sql)",
            ),
            _ => match self {
                SnowflakeError::Key(_) => Some("the private key setting"),
                _ => None,
            },
        }
    }
}
