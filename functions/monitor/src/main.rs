//! Wiring only: configuration, the S3 client and the Snowflake settings source are built once per
//! cold start; the logic is in `handler` (and `pipeline::monitor`).

mod handler;

use handler::MonitorHandler;
use lambda_runtime::{Error, LambdaEvent};
use pipeline::aws::{S3Client, S3Store, SecretsManagerSettings, config_from_env};
use pipeline::config::{Env, MonitorConfig, SnowflakeSource};
use pipeline::ingest::credentials::{FixedSettings, SettingsSource};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::lambda::init_logging();
    let config = pipeline::lambda::load_config(|| MonitorConfig::from_env(&Env::process()))?;
    let aws = config_from_env().await;
    let store = S3Store::new(S3Client::new(&aws), config.bucket.clone());
    match config.snowflake.clone() {
        SnowflakeSource::Secret { id, pipe, .. } => {
            serve(
                MonitorHandler::new(store, SecretsManagerSettings::new(&aws, id, pipe), &config),
                &config,
            )
            .await
        }
        SnowflakeSource::Fixed(settings) => {
            serve(
                MonitorHandler::new(store, FixedSettings(settings), &config),
                &config,
            )
            .await
        }
    }
}

async fn serve<Src: SettingsSource>(
    monitor: MonitorHandler<S3Store, Src>,
    config: &MonitorConfig,
) -> Result<(), Error> {
    let monitor = &monitor;
    let margin = config.deadline_margin;
    pipeline::lambda::run(
        &config.metrics_namespace,
        "monitor",
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = pipeline::lambda::deadline(event.context.deadline, margin);
            monitor.handle(chrono::Utc::now(), deadline).await
        },
    )
    .await
}
