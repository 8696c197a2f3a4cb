//! `pipectl dev`: the whole pipeline on the local stand-ins, in one process. The generator's
//! upload path, the ingest path (SQS-shaped S3 notifications, validation, quarantine, Snowpipe),
//! the pipe, the shipped task bodies and the monitor run for real; the run ends with the
//! guarantees checked on the data it produced.

mod chaos;
mod freshness;
mod oracle;
mod report;
pub mod stack;
mod stages;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::TimeDelta;
use clap::Args;
use pipeline::generator::GeneratorSettings;
use pipeline::ingest::IngestSettings;
use pipeline::monitor::{Monitor, MonitorSettings, MonitorTarget, ReconcileSettings};
use tokio::time::Instant;

pub use report::Report;
use report::{Counts, Submitted};
use stack::{PREFIX, Stack, StackOptions};
use stages::{
    dump_tables, generate_file, ingest_batch, load_pending, print_progress, put_replayed,
    queued_notifications, reconcile_stage, replay_files, run_monitor, run_monitor_with, run_tasks,
    streams_have_data, take_notifications,
};

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// How long to run: seconds, or with a unit (90s, 10m, 2h); 0 runs until Ctrl-C
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub duration: u64,
    /// Seconds between generated files
    #[arg(long, default_value_t = 5.0)]
    pub every: f64,
    /// Rows per generated file
    #[arg(long, default_value_t = 1000)]
    pub rows: u64,
    #[arg(long, default_value_t = GeneratorSettings::default().seed)]
    pub seed: u64,
    /// Where the stand-ins keep their data (resumable; open warehouse.duckdb with the duckdb CLI)
    #[arg(long, default_value = ".dev")]
    pub state: PathBuf,
    /// Print the final report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Feed the .csv and .csv.gz files of DIR, in name order, instead of the generator; the run
    /// ends when every file is processed and no stream has data left
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
    /// Write CUSTOMER.csv and CUSTOMER_HISTORY.csv to DIR at the end
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// Port of the Snowflake stand-in (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub snowflake_port: u16,
    /// The Snowflake scripts to apply
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql"))]
    pub sql: PathBuf,
    /// Seconds between chances for the triggered task to run (Snowflake's 30-second trigger
    /// interval, scaled down); it runs when its stream has rows
    #[arg(long, default_value_t = 2.0)]
    pub task_every: f64,
    /// Seconds between monitor runs
    #[arg(long, default_value_t = 10.0)]
    pub monitor_every: f64,
    /// Seconds a stage file may stay unloaded before the monitor's reconciliation puts it
    /// through the ingest path again (15 minutes when deployed, scaled down)
    #[arg(long, default_value_t = 5.0)]
    pub reconcile_grace: f64,
    /// Inject faults: Snowpipe 429/503 and slow answers, S3 throttling and errors, a failing
    /// task run, invalid files and duplicate notifications; the report shows each was survived
    #[arg(long)]
    pub chaos: bool,
    /// Only start the stand-ins and print the variables that point the real Lambda binaries
    /// (`cargo lambda watch`, `cargo lambda invoke --data-file events/…`) and `pipectl sql` at
    /// them; runs until Ctrl-C
    #[arg(long)]
    pub serve: bool,
}

/// `600`, `90s`, `10m` or `2h`, as seconds.
fn parse_seconds(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let (number, scale) = match value.char_indices().last() {
        Some((at, 's')) => (&value[..at], 1),
        Some((at, 'm')) => (&value[..at], 60),
        Some((at, 'h')) => (&value[..at], 3600),
        _ => (value, 1),
    };
    number
        .trim()
        .parse::<u64>()
        .map(|n| n * scale)
        .map_err(|_| format!("'{value}' is not a duration such as 600, 90s, 10m or 2h"))
}

/// Exit status: 0 the run kept every guarantee, 1 a guarantee failed, 2 the stack did not start.
pub fn run(args: DevArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if args.serve {
        return match runtime.block_on(serve(&args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        };
    }
    match runtime.block_on(run_dev(&args, true)) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serialisable")
                );
            } else {
                print_summary(&report);
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn print_summary(report: &Report) {
    let c = &report.counts;
    let t = &report.tables;
    println!("\npipectl dev: {:.0} s", report.seconds);
    println!(
        "  files     {} generated or replayed, {} valid, {} quarantined, {} loaded, {} failed to load, {} reconciled",
        c.files_generated,
        c.files_valid,
        c.files_quarantined,
        c.files_loaded,
        c.files_load_failed,
        c.files_reconciled
    );
    println!(
        "  tables    CUSTOMER_RAW {} rows, CUSTOMER {} ({} live), CUSTOMER_HISTORY {} versions",
        t.raw_rows, t.customers, t.live_customers, t.history_versions
    );
    println!(
        "  tasks     {} succeeded, {} failed, {} skipped; monitor {} runs, {} alerts",
        c.task_runs_succeeded,
        c.task_runs_failed,
        c.task_runs_skipped,
        c.monitor_runs,
        c.alerts_raised
    );
    println!("  freshness per file               p50        p95        max  (files)");
    for stage in &report.freshness {
        println!(
            "    {:<32} {:>7} ms {:>7} ms {:>7} ms  ({})",
            stage.stage, stage.p50_ms, stage.p95_ms, stage.max_ms, stage.files
        );
    }
    for check in &report.checks {
        let mark = if check.passed { "ok  " } else { "FAIL" };
        println!("  {mark}      {}: {}", check.guarantee, check.detail);
    }
}

/// Keeps the stand-ins up for the real binaries until Ctrl-C, with the pipe loading what they
/// submit and the triggered task on its (scaled-down) interval, as in a run.
async fn serve(args: &DevArgs) -> Result<(), String> {
    let stack = Stack::start(StackOptions {
        state: &args.state,
        sql_dir: &args.sql,
        snowflake_port: args.snowflake_port,
    })
    .await?;
    let files = stack.write_environments()?;
    println!("# The stand-ins are up, set up by sql/ as deployed. One user each:");
    for ((file, variables), path) in stack.environments().into_iter().zip(&files) {
        println!("# {file} ({}):", path.display());
        for (name, value) in variables {
            println!("export {name}='{value}'");
        }
    }
    println!(
        "# In another shell, source one (ingest.env for the ingest function, monitor.env for the\n\
         # monitor, doctor, backfill and quarantine, admin.env for anything else), then e.g.\n\
         # `cargo lambda watch` and `cargo lambda invoke ingest --data-file events/ingest-sqs.json`,"
    );
    println!("# or `cargo run --release -- sql \"SELECT count(*) FROM CUSTOMER\"`. Ctrl-C stops.");
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut counts = Counts::default();
    let task_every = Duration::from_secs_f64(args.task_every.max(0.05));
    let mut next_tasks = Instant::now() + task_every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut ctrl_c => break,
        }
        let loaded_before = (counts.files_loaded, counts.files_load_failed);
        load_pending(&stack, &mut counts).await;
        if (counts.files_loaded, counts.files_load_failed) != loaded_before {
            println!(
                "# pipe: {} files loaded, {} failed to load so far",
                counts.files_loaded, counts.files_load_failed
            );
        }
        if Instant::now() >= next_tasks {
            run_tasks(&stack, &mut counts).await;
            next_tasks += task_every;
        }
    }
    if let Ok(snowflake) = std::sync::Arc::try_unwrap(stack.snowflake) {
        snowflake.shutdown().await;
    }
    Ok(())
}

/// Runs the pipeline as the options say; `progress` prints a live line on stderr.
pub async fn run_dev(args: &DevArgs, progress: bool) -> Result<Report, String> {
    let started = Instant::now();
    let stack = Stack::start(StackOptions {
        state: &args.state,
        sql_dir: &args.sql,
        snowflake_port: args.snowflake_port,
    })
    .await?;
    let mut notifications = stack.s3.subscribe();
    let mut replay = replay_files(args.replay.as_ref())?;
    let monitor = Monitor::new(
        stack.store.clone(),
        MonitorSettings {
            state_key: "monitor/state.json".into(),
            overlap: TimeDelta::minutes(60),
            lookback: TimeDelta::minutes(60),
        },
        None,
    );
    let target = MonitorTarget::pipeline_objects(stack::DATABASE, stack::SCHEMA);
    let reconciliation = ReconcileSettings {
        grace: TimeDelta::milliseconds((args.reconcile_grace * 1000.0) as i64),
        ..ReconcileSettings::new(PREFIX, &IngestSettings::default().quarantine_prefix)
    };
    let mut counts = Counts::default();
    let mut submitted = Submitted::default();
    let every = |seconds: f64| Duration::from_secs_f64(seconds.max(0.05));
    let end = (args.duration > 0 && args.replay.is_none())
        .then(|| started + Duration::from_secs(args.duration));
    let (mut next_file, mut next_tasks, mut next_monitor) = (
        started,
        started + every(args.task_every),
        started + every(args.monitor_every),
    );
    let mut last_progress = started;
    // Notifications to deliver again with the next batch: duplicates (chaos) and the items an
    // ingest run failed, which SQS would redeliver after the visibility timeout.
    let mut redeliver: Vec<devstack::ObjectCreated> = Vec::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut ctrl_c => break,
        }
        let now = Instant::now();
        if let Some(path) = replay.as_mut().and_then(VecDeque::pop_front) {
            put_replayed(&stack, &path, &mut counts).await?;
        } else if replay.is_none() && now >= next_file {
            let index = counts.files_generated;
            let corrupt = args.chaos && index % 3 == 2;
            if args.chaos {
                chaos::inject_faults(&stack, index, &mut counts);
            }
            generate_file(&stack, args, corrupt, &mut counts, &mut submitted).await?;
            next_file += every(args.every);
        }
        let mut batch = std::mem::take(&mut redeliver);
        let crashed = take_notifications(&mut notifications, args.chaos, &mut batch, &mut counts);
        batch.extend(queued_notifications(&stack));
        if args.chaos && !batch.is_empty() && counts.notifications % 2 == 0 {
            // At-least-once delivery: this notification comes again with the next batch.
            redeliver.push(batch[0].clone());
            counts.faults.duplicate_notifications += 1;
        }
        redeliver.extend(ingest_batch(&stack, &batch, &mut counts, &mut submitted).await?);
        if !crashed.is_empty() {
            chaos::crash_ingest(&stack, &crashed, &mut counts).await;
        }
        load_pending(&stack, &mut counts).await;
        if now >= next_tasks {
            run_tasks(&stack, &mut counts).await;
            next_tasks += every(args.task_every);
        }
        if now >= next_monitor {
            run_monitor(&stack, &monitor, &target, &reconciliation, &mut counts).await;
            next_monitor += every(args.monitor_every);
        }
        if progress && now.duration_since(last_progress) >= Duration::from_secs(1) {
            last_progress = now;
            print_progress(&stack, started, &counts).await;
        }
        let replay_done = replay.as_ref().is_some_and(VecDeque::is_empty)
            && batch.is_empty()
            && redeliver.is_empty()
            && stack.snowflake.pending_files() == 0
            && !streams_have_data(&stack).await;
        if end.is_some_and(|end| now >= end) || replay_done {
            break;
        }
    }
    // Drain: what was announced is ingested, loaded and merged before the checks.
    let mut batch = std::mem::take(&mut redeliver);
    let crashed = take_notifications(&mut notifications, args.chaos, &mut batch, &mut counts);
    if !crashed.is_empty() {
        chaos::crash_ingest(&stack, &crashed, &mut counts).await;
    }
    for _ in 0..5 {
        batch = ingest_batch(&stack, &batch, &mut counts, &mut submitted).await?;
        if batch.is_empty() {
            break;
        }
    }
    counts.files_left_failed = batch.len() as u64;
    load_pending(&stack, &mut counts).await;
    // What no notification brought (lost, or its ingest crashed) is found now, without grace,
    // and again while a file fails (injected S3 errors may still be pending), as the next
    // monitor runs would.
    let final_reconciliation = ReconcileSettings {
        grace: TimeDelta::zero(),
        // Room for this loop's own attempts on top of the run's.
        max_attempts: reconciliation.max_attempts + 5,
        ..reconciliation.clone()
    };
    let mut stuck = Vec::new();
    for _ in 0..5 {
        let (found, announced) =
            reconcile_stage(&stack, &target, &final_reconciliation, &mut counts).await;
        stuck = found;
        if announced == 0 {
            break;
        }
        let mut batch = queued_notifications(&stack);
        for _ in 0..5 {
            batch = ingest_batch(&stack, &batch, &mut counts, &mut submitted).await?;
            if batch.is_empty() {
                break;
            }
        }
        load_pending(&stack, &mut counts).await;
    }
    for _ in 0..5 {
        if !streams_have_data(&stack).await {
            break;
        }
        run_tasks(&stack, &mut counts).await;
    }
    run_monitor_with(&stack, &monitor, &target, stuck, &mut counts).await;
    let snowflake = stack.snowflake.clone();
    let dump = args.dump.clone();
    let (tables, checks) = tokio::task::spawn_blocking(move || -> Result<_, String> {
        if let Some(dir) = dump {
            dump_tables(&snowflake, &dir)?;
        }
        Ok((
            report::tables(&snowflake)?,
            report::check_guarantees(&snowflake, &submitted)?,
        ))
    })
    .await
    .map_err(|e| e.to_string())??;
    let freshness = stack.freshness.summary();
    // Release the warehouse file before returning, so the state folder can be reopened at once.
    // Every client first: a pooled connection keeps a stand-in request task (and the warehouse)
    // alive.
    let Stack {
        snowflake,
        s3,
        store,
        snowpipe,
        sql,
        ..
    } = stack;
    drop((monitor, store, snowpipe, sql, s3));
    if let Ok(snowflake) = std::sync::Arc::try_unwrap(snowflake) {
        snowflake.shutdown().await;
    }
    let mut checks = checks;
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

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn durations_are_seconds_or_carry_a_unit() {
        assert_eq!(parse_seconds("600"), Ok(600));
        assert_eq!(parse_seconds("90s"), Ok(90));
        assert_eq!(parse_seconds("10m"), Ok(600));
        assert_eq!(parse_seconds("2h"), Ok(7200));
        assert!(parse_seconds("ten").unwrap_err().contains("10m"));
    }
}
