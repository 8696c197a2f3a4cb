//! Wiring only: configuration and the S3 client are built once per cold start; the handler is
//! `pipeline::generator::handler`, which `pipectl dev` runs too.

use lambda_runtime::{Error, LambdaEvent};
use pipeline::aws::{S3Store, s3_client_from_env};
use pipeline::config::{Env, GeneratorConfig};
use pipeline::generator::handler::{ScheduledEvent, generate_scheduled_file};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::lambda::init_logging();
    let config = pipeline::lambda::load_config(|| GeneratorConfig::from_env(&Env::process()))?;
    let store = S3Store::new(s3_client_from_env().await, config.bucket.clone());
    let (store, config) = (&store, &config);
    pipeline::lambda::run(
        &config.metrics_namespace,
        "generator",
        move |event: LambdaEvent<ScheduledEvent>| async move {
            generate_scheduled_file(store, config, event.payload)
                .await
                .map_err(Error::from)
        },
    )
    .await
}
