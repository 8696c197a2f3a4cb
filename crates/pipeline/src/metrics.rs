//! Metric names, in one place, and how each function's outcome becomes metrics. The `metrics`
//! facade is recorded as CloudWatch EMF in Lambda (see `lambda`) and ignored elsewhere.

use crate::ingest::{IngestStats, Outcome};
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
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count() as u64;
    let valid = count(|o| matches!(o, Outcome::Submitted { .. } | Outcome::AlreadyLoaded { .. }));
    metrics::counter!(FILES_RECEIVED).increment(stats.files_received);
    metrics::counter!(FILES_VALID).increment(valid);
    metrics::counter!(FILES_QUARANTINED)
        .increment(count(|o| matches!(o, Outcome::Quarantined { .. })));
    metrics::counter!(FILES_SKIPPED_ALREADY_LOADED)
        .increment(count(|o| matches!(o, Outcome::AlreadyLoaded { .. })));
    metrics::counter!(FILES_FAILED).increment(count(|o| matches!(o, Outcome::Failed { .. })));
    metrics::counter!(ROWS_VALIDATED).increment(stats.rows_validated);
    metrics::counter!(BYTES_VALIDATED).increment(stats.bytes_validated);
    metrics::counter!(SNOWPIPE_REQUESTS).increment(stats.snowpipe_requests);
    metrics::counter!(SNOWPIPE_RETRIES).increment(stats.snowpipe_retries);
    if stats.snowpipe_requests > 0 {
        metrics::histogram!(SNOWPIPE_LATENCY_MS).record(stats.snowpipe_latency_ms as f64);
    }
}
