//! `pipectl dev`: the whole pipeline on the local stand-ins, in one process. The three
//! functions' handlers (the code the Lambda binaries run: SQS-shaped S3 notifications,
//! validation, quarantine, Snowpipe; reconciliation and the checks), the pipe and the shipped
//! task bodies run for real; the run ends with the guarantees checked on the data it produced.

mod chaos;
mod freshness;
mod functions;
mod oracle;
mod report;
mod run;
pub mod stack;
mod stages;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::{CliError, CliResult};
use pipeline::generator::GeneratorSettings;
use tokio::time::Instant;

use report::Counts;
pub use report::Report;
pub use run::run_dev;
use stack::{Stack, StackOptions};
use stages::{load_pending, run_tasks};

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
pub fn run(args: DevArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if args.serve {
        return runtime.block_on(serve(&args));
    }
    let report = runtime.block_on(run_dev(&args, true))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
    } else {
        print_summary(&report);
    }
    if !report.passed() {
        // The summary (or the JSON report) shows each guarantee and whether it held.
        return Err(CliError::Reported { usage: false });
    }
    Ok(())
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
async fn serve(args: &DevArgs) -> CliResult<()> {
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
    println!("# or `cargo run -- sql \"SELECT count(*) FROM CUSTOMER\"`. Ctrl-C stops.");
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
