//! Ingest: every announced object under the stage prefix is validated in one streaming pass,
//! then quarantined with its report (invalid) or submitted to Snowpipe (valid), the valid files
//! of an invocation together in as few `insertFiles` calls as the 5,000 limit allows.

pub mod credentials;
pub mod events;

use std::future::Future;

use bytes::Bytes;
use serde::Serialize;
use snowflake::{InsertFilesResponse, SnowflakeError, Snowpipe, StagedFile};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tracing::{info, warn};

pub use events::{Delivery, ObjectRef, SqsItem, parse_delivery};

use crate::ports::{ObjectStore, StoreError};
use crate::validate::{FileValidator, ValidationReport};

/// Submits staged files to the pipe (Snowpipe REST in production, fakes in tests).
pub trait PipeLoader: Send + Sync {
    fn insert_files(
        &self,
        files: &[StagedFile],
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<InsertFilesResponse>, IngestError>> + Send;
}

impl PipeLoader for Snowpipe {
    async fn insert_files(
        &self,
        files: &[StagedFile],
        deadline: Instant,
    ) -> Result<Vec<InsertFilesResponse>, IngestError> {
        Ok(Snowpipe::insert_files(self, files, deadline).await?)
    }
}

/// Where files are expected and where bad ones go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// The prefix the pipe's stage points at (`stream_data/`); paths sent to Snowpipe are
    /// relative to it.
    pub stage_prefix: String,
    pub quarantine_prefix: String,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            stage_prefix: "stream_data/".into(),
            quarantine_prefix: "quarantine/".into(),
        }
    }
}

/// What happened to one announced object.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Valid and queued by Snowpipe.
    Submitted { key: String, rows: u64, bytes: u64 },
    /// Valid, but the pipe had loaded this path already (a re-delivery).
    AlreadyLoaded { key: String },
    /// Invalid: moved to quarantine with its report.
    Quarantined { key: String, problems: u64 },
    /// Not ours or nothing to do; not an error.
    Skipped { key: String, reason: String },
    /// Could not be finished now; a retry may succeed (or a setting is wrong, see the error).
    Failed { key: String, error: IngestError },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snowflake(#[from] SnowflakeError),
    /// The Snowflake settings could not be loaded or used.
    #[error("Snowflake credentials: {message}")]
    Credentials { message: String, retryable: bool },
}

impl IngestError {
    pub fn retryable(&self) -> bool {
        match self {
            IngestError::Store(e) => e.retryable,
            IngestError::Snowflake(e) => e.retryable(),
            IngestError::Credentials { retryable, .. } => *retryable,
        }
    }

    /// For errors no retry can fix: which setting to check.
    pub fn configuration_hint(&self) -> Option<String> {
        match self {
            IngestError::Snowflake(e) => e.configuration_hint().map(str::to_owned),
            IngestError::Credentials {
                retryable: false, ..
            } => Some("SNOWFLAKE_SECRET_ARN (or the SNOWFLAKE_* variables and key file)".into()),
            _ => None,
        }
    }
}

/// Counts for metrics and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub files_received: u64,
    pub rows_validated: u64,
    pub bytes_validated: u64,
    pub snowpipe_requests: u64,
    pub snowpipe_retries: u64,
    pub snowpipe_latency_ms: u64,
}

/// The quarantine report written beside a quarantined file.
#[derive(Serialize)]
struct QuarantineReport<'a> {
    bucket: &'a str,
    key: &'a str,
    quarantined_key: &'a str,
    #[serde(flatten)]
    report: &'a ValidationReport,
}

/// Ingests `objects` (in order); the outcome at index `i` is for `objects[i]`.
pub async fn ingest_objects<S: ObjectStore, P: PipeLoader>(
    store: &S,
    pipe: &P,
    settings: &IngestSettings,
    objects: &[ObjectRef],
    deadline: Instant,
) -> (Vec<Outcome>, IngestStats) {
    let mut stats = IngestStats {
        files_received: objects.len() as u64,
        ..IngestStats::default()
    };
    let mut outcomes = Vec::with_capacity(objects.len());
    // Indexes of valid files waiting to be submitted, with what they will be submitted as.
    let mut valid: Vec<(usize, StagedFile, u64, u64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for object in objects {
        // At-least-once delivery can put one object twice in a batch: handle it once.
        if !seen.insert(object.key.as_str()) {
            outcomes.push(Outcome::Skipped {
                key: object.key.clone(),
                reason: "announced twice in this batch; handled once".into(),
            });
            continue;
        }
        let outcome = match skip_reason(store, settings, object) {
            Some(reason) => Outcome::Skipped {
                key: object.key.clone(),
                reason,
            },
            None => match validate_object(store, &object.key).await {
                Ok(None) => Outcome::Skipped {
                    key: object.key.clone(),
                    reason: "the object no longer exists (already quarantined or deleted)".into(),
                },
                Ok(Some(report)) => {
                    stats.rows_validated += report.rows;
                    stats.bytes_validated += report.bytes;
                    if report.valid {
                        let path = object.key[settings.stage_prefix.len()..].to_owned();
                        let staged = StagedFile {
                            path,
                            size: Some(report.bytes),
                        };
                        valid.push((outcomes.len(), staged, report.rows, report.bytes));
                        outcomes.push(Outcome::Skipped {
                            key: object.key.clone(),
                            reason: "pending submission".into(),
                        });
                        continue;
                    }
                    match quarantine(store, settings, &object.key, &report).await {
                        Ok(()) => Outcome::Quarantined {
                            key: object.key.clone(),
                            problems: report.problem_total(),
                        },
                        Err(error) => Outcome::Failed {
                            key: object.key.clone(),
                            error: error.into(),
                        },
                    }
                }
                Err(error) => Outcome::Failed {
                    key: object.key.clone(),
                    error: error.into(),
                },
            },
        };
        log_outcome(&outcome);
        outcomes.push(outcome);
    }
    if !valid.is_empty() {
        submit(pipe, &mut outcomes, &mut stats, objects, valid, deadline).await;
    }
    (outcomes, stats)
}

fn skip_reason<S: ObjectStore>(
    store: &S,
    settings: &IngestSettings,
    object: &ObjectRef,
) -> Option<String> {
    let key = &object.key;
    if object.bucket != store.bucket() {
        return Some(format!(
            "bucket {} is not the configured {}",
            object.bucket,
            store.bucket()
        ));
    }
    if !key.starts_with(&settings.stage_prefix) {
        return Some(format!(
            "not under the stage prefix {}",
            settings.stage_prefix
        ));
    }
    if key.ends_with('/') {
        return Some("a folder marker, not a file".into());
    }
    if !(key.ends_with(".csv") || key.ends_with(".csv.gz")) {
        return Some("not a .csv or .csv.gz file".into());
    }
    None
}

/// Streams the object through the validator; `Ok(None)` when it does not exist (any more).
async fn validate_object<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<ValidationReport>, StoreError> {
    let Some(mut reader) = store.get_object(key).await? else {
        return Ok(None);
    };
    let mut validator = FileValidator::new(key);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| StoreError {
            operation: "GetObject",
            bucket: store.bucket().to_owned(),
            key: key.to_owned(),
            message: format!("reading the body failed: {e}"),
            retryable: true,
        })?;
        if n == 0 {
            return Ok(Some(validator.finish()));
        }
        validator.feed(&buf[..n]);
    }
}

/// Copy to `quarantine/<key>`, write the report beside it, then delete the original; each step
/// is safe to repeat, so a retried event finishes an interrupted quarantine.
async fn quarantine<S: ObjectStore>(
    store: &S,
    settings: &IngestSettings,
    key: &str,
    report: &ValidationReport,
) -> Result<(), StoreError> {
    let target = format!("{}{key}", settings.quarantine_prefix);
    store.copy_object(key, &target).await?;
    let body = serde_json::to_vec_pretty(&QuarantineReport {
        bucket: store.bucket(),
        key,
        quarantined_key: &target,
        report,
    })
    .expect("a report serialises");
    store
        .put_if_absent(
            &format!("{target}.errors.json"),
            Bytes::from(body),
            "application/json",
        )
        .await?;
    store.delete_object(key).await
}

async fn submit<P: PipeLoader>(
    pipe: &P,
    outcomes: &mut [Outcome],
    stats: &mut IngestStats,
    objects: &[ObjectRef],
    valid: Vec<(usize, StagedFile, u64, u64)>,
    deadline: Instant,
) {
    let files: Vec<StagedFile> = valid.iter().map(|(_, f, _, _)| f.clone()).collect();
    let started = Instant::now();
    let result = pipe.insert_files(&files, deadline).await;
    stats.snowpipe_latency_ms += started.elapsed().as_millis() as u64;
    match result {
        Ok(responses) => {
            stats.snowpipe_requests += responses.len() as u64;
            stats.snowpipe_retries += responses
                .iter()
                .map(|r| u64::from(r.attempts.saturating_sub(1)))
                .sum::<u64>();
            let skipped: std::collections::HashSet<&str> = responses
                .iter()
                .flat_map(|r| r.skipped_files.iter().map(|f| f.path()))
                .collect();
            for (index, staged, rows, bytes) in &valid {
                let key = objects[*index].key.clone();
                outcomes[*index] = if skipped.contains(staged.path.as_str()) {
                    Outcome::AlreadyLoaded { key }
                } else {
                    Outcome::Submitted {
                        key,
                        rows: *rows,
                        bytes: *bytes,
                    }
                };
                log_outcome(&outcomes[*index]);
            }
        }
        Err(error) => {
            stats.snowpipe_requests += 1;
            for (index, ..) in &valid {
                outcomes[*index] = Outcome::Failed {
                    key: objects[*index].key.clone(),
                    error: error.clone(),
                };
                log_outcome(&outcomes[*index]);
            }
        }
    }
}

fn log_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Submitted { key, rows, bytes } => info!(key, rows, bytes, "submitted to Snowpipe"),
        Outcome::AlreadyLoaded { key } => {
            info!(key, "already loaded by the pipe: skipped by Snowpipe")
        }
        Outcome::Quarantined { key, problems } => warn!(key, problems, "invalid file quarantined"),
        Outcome::Skipped { key, reason } => info!(key, reason, "not ingested"),
        Outcome::Failed { key, error } => {
            warn!(key, error = %error, retryable = error.retryable(), "ingest failed")
        }
    }
}
