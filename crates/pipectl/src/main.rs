//! `pipectl`: the operator CLI for the customer pipeline.

mod backfill;
mod bench;
mod bucket;
mod connection;
use pipectl::dev;
mod doctor;
mod generate;
mod grants;
mod key;
mod quarantine;
mod sql;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pipectl",
    version,
    about = "Operate the serverless customer pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline locally on stand-ins for S3 and Snowflake (generator, ingest,
    /// Snowpipe, the shipped tasks, the monitor) and check its guarantees at the end.
    /// Exit status: 0 every guarantee held, 1 one failed, 2 the stack did not start.
    Dev(dev::DevArgs),
    /// Write a fake customer CSV, byte-identical to what the generator Lambda writes for the
    /// same seed, time and event id.
    Generate(generate::GenerateArgs),
    /// Check files against the CSV contract, as the ingest function does. Exit status: 0 all
    /// valid, 1 any invalid, 2 a file could not be read.
    Validate(validate::ValidateArgs),
    /// Run one SQL statement through the SQL API v2 (key-pair auth) and print the rows.
    /// Exit status: 0 done, 1 the statement failed, 2 bad arguments or settings.
    Sql(sql::SqlArgs),
    /// Print a private key's fingerprint and the statement that registers its public key with a
    /// Snowflake user. Exit status: 0 done, 2 the key cannot be used.
    Key(key::KeyArgs),
    /// Check a configuration end to end: the key, Snowflake accepting it, the warehouse, the
    /// pipe, the tasks and the bucket, each failure with what to do.
    /// Exit status: 0 all passed, 1 a check failed, 2 incomplete settings.
    Doctor(doctor::DoctorArgs),
    /// Find stage files that nothing has loaded (not in COPY_HISTORY, not quarantined) in a
    /// time range, print them, and submit them to the pipe (Snowpipe skips any it loaded).
    /// Exit status: 0 done, 1 Snowflake or S3 failed, 2 bad arguments.
    Backfill(backfill::BackfillArgs),
    /// Quarantined files: list them with their first errors, or replay a corrected one.
    Quarantine(quarantine::QuarantineArgs),
    /// Measure one run of the SCD task on the Snowflake stand-in as CUSTOMER_RAW grows
    /// (the dev build optimises DuckDB as release does). Exit status: 0 measured, 2 a run failed.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    pipectl::error::exit(match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Key(args) => key::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Backfill(args) => backfill::run(args),
        Command::Quarantine(args) => quarantine::run(args),
        Command::Bench(args) => bench::run(args),
    })
}

/// The runtime the one-shot commands (sql, doctor, backfill, quarantine) block on.
fn single_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}
