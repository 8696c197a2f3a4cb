//! Ingest: every announced object under the stage prefix is validated in one streaming pass,
//! then quarantined with its report (invalid) or submitted to Snowpipe (valid), the valid files
//! of an invocation together in as few `insertFiles` calls as the 5,000 limit allows.

pub mod events;
pub mod handler;
pub mod pipe;

use std::future::Future;

use snowflake::{InsertFilesResponse, SnowflakeError, Snowpipe, StagedFile};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tracing::{info, warn};

pub use events::{Delivery, ObjectRef, SqsItem, parse_delivery};

use crate::aws::S3Store;
use crate::ports::StoreError;
use crate::snowflake_settings::SettingsError;
use crate::validate::{FileValidator, SizeLimits, ValidationReport};

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
    /// Files past these are quarantined unread or half read.
    pub limits: SizeLimits,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            stage_prefix: "stream_data/".into(),
            quarantine_prefix: "quarantine/".into(),
            limits: SizeLimits::DEFAULT,
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

/// How many outcomes of each kind: what the metrics, the logs and `pipectl dev` count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub submitted: u64,
    pub already_loaded: u64,
    pub quarantined: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl OutcomeCounts {
    pub fn of(outcomes: &[Outcome]) -> OutcomeCounts {
        let mut counts = OutcomeCounts::default();
        for outcome in outcomes {
            *match outcome {
                Outcome::Submitted { .. } => &mut counts.submitted,
                Outcome::AlreadyLoaded { .. } => &mut counts.already_loaded,
                Outcome::Quarantined { .. } => &mut counts.quarantined,
                Outcome::Skipped { .. } => &mut counts.skipped,
                Outcome::Failed { .. } => &mut counts.failed,
            } += 1;
        }
        counts
    }

    /// Files that passed validation, whether or not the pipe had them already.
    pub fn valid(&self) -> u64 {
        self.submitted + self.already_loaded
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snowflake(#[from] SnowflakeError),
    /// The Snowflake settings could not be loaded or used.
    #[error("Snowflake settings: {0}")]
    Settings(#[from] SettingsError),
    /// Validation did not finish within the file's share of the invocation; the message comes
    /// back, and after the queue's retries lands in the dead-letter queue, which alarms.
    #[error(
        "validation did not finish within its {budget_ms} ms share of the invocation ({read_bytes} bytes read); a later delivery tries again"
    )]
    OutOfTime { read_bytes: u64, budget_ms: u64 },
}

impl IngestError {
    pub fn retryable(&self) -> bool {
        match self {
            IngestError::Store(e) => e.retryable,
            IngestError::Snowflake(e) => e.retryable(),
            IngestError::Settings(e) => e.retryable(),
            IngestError::OutOfTime { .. } => true,
        }
    }

    /// For errors no retry can fix: which setting to check.
    pub fn configuration_hint(&self) -> Option<String> {
        match self {
            IngestError::Snowflake(e) => e.configuration_hint().map(str::to_owned),
            IngestError::Settings(e) => e.configuration_hint(),
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

/// Ingests `objects`; the outcome at index `i` is for `objects[i]`.
///
/// Files are validated smallest first, each within a fair share of the time left, so one slow
/// or pathological file fails on its own while the others of the batch still get their results;
/// the valid ones are then submitted together.
pub async fn ingest_objects<P: PipeLoader>(
    store: &S3Store,
    pipe: &P,
    settings: &IngestSettings,
    objects: &[ObjectRef],
    deadline: Instant,
) -> (Vec<Outcome>, IngestStats) {
    let mut stats = IngestStats {
        files_received: objects.len() as u64,
        ..IngestStats::default()
    };
    let mut outcomes: Vec<Option<Outcome>> = vec![None; objects.len()];
    let mut to_validate = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, object) in objects.iter().enumerate() {
        // At-least-once delivery can put one object twice in a batch: handle it once.
        let reason = if !seen.insert(object.key.as_str()) {
            Some("announced twice in this batch; handled once".to_owned())
        } else {
            skip_reason(store, settings, object)
        };
        match reason {
            Some(reason) => {
                let outcome = Outcome::Skipped {
                    key: object.key.clone(),
                    reason,
                };
                log_outcome(&outcome);
                outcomes[index] = Some(outcome);
            }
            None => to_validate.push(index),
        }
    }
    to_validate.sort_by_key(|&index| objects[index].size.unwrap_or(u64::MAX));
    let validation_deadline = validation_deadline(deadline);
    let mut valid: Vec<(usize, StagedFile, u64, u64)> = Vec::new();
    for (done, &index) in to_validate.iter().enumerate() {
        let object = &objects[index];
        let file_deadline = fair_share(validation_deadline, to_validate.len() - done);
        let outcome = match validate_object(store, object, settings.limits, file_deadline).await {
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
                    valid.push((index, staged, report.rows, report.bytes));
                    continue;
                }
                // Bounded too: a copy of gigabytes must not run the batch into Lambda's timeout.
                let budget = validation_deadline.saturating_duration_since(Instant::now());
                let quarantined = tokio::time::timeout_at(
                    validation_deadline,
                    crate::quarantine::quarantine(store, settings, &object.key, &report),
                )
                .await;
                match quarantined {
                    Ok(Ok(())) => Outcome::Quarantined {
                        key: object.key.clone(),
                        problems: report.problem_total(),
                    },
                    Ok(Err(error)) => Outcome::Failed {
                        key: object.key.clone(),
                        error: error.into(),
                    },
                    Err(_) => Outcome::Failed {
                        key: object.key.clone(),
                        error: IngestError::OutOfTime {
                            read_bytes: report.bytes,
                            budget_ms: budget.as_millis() as u64,
                        },
                    },
                }
            }
            Err(error) => Outcome::Failed {
                key: object.key.clone(),
                error,
            },
        };
        log_outcome(&outcome);
        outcomes[index] = Some(outcome);
    }
    if !valid.is_empty() {
        submit(pipe, &mut outcomes, &mut stats, objects, valid, deadline).await;
    }
    let outcomes = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every object has an outcome"))
        .collect();
    (outcomes, stats)
}

/// Validation ends early enough to leave a quarter of the time left, at most 30 s, for
/// insertFiles and its retries.
fn validation_deadline(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline - (left / 4).min(std::time::Duration::from_secs(30))
}

/// An equal share of the time left for each of the `files_left` files.
fn fair_share(validation_deadline: Instant, files_left: usize) -> Instant {
    let now = Instant::now();
    let left = validation_deadline.saturating_duration_since(now);
    now + left / files_left.max(1) as u32
}

fn skip_reason(store: &S3Store, settings: &IngestSettings, object: &ObjectRef) -> Option<String> {
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

/// Streams the object through the validator until its end, a size limit or `file_deadline`;
/// `Ok(None)` when it does not exist (any more). An object larger than the limit is judged
/// without being read, by the size S3 answers with: the notification's `size` only orders the
/// batch, since a forged message could claim any size and push a valid file out of the stage.
async fn validate_object(
    store: &S3Store,
    object: &ObjectRef,
    limits: SizeLimits,
    file_deadline: Instant,
) -> Result<Option<ValidationReport>, IngestError> {
    let key = &object.key;
    let started = Instant::now();
    let out_of_time = |read_bytes| IngestError::OutOfTime {
        read_bytes,
        budget_ms: file_deadline.saturating_duration_since(started).as_millis() as u64,
    };
    let opened = tokio::time::timeout_at(file_deadline, store.get_object(key)).await;
    let Some(opened) = opened.map_err(|_| out_of_time(0))?? else {
        return Ok(None);
    };
    if let Some(size) = opened.size.filter(|&size| size > limits.max_object_bytes) {
        return Ok(Some(FileValidator::too_large(key, size, limits)));
    }
    let mut reader = opened.reader;
    let mut validator = FileValidator::with_limits(key, limits);
    let mut buf = vec![0u8; 256 * 1024];
    let mut read_bytes = 0;
    loop {
        let read = tokio::time::timeout_at(file_deadline, reader.read(&mut buf))
            .await
            .map_err(|_| out_of_time(read_bytes))?;
        let n = read.map_err(|e| StoreError {
            operation: "GetObject",
            bucket: store.bucket().to_owned(),
            key: key.to_owned(),
            message: format!("reading the body failed: {e}"),
            retryable: true,
        })?;
        if n == 0 {
            return Ok(Some(validator.finish()));
        }
        read_bytes += n as u64;
        // Decompressing and validating are CPU work: off the async worker, so one read of a
        // gzip bomb (up to ~264 MiB of output from 256 KiB) cannot stall the other files'
        // reads and timers, and the deadline is checked per decompression slice.
        let deadline = file_deadline.into_std();
        let (fed, in_time, returned) = tokio::task::spawn_blocking(move || {
            let in_time = validator.feed_before(&buf[..n], Some(deadline));
            (validator, in_time, buf)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        validator = fed;
        buf = returned;
        if validator.stopped() {
            return Ok(Some(validator.finish()));
        }
        if !in_time || Instant::now() >= file_deadline {
            return Err(out_of_time(read_bytes));
        }
    }
}

async fn submit<P: PipeLoader>(
    pipe: &P,
    outcomes: &mut [Option<Outcome>],
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
                let outcome = if skipped.contains(staged.path.as_str()) {
                    Outcome::AlreadyLoaded { key }
                } else {
                    Outcome::Submitted {
                        key,
                        rows: *rows,
                        bytes: *bytes,
                    }
                };
                log_outcome(&outcome);
                outcomes[*index] = Some(outcome);
            }
        }
        Err(error) => {
            stats.snowpipe_requests += 1;
            for (index, ..) in &valid {
                let outcome = Outcome::Failed {
                    key: objects[*index].key.clone(),
                    error: error.clone(),
                };
                log_outcome(&outcome);
                outcomes[*index] = Some(outcome);
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
