//! The real ingest binary under the Lambda Runtime API stand-in, with the S3 stand-in and the
//! Snowpipe fake: `main`'s wiring, JSON logs with the request id, EMF metrics, and no key
//! material anywhere in the output.

mod common;

use std::time::Duration;

use bytes::Bytes;
use devstack::lambda_api::stop_and_read_json_lines;
use devstack::{Outcome, RuntimeApiStandIn, S3StandIn, SnowflakeFake};
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::generator::{FileId, GeneratorSettings, generate_bytes};
use serde_json::Value;

const S3_EVENT: &str = include_str!("../../../events/ingest-s3.json");
/// The sample event's key, decoded (the event has `date%3D2026-11-23`).
const KEY: &str = "stream_data/date=2026-11-23/customer_20261123T101500Z_5b3a9c1e.csv";

#[tokio::test(flavor = "multi_thread")]
async fn binary_validates_submits_logs_and_counts() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let snowpipe = SnowflakeFake::start(vec![]).await.unwrap();
    let api = RuntimeApiStandIn::start().await.unwrap();

    let settings = GeneratorSettings {
        rows: 20,
        ..GeneratorSettings::default()
    };
    let file = FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0x5b3a9c1e);
    let csv = generate_bytes(&settings, &file, false);
    let client = s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    );
    S3Store::new(client, "landing")
        .put_if_absent(KEY, Bytes::from(csv), "text/csv")
        .await
        .unwrap();

    let child = common::spawn_ingest(&api, &s3, &snowpipe);

    let (request_id, outcome) = api.invoke(S3_EVENT, Duration::from_secs(60)).await;
    let Outcome::Response(body) = outcome else {
        panic!("invocation failed: {outcome:?}");
    };
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["submitted"][0], KEY);
    assert_eq!(snowpipe.seen().len(), 1);
    assert!(api.until_idle(Duration::from_secs(10)).await);

    let lines = stop_and_read_json_lines(child).await;
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("MII"),
        "key material in the output"
    );
    let submitted = lines
        .iter()
        .find(|l| l["fields"]["message"] == "submitted to Snowpipe")
        .expect("a submitted log line");
    assert_eq!(submitted["span"]["requestId"], request_id.as_str());
    let snowflake_call = lines
        .iter()
        .find(|l| l["fields"]["message"] == "snowflake call succeeded")
        .expect("a Snowflake call log line");
    assert!(
        snowflake_call["fields"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{snowflake_call}"
    );
    let emf = lines
        .iter()
        .find(|l| l.get("FilesReceived").is_some())
        .unwrap_or_else(|| panic!("no EMF document in {lines:#?}"));
    assert_eq!(
        (emf["FilesReceived"].as_u64(), emf["FilesValid"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(emf["RowsValidated"], 20);
    assert_eq!(emf["SnowpipeRequests"], 1);
    assert_eq!(emf["Function"], "ingest");
}
