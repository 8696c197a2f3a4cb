//! The handler end to end: settings as the function gets them, the real SQL API client (signing
//! JWTs) against the scripted fake, the state in the S3 stand-in.

use std::time::Duration;

use devstack::monitor_replies::{healthy_round, task_failures};
use devstack::{S3StandIn, SnowflakeFake};
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::config::{Env, MonitorConfig};
use pipeline::ingest::credentials::FixedSettings;
use serde_json::json;
use tokio::time::Instant;

use super::*;

const PRIVATE_KEY_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/snowflake/tests/data/test-only-rsa.p8"
);

struct Fixture {
    _s3: S3StandIn,
    snowflake: SnowflakeFake,
    handler: MonitorHandler<S3Store, FixedSettings>,
}

fn config(base_url: &str, pipe: &str) -> MonitorConfig {
    let vars = [
        ("BUCKET", "landing"),
        ("SNOWFLAKE_ACCOUNT", "xy12345"),
        ("SNOWFLAKE_USER", "monitor"),
        ("SNOWFLAKE_PIPE", pipe),
        ("SNOWFLAKE_PRIVATE_KEY_PATH", PRIVATE_KEY_PATH),
        ("SNOWFLAKE_BASE_URL", base_url),
        ("SNOWFLAKE_WAREHOUSE", "PIPELINE_WH"),
        ("SNOWFLAKE_ROLE", "CUSTOMER_PIPELINE_MONITOR"),
        ("RECONCILE_SNOWFLAKE_USER", "ingest"),
        ("RECONCILE_SNOWFLAKE_PRIVATE_KEY_PATH", PRIVATE_KEY_PATH),
    ];
    let env = Env::from_lookup(move |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    });
    MonitorConfig::from_env(&env).unwrap()
}

async fn fixture(replies: Vec<devstack::snowflake_fake::Reply>, pipe: &str) -> Fixture {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let snowflake = SnowflakeFake::start(replies).await.unwrap();
    let config = config(snowflake.base_url(), pipe);
    let fixed = |source: Option<pipeline::config::SnowflakeSource>| match source {
        Some(pipeline::config::SnowflakeSource::Fixed(settings)) => FixedSettings(settings),
        other => panic!("fixed settings expected without a secret: {other:?}"),
    };
    let settings = fixed(Some(config.snowflake.clone()));
    let reconcile_as = fixed(config.reconcile_snowflake.clone());
    let client = s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    );
    let handler = MonitorHandler::new(
        S3Store::new(client, "landing"),
        settings,
        Some(reconcile_as),
        &config,
    )
    .with_policy(RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(50),
        attempt_timeout: Duration::from_millis(500),
    });
    Fixture {
        _s3: s3,
        snowflake,
        handler,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn runs_the_checks_in_the_pipes_schema_with_the_configured_warehouse_and_role() {
    let mut replies = healthy_round();
    replies[0] = task_failures(json!([[
        "TSK_SCD_RAW",
        "FAILED",
        "01b-q",
        "100038",
        "Numeric value 'x' is not recognized",
        "2026-11-23T10:01:00.000+00:00"
    ]]));
    let f = fixture(replies, "CUSTOMERS.RAW.CUSTOMER_PIPE").await;
    let answer = f.handler.handle(chrono::Utc::now(), soon()).await.unwrap();
    assert_eq!(answer["reported"], json!(["task:TSK_SCD_RAW:01b-q"]));
    assert_eq!(answer["claimed"], true);
    let seen = f.snowflake.seen();
    assert_eq!(seen.len(), 6);
    let first = seen[0].json();
    assert_eq!(
        (
            &first["database"],
            &first["schema"],
            &first["warehouse"],
            &first["role"]
        ),
        (
            &json!("CUSTOMERS"),
            &json!("RAW"),
            &json!("PIPELINE_WH"),
            &json!("CUSTOMER_PIPELINE_MONITOR")
        )
    );
    assert_eq!(
        seen[2].json()["bindings"]["1"]["value"],
        "CUSTOMERS.RAW.CUSTOMER_PIPE"
    );
}

#[tokio::test]
async fn an_unreachable_snowflake_fails_the_invocation_as_snowflake_unavailable() {
    let f = fixture(vec![], "CUSTOMERS.RAW.CUSTOMER_PIPE").await;
    // Every answer is a 503 until the deadline.
    f.snowflake.then(
        std::iter::repeat_with(|| devstack::snowflake_fake::Reply::status(503, "{}")).take(200),
    );
    let failure = f
        .handler
        .handle(
            chrono::Utc::now(),
            Instant::now() + Duration::from_millis(400),
        )
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(failure);
    assert_eq!(diagnostic.error_type, "SnowflakeUnavailable");
    assert!(
        diagnostic.error_message.contains("the mark was not moved"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn a_pipe_name_without_database_and_schema_is_a_configuration_error() {
    let f = fixture(vec![], "CUSTOMER_PIPE").await;
    let failure = f
        .handler
        .handle(chrono::Utc::now(), soon())
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(failure);
    assert_eq!(diagnostic.error_type, "ConfigurationError");
    assert!(
        diagnostic.error_message.contains("DATABASE.SCHEMA.PIPE"),
        "{}",
        diagnostic.error_message
    );
    assert!(f.snowflake.seen().is_empty());
}
