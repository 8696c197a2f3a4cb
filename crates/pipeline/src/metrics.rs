//! Metric names, in one place, and how each function's outcome becomes metrics. The `metrics`
//! facade is recorded as CloudWatch EMF in Lambda (see `lambda`) and ignored elsewhere.

use crate::ports::PutOutcome;
use crate::upload::Uploaded;

pub const FILES_WRITTEN: &str = "FilesWritten";
pub const ROWS_GENERATED: &str = "RowsGenerated";
pub const BYTES_WRITTEN: &str = "BytesWritten";
pub const DUPLICATE_DELIVERIES: &str = "DuplicateDeliveries";

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
