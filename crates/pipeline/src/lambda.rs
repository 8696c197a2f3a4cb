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

/// The invocation's deadline (epoch milliseconds, from the Runtime API) as an `Instant`, less
/// `margin` kept back for flushing metrics and answering.
pub fn deadline(deadline_ms: u64, margin: std::time::Duration) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let remaining = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    tokio::time::Instant::now() + remaining.saturating_sub(margin)
}
