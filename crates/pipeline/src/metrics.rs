//! Metric names, in one place, and how each function's outcome becomes metrics. The `metrics`
//! facade is recorded as CloudWatch EMF in Lambda (see `lambda`) and ignored elsewhere.

use crate::ingest::{IngestStats, Outcome, OutcomeCounts};
use crate::monitor::{Health, Problem};
use crate::ports::PutOutcome;
use crate::upload::Uploaded;

pub const FILES_WRITTEN: &str = "FilesWritten";
pub const ROWS_GENERATED: &str = "RowsGenerated";
pub const BYTES_WRITTEN: &str = "BytesWritten";
pub const DUPLICATE_DELIVERIES: &str = "DuplicateDeliveries";

pub const FILES_RECEIVED: &str = "FilesReceived";
pub const FILES_VALID: &str = "FilesValid";
pub const FILES_QUARANTINED: &str = "FilesQuarantined";
pub const FILES_SKIPPED_ALREADY_LOADED: &str = "FilesSkippedAlreadyLoaded";
pub const FILES_FAILED: &str = "FilesFailed";
pub const ROWS_VALIDATED: &str = "RowsValidated";
pub const BYTES_VALIDATED: &str = "BytesValidated";
pub const SNOWPIPE_REQUESTS: &str = "SnowpipeRequests";
pub const SNOWPIPE_RETRIES: &str = "SnowpipeRetries";
pub const SNOWPIPE_LATENCY_MS: &str = "SnowpipeLatencyMs";

pub const MONITOR_RUNS: &str = "MonitorRuns";
pub const TASK_FAILURES: &str = "TaskFailures";
pub const LOAD_FAILURES: &str = "LoadFailures";
pub const PIPE_NOT_RUNNING: &str = "PipeNotRunning";
pub const PIPE_PENDING_FILES: &str = "PipePendingFiles";
pub const MINUTES_SINCE_LAST_INGEST: &str = "MinutesSinceLastIngest";
pub const TASKS_SUSPENDED: &str = "TasksSuspended";
/// Watched tasks an operator suspended (no alarm: deliberate).
pub const TASKS_SUSPENDED_BY_OPERATOR: &str = "TasksSuspendedByOperator";
pub const STALE_STREAMS: &str = "StaleStreams";
pub const MERGE_LAG_SECONDS: &str = "MergeLagSeconds";
pub const UNMERGED_ROWS: &str = "UnmergedRows";
pub const ALERT_FAILURES: &str = "AlertFailures";
pub const FILES_RECONCILED: &str = "FilesReconciled";
pub const FILES_NOT_LOADING: &str = "FilesNotLoading";
pub const RECONCILE_FAILURES: &str = "ReconcileFailures";

/// Records one generator invocation. A duplicate delivery wrote nothing, so it counts no file,
/// rows or bytes.
pub fn record_generated(uploaded: &Uploaded) {
    match uploaded.outcome {
        PutOutcome::Created => {
            metrics::counter!(FILES_WRITTEN).increment(1);
            metrics::counter!(ROWS_GENERATED).increment(uploaded.rows);
            metrics::counter!(BYTES_WRITTEN).increment(uploaded.bytes);
        }
        PutOutcome::AlreadyExists => metrics::counter!(DUPLICATE_DELIVERIES).increment(1),
    }
}

/// Records one ingest invocation.
pub fn record_ingest(outcomes: &[Outcome], stats: &IngestStats) {
    let counts = OutcomeCounts::of(outcomes);
    metrics::counter!(FILES_RECEIVED).increment(stats.files_received);
    metrics::counter!(FILES_VALID).increment(counts.valid());
    metrics::counter!(FILES_QUARANTINED).increment(counts.quarantined);
    metrics::counter!(FILES_SKIPPED_ALREADY_LOADED).increment(counts.already_loaded);
    metrics::counter!(FILES_FAILED).increment(counts.failed);
    metrics::counter!(ROWS_VALIDATED).increment(stats.rows_validated);
    metrics::counter!(BYTES_VALIDATED).increment(stats.bytes_validated);
    metrics::counter!(SNOWPIPE_REQUESTS).increment(stats.snowpipe_requests);
    metrics::counter!(SNOWPIPE_RETRIES).increment(stats.snowpipe_retries);
    if stats.snowpipe_requests > 0 {
        metrics::histogram!(SNOWPIPE_LATENCY_MS).record(stats.snowpipe_latency_ms as f64);
    }
}

/// Records one monitor run that completed its checks. Failure counts are the problems this run
/// reported first (an alarm on Sum > 0 fires once per failure); the other values describe the
/// current state and are recorded on every run, so their alarms stay in ALARM until it is fixed.
pub fn record_monitor(health: &Health, newly_reported: &[Problem]) {
    let count = |f: fn(&Problem) -> bool| newly_reported.iter().filter(|p| f(p)).count() as u64;
    let current = |f: fn(&Problem) -> bool| health.problems.iter().filter(|p| f(p)).count() as f64;
    metrics::counter!(MONITOR_RUNS).increment(1);
    metrics::counter!(TASK_FAILURES).increment(count(|p| matches!(p, Problem::TaskFailed { .. })));
    metrics::counter!(LOAD_FAILURES).increment(count(|p| matches!(p, Problem::LoadFailed { .. })));
    metrics::gauge!(PIPE_NOT_RUNNING).set(current(|p| matches!(p, Problem::PipeNotRunning { .. })));
    metrics::gauge!(TASKS_SUSPENDED).set(current(|p| matches!(p, Problem::TaskSuspended { .. })));
    metrics::gauge!(TASKS_SUSPENDED_BY_OPERATOR)
        .set(health.tasks_suspended_by_operator.len() as f64);
    metrics::gauge!(STALE_STREAMS).set(current(|p| matches!(p, Problem::StaleStream { .. })));
    metrics::gauge!(PIPE_PENDING_FILES).set(health.pipe_pending_files as f64);
    if let Some(minutes) = health.minutes_since_last_ingest {
        metrics::gauge!(MINUTES_SINCE_LAST_INGEST).set(minutes);
    }
    if let (Some(seconds), Some(rows)) = (health.merge_lag_seconds, health.unmerged_rows) {
        metrics::gauge!(MERGE_LAG_SECONDS).set(seconds);
        metrics::gauge!(UNMERGED_ROWS).set(rows as f64);
    }
}

/// Counts an alert that could not be posted (webhook unreadable, refused or failing).
pub fn record_alert_failure() {
    metrics::counter!(ALERT_FAILURES).increment(1);
}

/// Counts a reconciliation that could not finish (its survey, state or budget).
pub fn record_reconcile_failure() {
    metrics::counter!(RECONCILE_FAILURES).increment(1);
}
