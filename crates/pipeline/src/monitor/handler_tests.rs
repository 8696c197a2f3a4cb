//! The handler end to end: settings as the function gets them, the real SQL API client (signing
//! JWTs) against the scripted fake, the state in the S3 stand-in.

use std::time::Duration;

use crate::aws::{S3Store, s3_client_for_endpoint};
use crate::config::{Env, MonitorConfig};
use crate::monitor::alert::FixedWebhookUrl;
use crate::ports::InProcessQueue;
use crate::snowflake_settings::FixedSettings;
use devstack::monitor_replies::{healthy_round, task_failures};
use devstack::{S3StandIn, SnowflakeFake};
use serde_json::json;
use tokio::time::Instant;

use super::*;

const PRIVATE_KEY_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../snowflake/tests/data/test-only-rsa.p8"
);

struct Fixture {
    s3: S3StandIn,
    snowflake: SnowflakeFake,
    queue: InProcessQueue,
    handler: MonitorHandler<FixedSettings, InProcessQueue, FixedWebhookUrl>,
}

fn config(base_url: &str, pipe: &str, extra: &[(&'static str, &'static str)]) -> MonitorConfig {
    let mut vars = vec![
        ("BUCKET", "landing"),
        ("SNOWFLAKE_ACCOUNT", "xy12345"),
        ("SNOWFLAKE_USER", "monitor"),
        ("SNOWFLAKE_PIPE", pipe),
        ("SNOWFLAKE_PRIVATE_KEY_PATH", PRIVATE_KEY_PATH),
        ("SNOWFLAKE_BASE_URL", base_url),
        ("SNOWFLAKE_WAREHOUSE", "PIPELINE_WH"),
        ("SNOWFLAKE_ROLE", "CUSTOMER_PIPELINE_MONITOR"),
        (
            "INGEST_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/customer-ingest",
        ),
    ];
    vars.extend_from_slice(extra);
    let vars: Vec<(&str, String)> = vars.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
    let env = Env::from_lookup(move |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    });
    MonitorConfig::from_env(&env).unwrap()
}

async fn fixture(replies: Vec<devstack::snowflake_fake::Reply>, pipe: &str) -> Fixture {
    fixture_with(replies, pipe, &[], None).await
}

async fn fixture_with(
    replies: Vec<devstack::snowflake_fake::Reply>,
    pipe: &str,
    extra: &[(&'static str, &'static str)],
    webhook_url: Option<FixedWebhookUrl>,
) -> Fixture {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let snowflake = SnowflakeFake::start(replies).await.unwrap();
    let config = config(snowflake.base_url(), pipe, extra);
    let queue = InProcessQueue::default();
    let fixed = |source: Option<crate::config::SnowflakeSource>| match source {
        Some(crate::config::SnowflakeSource::Fixed(settings)) => FixedSettings(settings),
        other => panic!("fixed settings expected without a secret: {other:?}"),
    };
    let settings = fixed(Some(config.snowflake.clone()));
    let client = s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    );
    let handler = MonitorHandler::new(
        S3Store::new(client, "landing"),
        settings,
        Some(queue.clone()),
        webhook_url,
        &config,
    )
    .with_policy(RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(50),
        attempt_timeout: Duration::from_millis(500),
    });
    Fixture {
        s3,
        snowflake,
        queue,
        handler,
    }
}

/// A healthy round of answers in which one TSK_SCD_RAW run failed.
fn round_with_a_failed_task() -> Vec<devstack::snowflake_fake::Reply> {
    let mut replies = healthy_round();
    replies[0] = task_failures(json!([[
        "TSK_SCD_RAW",
        "FAILED",
        "01b-q",
        "100038",
        "Numeric value 'x' is not recognized",
        "2026-11-23T10:01:00.000+00:00"
    ]]));
    replies
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn the_first_run_works_when_s3_answers_403_for_the_missing_state() {
    let f = fixture(round_with_a_failed_task(), "CUSTOMERS.RAW.CUSTOMER_PIPE").await;
    f.s3.deny_missing_keys(true);
    let answer = f.handler.handle(chrono::Utc::now(), soon()).await.unwrap();
    assert_eq!(answer["reported"], json!(["task:TSK_SCD_RAW:01b-q"]));
    assert_eq!(answer["claimed"], true);
}

#[tokio::test]
async fn runs_the_checks_in_the_pipes_schema_with_the_configured_warehouse_and_role() {
    let replies = round_with_a_failed_task();
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
    assert_eq!(failure.error_type(), "SnowflakeUnavailable");
    assert!(
        failure.to_string().contains("the mark was not moved"),
        "{failure}"
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
    assert_eq!(failure.error_type(), "ConfigurationError");
    assert!(
        failure.to_string().contains("DATABASE.SCHEMA.PIPE"),
        "{failure}"
    );
    assert!(f.snowflake.seen().is_empty());
}

#[tokio::test]
async fn a_reconciliation_backlog_over_the_cap_leaves_the_rest_and_every_check_still_runs() {
    // COPY_HISTORY knows none of the five files; then the six health checks.
    let mut replies = vec![devstack::monitor_replies::result(
        &[("FILE_NAME", "text"), ("STATUS", "text")],
        json!([]),
    )];
    replies.extend(healthy_round());
    let f = fixture_with(
        replies,
        "CUSTOMERS.RAW.CUSTOMER_PIPE",
        &[("RECONCILE_MAX_PER_RUN", "2")],
        None,
    )
    .await;
    let store = f.handler.monitor.store();
    for i in 0..5 {
        let key = format!("stream_data/unannounced{i}.csv");
        store
            .put_if_absent(&key, "x".into(), "text/csv")
            .await
            .unwrap();
    }
    // Past the 15-minute grace.
    let later = chrono::Utc::now() + chrono::TimeDelta::minutes(20);
    let answer = f.handler.handle(later, soon()).await.unwrap();
    assert_eq!(answer["filesReconciled"], 2);
    let first = f.queue.take_all();
    assert_eq!(first.len(), 2);
    assert_eq!(f.snowflake.seen().len(), 1 + healthy_round().len());
    assert_eq!(answer["claimed"], true);
    assert!(
        f.s3.object_path("landing", "stream_data/unannounced4.csv")
            .is_file()
    );

    // The next run takes the next two, not the same ones again.
    f.snowflake.then(
        std::iter::once(devstack::monitor_replies::result(
            &[("FILE_NAME", "text"), ("STATUS", "text")],
            json!([]),
        ))
        .chain(healthy_round()),
    );
    let answer = f.handler.handle(later, soon()).await.unwrap();
    assert_eq!(answer["filesReconciled"], 2);
    let second = f.queue.take_all();
    assert!(
        second.iter().all(|body| !first.contains(body)),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_webhook_that_is_not_https_is_refused_and_the_run_still_reports() {
    let replies = round_with_a_failed_task();
    let f = fixture_with(
        replies,
        "CUSTOMERS.RAW.CUSTOMER_PIPE",
        &[],
        Some(FixedWebhookUrl(
            "http://hooks.example/services/secret-token".into(),
        )),
    )
    .await;
    let answer = f.handler.handle(chrono::Utc::now(), soon()).await.unwrap();
    assert_eq!(answer["reported"], json!(["task:TSK_SCD_RAW:01b-q"]));
    assert_eq!(answer["alertPosted"], json!(null));
}
