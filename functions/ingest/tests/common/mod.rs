//! What the ingest binary's integration tests share: starting it as Lambda would, pointed at
//! the S3 stand-in and the Snowpipe fake.

use devstack::{RuntimeApiStandIn, S3StandIn, SnowflakeFake};

pub const PRIVATE_KEY_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/snowflake/tests/data/test-only-rsa.p8"
);

/// The real `ingest` binary under `api`, reading bucket `landing` and submitting to `snowpipe`.
pub fn spawn_ingest(
    api: &RuntimeApiStandIn,
    s3: &S3StandIn,
    snowpipe: &SnowflakeFake,
) -> tokio::process::Child {
    api.function_command(env!("CARGO_BIN_EXE_ingest"), "ingest", s3)
        .env("BUCKET", "landing")
        .env("SNOWFLAKE_ACCOUNT", "xy12345")
        .env("SNOWFLAKE_USER", "ingest")
        .env("SNOWFLAKE_PIPE", "CUSTOMERS.RAW.CUSTOMER_PIPE")
        .env("SNOWFLAKE_PRIVATE_KEY_PATH", PRIVATE_KEY_PATH)
        .env("SNOWFLAKE_BASE_URL", snowpipe.base_url())
        .spawn()
        .expect("the ingest binary starts")
}
