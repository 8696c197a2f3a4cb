//! Every ingest sample in `events/` (the files `cargo lambda invoke --data-file` and
//! `sam local invoke -e` use) parses as the `aws_lambda_events` type Lambda delivers, and the
//! real binary handles it against the S3 stand-in and the Snowpipe fake.

mod common;

use std::time::Duration;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use devstack::{Outcome, RuntimeApiStandIn, S3StandIn, SnowflakeFake};
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::generator::{FileId, GeneratorSettings, generate_bytes};
use pipeline::ingest::events::ObjectCreatedEvent;
use serde_json::{Value, json};

/// The ingest binary under the Runtime API stand-in, with `keys` present in the bucket as
/// valid customer files.
struct Running {
    s3: S3StandIn,
    snowpipe: SnowflakeFake,
    api: RuntimeApiStandIn,
    _function: tokio::process::Child,
}

async fn ingest_with_files(keys: &[&str]) -> Running {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let snowpipe = SnowflakeFake::start(vec![]).await.unwrap();
    let api = RuntimeApiStandIn::start().await.unwrap();
    let store = S3Store::new(
        s3_client_for_endpoint(
            &s3.endpoint(),
            devstack::s3::ACCESS_KEY,
            devstack::s3::SECRET_KEY,
        ),
        "landing",
    );
    for (index, key) in keys.iter().enumerate() {
        let settings = GeneratorSettings {
            rows: 10,
            ..GeneratorSettings::default()
        };
        let file = FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), index as u32);
        let csv = generate_bytes(&settings, &file, false);
        store
            .put_if_absent(key, Bytes::from(csv), "text/csv")
            .await
            .unwrap();
    }
    let function = common::spawn_ingest(&api, &s3, &snowpipe);
    Running {
        s3,
        snowpipe,
        api,
        _function: function,
    }
}

impl Running {
    async fn invoke(&self, event: &'static str) -> Value {
        let (_, outcome) = self.api.invoke(event, Duration::from_secs(60)).await;
        let Outcome::Response(body) = outcome else {
            panic!("invocation failed: {outcome:?}");
        };
        serde_json::from_slice(&body).unwrap()
    }

    /// The `files` of every insertFiles request, in order.
    fn submitted(&self) -> Vec<Value> {
        self.snowpipe
            .seen()
            .iter()
            .filter(|s| s.path.ends_with("/insertFiles"))
            .map(|s| serde_json::from_slice::<Value>(&s.body).unwrap()["files"].clone())
            .collect()
    }
}

fn paths(files: &Value) -> Vec<&str> {
    files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_put_sample_with_an_encoded_key_is_submitted_under_its_decoded_path() {
    const SAMPLE: &str = include_str!("../../../events/ingest-s3.json");
    let event: S3Event = serde_json::from_str(SAMPLE).unwrap();
    let encoded = event.records[0].s3.object.key.as_deref().unwrap();
    assert_eq!(
        encoded,
        "stream_data/date%3D2026-11-23/customer_20261123T101500Z_5b3a9c1e.csv"
    );
    let decoded = "stream_data/date=2026-11-23/customer_20261123T101500Z_5b3a9c1e.csv";
    let ingest = ingest_with_files(&[decoded]).await;

    let answer = ingest.invoke(SAMPLE).await;

    assert_eq!(answer["submitted"], json!([decoded]));
    let submitted = ingest.submitted();
    assert_eq!(
        paths(&submitted[0]),
        ["date=2026-11-23/customer_20261123T101500Z_5b3a9c1e.csv"]
    );
    assert!(ingest.s3.object_path("landing", decoded).is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_sample_submits_both_files_in_one_call() {
    const SAMPLE: &str = include_str!("../../../events/ingest-sqs.json");
    let event: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
    let keys: Vec<String> = event
        .records
        .iter()
        .map(|message| {
            let body: S3Event = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
            body.records[0].s3.object.key.clone().unwrap()
        })
        .collect();
    assert_eq!(keys.len(), 2, "two messages, one S3 record each");
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let ingest = ingest_with_files(&keys).await;

    let answer = ingest.invoke(SAMPLE).await;

    assert_eq!(answer, json!({"batchItemFailures": []}));
    let submitted = ingest.submitted();
    assert_eq!(submitted.len(), 1, "one insertFiles call for the batch");
    assert_eq!(
        paths(&submitted[0]),
        [
            "customer_20261123T101500Z_5b3a9c1e.csv",
            "customer_20261123T101600Z_7c4d2e10.csv"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eventbridge_sample_is_submitted() {
    const SAMPLE: &str = include_str!("../../../events/ingest-eventbridge.json");
    let event: ObjectCreatedEvent = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(event.detail_type, "Object Created");
    let key = event.detail.object.key.clone();
    let ingest = ingest_with_files(&[&key]).await;

    let answer = ingest.invoke(SAMPLE).await;

    assert_eq!(answer["submitted"], json!([key]));
    assert_eq!(ingest.submitted().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_test_event_sample_succeeds_and_submits_nothing() {
    const SAMPLE: &str = include_str!("../../../events/ingest-sqs-test-event.json");
    let event: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
    // aws_lambda_events has no type for the test event S3 sends when a notification is set up.
    let body: Value = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["Event"], "s3:TestEvent");
    let ingest = ingest_with_files(&[]).await;

    let answer = ingest.invoke(SAMPLE).await;

    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert!(ingest.submitted().is_empty());
}
