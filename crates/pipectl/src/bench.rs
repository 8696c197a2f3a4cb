//! `pipectl bench`: what one run of TSK_SCD_RAW costs on the Snowflake stand-in as
//! CUSTOMER_RAW grows. For each size, CUSTOMER_RAW is filled with that many rows over the
//! customers (by SQL, not through the pipe, to keep the setup short) and merged by one task run;
//! then a file of `--file-rows` changes to distinct customers, each newer than anything before,
//! is loaded and merged `--runs` times, and each of those task runs is timed. A run that reads
//! only the touched customers' rows from their affected version on grows little with the table;
//! one that scans it would grow in proportion.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Args;
use pipectl::dev::stack::{Stack, StackOptions};
use pipectl::error::{CliError, CliResult};
use snowflake_standin::{RunState, SnowflakeStandIn};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rows in CUSTOMER_RAW before the measured runs, comma-separated
    #[arg(long, default_value = "10000,100000,1000000", value_delimiter = ',')]
    raw_rows: Vec<u64>,
    /// Distinct customers those rows are spread over
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Rows in the measured file (one per customer)
    #[arg(long, default_value_t = 1_000)]
    file_rows: u64,
    /// Measured task runs per size
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// The Snowflake scripts the stand-in runs
    #[arg(long, default_value = "sql")]
    sql: PathBuf,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
struct SizeResult {
    raw_rows: u64,
    setup_merge_ms: u64,
    run_ms: Vec<u64>,
    median_ms: u64,
}

/// Exit status: 0 measured, 2 the stand-in did not start or a run failed.
pub fn run(args: BenchArgs) -> Result<(), CliError> {
    if args.file_rows == 0 || args.file_rows > args.customers || args.runs == 0 {
        return Err(CliError::usage(
            "--file-rows must be between 1 and --customers, and --runs at least 1",
        ));
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let mut results = Vec::new();
    for &raw_rows in &args.raw_rows {
        match runtime.block_on(measure(&args, raw_rows)) {
            Ok(result) => {
                if !args.json {
                    println!(
                        "CUSTOMER_RAW {:>9} rows: first merge {:>7} ms; a {}-row file: median {:>5} ms (runs {:?} ms)",
                        result.raw_rows,
                        result.setup_merge_ms,
                        args.file_rows,
                        result.median_ms,
                        result.run_ms
                    );
                }
                results.push(result);
            }
            Err(message) => return Err(CliError::usage(format!("{raw_rows} rows: {message}"))),
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).expect("serialisable")
        );
    }
    Ok(())
}

async fn measure(args: &BenchArgs, raw_rows: u64) -> CliResult<SizeResult> {
    let state = tempfile::tempdir().map_err(CliError::usage)?;
    let stack = Stack::start(StackOptions {
        state: state.path(),
        sql_dir: &args.sql,
        snowflake_port: 0,
    })
    .await?;
    let snowflake = stack.snowflake.clone();
    let (customers, file_rows, runs) = (args.customers, args.file_rows, args.runs);
    let result = tokio::task::spawn_blocking(move || -> CliResult<SizeResult> {
        insert(&snowflake, "bench_history.csv", 0, raw_rows, customers, 1)?;
        let setup_merge = timed_run(&snowflake)?;
        let mut run_ms = Vec::new();
        for run in 0..runs {
            // Each file is newer than everything before it, and touches every `step`th customer.
            let start = raw_rows + u64::from(run) * file_rows;
            let name = format!("bench_file_{run}.csv");
            insert(
                &snowflake,
                &name,
                start,
                file_rows,
                customers,
                customers / file_rows,
            )?;
            run_ms.push(timed_run(&snowflake)?.as_millis() as u64);
        }
        let mut sorted = run_ms.clone();
        sorted.sort_unstable();
        Ok(SizeResult {
            raw_rows,
            setup_merge_ms: setup_merge.as_millis() as u64,
            median_ms: sorted[sorted.len() / 2],
            run_ms,
        })
    })
    .await
    .map_err(CliError::usage)?;
    drop(stack);
    result
}

/// `rows` rows as one loaded file: row i is customer `(i * step) % customers + 1`, updated at
/// second `first + i` after a fixed instant, with attributes that change from row to row (and a
/// delete every 50th row).
fn insert(
    snowflake: &SnowflakeStandIn,
    file: &str,
    first: u64,
    rows: u64,
    customers: u64,
    step: u64,
) -> CliResult<()> {
    let sql = format!(
        "INSERT INTO CUSTOMER_RAW
         SELECT (i * {step}) % {customers} + 1, 'First' || (i % 7), 'Last', 'c' || i || '@x.io',
                (i % 5) || ' Main St', 'Oslo', NULL, 'NO',
                TIMESTAMP '2026-01-01 00:00:00' + to_seconds({first} + i),
                CASE WHEN i % 50 = 49 THEN 'D' ELSE 'U' END, '{file}', i + 1, now()
         FROM range({rows}) AS t(i)"
    );
    snowflake.query(&sql).map(drop).map_err(CliError::usage)
}

/// One task run, which must succeed, and its time.
fn timed_run(snowflake: &SnowflakeStandIn) -> CliResult<Duration> {
    let started = Instant::now();
    let runs = snowflake.run_tasks(Utc::now());
    let elapsed = started.elapsed();
    match runs.first() {
        Some(run) if run.state == RunState::Succeeded => Ok(elapsed),
        other => Err(CliError::usage(format!(
            "the task run did not succeed: {other:?}"
        ))),
    }
}
