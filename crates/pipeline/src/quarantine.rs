//! Quarantine, both sides: ingest moves an invalid file to `quarantine/<key>` with its typed
//! report beside it; operators list what is there and why, and replay a corrected file. A
//! replay is written under a new key in the stage (Snowpipe would skip the old name for 14
//! days), so it takes the normal path: notification, validation, insertFiles. The original and
//! its report stay in quarantine for audit.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::aws::S3Store;
use crate::ingest::IngestSettings;
use crate::ports::{PutOutcome, StoreError};
use crate::validate::{ValidationReport, validate_read};

/// Suffix of the report written beside each quarantined file.
pub const REPORT_SUFFIX: &str = ".errors.json";

/// The report beside a quarantined file (`<quarantined key>.errors.json`): where the file was,
/// where it is now, and the validator's verdict, its fields at the top level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineReport {
    pub bucket: String,
    pub key: String,
    pub quarantined_key: String,
    #[serde(flatten)]
    pub report: ValidationReport,
}

impl QuarantineReport {
    /// The report's own key, beside the quarantined file.
    pub fn report_key(quarantined_key: &str) -> String {
        format!("{quarantined_key}{REPORT_SUFFIX}")
    }
}

/// One quarantined file and the first lines of its report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedFile {
    /// The key in quarantine, e.g. `quarantine/stream_data/customer_….csv`.
    pub key: String,
    /// Where it landed originally.
    pub original_key: String,
    pub size: u64,
    pub quarantined_at: DateTime<Utc>,
    /// Problems counted in the report (0 when the report is missing).
    pub problems: u64,
    /// The report's first problem, e.g. "line 3, column email: 'x' has no @".
    pub first_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} is not in quarantine")]
    NotQuarantined(String),
    #[error("the file is still invalid ({} problems); nothing was written", .0.problem_total())]
    StillInvalid(Box<ValidationReport>),
    #[error("reading the file failed: {0}")]
    Read(String),
}

/// S3 CopyObject copies "up to 5 GB in size in a single atomic action"
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
pub const MAX_COPY_BYTES: u64 = 5 * 1000 * 1000 * 1000;

/// Copy to `quarantine/<key>`, write the report beside it, then delete the original; each step
/// is safe to repeat, so a retried event finishes an interrupted quarantine. A file too large
/// for one CopyObject stays where it is with its report in quarantine (nothing is lost, and
/// reconciliation counts the report as the quarantine); the stage's lifecycle rule expires it.
pub(crate) async fn quarantine(
    store: &S3Store,
    settings: &IngestSettings,
    key: &str,
    report: &ValidationReport,
) -> Result<(), StoreError> {
    let target = format!("{}{key}", settings.quarantine_prefix);
    let movable = report.bytes <= MAX_COPY_BYTES;
    if movable {
        store.copy_object(key, &target).await?;
    }
    let body = serde_json::to_vec_pretty(&QuarantineReport {
        bucket: store.bucket().to_owned(),
        key: key.to_owned(),
        quarantined_key: target.clone(),
        report: report.clone(),
    })
    .expect("a report serialises");
    store
        .put_if_absent(
            &QuarantineReport::report_key(&target),
            Bytes::from(body),
            "application/json",
        )
        .await?;
    if movable {
        store.delete_object(key).await?;
    }
    Ok(())
}

/// Every quarantined file with its report's first error, oldest first.
pub async fn list_quarantined(
    store: &S3Store,
    settings: &IngestSettings,
) -> Result<Vec<QuarantinedFile>, StoreError> {
    let objects = store.list_objects(&settings.quarantine_prefix).await?;
    let mut files = Vec::new();
    for object in objects.iter().filter(|o| !o.key.ends_with(REPORT_SUFFIX)) {
        let report = store
            .get_versioned(&QuarantineReport::report_key(&object.key))
            .await?
            .and_then(|r| serde_json::from_slice::<QuarantineReport>(&r.body).ok())
            .map(|stored| stored.report);
        let problems = report.as_ref().map_or(0, ValidationReport::problem_total);
        let first_error = report
            .as_ref()
            .and_then(|r| r.problems.first().map(|p| p.message.clone()));
        files.push(QuarantinedFile {
            original_key: object
                .key
                .strip_prefix(&settings.quarantine_prefix)
                .unwrap_or(&object.key)
                .to_owned(),
            key: object.key.clone(),
            size: object.size,
            quarantined_at: object.last_modified,
            problems,
            first_error,
        });
    }
    files.sort_by(|a, b| (a.quarantined_at, &a.key).cmp(&(b.quarantined_at, &b.key)));
    Ok(files)
}

/// Validates `fixed` (or the quarantined bytes as they are) and, if valid, writes it to the
/// stage under a new key derived from the original and `now`. Returns the new key.
pub async fn replay(
    store: &S3Store,
    settings: &IngestSettings,
    quarantined_key: &str,
    fixed: Option<Bytes>,
    now: DateTime<Utc>,
) -> Result<String, ReplayError> {
    let original = quarantined_key
        .strip_prefix(&settings.quarantine_prefix)
        .filter(|k| k.starts_with(&settings.stage_prefix) && !k.ends_with(REPORT_SUFFIX))
        .ok_or_else(|| ReplayError::NotQuarantined(quarantined_key.to_owned()))?;
    let bytes = match fixed {
        Some(bytes) => bytes,
        None => read_whole(store, quarantined_key).await?,
    };
    let key = replay_key(original, now);
    // Validated under the new name: its extension decides whether gzip is expected.
    let report = validate_read(&key, &bytes[..]).map_err(|e| ReplayError::Read(e.to_string()))?;
    if !report.valid {
        return Err(ReplayError::StillInvalid(Box::new(report)));
    }
    let content_type = if key.ends_with(".gz") {
        "application/gzip"
    } else {
        "text/csv"
    };
    match store.put_if_absent(&key, bytes, content_type).await? {
        PutOutcome::Created => Ok(key),
        PutOutcome::AlreadyExists => Err(ReplayError::Read(format!(
            "{key} exists already (a replay in the same second?); try again"
        ))),
    }
}

/// `stream_data/customer_X.csv` → `stream_data/customer_X.replay-20261124T101500Z.csv`.
pub fn replay_key(original: &str, now: DateTime<Utc>) -> String {
    let (stem, extension) = if let Some(stem) = original.strip_suffix(".csv.gz") {
        (stem, ".csv.gz")
    } else if let Some(stem) = original.strip_suffix(".csv") {
        (stem, ".csv")
    } else {
        (original, ".csv")
    };
    format!("{stem}.replay-{}{extension}", now.format("%Y%m%dT%H%M%SZ"))
}

async fn read_whole(store: &S3Store, key: &str) -> Result<Bytes, ReplayError> {
    let mut reader = store
        .get_object(key)
        .await?
        .ok_or_else(|| ReplayError::NotQuarantined(key.to_owned()))?
        .reader;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ReplayError::Read(e.to_string()))?;
    Ok(bytes.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_report_reads_back_as_the_same_report() {
        let csv = "customer_id,first_name,last_name,email,street,city,state,country,op,update_timestamp\n\
                   1,Ann,Lee,ann.example.com,1 Main St,Springfield,IL,US,U,2026-11-23T10:15:00Z\n";
        let report = validate_read("stream_data/bad.csv", csv.as_bytes()).unwrap();
        assert!(!report.valid, "the fixture must be invalid");
        let written = QuarantineReport {
            bucket: "landing".into(),
            key: "stream_data/bad.csv".into(),
            quarantined_key: "quarantine/stream_data/bad.csv".into(),
            report,
        };
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(json["key"], "stream_data/bad.csv");
        assert!(
            json["problem_counts"].is_object(),
            "verdict fields at the top level: {json}"
        );
        let read: QuarantineReport = serde_json::from_value(json).unwrap();
        assert_eq!(read, written);
    }

    #[test]
    fn a_replay_key_keeps_folder_and_extension_and_adds_the_time() {
        let now: DateTime<Utc> = "2026-11-24T10:15:00Z".parse().unwrap();
        assert_eq!(
            replay_key("stream_data/customer_1.csv", now),
            "stream_data/customer_1.replay-20261124T101500Z.csv"
        );
        assert_eq!(
            replay_key("stream_data/a/b.csv.gz", now),
            "stream_data/a/b.replay-20261124T101500Z.csv.gz"
        );
    }
}
