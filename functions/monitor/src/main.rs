//! Wiring only: configuration, the S3 client and the Snowflake settings source are built once per
//! cold start; the handler is `pipeline::monitor::handler`, which `pipectl dev` runs too.

// The monitor future nests the settings, reconciliation, S3 and SQL API futures deeply.
#![recursion_limit = "256"]

use lambda_runtime::{Diagnostic, Error, LambdaEvent};
use pipeline::aws::{
    ConfiguredSettings, S3Client, S3Store, SecretsManagerWebhookUrl, SqsQueue, config_from_env,
};
use pipeline::config::{Env, MonitorConfig};
use pipeline::monitor::handler::MonitorHandler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::lambda::init_logging();
    let config = pipeline::lambda::load_config(|| MonitorConfig::from_env(&Env::process()))?;
    let aws = config_from_env().await;
    let store = S3Store::new(S3Client::new(&aws), config.bucket.clone());
    let source = ConfiguredSettings::new(&aws, config.snowflake.clone());
    let ingest_queue = config
        .ingest_queue_url
        .as_deref()
        .map(|url| SqsQueue::new(&aws, url));
    let webhook_url = config
        .alert_webhook_secret
        .as_deref()
        .map(|arn| SecretsManagerWebhookUrl::new(&aws, arn));
    let monitor = &MonitorHandler::new(store, source, ingest_queue, webhook_url, &config);
    let (margin, timeout) = (config.deadline_margin, config.timeout);
    pipeline::lambda::run(
        &config.metrics_namespace,
        "monitor",
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = pipeline::lambda::deadline(event.context.deadline, margin, timeout);
            monitor
                .handle(chrono::Utc::now(), deadline)
                .await
                .map_err(|failure| Diagnostic {
                    error_type: failure.error_type().into(),
                    error_message: failure.to_string(),
                })
        },
    )
    .await
}
