//! `--chaos`: the faults a run injects, at fixed rates so a run is repeatable, and what each
//! must not break. The report's checks (see `report::chaos_checks`) show each was survived.
//!
//! | fault | rate | survived by |
//! |---|---|---|
//! | Snowpipe 429, 503 ×2, a 1.5 s answer | files 4n, 4n+1, 4n+2 | the client's retry policy |
//! | S3 503 SlowDown on the generator's upload | files 4n | the SDK's retries |
//! | S3 500 on ingest's read, more often than the SDK retries | files 4n+3 | SQS redelivery |
//! | an invalid file | files 3n+2 | quarantine |
//! | a failing TSK_SCD_RAW run | once | the next run; the monitor alerts |
//! | a notification delivered twice | every other batch | Snowpipe's load history |
//! | a notification lost | objects whose sequencer is 5n | reconciliation |
//! | ingest crashing between validation and insertFiles, its message lost | objects whose sequencer is 7n | reconciliation |

use std::time::Duration;

use devstack::{ObjectCreated, S3Fault, S3Operation};
use pipeline::ingest::handler::Ingest;
use pipeline::ingest::{IngestError, IngestSettings, OutcomeCounts, PipeLoader};
use snowflake::{InsertFilesResponse, SnowflakeError, StagedFile};
use snowflake_standin::Fault;
use tokio::time::Instant;

use super::report::Counts;
use super::stack::{self, PREFIX, Stack};

/// Faults for the file about to be made: Snowpipe throttling, outages and slowness, S3
/// throttling and errors, and once a failing run of the root task.
pub(super) fn inject_faults(stack: &Stack, index: u64, counts: &mut Counts) {
    let faults = match index % 4 {
        0 => vec![Fault::Status(429)],
        1 => vec![Fault::Status(503), Fault::Status(503)],
        2 => vec![Fault::Slow(Duration::from_millis(1500))],
        _ => vec![],
    };
    counts.faults.snowpipe_faults += faults.len() as u64;
    stack.snowflake.inject(faults);
    // The generator's upload is throttled once (the SDK retries it); every fourth file's read
    // fails more often than the SDK retries, so ingest fails it and it is delivered again.
    let (operation, s3_faults) = match index % 4 {
        0 => (S3Operation::Put, vec![S3Fault::SlowDown]),
        3 => (S3Operation::Get, vec![S3Fault::InternalError; 3]),
        _ => (S3Operation::Get, vec![]),
    };
    counts.faults.s3_errors += s3_faults.len() as u64;
    stack.s3.inject(operation, stack::BUCKET, PREFIX, s3_faults);
    if index == 1 {
        stack
            .snowflake
            .fail_next_task_run("TSK_SCD_RAW", "chaos: injected failure of the task run");
        counts.faults.failed_task_runs += 1;
    }
}

/// What happens to one new notification.
pub(super) enum Fate {
    Delivered,
    /// Never arrives.
    Lost,
    /// Arrives, but the invocation dies after validating it and its message is lost too.
    Crashed,
}

pub(super) fn fate(created: &ObjectCreated) -> Fate {
    if created.sequencer.is_multiple_of(5) {
        Fate::Lost
    } else if created.sequencer.is_multiple_of(7) {
        Fate::Crashed
    } else {
        Fate::Delivered
    }
}

/// The ingest function's handler for `crashed`, dying before insertFiles: invalid files are
/// quarantined (that happens during validation), valid ones are validated and then never
/// submitted. Its messages are lost with it.
pub(super) async fn crash_ingest(
    stack: &Stack,
    settings: &IngestSettings,
    crashed: &[ObjectCreated],
    counts: &mut Counts,
) {
    let ingest = Ingest::new(
        stack.store.clone(),
        CrashBeforeInsertFiles,
        settings.clone(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let payload = devstack::s3::sqs_batch(crashed);
    match ingest.handle_delivery(&payload, deadline).await {
        Ok(handled) => {
            let outcomes = OutcomeCounts::of(&handled.outcomes);
            counts.files_quarantined += outcomes.quarantined;
            counts.faults.ingest_crashes += outcomes.failed;
        }
        Err(failure) => tracing::warn!(error = %failure, "the crashing ingest run failed early"),
    }
}

/// A pipe whose caller dies before the request leaves: to the caller, a request that got no
/// answer.
struct CrashBeforeInsertFiles;

impl PipeLoader for CrashBeforeInsertFiles {
    async fn insert_files(
        &self,
        _files: &[StagedFile],
        _deadline: Instant,
    ) -> Result<Vec<InsertFilesResponse>, IngestError> {
        Err(IngestError::Snowflake(SnowflakeError::Transport {
            operation: "insertFiles",
            message: "chaos: the ingest function crashed before the request left".into(),
            request_id: "none".into(),
        }))
    }
}
