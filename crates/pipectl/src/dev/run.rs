//! One `pipectl dev` run: start the stack, loop (make a file, deliver notifications to ingest,
//! load, merge, monitor, on their schedules), drain what is in flight, then check the
//! guarantees on the data the run produced and shut the stack down.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use devstack::ObjectCreated;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::functions::Functions;
use super::report::{self, Counts, Report, Submitted};
use super::stack::{Stack, StackOptions};
use super::stages::{
    check_health, dump_tables, generate_file, ingest_batch, load_pending, print_progress,
    put_replayed, queued_notifications, reconcile_files, replay_files, run_monitor, run_tasks,
    streams_have_data, take_notifications,
};
use super::{DevArgs, chaos};
use crate::error::{CliError, CliResult};

/// Runs the pipeline as the options say; `progress` prints a live line on stderr.
pub async fn run_dev(args: &DevArgs, progress: bool) -> CliResult<Report> {
    let started = Instant::now();
    let mut run = DevRun::start(args).await?;
    run.run_loop(args, started, progress).await?;
    run.drain(args.chaos).await?;
    run.finish(args, started).await
}

struct DevRun {
    stack: Stack,
    functions: Functions,
    notifications: UnboundedReceiver<ObjectCreated>,
    counts: Counts,
    submitted: Submitted,
    /// Notifications to deliver again with the next batch: duplicates (chaos) and the items an
    /// ingest run failed, which SQS would redeliver after the visibility timeout.
    redeliver: Vec<ObjectCreated>,
}

/// An interval of `seconds`, at least 50 ms.
fn every(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.05))
}

impl DevRun {
    async fn start(args: &DevArgs) -> CliResult<DevRun> {
        let stack = Stack::start(StackOptions {
            state: &args.state,
            sql_dir: &args.sql,
            snowflake_port: args.snowflake_port,
        })
        .await?;
        Ok(DevRun {
            functions: Functions::configure(&stack, args)?,
            notifications: stack.s3.subscribe(),
            stack,
            counts: Counts::default(),
            submitted: Submitted::default(),
            redeliver: Vec::new(),
        })
    }

    /// Until `--duration` is up, the replayed files are all through, or Ctrl-C.
    async fn run_loop(
        &mut self,
        args: &DevArgs,
        started: Instant,
        progress: bool,
    ) -> CliResult<()> {
        let mut replay = replay_files(args.replay.as_ref())?;
        let end = (args.duration > 0 && args.replay.is_none())
            .then(|| started + Duration::from_secs(args.duration));
        let (mut next_file, mut next_tasks, mut next_monitor) = (
            started,
            started + every(args.task_every),
            started + every(args.monitor_every),
        );
        let mut last_progress = started;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = &mut ctrl_c => break,
            }
            let now = Instant::now();
            if let Some(path) = replay.as_mut().and_then(VecDeque::pop_front) {
                put_replayed(&self.stack, &path, &mut self.counts).await?;
            } else if replay.is_none() && now >= next_file {
                self.make_file(args.chaos).await?;
                next_file += every(args.every);
            }
            let delivered = self.deliver(args.chaos).await?;
            load_pending(&self.stack, &mut self.counts).await;
            if now >= next_tasks {
                run_tasks(&self.stack, &mut self.counts).await;
                next_tasks += every(args.task_every);
            }
            if now >= next_monitor {
                run_monitor(&self.functions.monitor, &mut self.counts).await;
                next_monitor += every(args.monitor_every);
            }
            if progress && now.duration_since(last_progress) >= Duration::from_secs(1) {
                last_progress = now;
                print_progress(&self.stack, started, &self.counts).await;
            }
            let replay_done = replay.as_ref().is_some_and(VecDeque::is_empty)
                && !delivered
                && self.redeliver.is_empty()
                && self.stack.snowflake.pending_files() == 0
                && !streams_have_data(&self.stack).await;
            if end.is_some_and(|end| now >= end) || replay_done {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The generator's file, with this file's faults injected first under chaos (every third
    /// file is made invalid).
    async fn make_file(&mut self, chaos: bool) -> CliResult<()> {
        let index = self.counts.files_generated;
        if chaos {
            chaos::inject_faults(&self.stack, index, &mut self.counts);
        }
        let corrupt = chaos && index % 3 == 2;
        let generator = self.functions.generator.as_ref();
        generate_file(
            &self.stack,
            generator.ok_or_else(|| CliError::usage("no generator with --replay"))?,
            corrupt,
            &mut self.counts,
            &mut self.submitted,
        )
        .await
    }

    /// One ingest invocation for what arrived since the last: the bucket's new notifications
    /// (under chaos some are lost, some go to an invocation that crashes), reconciliation's
    /// announcements and the redeliveries. Returns whether there was anything to deliver.
    async fn deliver(&mut self, chaos: bool) -> CliResult<bool> {
        let mut batch = std::mem::take(&mut self.redeliver);
        let crashed =
            take_notifications(&mut self.notifications, chaos, &mut batch, &mut self.counts);
        batch.extend(queued_notifications(&self.stack));
        if chaos && !batch.is_empty() && self.counts.notifications.is_multiple_of(2) {
            // At-least-once delivery: this notification comes again with the next batch.
            self.redeliver.push(batch[0].clone());
            self.counts.faults.duplicate_notifications += 1;
        }
        let again = self.ingest(&batch).await?;
        self.redeliver.extend(again);
        self.crash(&crashed).await;
        Ok(!batch.is_empty())
    }

    /// One ingest invocation for `batch`; returns what SQS would deliver again.
    async fn ingest(&mut self, batch: &[ObjectCreated]) -> CliResult<Vec<ObjectCreated>> {
        let settings = &self.functions.ingest;
        ingest_batch(
            &self.stack,
            settings,
            batch,
            &mut self.counts,
            &mut self.submitted,
        )
        .await
    }

    async fn crash(&mut self, crashed: &[ObjectCreated]) {
        if !crashed.is_empty() {
            let settings = &self.functions.ingest;
            chaos::crash_ingest(&self.stack, settings, crashed, &mut self.counts).await;
        }
    }

    /// What was announced is ingested, loaded and merged before the checks. What no
    /// notification brought (lost, or its ingest crashed) is found by the monitor handler's
    /// reconciliation without grace, and again while a file fails (injected S3 errors may
    /// still be pending), as the next scheduled runs would; then one last run of its checks.
    async fn drain(&mut self, chaos: bool) -> CliResult<()> {
        let mut batch = std::mem::take(&mut self.redeliver);
        let crashed =
            take_notifications(&mut self.notifications, chaos, &mut batch, &mut self.counts);
        self.crash(&crashed).await;
        self.counts.files_left_failed = self.ingest_until_done(batch).await?;
        load_pending(&self.stack, &mut self.counts).await;
        let mut stuck = Vec::new();
        for _ in 0..5 {
            let reconciled = reconcile_files(&self.functions.final_monitor, &mut self.counts).await;
            stuck = reconciled.stuck;
            if reconciled.announced == 0 {
                break;
            }
            let announced = queued_notifications(&self.stack);
            self.ingest_until_done(announced).await?;
            load_pending(&self.stack, &mut self.counts).await;
        }
        for _ in 0..5 {
            if !streams_have_data(&self.stack).await {
                break;
            }
            run_tasks(&self.stack, &mut self.counts).await;
        }
        check_health(&self.functions.final_monitor, stuck, &mut self.counts).await;
        Ok(())
    }

    /// `batch` and its redeliveries, up to five invocations; returns how many still fail.
    async fn ingest_until_done(&mut self, mut batch: Vec<ObjectCreated>) -> CliResult<u64> {
        for _ in 0..5 {
            if batch.is_empty() {
                break;
            }
            batch = self.ingest(&batch).await?;
        }
        Ok(batch.len() as u64)
    }

    /// The guarantees checked on the data, the tables dumped if asked, the stack shut down.
    async fn finish(self, args: &DevArgs, started: Instant) -> CliResult<Report> {
        let DevRun {
            stack,
            functions,
            counts,
            submitted,
            ..
        } = self;
        let snowflake = stack.snowflake.clone();
        let dump: Option<PathBuf> = args.dump.clone();
        let (tables, mut checks) = tokio::task::spawn_blocking(move || -> CliResult<_> {
            if let Some(dir) = dump {
                dump_tables(&snowflake, &dir)?;
            }
            Ok((
                report::tables(&snowflake)?,
                report::check_guarantees(&snowflake, &submitted)?,
            ))
        })
        .await
        .map_err(CliError::usage)??;
        let freshness = stack.freshness.summary();
        // Release the warehouse file before returning, so the state folder can be reopened at
        // once. Every client first: a pooled connection keeps a stand-in request task (and the
        // warehouse) alive.
        let Stack {
            snowflake,
            s3,
            store,
            snowpipe,
            sql,
            ..
        } = stack;
        drop((functions, store, snowpipe, sql, s3));
        if let Ok(snowflake) = std::sync::Arc::try_unwrap(snowflake) {
            snowflake.shutdown().await;
        }
        if args.chaos {
            checks.extend(report::chaos_checks(&counts));
        }
        Ok(Report {
            seconds: started.elapsed().as_secs_f64(),
            counts,
            tables,
            freshness,
            checks,
        })
    }
}
