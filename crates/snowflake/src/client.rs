//! The HTTP core every Snowflake call goes through: authentication headers, the retry policy,
//! one re-sign on 401, and a log line per attempt with the requestId.

use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::auth::JwtSigner;
use crate::error::{SnowflakeError, is_retryable_status};
use crate::retry::RetryPolicy;

/// `<product>/<version> (<os>; <arch>)`: Snowflake asks clients to identify themselves.
pub fn user_agent() -> String {
    format!(
        "customer-pipeline-snowflake/{} ({}; {}) rust",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A successful answer and how many attempts it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub attempts: u32,
}

/// One Snowflake account and user, over HTTPS (or plain HTTP to a local stand-in).
#[derive(Debug)]
pub struct SnowflakeClient {
    http: reqwest::Client,
    base_url: String,
    signer: JwtSigner,
    policy: RetryPolicy,
}

/// One request to make: built afresh for every attempt.
pub(crate) struct Call<'a> {
    pub operation: &'static str,
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
    pub json_body: Option<&'a serde_json::Value>,
    pub request_id: &'a str,
    /// Resends add `retry=true`, so Snowflake does not run a statement twice (SQL API).
    pub mark_resends: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
    #[serde(rename = "sqlState")]
    sql_state: Option<String>,
    #[serde(rename = "statementHandle")]
    statement_handle: Option<String>,
}

impl SnowflakeClient {
    pub fn new(
        base_url: impl Into<String>,
        signer: JwtSigner,
        policy: RetryPolicy,
    ) -> Result<Self, SnowflakeError> {
        let base_url = checked_base_url(&base_url.into())?;
        let http = reqwest::Client::builder()
            .user_agent(user_agent())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| {
                SnowflakeError::InvalidRequest(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(SnowflakeClient {
            http,
            base_url,
            signer,
            policy,
        })
    }

    pub fn signer(&self) -> &JwtSigner {
        &self.signer
    }

    /// Sends `call`, retrying retryable failures until `deadline`, re-signing once on 401.
    pub(crate) async fn execute(
        &self,
        call: &Call<'_>,
        deadline: Instant,
    ) -> Result<Answer, SnowflakeError> {
        let url = format!("{}{}", self.base_url, call.path_and_query);
        let mut attempt = 0u32;
        let mut resigned = false;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let token = self.signer.token()?;
            let url = if call.mark_resends && attempt > 1 {
                format!("{url}&retry=true")
            } else {
                url.clone()
            };
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .bearer_auth(token)
                .header("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT")
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(
                    remaining
                        .min(self.policy.attempt_timeout)
                        .max(Duration::from_millis(1)),
                );
            if let Some(body) = call.json_body {
                request = request.json(body);
            }
            let started = Instant::now();
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.bytes().await.unwrap_or_default();
                    let ms = started.elapsed().as_millis() as u64;
                    if status.is_success() {
                        info!(
                            operation = call.operation,
                            request_id = call.request_id,
                            status = status.as_u16(),
                            attempt,
                            ms,
                            "snowflake call succeeded"
                        );
                        return Ok(Answer {
                            status: status.as_u16(),
                            body,
                            attempts: attempt,
                        });
                    }
                    let error = http_error(call, status, &body);
                    warn!(operation = call.operation, request_id = call.request_id, status = status.as_u16(), attempt, ms, error = %error, "snowflake call failed");
                    if status == StatusCode::UNAUTHORIZED && !resigned {
                        // A token can be refused near its expiry or after a clock step: sign a
                        // new one and try once more, straight away.
                        resigned = true;
                        self.signer.invalidate();
                        continue;
                    }
                    if !is_retryable_status(status.as_u16()) {
                        return Err(error);
                    }
                    error
                }
                Err(err) => {
                    let error = SnowflakeError::Transport {
                        operation: call.operation,
                        message: describe_transport(&err),
                        request_id: call.request_id.to_owned(),
                    };
                    warn!(operation = call.operation, request_id = call.request_id, attempt, error = %error, "snowflake call failed");
                    error
                }
            };
            let delay = self.policy.delay(attempt);
            if Instant::now() + delay >= deadline {
                return Err(SnowflakeError::DeadlineExceeded {
                    operation: call.operation,
                    attempts: attempt,
                    last: Box::new(failure),
                });
            }
            tokio::time::sleep(delay).await;
        }
    }
}

fn http_error(call: &Call<'_>, status: StatusCode, body: &[u8]) -> SnowflakeError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.code.as_ref())
        .map(|c| match c {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    if status.as_u16() == 422 {
        return SnowflakeError::StatementFailed {
            code: code.unwrap_or_default(),
            sql_state: parsed
                .as_ref()
                .and_then(|b| b.sql_state.clone())
                .unwrap_or_default(),
            message: parsed
                .as_ref()
                .and_then(|b| b.message.clone())
                .unwrap_or_default(),
            statement_handle: parsed.as_ref().and_then(|b| b.statement_handle.clone()),
            request_id: call.request_id.to_owned(),
        };
    }
    let message = parsed
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    SnowflakeError::Http {
        operation: call.operation,
        status: status.as_u16(),
        code,
        message: if message.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            message
        },
        request_id: call.request_id.to_owned(),
    }
}

fn describe_transport(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    // The source chain says why (reset, refused…); the URL carries no secret.
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Whether a secret's URL may carry a token: `https` to a host, or plain `http` only to a
/// loopback address (the local stand-ins). The Snowflake base URL and the alert webhook share it.
pub fn is_https_or_loopback(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => loopback,
        _ => false,
    }
}

/// The base URL, without a trailing slash. Every request carries a bearer JWT, so it must be
/// https; plain http only to a loopback address (the local stand-in and tests). The error does
/// not echo the URL, which comes from a secret.
fn checked_base_url(base_url: &str) -> Result<String, SnowflakeError> {
    let parsed = url::Url::parse(base_url.trim()).map_err(|_| {
        SnowflakeError::InvalidRequest("the Snowflake base URL is not a URL".into())
    })?;
    if !is_https_or_loopback(&parsed) {
        return Err(SnowflakeError::InvalidRequest(
            "the Snowflake base URL must be https (plain http only to a loopback address)".into(),
        ));
    }
    Ok(base_url.trim().trim_end_matches('/').to_owned())
}
