//! The handler end to end: the S3 stand-in, the real Snowpipe client (signing JWTs) and the
//! scripted Snowpipe fake, for each event shape.

use std::sync::Arc;
use std::time::Duration;

use crate::aws::{S3Store, s3_client_for_endpoint};
use crate::generator::{FileId, GeneratorSettings, generate_bytes};
use crate::ingest::IngestSettings;
use bytes::Bytes;
use devstack::snowflake_fake::Reply;
use devstack::{S3StandIn, SnowflakeFake};
use serde_json::{Value, json};
use snowflake::{Connection, KeyPair, RetryPolicy, SnowflakeClient, Snowpipe};
use tokio::time::Instant;

use super::*;

const KEY: &str = include_str!("../../../snowflake/tests/data/test-only-rsa.p8");
const S3_EVENT: &str = include_str!("../../../../events/ingest-s3.json");
const SQS_EVENT: &str = include_str!("../../../../events/ingest-sqs.json");
const EVENTBRIDGE_EVENT: &str = include_str!("../../../../events/ingest-eventbridge.json");
const SAMPLE_KEY: &str = "stream_data/customer_20261123T101500Z_5b3a9c1e.csv";
const MALFORMED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/malformed");

struct Fixture {
    s3: S3StandIn,
    snowpipe: SnowflakeFake,
    ingest: Ingest<Snowpipe>,
}

async fn fixture(replies: Vec<Reply>) -> Fixture {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let snowpipe = SnowflakeFake::start(replies).await.unwrap();
    let client = s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    );
    let connection = Connection {
        account: "xy12345".into(),
        user: "ingest".into(),
        jwt_account: None,
        base_url: Some(snowpipe.base_url().to_owned()),
    };
    let policy = RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(50),
        attempt_timeout: Duration::from_secs(2),
    };
    let snowflake =
        SnowflakeClient::connect(&connection, KeyPair::from_pem(KEY, None).unwrap(), policy)
            .unwrap();
    let ingest = Ingest {
        store: S3Store::new(client, "landing"),
        pipe: Snowpipe::new(Arc::new(snowflake), "CUSTOMERS.RAW.CUSTOMER_PIPE"),
        settings: IngestSettings::default(),
    };
    Fixture {
        s3,
        snowpipe,
        ingest,
    }
}

impl Fixture {
    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.ingest
            .store
            .put_if_absent(key, Bytes::from(bytes), "text/csv")
            .await
            .unwrap();
    }

    fn exists(&self, key: &str) -> bool {
        self.s3.object_path("landing", key).is_file()
    }

    /// The files of every insertFiles request, in order.
    fn submitted(&self) -> Vec<Value> {
        self.snowpipe
            .seen()
            .iter()
            .flat_map(|r| r.json()["files"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    async fn handle(&self, event: &Value) -> Result<Value, IngestFailure> {
        self.ingest
            .handle(event, Instant::now() + Duration::from_secs(5))
            .await
    }
}

fn valid_csv(rows: u64) -> Vec<u8> {
    let settings = GeneratorSettings {
        rows,
        ..GeneratorSettings::default()
    };
    let file = FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0x5b3a9c1e);
    generate_bytes(&settings, &file, false)
}

fn malformed(name: &str) -> Vec<u8> {
    std::fs::read(format!("{MALFORMED}/{name}")).unwrap()
}

/// An S3 notification for `keys` as S3 sends them (URL-encoded), built from the sample event.
fn s3_event(encoded_keys: &[&str]) -> Value {
    let sample: Value = serde_json::from_str(S3_EVENT).unwrap();
    let records: Vec<Value> = encoded_keys
        .iter()
        .map(|key| {
            let mut record = sample["Records"][0].clone();
            record["s3"]["object"]["key"] = json!(key);
            record
        })
        .collect();
    json!({ "Records": records })
}

fn sqs_event(messages: &[(impl AsRef<str>, String)]) -> Value {
    let sample: Value = serde_json::from_str(SQS_EVENT).unwrap();
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let mut message = sample["Records"][0].clone();
            message["messageId"] = json!(id.as_ref());
            message["body"] = json!(body);
            message
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn submits_valid_file_with_its_path_relative_to_the_stage_and_its_size() {
    let f = fixture(vec![]).await;
    let csv = valid_csv(50);
    let size = csv.len();
    f.put(SAMPLE_KEY, csv).await;
    let answer = f.handle(&s3_event(&[SAMPLE_KEY])).await.unwrap();
    assert_eq!(answer["submitted"], json!([SAMPLE_KEY]));
    assert_eq!(
        f.submitted(),
        vec![json!({"path": "customer_20261123T101500Z_5b3a9c1e.csv", "size": size})]
    );
    assert!(
        f.exists(SAMPLE_KEY),
        "a valid file stays where the pipe's stage reads it"
    );
}

#[tokio::test]
async fn quarantines_file_with_bad_email_and_never_submits_it() {
    let f = fixture(vec![]).await;
    let key = "stream_data/bad_email.csv";
    f.put(key, malformed("bad_email.csv")).await;
    let answer = f.handle(&s3_event(&[key])).await.unwrap();
    assert_eq!(answer["quarantined"], json!([key]));
    assert!(!f.exists(key), "the original is removed");
    assert!(f.exists("quarantine/stream_data/bad_email.csv"));
    let report: Value = serde_json::from_slice(
        &std::fs::read(f.s3.object_path(
            "landing",
            "quarantine/stream_data/bad_email.csv.errors.json",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(report["key"], key);
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["problems"][0]["message"],
        "line 3, column email: 'bob.example.com' has no @"
    );
    assert!(f.snowpipe.seen().is_empty());
}

#[tokio::test]
async fn every_kind_of_bad_file_is_quarantined_and_none_submitted() {
    let f = fixture(vec![]).await;
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(MALFORMED).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".tsv") {
            continue;
        }
        let key = format!("stream_data/{name}");
        f.put(&key, malformed(&name)).await;
        keys.push(key);
    }
    let encoded: Vec<&str> = keys.iter().map(String::as_str).collect();
    let answer = f.handle(&s3_event(&encoded)).await.unwrap();
    assert_eq!(
        answer["quarantined"].as_array().unwrap().len(),
        keys.len(),
        "{answer}"
    );
    assert!(f.snowpipe.seen().is_empty());
}

#[tokio::test]
async fn decodes_url_encoded_keys_with_spaces_and_plus() {
    let f = fixture(vec![]).await;
    f.put("stream_data/customer 1+2.csv", valid_csv(5)).await;
    f.handle(&s3_event(&["stream_data/customer+1%2B2.csv"]))
        .await
        .unwrap();
    assert_eq!(f.submitted()[0]["path"], "customer 1+2.csv");
}

#[tokio::test]
async fn accepts_eventbridge_object_created_events() {
    let f = fixture(vec![]).await;
    f.put(SAMPLE_KEY, valid_csv(5)).await;
    let answer = f
        .handle(&serde_json::from_str(EVENTBRIDGE_EVENT).unwrap())
        .await
        .unwrap();
    assert_eq!(answer["submitted"], json!([SAMPLE_KEY]));
}

#[tokio::test]
async fn mixed_sqs_batch_returns_exactly_the_failed_message_ids() {
    let f = fixture(vec![]).await;
    f.put("stream_data/good.csv", valid_csv(5)).await;
    f.put("stream_data/bad.csv", malformed("bad_op.csv")).await;
    let event = sqs_event(&[
        ("m-good", s3_event(&["stream_data/good.csv"]).to_string()),
        ("m-garbled", "not json".into()),
        ("m-bad-file", s3_event(&["stream_data/bad.csv"]).to_string()),
    ]);
    let answer = f.handle(&event).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-garbled"}]})
    );
    assert!(f.exists("quarantine/stream_data/bad.csv"));
}

#[tokio::test]
async fn valid_files_of_a_batch_share_one_insert_files_call() {
    let f = fixture(vec![]).await;
    let messages = valid_file_messages(&f, 5).await;
    f.handle(&sqs_event(&messages)).await.unwrap();
    assert_eq!(f.snowpipe.seen().len(), 1);
    assert_eq!(f.submitted().len(), 5);
}

#[tokio::test]
async fn snowpipe_outage_fails_only_the_messages_with_valid_files() {
    let f = fixture(vec![Reply::status(503, ""); 500]).await;
    f.put("stream_data/good.csv", valid_csv(5)).await;
    f.put("stream_data/bad.csv", malformed("bad_op.csv")).await;
    let event = sqs_event(&[
        ("m-good", s3_event(&["stream_data/good.csv"]).to_string()),
        ("m-bad-file", s3_event(&["stream_data/bad.csv"]).to_string()),
    ]);
    let answer = f
        .ingest
        .handle(&event, Instant::now() + Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-good"}]})
    );
}

#[tokio::test]
async fn direct_event_fails_for_a_retry_when_snowpipe_is_unavailable() {
    let f = fixture(vec![Reply::status(503, ""); 500]).await;
    f.put(SAMPLE_KEY, valid_csv(5)).await;
    let err = f
        .ingest
        .handle(
            &s3_event(&[SAMPLE_KEY]),
            Instant::now() + Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            IngestFailure::Transient {
                failed: 1,
                total: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.error_type(), "TransientError");
}

#[tokio::test]
async fn unknown_pipe_is_a_configuration_error_naming_the_setting() {
    let f = fixture(vec![Reply::status(
        404,
        r#"{"code":"390404","message":"Specified pipe not found"}"#,
    )])
    .await;
    f.put(SAMPLE_KEY, valid_csv(5)).await;
    let err = f.handle(&s3_event(&[SAMPLE_KEY])).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("pipe name"), "{message}");
    assert_eq!(err.error_type(), "ConfigurationError");
    assert_eq!(f.snowpipe.seen().len(), 1, "404 is not retried");
}

#[tokio::test]
async fn already_loaded_file_is_reported_not_failed() {
    let body = r#"{"requestId":"r","responseCode":"SUCCESS","skippedFiles":[{"path":"customer_20261123T101500Z_5b3a9c1e.csv"}]}"#;
    let f = fixture(vec![Reply::status(200, body)]).await;
    f.put(SAMPLE_KEY, valid_csv(5)).await;
    let answer = f.handle(&s3_event(&[SAMPLE_KEY])).await.unwrap();
    assert_eq!(answer["already_loaded"], json!([SAMPLE_KEY]));
}

#[tokio::test]
async fn skips_keys_outside_the_stage_and_files_that_are_not_csv() {
    let f = fixture(vec![]).await;
    let answer = f
        .handle(&s3_event(&[
            "other/x.csv",
            "stream_data/readme.txt",
            "stream_data/folder/",
        ]))
        .await
        .unwrap();
    assert_eq!(answer["skipped"].as_array().unwrap().len(), 3);
    assert!(f.snowpipe.seen().is_empty());
}

#[tokio::test]
async fn zero_byte_file_is_quarantined_as_empty() {
    let f = fixture(vec![]).await;
    f.put("stream_data/empty.csv", Vec::new()).await;
    let answer = f
        .handle(&s3_event(&["stream_data/empty.csv"]))
        .await
        .unwrap();
    assert_eq!(answer["quarantined"], json!(["stream_data/empty.csv"]));
}

#[tokio::test]
async fn redelivery_after_quarantine_is_skipped() {
    let f = fixture(vec![]).await;
    f.put("stream_data/bad.csv", malformed("bad_id.csv")).await;
    let event = s3_event(&["stream_data/bad.csv"]);
    f.handle(&event).await.unwrap();
    let again = f.handle(&event).await.unwrap();
    assert_eq!(again["skipped"], json!(["stream_data/bad.csv"]));
}

#[tokio::test]
async fn redelivery_after_quarantine_is_skipped_when_s3_answers_403_for_the_moved_key() {
    let f = fixture(vec![]).await;
    f.s3.deny_missing_keys(true);
    f.put("stream_data/bad.csv", malformed("bad_id.csv")).await;
    let event = s3_event(&["stream_data/bad.csv"]);
    f.handle(&event).await.unwrap();
    let again = f.handle(&event).await.unwrap();
    assert_eq!(again["skipped"], json!(["stream_data/bad.csv"]));
}

#[tokio::test]
async fn an_object_announced_twice_in_one_batch_is_submitted_once() {
    let f = fixture(vec![]).await;
    f.put(SAMPLE_KEY, valid_csv(5)).await;
    let notice = s3_event(&[SAMPLE_KEY]).to_string();
    let answer = f
        .handle(&sqs_event(&[("m1", notice.clone()), ("m2", notice)]))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(f.submitted().len(), 1);
}

/// A gzip bomb: 64 MiB of zeros in about 65 KB.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// Nine valid files plus `odd_one`, one SQS message each: the odd one first.
async fn batch_of_ten(f: &Fixture, odd_one: &str) -> Value {
    let mut messages = vec![("m-odd".to_owned(), s3_event(&[odd_one]).to_string())];
    messages.extend(valid_file_messages(f, 9).await);
    sqs_event(&messages)
}

/// `count` valid files put under the stage, each with its own message `m<i>`.
async fn valid_file_messages(f: &Fixture, count: usize) -> Vec<(String, String)> {
    let mut messages = Vec::new();
    for i in 0..count {
        let key = format!("stream_data/f{i}.csv");
        f.put(&key, valid_csv(3)).await;
        messages.push((format!("m{i}"), s3_event(&[key.as_str()]).to_string()));
    }
    messages
}

fn quarantine_report(f: &Fixture, key: &str) -> Value {
    let path =
        f.s3.object_path("landing", &format!("quarantine/{key}.errors.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn gzip_bomb_is_quarantined_and_the_nine_good_files_of_its_batch_load() {
    let mut f = fixture(vec![]).await;
    f.ingest.settings.limits.max_csv_bytes = 1024 * 1024;
    f.put("stream_data/bomb.csv.gz", gzip_bomb()).await;
    let event = batch_of_ten(&f, "stream_data/bomb.csv.gz").await;
    let answer = f.handle(&event).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(f.submitted().len(), 9);
    let report = quarantine_report(&f, "stream_data/bomb.csv.gz");
    assert_eq!(report["problems"][0]["kind"], "content_too_large");
    // Bounded work: decoding stopped within one decoder slice (~16 MiB) of the limit.
    assert!(report["csv_bytes"].as_u64().unwrap() <= 18 * 1024 * 1024);
}

/// A notification for `key` that claims `size` bytes, as anyone allowed to send to the queue
/// could write it.
fn s3_event_claiming(key: &str, size: u64) -> Value {
    let mut event = s3_event(&[key]);
    event["Records"][0]["s3"]["object"]["size"] = json!(size);
    event
}

#[tokio::test]
async fn a_forged_size_in_the_notification_cannot_push_a_valid_file_out_of_the_stage() {
    let f = fixture(vec![]).await;
    f.put(SAMPLE_KEY, valid_csv(2)).await;
    // Over MAX_OBJECT_BYTES and over 5 GB, where quarantine would keep only a report.
    let forged = s3_event_claiming(SAMPLE_KEY, 6 * 1024 * 1024 * 1024);
    let answer = f.handle(&forged).await.unwrap();
    assert_eq!(answer["quarantined"], json!([]));
    assert_eq!(f.submitted().len(), 1);
    assert!(f.exists(SAMPLE_KEY), "the valid file left the stage");
}

#[tokio::test]
async fn object_over_the_size_limit_is_quarantined_unread_by_the_size_s3_answers() {
    let mut f = fixture(vec![]).await;
    f.ingest.settings.limits.max_object_bytes = 1000;
    let csv = valid_csv(50);
    let size = csv.len() as u64;
    assert!(size > 1000);
    f.put(SAMPLE_KEY, csv).await;
    // The notification understates the size; S3's Content-Length decides.
    let answer = f.handle(&s3_event_claiming(SAMPLE_KEY, 10)).await.unwrap();
    assert_eq!(answer["quarantined"], json!([SAMPLE_KEY]));
    let report = quarantine_report(&f, SAMPLE_KEY);
    assert_eq!(report["problems"][0]["kind"], "object_too_large");
    assert_eq!(report["bytes"], size);
    assert!(f.submitted().is_empty());
}

#[tokio::test]
async fn a_file_that_cannot_be_read_in_time_fails_alone_and_the_nine_others_load() {
    let f = fixture(vec![]).await;
    f.put("stream_data/stalled.csv", valid_csv(3)).await;
    f.s3.inject(
        devstack::s3::S3Operation::Get,
        "landing",
        "stream_data/stalled.csv",
        [devstack::s3::S3Fault::Stall],
    );
    let event = batch_of_ten(&f, "stream_data/stalled.csv").await;
    let outcomes = f.handle(&event).await.unwrap();
    assert_eq!(
        outcomes,
        json!({"batchItemFailures": [{"itemIdentifier": "m-odd"}]})
    );
    assert_eq!(f.submitted().len(), 9);
    // Left in place for the redelivery (and, if it keeps failing, the dead-letter queue).
    assert!(f.exists("stream_data/stalled.csv"));
    assert!(!f.exists("quarantine/stream_data/stalled.csv"));
}
