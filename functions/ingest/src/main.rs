//! Wiring only: configuration, the S3 client and the Snowflake settings source are built once
//! per cold start; the handler is `pipeline::ingest::handler`, which `pipectl dev` runs too.

// The ingest future nests the S3, validation and Snowpipe futures deeply.
#![recursion_limit = "256"]

use std::time::Duration;

use lambda_runtime::{Diagnostic, Error, LambdaEvent};
use pipeline::aws::{S3Client, S3Store, SecretsManagerSettings, config_from_env};
use pipeline::config::{Env, IngestConfig, SnowflakeSource};
use pipeline::ingest::PipeLoader;
use pipeline::ingest::handler::Ingest;
use pipeline::ingest::pipe::CachedPipe;
use pipeline::snowflake_settings::FixedSettings;
use snowflake::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::lambda::init_logging();
    let config = pipeline::lambda::load_config(|| IngestConfig::from_env(&Env::process()))?;
    let aws = config_from_env().await;
    let store = S3Store::new(S3Client::new(&aws), config.bucket.clone());
    let (policy, settings) = (RetryPolicy::default(), config.settings.clone());
    match config.snowflake.clone() {
        SnowflakeSource::Secret { id, pipe, ttl } => {
            let source = SecretsManagerSettings::new(&aws, id, pipe);
            let pipe = CachedPipe::new(source, ttl, policy);
            serve(Ingest::new(store, pipe, settings), &config).await
        }
        SnowflakeSource::Fixed(fixed) => {
            let pipe = CachedPipe::new(FixedSettings(fixed), Duration::MAX, policy);
            serve(Ingest::new(store, pipe, settings), &config).await
        }
    }
}

async fn serve<P: PipeLoader>(ingest: Ingest<P>, config: &IngestConfig) -> Result<(), Error> {
    let ingest = &ingest;
    let (margin, timeout) = (config.deadline_margin, config.timeout);
    pipeline::lambda::run(
        &config.metrics_namespace,
        "ingest",
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = pipeline::lambda::deadline(event.context.deadline, margin, timeout);
            ingest
                .handle(&event.payload, deadline)
                .await
                .map_err(|failure| Diagnostic {
                    error_type: failure.error_type().into(),
                    error_message: failure.to_string(),
                })
        },
    )
    .await
}
