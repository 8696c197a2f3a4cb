//! Wiring only: configuration, the S3 client and the Snowflake credentials source are built
//! once per cold start; the logic is in `handler` (and `pipeline::ingest`).

// The ingest future nests the S3, validation and Snowpipe futures deeply.
#![recursion_limit = "256"]

mod handler;

use std::time::Duration;

use handler::Ingest;
use lambda_runtime::{Error, LambdaEvent};
use pipeline::aws::{S3Client, S3Store, SecretsManagerSettings, config_from_env};
use pipeline::config::{Env, IngestConfig, SnowflakeSource};
use pipeline::ingest::PipeLoader;
use pipeline::ingest::credentials::{CachedPipe, FixedSettings};
use snowflake::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::lambda::init_logging();
    let config = pipeline::lambda::load_config(|| IngestConfig::from_env(&Env::process()))?;
    let aws = config_from_env().await;
    let store = S3Store::new(S3Client::new(&aws), config.bucket.clone());
    let policy = RetryPolicy::default();
    match config.snowflake.clone() {
        SnowflakeSource::Secret { id, pipe, ttl } => {
            let settings = SecretsManagerSettings::new(&aws, id, pipe);
            let pipe = CachedPipe::new(settings, ttl, policy);
            serve(Ingest::new(store, pipe, &config), &config).await
        }
        SnowflakeSource::Fixed(settings) => {
            let pipe = CachedPipe::new(FixedSettings(settings), Duration::MAX, policy);
            serve(Ingest::new(store, pipe, &config), &config).await
        }
    }
}

async fn serve<P: PipeLoader>(
    ingest: Ingest<S3Store, P>,
    config: &IngestConfig,
) -> Result<(), Error> {
    let ingest = &ingest;
    let (margin, timeout) = (config.deadline_margin, config.timeout);
    pipeline::lambda::run(
        &config.metrics_namespace,
        "ingest",
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = pipeline::lambda::deadline(event.context.deadline, margin, timeout);
            ingest.handle(&event.payload, deadline).await
        },
    )
    .await
}
