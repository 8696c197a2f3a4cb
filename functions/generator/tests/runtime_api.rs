//! The real generator binary under the Lambda Runtime API stand-in, writing to the S3 stand-in:
//! what `main` wires (runtime, JSON logs with the request id, EMF metrics) works end to end.

use std::time::Duration;

use devstack::lambda_api::stop_and_read_json_lines;
use devstack::{Outcome, RuntimeApiStandIn, S3StandIn};
use serde_json::Value;
use tokio::process::Command;

const SCHEDULED_EVENT: &str = include_str!("../../../events/generator-scheduled.json");
const KEY: &str = "stream_data/customer_20261123T101500Z_5b3a9c1e.csv";

fn generator(api: &RuntimeApiStandIn, s3: &S3StandIn) -> Command {
    let mut cmd = api.function_command(env!("CARGO_BIN_EXE_generator"), "generator", s3);
    cmd.env("BUCKET", "landing").env("ROWS_PER_FILE", "100");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_writes_the_file_and_logs_and_counts_it() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let api = RuntimeApiStandIn::start().await.unwrap();
    let child = generator(&api, &s3).spawn().unwrap();

    let (request_id, outcome) = api.invoke(SCHEDULED_EVENT, Duration::from_secs(60)).await;
    let Outcome::Response(body) = outcome else {
        panic!("invocation failed: {outcome:?}");
    };
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(response["key"], KEY);
    assert_eq!(response["rows"], 100);
    assert!(s3.object_path("landing", KEY).is_file());
    assert!(
        api.until_idle(Duration::from_secs(10)).await,
        "function did not ask for the next event"
    );

    let lines = stop_and_read_json_lines(child).await;
    let written = lines
        .iter()
        .find(|l| l["fields"]["message"] == "file written")
        .expect("a 'file written' log line");
    assert_eq!(
        written["span"]["requestId"],
        request_id.as_str(),
        "{written}"
    );
    let emf = lines
        .iter()
        .find(|l| l.get("FilesWritten").is_some())
        .unwrap_or_else(|| panic!("no EMF document with FilesWritten in {lines:#?}"));
    assert_eq!(emf["FilesWritten"], 1);
    assert_eq!(emf["RowsGenerated"], 100);
    assert_eq!(emf["Function"], "generator");
    assert_eq!(emf["RequestId"], request_id.as_str());
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "CustomerPipeline"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_variable_stops_the_cold_start_with_a_clear_log_line() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let api = RuntimeApiStandIn::start().await.unwrap();
    let mut cmd = generator(&api, &s3);
    cmd.env_remove("BUCKET");
    let child = cmd.spawn().unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("BUCKET is not set; expected the name of the S3 bucket"),
        "{text}"
    );
}
