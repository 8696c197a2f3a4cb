//! The pipeline's stages as `pipectl dev` runs them: the three functions' handlers (the code
//! the Lambda binaries run), the pipe, the SCD task; and the small reads the loop and the
//! report need.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use std::collections::HashSet;

use chrono::Utc;
use pipeline::config::GeneratorConfig;
use pipeline::generator::FileId;
use pipeline::generator::handler::{ScheduledEvent, generate_scheduled_file};
use pipeline::ingest::handler::{Answer, Ingest};
use pipeline::ingest::{Delivery, IngestSettings, Outcome, parse_delivery};
use pipeline::monitor::Problem;
use pipeline::monitor::handler::Reconciled;
use pipeline::ports::PutOutcome;
use snowflake_standin::RunState;
use tokio::time::Instant;

use super::chaos;
use super::freshness::TimedPipe;
use super::functions::DevMonitor;
use super::report::{self, Counts, Submitted};
use super::stack::{PREFIX, Stack};
use crate::error::{CliError, CliResult};

pub(super) fn replay_files(dir: Option<&PathBuf>) -> CliResult<Option<VecDeque<PathBuf>>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            p.is_file() && (name.ends_with(".csv") || name.ends_with(".csv.gz"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::usage(format!(
            "{} has no .csv or .csv.gz files",
            dir.display()
        )));
    }
    Ok(Some(files.into()))
}

pub(super) async fn put_replayed(
    stack: &Stack,
    path: &std::path::Path,
    counts: &mut Counts,
) -> CliResult<()> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    stack
        .store
        .put_if_absent(&format!("{PREFIX}{name}"), bytes.into(), "text/csv")
        .await
        .map_err(CliError::usage)?;
    stack.freshness.created(name);
    counts.files_generated += 1;
    Ok(())
}

/// The generator function's handler, for a scheduled event made now. Each file gets its own
/// event id: a run that falls behind its schedule makes several files in one second, and one id
/// would give them one name. A corrupt file (chaos) is the same event's file with the first
/// row's email broken, written create-only as the generator writes.
pub(super) async fn generate_file(
    stack: &Stack,
    generator: &GeneratorConfig,
    corrupt: bool,
    counts: &mut Counts,
    submitted: &mut Submitted,
) -> CliResult<()> {
    let event_id = format!(
        "pipectl-dev-{}-{}",
        generator.settings.seed, counts.files_generated
    );
    let event = scheduled_event(Utc::now(), &event_id)?;
    if corrupt {
        let file = FileId::from_event(event.time, &event_id).map_err(CliError::usage)?;
        let key = file.object_key(&generator.prefix, false);
        let mut text = String::from_utf8(pipeline::generator::generate_bytes(
            &generator.settings,
            &file,
            false,
        ))
        .map_err(CliError::usage)?;
        if let Some(at) = text.find('@') {
            text.replace_range(at..at + 1, "#");
        }
        let outcome = stack
            .store
            .put_if_absent(&key, text.into_bytes().into(), "text/csv")
            .await
            .map_err(CliError::usage)?;
        if outcome != PutOutcome::Created {
            return Err(CliError::usage(format!(
                "{key} existed already: the run would lose a file"
            )));
        }
        counts.faults.invalid_files += 1;
    } else {
        let file = generate_scheduled_file(&stack.store, generator, event)
            .await
            .map_err(CliError::usage)?;
        if file.duplicate {
            return Err(CliError::usage(format!(
                "{} existed already: the run would lose a file",
                file.key
            )));
        }
        stack.freshness.created(&file.key);
        submitted.generated_valid.insert(file.key);
    }
    counts.files_generated += 1;
    Ok(())
}

/// An EventBridge scheduled event, as the schedule sends it.
fn scheduled_event(time: chrono::DateTime<Utc>, id: &str) -> CliResult<ScheduledEvent> {
    serde_json::from_value(serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }))
    .map_err(|e| CliError::usage(format!("a scheduled event did not parse: {e}")))
}

/// The ingest function's handler, given the notifications as one SQS batch. Returns the
/// notifications SQS would deliver again: those the batch response names, or the whole batch
/// when the invocation failed.
pub(super) async fn ingest_batch(
    stack: &Stack,
    settings: &IngestSettings,
    batch: &[devstack::ObjectCreated],
    counts: &mut Counts,
    submitted: &mut Submitted,
) -> CliResult<Vec<devstack::ObjectCreated>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    counts.notifications += batch.len() as u64;
    let pipe = TimedPipe {
        pipe: &stack.snowpipe,
        freshness: &stack.freshness,
    };
    let ingest = Ingest::new(stack.store.clone(), pipe, settings.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let handled = match ingest
        .handle_delivery(&devstack::s3::sqs_batch(batch), deadline)
        .await
    {
        Ok(handled) => handled,
        // A failed invocation (a configuration error: a wrong key, grant or pipe) returns the
        // whole batch to the queue; it keeps failing, and the report's checks show it.
        Err(failure) => {
            tracing::error!(error = %failure, "the ingest invocation failed; its batch comes again");
            counts.files_failed_ingest += batch.len() as u64;
            return Ok(batch.to_vec());
        }
    };
    counts.add_ingest(&handled);
    for outcome in &handled.outcomes {
        match outcome {
            Outcome::Submitted { key, rows, .. } if submitted.keys.insert(key.clone()) => {
                submitted.rows += rows;
            }
            Outcome::Failed { key, error } => {
                tracing::warn!(%key, %error, "ingest failed; the notification comes again");
            }
            _ => {}
        }
    }
    let Answer::Batch(response) = handled.answer else {
        return Err(CliError::usage("an SQS batch was not answered as one"));
    };
    let again: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|failure| failure.item_identifier)
        .collect();
    Ok(batch
        .iter()
        .filter(|created| again.contains(&created.message_id()))
        .cloned()
        .collect())
}

pub(super) async fn load_pending(stack: &Stack, counts: &mut Counts) {
    let snowflake = stack.snowflake.clone();
    let loads = tokio::task::spawn_blocking(move || snowflake.load_pending(Utc::now()))
        .await
        .unwrap_or_default();
    for load in loads {
        if load.status == "LOADED" {
            stack.freshness.loaded(&load.path);
            counts.files_loaded += 1;
        } else {
            counts.files_load_failed += 1;
        }
    }
}

pub(super) async fn run_tasks(stack: &Stack, counts: &mut Counts) {
    let snowflake = stack.snowflake.clone();
    let runs = tokio::task::spawn_blocking(move || snowflake.run_tasks(Utc::now()))
        .await
        .unwrap_or_default();
    for run in runs {
        match run.state {
            RunState::Succeeded => {
                stack.freshness.merged();
                counts.task_runs_succeeded += 1;
            }
            RunState::Skipped => counts.task_runs_skipped += 1,
            RunState::Failed | RunState::FailedAndAutoSuspended => counts.task_runs_failed += 1,
        }
    }
}

/// The monitor function's handler: reconciliation, then the checks.
pub(super) async fn run_monitor(monitor: &DevMonitor, counts: &mut Counts) {
    let deadline = Instant::now() + Duration::from_secs(60);
    match monitor.run(Utc::now(), deadline).await {
        Ok(run) => counts.add_monitor_run(&run),
        Err(err) => tracing::warn!(error = %err, "monitor run failed"),
    }
}

/// The monitor handler's reconciliation alone (the drain after the loop).
pub(super) async fn reconcile_files(monitor: &DevMonitor, counts: &mut Counts) -> Reconciled {
    let deadline = Instant::now() + Duration::from_secs(60);
    match monitor.reconcile(Utc::now(), deadline).await {
        Ok(reconciled) => {
            counts.files_reconciled += reconciled.announced as u64;
            counts.files_not_loading = reconciled.stuck.len() as u64;
            reconciled
        }
        Err(err) => {
            tracing::warn!(error = %err, "reconciliation failed");
            Reconciled::default()
        }
    }
}

/// The monitor handler's checks alone, with the files reconciliation gave up on.
pub(super) async fn check_health(monitor: &DevMonitor, stuck: Vec<Problem>, counts: &mut Counts) {
    let deadline = Instant::now() + Duration::from_secs(30);
    match monitor.check(stuck, Utc::now(), deadline).await {
        Ok(run) => counts.add_monitor_run(&run),
        Err(err) => tracing::warn!(error = %err, "monitor run failed"),
    }
}

/// What reconciliation put on the ingest queue, as the notifications ingest reads.
pub(super) fn queued_notifications(stack: &Stack) -> Vec<devstack::ObjectCreated> {
    static SEQUENCER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 40);
    let mut created = Vec::new();
    for body in stack.ingest_queue.take_all() {
        let Ok(payload) = serde_json::from_str(&body) else {
            continue;
        };
        let Ok(Delivery::Direct(objects)) = parse_delivery(&payload) else {
            continue;
        };
        for object in objects {
            created.push(devstack::ObjectCreated {
                event_name: "ObjectCreated:Put",
                bucket: object.bucket,
                key: object.key,
                size: object.size.unwrap_or_default(),
                e_tag: String::new(),
                sequencer: SEQUENCER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            });
        }
    }
    created
}

/// New notifications under the stage prefix into `batch`; with chaos, some are lost and some
/// returned for an ingest run that crashes.
pub(super) fn take_notifications(
    notifications: &mut tokio::sync::mpsc::UnboundedReceiver<devstack::ObjectCreated>,
    chaos: bool,
    batch: &mut Vec<devstack::ObjectCreated>,
    counts: &mut Counts,
) -> Vec<devstack::ObjectCreated> {
    let mut crashed = Vec::new();
    while let Ok(created) = notifications.try_recv() {
        if !created.key.starts_with(PREFIX) {
            continue;
        }
        match if chaos {
            chaos::fate(&created)
        } else {
            chaos::Fate::Delivered
        } {
            chaos::Fate::Delivered => batch.push(created),
            chaos::Fate::Lost => counts.faults.lost_notifications += 1,
            chaos::Fate::Crashed => crashed.push(created),
        }
    }
    crashed
}

pub(super) async fn streams_have_data(stack: &Stack) -> bool {
    let snowflake = stack.snowflake.clone();
    tokio::task::spawn_blocking(move || snowflake.streams_have_data().unwrap_or(false))
        .await
        .unwrap_or(false)
}

pub(super) async fn print_progress(stack: &Stack, started: Instant, counts: &Counts) {
    let snowflake = stack.snowflake.clone();
    let tables = tokio::task::spawn_blocking(move || report::tables(&snowflake)).await;
    let Ok(Ok(t)) = tables else {
        return;
    };
    eprintln!(
        "[{:>4}s] files {} in, {} valid, {} quarantined, {} loaded | RAW {} CUSTOMER {} HISTORY {} | tasks {} ok {} failed | alerts {}",
        started.elapsed().as_secs(),
        counts.files_generated,
        counts.files_valid,
        counts.files_quarantined,
        counts.files_loaded,
        t.raw_rows,
        t.customers,
        t.history_versions,
        counts.task_runs_succeeded,
        counts.task_runs_failed,
        counts.alerts_raised,
    );
}

/// CUSTOMER.csv and CUSTOMER_HISTORY.csv, all columns with a header, by key and start time.
pub(super) fn dump_tables(
    snowflake: &snowflake_standin::SnowflakeStandIn,
    dir: &std::path::Path,
) -> CliResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    for (table, order) in [
        ("CUSTOMER", "CUSTOMER_ID"),
        ("CUSTOMER_HISTORY", "CUSTOMER_ID, START_TIME"),
    ] {
        let path = dir.join(format!("{table}.csv"));
        let path_text = path.display().to_string().replace('\'', "''");
        snowflake
            .query(&format!("COPY (SELECT * FROM {table} ORDER BY {order}) TO '{path_text}' (HEADER, DELIMITER ',')"))
            .map_err(|e| CliError::usage(format!("dumping {table} failed: {e}")))?;
    }
    Ok(())
}
