//! The S3 adapter over real HTTP, with the real aws-sdk-s3 client, against the S3 stand-in.

use bytes::Bytes;
use devstack::S3StandIn;
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::generator::{CsvChunks, CustomerStream, FileId, GeneratorSettings, generate_bytes};
use pipeline::ports::{PutOutcome, SwapOutcome};
use pipeline::upload::{MULTIPART_THRESHOLD, upload_chunks};

struct Fixture {
    s3: S3StandIn,
    store: S3Store,
}

async fn fixture() -> Fixture {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    Fixture {
        store: S3Store::new(client(&s3), "landing"),
        s3,
    }
}

fn client(s3: &S3StandIn) -> aws_sdk_s3::Client {
    s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    )
}

fn stored(f: &Fixture, key: &str) -> Vec<u8> {
    std::fs::read(f.s3.object_path("landing", key)).unwrap()
}

#[tokio::test]
async fn put_if_absent_creates_the_object() {
    let f = fixture().await;
    let outcome = f
        .store
        .put_if_absent("a/b.csv", Bytes::from_static(b"hello"), "text/csv")
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(stored(&f, "a/b.csv"), b"hello");
}

#[tokio::test]
async fn second_conditional_put_reports_existing_key_and_keeps_first_bytes() {
    let f = fixture().await;
    f.store
        .put_if_absent("k.csv", Bytes::from_static(b"first"), "text/csv")
        .await
        .unwrap();
    let outcome = f
        .store
        .put_if_absent("k.csv", Bytes::from_static(b"second"), "text/csv")
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::AlreadyExists);
    assert_eq!(stored(&f, "k.csv"), b"first");
}

#[tokio::test]
async fn racing_conditional_puts_let_exactly_one_win() {
    let f = fixture().await;
    let puts = (0..8).map(|i| {
        let store = f.store.clone();
        tokio::spawn(async move {
            store
                .put_if_absent("race.csv", Bytes::from(vec![b'0' + i; 4]), "text/csv")
                .await
        })
    });
    let mut created = 0;
    for put in puts {
        if put.await.unwrap().unwrap() == PutOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

#[tokio::test]
async fn missing_bucket_is_a_permanent_error() {
    let f = fixture().await;
    let err = S3Store::new(client(&f.s3), "no-such-bucket")
        .put_if_absent("k.csv", Bytes::from_static(b"x"), "text/csv")
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err}");
    assert!(err.message.contains("NoSuchBucket"), "{err}");
}

#[tokio::test]
async fn versioned_read_of_a_missing_key_is_none() {
    let f = fixture().await;
    assert_eq!(f.store.get_versioned("state.json").await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_key_is_none_when_s3_answers_403_instead_of_404() {
    let f = fixture().await;
    f.s3.deny_missing_keys(true);
    assert_eq!(
        f.store.get_versioned("monitor/state.json").await.unwrap(),
        None
    );
    assert!(
        f.store
            .get_object("stream_data/gone.csv")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_403_on_a_key_that_exists_is_an_error_not_a_missing_key() {
    let f = fixture().await;
    f.store
        .put_if_absent(
            "monitor/state.json",
            Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .unwrap();
    f.s3.inject(
        devstack::S3Operation::Get,
        "landing",
        "monitor/",
        [devstack::S3Fault::AccessDenied],
    );
    let error = f
        .store
        .get_versioned("monitor/state.json")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("AccessDenied"), "{error}");
}

#[tokio::test]
async fn replace_with_the_read_etag_writes_and_a_stale_etag_conflicts() {
    let f = fixture().await;
    let put = |body: &'static [u8], e_tag: Option<String>| {
        let store = f.store.clone();
        async move {
            store
                .replace_if_unchanged(
                    "state.json",
                    Bytes::from_static(body),
                    "application/json",
                    e_tag.as_deref(),
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(put(b"v1", None).await, SwapOutcome::Written);
    assert_eq!(put(b"again", None).await, SwapOutcome::Conflict);
    let v1 = f.store.get_versioned("state.json").await.unwrap().unwrap();
    assert_eq!(v1.body, Bytes::from_static(b"v1"));
    assert_eq!(
        put(b"v2", Some(v1.e_tag.clone())).await,
        SwapOutcome::Written
    );
    assert_eq!(put(b"v3", Some(v1.e_tag)).await, SwapOutcome::Conflict);
    assert_eq!(stored(&f, "state.json"), b"v2");
}

#[tokio::test]
async fn racing_replaces_of_the_same_version_let_exactly_one_win() {
    let f = fixture().await;
    f.store
        .replace_if_unchanged(
            "state.json",
            Bytes::from_static(b"v0"),
            "application/json",
            None,
        )
        .await
        .unwrap();
    let read = f.store.get_versioned("state.json").await.unwrap().unwrap();
    let writes = (0..8).map(|i| {
        let (store, e_tag) = (f.store.clone(), read.e_tag.clone());
        tokio::spawn(async move {
            store
                .replace_if_unchanged(
                    "state.json",
                    Bytes::from(vec![b'0' + i; 4]),
                    "application/json",
                    Some(&e_tag),
                )
                .await
        })
    });
    let mut written = 0;
    for write in writes {
        if write.await.unwrap().unwrap() == SwapOutcome::Written {
            written += 1;
        }
    }
    assert_eq!(written, 1);
}

/// About 14 MiB: above the multipart threshold, so it goes up in two parts.
fn large_file_settings() -> GeneratorSettings {
    GeneratorSettings {
        rows: 130_000,
        id_space: 1_000_000,
        ..GeneratorSettings::default()
    }
}

fn large_file() -> FileId {
    FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0xfeedbeef)
}

#[tokio::test]
async fn large_file_goes_up_as_multipart_with_the_same_bytes() {
    let f = fixture().await;
    let mut created = f.s3.subscribe();
    let settings = large_file_settings();
    let chunks = CsvChunks::new(
        CustomerStream::new(&settings, &large_file()),
        false,
        MULTIPART_THRESHOLD,
    );
    let uploaded = upload_chunks(&f.store, "big.csv", "text/csv", chunks)
        .await
        .unwrap();
    assert_eq!(uploaded.outcome, PutOutcome::Created);
    let event = created.recv().await.unwrap();
    assert_eq!(event.event_name, "ObjectCreated:CompleteMultipartUpload");
    assert_eq!(
        (event.key.as_str(), event.size),
        ("big.csv", uploaded.bytes)
    );
    assert!(uploaded.parts >= 2, "{uploaded:?}");
    assert_eq!(uploaded.rows, 130_000);
    let expected = generate_bytes(&settings, &large_file(), false);
    assert_eq!(uploaded.bytes, expected.len() as u64);
    assert!(
        stored(&f, "big.csv") == expected,
        "stored bytes differ from the generated file"
    );
}

#[tokio::test]
async fn multipart_onto_existing_key_reports_duplicate_and_keeps_the_object() {
    let f = fixture().await;
    f.store
        .put_if_absent("big.csv", Bytes::from_static(b"already here"), "text/csv")
        .await
        .unwrap();
    let settings = large_file_settings();
    let chunks = CsvChunks::new(
        CustomerStream::new(&settings, &large_file()),
        false,
        MULTIPART_THRESHOLD,
    );
    let uploaded = upload_chunks(&f.store, "big.csv", "text/csv", chunks)
        .await
        .unwrap();
    assert_eq!(uploaded.outcome, PutOutcome::AlreadyExists);
    assert_eq!(stored(&f, "big.csv"), b"already here");
}

#[tokio::test]
async fn one_slowdown_on_put_is_retried_by_the_sdk() {
    let f = fixture().await;
    f.s3.inject(
        devstack::S3Operation::Put,
        "landing",
        "a/",
        [devstack::S3Fault::SlowDown],
    );
    let outcome = f
        .store
        .put_if_absent("a/b.csv", Bytes::from_static(b"hello"), "text/csv")
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(f.s3.faults_served(), 1);
    assert_eq!(stored(&f, "a/b.csv"), b"hello");
}

#[tokio::test]
async fn get_failing_more_often_than_the_sdk_retries_is_a_retryable_error() {
    let f = fixture().await;
    f.store
        .put_if_absent("a/b.csv", Bytes::from_static(b"hello"), "text/csv")
        .await
        .unwrap();
    f.s3.inject(
        devstack::S3Operation::Get,
        "landing",
        "a/",
        [devstack::S3Fault::InternalError; 3],
    );
    let err = f
        .store
        .get_object("a/b.csv")
        .await
        .err()
        .expect("all attempts fail");
    assert!(err.retryable, "{err:?}");
    assert_eq!(f.s3.faults_served(), 3);
    // The faults are used up: the next read succeeds.
    assert!(f.store.get_object("a/b.csv").await.is_ok());
}

#[tokio::test]
async fn injected_faults_only_hit_keys_under_their_prefix() {
    let f = fixture().await;
    f.s3.inject(
        devstack::S3Operation::Put,
        "landing",
        "stage/",
        [devstack::S3Fault::InternalError; 5],
    );
    f.store
        .put_if_absent("other/b.csv", Bytes::from_static(b"x"), "text/csv")
        .await
        .unwrap();
    assert_eq!(f.s3.faults_served(), 0);
}

#[tokio::test]
async fn listing_returns_every_object_under_the_prefix_in_key_order_with_size_and_time() {
    let f = fixture().await;
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    for key in ["stage/b.csv", "stage/a.csv", "other/c.csv"] {
        f.store
            .put_if_absent(key, Bytes::from_static(b"12345"), "text/csv")
            .await
            .unwrap();
    }
    let listed = f.store.list_objects("stage/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["stage/a.csv", "stage/b.csv"]);
    assert!(
        listed
            .iter()
            .all(|o| o.size == 5 && o.last_modified > before)
    );
}

#[tokio::test]
async fn an_overwrite_of_a_write_once_stage_object_is_refused_and_counted() {
    let f = fixture().await;
    f.s3.write_once("landing", "stream_data/");
    let key = "stream_data/customer_1.csv";
    let created = f
        .store
        .put_if_absent(key, Bytes::from_static(b"validated"), "text/csv")
        .await
        .unwrap();
    assert_eq!(created, PutOutcome::Created);
    // A producer's plain PutObject, as `aws s3 cp` sends it: no If-None-Match.
    let overwrite = client(&f.s3)
        .put_object()
        .bucket("landing")
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"replaced"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&overwrite),
        Some("AccessDenied")
    );
    assert_eq!(stored(&f, key), b"validated");
    assert_eq!(f.s3.refused_writes(), 1);
    // Outside the prefix the policy does not apply.
    f.store
        .copy_object(key, &format!("quarantine/{key}"))
        .await
        .unwrap();
    assert_eq!(f.s3.refused_writes(), 1);
}

#[tokio::test]
async fn create_only_multipart_uploads_pass_the_write_once_policy() {
    let f = fixture().await;
    f.s3.write_once("landing", "stream_data/");
    let settings = large_file_settings();
    let chunks = CsvChunks::new(
        CustomerStream::new(&settings, &large_file()),
        false,
        MULTIPART_THRESHOLD,
    );
    let uploaded = upload_chunks(&f.store, "stream_data/big.csv", "text/csv", chunks)
        .await
        .unwrap();
    assert_eq!(uploaded.outcome, PutOutcome::Created);
    assert!(uploaded.parts > 1);
    assert_eq!(f.s3.refused_writes(), 0);
}
