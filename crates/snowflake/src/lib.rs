//! A small Snowflake client for the pipeline: key-pair JWT authentication, the Snowpipe REST
//! API, the SQL API v2, and one retry policy, with no AWS inside. The base URL is configurable so tests and the
//! local stand-in can point it at 127.0.0.1.

pub mod auth;
mod client;
pub mod error;
mod pipe_name;
pub mod retry;
pub mod snowpipe;
pub mod sql_api;
mod task_state;

pub use auth::{JwtSigner, KeyPair, default_base_url, jwt_account};
pub use client::{SnowflakeClient, is_https_or_loopback, user_agent};
pub use error::SnowflakeError;
pub use pipe_name::{NotQualified, PipeName};
pub use retry::RetryPolicy;
pub use snowpipe::{InsertFilesResponse, Snowpipe, StagedFile};
pub use sql_api::{Binding, ResultSet, SqlApi, StatementContext};
pub use task_state::{TaskState, UnknownTaskState};

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The account identifier as in the host name: `xy12345.us-east-2.aws`, `myorg-myaccount`.
    pub account: String,
    pub user: String,
    /// The account for the JWT claims, when [`jwt_account`]'s normalisation does not fit (some
    /// org-account setups need the locator).
    pub jwt_account: Option<String>,
    /// Defaults to `https://<account>.snowflakecomputing.com`.
    pub base_url: Option<String>,
}

impl SnowflakeClient {
    /// A client for `connection`, signing with `key`.
    pub fn connect(
        connection: &Connection,
        key: KeyPair,
        policy: RetryPolicy,
    ) -> Result<SnowflakeClient, SnowflakeError> {
        check_account(&connection.account)?;
        let account = connection
            .jwt_account
            .clone()
            .unwrap_or_else(|| jwt_account(&connection.account));
        let signer = JwtSigner::new(key, &account, &connection.user);
        let base_url = connection
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url(&connection.account));
        SnowflakeClient::new(base_url, signer, policy)
    }
}

/// The account identifier becomes a host name (`<account>.snowflakecomputing.com`), so it may
/// hold only what Snowflake's identifiers hold: letters, digits and underscores, with hyphens
/// between organisation and account and dots in a legacy locator's region
/// (https://docs.snowflake.com/en/user-guide/admin-account-identifier, "Requirements for account
/// identifiers"). A `/`, `@`, `#` or `:` from a secret could otherwise change the host the signed
/// token goes to. The error does not echo the value.
fn check_account(account: &str) -> Result<(), SnowflakeError> {
    let account = account.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if account.is_empty() || !account.chars().all(allowed) {
        return Err(SnowflakeError::InvalidRequest(
            "the Snowflake account identifier may hold only letters, digits, '_', '-' and '.'"
                .into(),
        ));
    }
    Ok(())
}
