//! One invocation of the generator function: one scheduled event in, one customer file out.
//! The file's key and content come from the event's `time` and `id`, so a re-delivered event
//! finds its file already written and succeeds without writing again. The Lambda binary and
//! `pipectl dev` both run this.

use crate::aws::S3Store;
use crate::config::GeneratorConfig;
use crate::generator::{BadEventId, CsvChunks, CustomerStream, FileId};
use crate::ports::PutOutcome;
use crate::upload::{MULTIPART_THRESHOLD, UploadError, upload_chunks};
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::Serialize;
use tracing::{info, warn};

/// An EventBridge scheduled event (rule or Scheduler with the same input shape).
pub type ScheduledEvent = CloudWatchEvent<serde_json::Value>;

/// What the invocation returns (visible in `cargo lambda invoke` and test output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeneratedFile {
    pub bucket: String,
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    pub parts: usize,
    /// True when the file already existed: a re-delivered event, nothing written.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("scheduled event has no id; cannot name the file")]
    MissingEventId,
    #[error(transparent)]
    BadEventId(#[from] BadEventId),
    #[error(transparent)]
    Upload(#[from] UploadError),
}

pub async fn generate_scheduled_file(
    store: &S3Store,
    config: &GeneratorConfig,
    event: ScheduledEvent,
) -> Result<GeneratedFile, GenerateError> {
    let event_id = event.id.as_deref().ok_or(GenerateError::MissingEventId)?;
    let file = FileId::from_event(event.time, event_id)?;
    let key = file.object_key(&config.prefix, config.gzip);
    let content_type = if config.gzip {
        "application/gzip"
    } else {
        "text/csv"
    };
    let stream = CustomerStream::new(&config.settings, &file);
    let chunks = CsvChunks::new(stream, config.gzip, MULTIPART_THRESHOLD);
    let uploaded = upload_chunks(store, &key, content_type, chunks).await?;
    crate::metrics::record_generated(&uploaded);
    let duplicate = uploaded.outcome == PutOutcome::AlreadyExists;
    if duplicate {
        warn!(
            bucket = store.bucket(),
            key, event_id, "file already exists: duplicate delivery, nothing written"
        );
    } else {
        info!(
            bucket = store.bucket(),
            key,
            rows = uploaded.rows,
            bytes = uploaded.bytes,
            parts = uploaded.parts,
            "file written"
        );
    }
    Ok(GeneratedFile {
        bucket: store.bucket().to_owned(),
        key,
        rows: uploaded.rows,
        bytes: uploaded.bytes,
        parts: uploaded.parts,
        duplicate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{S3Store, s3_client_for_endpoint};
    use crate::contract::CustomerReader;
    use crate::generator::{GeneratorSettings, generate_bytes};
    use devstack::S3StandIn;

    /// The sample event that `cargo lambda invoke --data-file` uses too.
    const SCHEDULED_EVENT: &str = include_str!("../../../../events/generator-scheduled.json");
    const EXPECTED_KEY: &str = "stream_data/customer_20261123T101500Z_5b3a9c1e.csv";

    struct Fixture {
        s3: S3StandIn,
        store: S3Store,
    }

    async fn fixture() -> Fixture {
        let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
        let client = s3_client_for_endpoint(
            &s3.endpoint(),
            devstack::s3::ACCESS_KEY,
            devstack::s3::SECRET_KEY,
        );
        Fixture {
            store: S3Store::new(client, "landing"),
            s3,
        }
    }

    fn config(gzip: bool) -> GeneratorConfig {
        GeneratorConfig {
            bucket: "landing".into(),
            prefix: "stream_data/".into(),
            gzip,
            settings: GeneratorSettings {
                rows: 250,
                ..GeneratorSettings::default()
            },
            metrics_namespace: "Test".into(),
        }
    }

    fn event() -> ScheduledEvent {
        serde_json::from_str(SCHEDULED_EVENT).unwrap()
    }

    /// What template.yaml's EventBridge Scheduler sends: the schedule's ARN as the id.
    const SCHEDULER_EVENT: &str = include_str!("../../../../events/generator-scheduler.json");

    #[tokio::test]
    async fn a_retried_scheduler_event_names_the_same_file_and_writes_it_once() {
        let f = fixture().await;
        let event: ScheduledEvent = serde_json::from_str(SCHEDULER_EVENT).unwrap();
        let first = generate_scheduled_file(&f.store, &config(false), event.clone())
            .await
            .unwrap();
        let retry = generate_scheduled_file(&f.store, &config(false), event)
            .await
            .unwrap();
        assert!(
            first
                .key
                .starts_with("stream_data/customer_20261123T101600Z_"),
            "{}",
            first.key
        );
        assert_eq!(retry.key, first.key);
        assert!(!first.duplicate && retry.duplicate);
    }

    #[tokio::test]
    async fn writes_file_named_after_event_time_and_id() {
        let f = fixture().await;
        let out = generate_scheduled_file(&f.store, &config(false), event())
            .await
            .unwrap();
        assert_eq!(out.key, EXPECTED_KEY);
        assert_eq!((out.rows, out.parts, out.duplicate), (250, 1, false));
        let bytes = std::fs::read(f.s3.object_path("landing", EXPECTED_KEY)).unwrap();
        assert_eq!(bytes.len() as u64, out.bytes);
        let rows: Vec<_> = CustomerReader::new(&bytes[..])
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 250);
    }

    #[tokio::test]
    async fn writes_the_bytes_the_generator_produces_for_that_event() {
        let f = fixture().await;
        generate_scheduled_file(&f.store, &config(false), event())
            .await
            .unwrap();
        let e = event();
        let file = FileId::from_event(e.time, e.id.as_deref().unwrap()).unwrap();
        let expected = generate_bytes(&config(false).settings, &file, false);
        assert_eq!(
            std::fs::read(f.s3.object_path("landing", EXPECTED_KEY)).unwrap(),
            expected
        );
    }

    #[tokio::test]
    async fn redelivered_event_is_a_duplicate_and_leaves_the_file_alone() {
        let f = fixture().await;
        let first = generate_scheduled_file(&f.store, &config(false), event())
            .await
            .unwrap();
        let before = std::fs::metadata(f.s3.object_path("landing", EXPECTED_KEY))
            .unwrap()
            .modified()
            .unwrap();
        let again = generate_scheduled_file(&f.store, &config(false), event())
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.key, first.key);
        let after = std::fs::metadata(f.s3.object_path("landing", EXPECTED_KEY))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);
    }

    #[tokio::test]
    async fn gzip_setting_writes_a_csv_gz_object() {
        let f = fixture().await;
        let out = generate_scheduled_file(&f.store, &config(true), event())
            .await
            .unwrap();
        assert_eq!(out.key, format!("{EXPECTED_KEY}.gz"));
        let bytes = std::fs::read(f.s3.object_path("landing", &out.key)).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    }

    #[tokio::test]
    async fn rejects_event_whose_id_cannot_name_a_file() {
        let f = fixture().await;
        let mut e = event();
        e.id = Some(String::new());
        let err = generate_scheduled_file(&f.store, &config(false), e)
            .await
            .unwrap_err();
        assert!(matches!(err, GenerateError::BadEventId(_)), "{err}");
        e = event();
        e.id = None;
        let err = generate_scheduled_file(&f.store, &config(false), e)
            .await
            .unwrap_err();
        assert!(matches!(err, GenerateError::MissingEventId), "{err}");
    }

    #[tokio::test]
    async fn reports_created_object_to_subscribers() {
        let f = fixture().await;
        let mut events = f.s3.subscribe();
        let out = generate_scheduled_file(&f.store, &config(false), event())
            .await
            .unwrap();
        let created = events.recv().await.unwrap();
        assert_eq!(
            (created.event_name, created.key.as_str(), created.size),
            ("ObjectCreated:Put", EXPECTED_KEY, out.bytes)
        );
    }

    #[test]
    fn counts_files_rows_and_bytes_as_metrics() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let f = fixture().await;
                generate_scheduled_file(&f.store, &config(false), event())
                    .await
                    .unwrap()
            })
        });
        let counters: std::collections::HashMap<String, u64> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some((key.key().name().to_owned(), n)),
                _ => None,
            })
            .collect();
        assert_eq!(counters["FilesWritten"], 1);
        assert_eq!(counters["RowsGenerated"], 250);
        assert_eq!(counters["BytesWritten"], out.bytes);
    }
}
