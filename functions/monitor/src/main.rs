//! Wiring only: configuration, the S3 client and the Snowflake settings source are built once per
//! cold start; the logic is in `handler` (and `pipeline::monitor`).

mod handler;

use handler::MonitorHandler;
use lambda_runtime::{Error, LambdaEvent};
use pipeline::aws::{ConfiguredSettings, S3Client, S3Store, config_from_env};
use pipeline::config::{Env, MonitorConfig};
use pipeline::ingest::credentials::SettingsSource;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::lambda::init_logging();
    let config = pipeline::lambda::load_config(|| MonitorConfig::from_env(&Env::process()))?;
    let aws = config_from_env().await;
    let store = S3Store::new(S3Client::new(&aws), config.bucket.clone());
    let source = ConfiguredSettings::new(&aws, config.snowflake.clone());
    let reconcile_as = config
        .reconcile_snowflake
        .clone()
        .map(|source| ConfiguredSettings::new(&aws, source));
    serve(
        MonitorHandler::new(store, source, reconcile_as, &config),
        &config,
    )
    .await
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
