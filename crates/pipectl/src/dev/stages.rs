//! The pipeline's stages as `pipectl dev` runs them, each the real code path: the generator's
//! upload, the ingest function's batch, the pipe, the SCD task, the monitor with its
//! reconciliation; and the small reads the loop and the report need.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use pipeline::generator::{CsvChunks, CustomerStream, FileId, GeneratorSettings};
use pipeline::ingest::{
    Delivery, IngestSettings, ObjectRef, Outcome, ingest_objects, parse_delivery,
};
use pipeline::monitor::{Monitor, MonitorTarget, ReconcileSettings, reconcile};
use pipeline::ports::{ObjectStore, PutOutcome};
use pipeline::upload::{MULTIPART_THRESHOLD, upload_chunks};
use snowflake_standin::RunState;
use tokio::time::Instant;

use super::DevArgs;
use super::chaos;
use super::freshness::TimedPipe;
use super::report::{self, Counts, Submitted};
use super::stack::{PREFIX, Stack};

pub(super) fn replay_files(dir: Option<&PathBuf>) -> Result<Option<VecDeque<PathBuf>>, String> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            p.is_file() && (name.ends_with(".csv") || name.ends_with(".csv.gz"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{} has no .csv or .csv.gz files", dir.display()));
    }
    Ok(Some(files.into()))
}

pub(super) async fn put_replayed(
    stack: &Stack,
    path: &std::path::Path,
    counts: &mut Counts,
) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    stack
        .store
        .put_if_absent(&format!("{PREFIX}{name}"), bytes.into(), "text/csv")
        .await
        .map_err(|e| e.to_string())?;
    stack.freshness.created(name);
    counts.files_generated += 1;
    Ok(())
}

/// The generator function's path: a deterministic file from (seed, time), uploaded create-only.
/// The key is unique per file: a run that falls behind its schedule makes several files in one
/// second, and the generator's own (time, event id) naming would give them one name.
pub(super) async fn generate_file(
    stack: &Stack,
    args: &DevArgs,
    corrupt: bool,
    counts: &mut Counts,
    submitted: &mut Submitted,
) -> Result<(), String> {
    let settings = GeneratorSettings {
        rows: args.rows,
        seed: args.seed,
        id_space: GeneratorSettings::id_space_fitting(args.rows),
        ..GeneratorSettings::default()
    };
    settings
        .check()
        .map_err(|e| format!("generator settings: {e}"))?;
    let file = FileId::derived(Utc::now(), args.seed.wrapping_add(counts.files_generated));
    let key = file.object_key(PREFIX, false);
    if corrupt {
        // An invalid file: the first row's email loses its '@'.
        let mut text =
            String::from_utf8(pipeline::generator::generate_bytes(&settings, &file, false))
                .map_err(|e| e.to_string())?;
        if let Some(at) = text.find('@') {
            text.replace_range(at..at + 1, "#");
        }
        let outcome = stack
            .store
            .put_if_absent(&key, text.into_bytes().into(), "text/csv")
            .await
            .map_err(|e| e.to_string())?;
        if outcome != PutOutcome::Created {
            return Err(format!("{key} existed already: the run would lose a file"));
        }
        counts.faults.invalid_files += 1;
    } else {
        let chunks = CsvChunks::new(
            CustomerStream::new(&settings, &file),
            false,
            MULTIPART_THRESHOLD,
        );
        let uploaded = upload_chunks(&stack.store, &key, "text/csv", chunks)
            .await
            .map_err(|e| e.to_string())?;
        if uploaded.outcome != PutOutcome::Created {
            return Err(format!("{key} existed already: the run would lose a file"));
        }
        stack.freshness.created(&key);
        submitted.generated_valid.insert(key);
    }
    counts.files_generated += 1;
    Ok(())
}

/// The ingest function's path: the notifications as one SQS batch, parsed, validated, submitted.
/// Returns the notifications whose objects failed, for delivery again.
pub(super) async fn ingest_batch(
    stack: &Stack,
    batch: &[devstack::ObjectCreated],
    counts: &mut Counts,
    submitted: &mut Submitted,
) -> Result<Vec<devstack::ObjectCreated>, String> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    counts.notifications += batch.len() as u64;
    let payload = devstack::s3::sqs_batch(batch);
    let Delivery::Sqs(items) = parse_delivery(&payload).map_err(|e| e.to_string())? else {
        return Err("an SQS batch was not read as one".into());
    };
    let objects: Vec<ObjectRef> = items
        .into_iter()
        .filter_map(|i| i.objects.ok())
        .flatten()
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let pipe = TimedPipe {
        pipe: &stack.snowpipe,
        freshness: &stack.freshness,
    };
    let (outcomes, stats) = ingest_objects(
        &stack.store,
        &pipe,
        &IngestSettings::default(),
        &objects,
        deadline,
    )
    .await;
    counts.snowpipe_requests += stats.snowpipe_requests;
    counts.snowpipe_retries += stats.snowpipe_retries;
    let mut failed = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Submitted { key, rows, .. } => {
                counts.files_valid += 1;
                if submitted.keys.insert(key) {
                    submitted.rows += rows;
                }
            }
            Outcome::AlreadyLoaded { .. } => counts.files_skipped_already_loaded += 1,
            Outcome::Quarantined { .. } => counts.files_quarantined += 1,
            Outcome::Skipped { .. } => {}
            Outcome::Failed { key, error } => {
                counts.files_failed_ingest += 1;
                tracing::warn!(%key, %error, "ingest failed; the notification comes again");
                failed.extend(batch.iter().filter(|c| c.key == key).take(1).cloned());
            }
        }
    }
    Ok(failed)
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
            RunState::Failed => counts.task_runs_failed += 1,
        }
    }
}

/// The monitor's run: reconciliation first (its stuck files become problems), then the checks.
pub(super) async fn run_monitor(
    stack: &Stack,
    monitor: &Monitor<pipeline::aws::S3Store>,
    target: &MonitorTarget,
    reconciliation: &ReconcileSettings,
    counts: &mut Counts,
) {
    let (stuck, _) = reconcile_stage(stack, target, reconciliation, counts).await;
    run_monitor_with(stack, monitor, target, stuck, counts).await;
}

pub(super) async fn run_monitor_with(
    stack: &Stack,
    monitor: &Monitor<pipeline::aws::S3Store>,
    target: &MonitorTarget,
    stuck: Vec<pipeline::monitor::Problem>,
    counts: &mut Counts,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    match monitor
        .run_with(&stack.sql, target, stuck, Utc::now(), deadline)
        .await
    {
        Ok(report) => {
            counts.monitor_runs += 1;
            counts.alerts_raised += report.reported.len() as u64;
            counts.task_failures_alerted += report
                .reported
                .iter()
                .filter(|p| matches!(p, pipeline::monitor::Problem::TaskFailed { .. }))
                .count() as u64;
        }
        Err(err) => tracing::warn!(error = %err, "monitor run failed"),
    }
}

/// Reconciliation as the deployed monitor runs it: files nothing loaded are announced on the
/// ingest queue, which the loop hands to the ingest stage. Returns the files it gave up on, as
/// problems, and how many it announced.
pub(super) async fn reconcile_stage(
    stack: &Stack,
    target: &MonitorTarget,
    settings: &ReconcileSettings,
    counts: &mut Counts,
) -> (Vec<pipeline::monitor::Problem>, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = match reconcile(
        &stack.store,
        &stack.sql,
        &stack.ingest_queue,
        target,
        settings,
        Utc::now(),
        deadline,
    )
    .await
    {
        Ok(report) => report,
        Err(err) => {
            tracing::warn!(error = %err, "reconciliation failed");
            return (Vec::new(), 0);
        }
    };
    counts.files_reconciled += report.announced.len() as u64;
    counts.files_not_loading = report.stuck.len() as u64;
    (report.stuck, report.announced.len())
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
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (table, order) in [
        ("CUSTOMER", "CUSTOMER_ID"),
        ("CUSTOMER_HISTORY", "CUSTOMER_ID, START_TIME"),
    ] {
        let path = dir.join(format!("{table}.csv"));
        let path_text = path.display().to_string().replace('\'', "''");
        snowflake
            .query(&format!("COPY (SELECT * FROM {table} ORDER BY {order}) TO '{path_text}' (HEADER, DELIMITER ',')"))
            .map_err(|e| format!("dumping {table} failed: {e}"))?;
    }
    Ok(())
}
