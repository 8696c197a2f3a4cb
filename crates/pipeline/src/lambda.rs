//! Lambda wiring shared by every function: JSON logs through lambda_runtime's tracing setup
//! (the runtime's span puts the request id on every line) and per-invocation EMF metrics.

use std::fmt::Debug;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde::{Serialize, de::DeserializeOwned};

use crate::config::ConfigError;

/// Starts the runtime with tracing and an EMF collector whose metrics carry the dimension
/// `Function=<function>` and are flushed after each invocation. The handler's error becomes
/// Lambda's error payload; its `Diagnostic` error type tells operators what kind it is.
pub async fn run<E, R, Err, F, Fut>(
    namespace: &str,
    function: &'static str,
    handler: F,
) -> Result<(), Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    Err: Into<Diagnostic> + Debug,
    F: FnMut(LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, Err>>,
{
    let metrics = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .with_dimension("Function", function)
        .lambda_cold_start_metric("ColdStart")
        .with_lambda_request_id("RequestId")
        .init()
        .map_err(|e| format!("metrics setup failed: {e}"))?;
    metrics_cloudwatch_embedded::lambda::service::run(metrics, service_fn(handler)).await
}

/// Reads the configuration at cold start. A problem is logged as one structured error line (the
/// readable message operators search for) before the start fails with it.
pub fn load_config<T>(load: impl FnOnce() -> Result<T, ConfigError>) -> Result<T, ConfigError> {
    load().inspect_err(|err| {
        lambda_runtime::tracing::error!(error = %err, "invalid configuration: the function cannot start");
    })
}

/// Call first in `main`: honours AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL / RUST_LOG.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The invocation's deadline (epoch milliseconds, from the Runtime API's
/// `Lambda-Runtime-Deadline-Ms`) as an `Instant`, less `margin` kept back for flushing metrics
/// and answering. A deadline already past when the invocation starts is not credible (cargo
/// lambda's local runtime sends a fixed `600000`, not an epoch time): then the function's
/// configured `timeout` applies, with a warning.
pub fn deadline(
    deadline_ms: u64,
    margin: std::time::Duration,
    timeout: std::time::Duration,
) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let remaining = time_left(deadline_ms, now_ms, timeout).unwrap_or_else(|| {
        lambda_runtime::tracing::warn!(
            deadline_ms,
            now_ms,
            timeout_seconds = timeout.as_secs(),
            "the invocation's deadline is already past when it starts; using the configured timeout"
        );
        timeout
    });
    tokio::time::Instant::now() + remaining.saturating_sub(margin)
}

/// The time to `deadline_ms`, or `None` when it is already past (or further off than any
/// Lambda timeout allows, 900 s, with `timeout` as the bound).
fn time_left(
    deadline_ms: u64,
    now_ms: u64,
    timeout: std::time::Duration,
) -> Option<std::time::Duration> {
    let left = deadline_ms.checked_sub(now_ms).filter(|&ms| ms > 0)?;
    Some(
        std::time::Duration::from_millis(left)
            .min(timeout.max(std::time::Duration::from_secs(900))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW_MS: u64 = 1_764_633_600_000;

    #[test]
    fn an_epoch_deadline_gives_the_time_left() {
        let left = time_left(NOW_MS + 30_000, NOW_MS, Duration::from_secs(120));
        assert_eq!(left, Some(Duration::from_secs(30)));
    }

    #[test]
    fn cargo_lambdas_fixed_600000_is_not_a_deadline() {
        assert_eq!(time_left(600_000, NOW_MS, Duration::from_secs(120)), None);
    }
}
