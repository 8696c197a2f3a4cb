//! The real monitor binary under the Lambda Runtime API stand-in, with the S3 stand-in and the
//! scripted SQL API fake: one structured error line per new problem, never repeated by the next
//! run, EMF metrics, and no key material in the output.

use std::time::Duration;

use devstack::lambda_api::stop_and_read_json_lines;
use devstack::monitor_replies::{healthy_round, load_failures};
use devstack::{Outcome, RuntimeApiStandIn, S3StandIn, SnowflakeFake};
use serde_json::{Value, json};

const SCHEDULED_EVENT: &str = include_str!("../../../events/monitor-scheduled.json");
const PRIVATE_KEY_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/snowflake/tests/data/test-only-rsa.p8"
);

#[test]
fn the_sample_event_is_what_the_templates_scheduler_sends() {
    // The monitor takes any payload (it can be invoked by hand with `{}`); the sample is the
    // scheduled-event shape template.yaml's EventBridge Scheduler input produces.
    let event: aws_lambda_events::event::cloudwatch_events::CloudWatchEvent =
        serde_json::from_str(SCHEDULED_EVENT).unwrap();
    assert_eq!(event.source.as_deref(), Some("aws.scheduler"));
    assert_eq!(
        event.id.as_deref(),
        event.resources.first().map(String::as_str)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_logs_each_new_problem_once_and_emits_metrics() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let failed_load = json!([[
        "stream_data/customer_bad.csv",
        "LOAD_FAILED",
        "Field delimiter ',' found while expecting record delimiter",
        "0",
        "1",
        "2026-11-23T10:02:00.000+00:00"
    ]]);
    let mut round = healthy_round();
    round[1] = load_failures(failed_load);
    let snowflake = SnowflakeFake::start(round.iter().chain(&round).cloned().collect())
        .await
        .unwrap();
    let api = RuntimeApiStandIn::start().await.unwrap();
    let child = api
        .function_command(env!("CARGO_BIN_EXE_monitor"), "monitor", &s3)
        .env("BUCKET", "landing")
        .env("SNOWFLAKE_ACCOUNT", "xy12345")
        .env("SNOWFLAKE_USER", "monitor")
        .env("SNOWFLAKE_PIPE", "CUSTOMERS.RAW.CUSTOMER_PIPE")
        .env("SNOWFLAKE_PRIVATE_KEY_PATH", PRIVATE_KEY_PATH)
        .env("SNOWFLAKE_BASE_URL", snowflake.base_url())
        // Reconciliation sends to SQS, which the stand-ins do not have; its handler test
        // covers it with an in-process queue.
        .env("RECONCILE", "false")
        .spawn()
        .unwrap();

    for run in 0..2 {
        let (_, outcome) = api.invoke(SCHEDULED_EVENT, Duration::from_secs(60)).await;
        let Outcome::Response(body) = outcome else {
            panic!("run {run} failed: {outcome:?}");
        };
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["problemsNow"], 1, "run {run}: {answer}");
    }
    assert!(api.until_idle(Duration::from_secs(10)).await);
    assert!(s3.object_path("landing", "monitor/state.json").is_file());

    let lines = stop_and_read_json_lines(child).await;
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("MII"),
        "key material in the output"
    );
    let problem_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["problem"] == "load_failed")
        .collect();
    assert_eq!(
        problem_lines.len(),
        1,
        "logged once over two runs: {lines:#?}"
    );
    let fields = &problem_lines[0]["fields"];
    assert_eq!(problem_lines[0]["level"], "ERROR");
    assert_eq!(fields["file"], "stream_data/customer_bad.csv");
    assert_eq!(
        fields["first_error"],
        "Field delimiter ',' found while expecting record delimiter"
    );
    let emf: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("MonitorRuns").is_some())
        .collect();
    assert_eq!(emf.len(), 2, "one EMF document per run");
    assert_eq!(emf[0]["LoadFailures"], 1);
    // A counter that did not move is left out of the document (treat missing data as zero).
    assert_eq!(emf[1]["LoadFailures"].as_u64().unwrap_or(0), 0);
    assert_eq!(emf[1]["PipeNotRunning"], 0.0);
    assert_eq!(emf[0]["Function"], "monitor");
}
