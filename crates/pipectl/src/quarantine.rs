//! `pipectl quarantine list|replay`: what the ingest function quarantined and why, and
//! replaying a corrected file under a new key so it takes the normal path again.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pipeline::quarantine::{ReplayError, list_quarantined, replay};

use crate::bucket::BucketArgs;
use pipectl::error::CliError;

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    command: QuarantineCommand,
}

#[derive(Subcommand, Debug)]
enum QuarantineCommand {
    /// List quarantined files, oldest first, with their problem count and first error.
    List {
        #[command(flatten)]
        bucket: BucketArgs,
        /// Print JSON lines instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Re-validate a quarantined file (or its corrected version) and write it to the stage
    /// under a new key; the original and its report stay. Exit status: 0 written, 1 still
    /// invalid (the report is printed), 2 not found or not readable.
    Replay {
        #[command(flatten)]
        bucket: BucketArgs,
        /// The quarantined key (`quarantine/stream_data/…`) or the original key
        key: String,
        /// A corrected file to replay instead of the quarantined bytes
        #[arg(long, value_name = "FILE")]
        fixed: Option<PathBuf>,
    },
}

pub fn run(args: QuarantineArgs) -> Result<(), CliError> {
    let runtime = crate::single_thread_runtime();
    runtime.block_on(async {
        match args.command {
            QuarantineCommand::List { bucket, json } => list(&bucket, json).await,
            QuarantineCommand::Replay { bucket, key, fixed } => {
                replay_one(&bucket, &key, fixed).await
            }
        }
    })
}

async fn list(bucket: &BucketArgs, json: bool) -> Result<(), CliError> {
    let store = bucket.store().await;
    let files = list_quarantined(&store, &bucket.ingest_settings())
        .await
        .map_err(CliError::usage)?;
    if json {
        for file in &files {
            println!("{}", serde_json::to_string(file).expect("serialisable"));
        }
        return Ok(());
    }
    if files.is_empty() {
        println!(
            "nothing in s3://{}/{}",
            bucket.bucket, bucket.quarantine_prefix
        );
        return Ok(());
    }
    println!(
        "{:<20}  {:>9}  {:>8}  key / first error",
        "quarantined at", "bytes", "problems"
    );
    for file in &files {
        println!(
            "{:<20}  {:>9}  {:>8}  {}\n{:<43}  {}",
            file.quarantined_at.format("%Y-%m-%d %H:%M:%S"),
            file.size,
            file.problems,
            file.key,
            "",
            file.first_error.as_deref().unwrap_or("(no report)")
        );
    }
    println!("\n{} quarantined file(s)", files.len());
    Ok(())
}

async fn replay_one(
    bucket: &BucketArgs,
    key: &str,
    fixed: Option<PathBuf>,
) -> Result<(), CliError> {
    let settings = bucket.ingest_settings();
    let quarantined_key = if key.starts_with(&settings.quarantine_prefix) {
        key.to_owned()
    } else {
        format!("{}{key}", settings.quarantine_prefix)
    };
    let fixed = match fixed.map(|path| std::fs::read(&path).map_err(|e| (path, e))) {
        None => None,
        Some(Ok(bytes)) => Some(bytes.into()),
        Some(Err((path, err))) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    let store = bucket.store().await;
    match replay(
        &store,
        &settings,
        &quarantined_key,
        fixed,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(new_key) => {
            println!(
                "written s3://{}/{new_key}: it is ingested like any new file; \
                 {quarantined_key} and its report stay in quarantine",
                bucket.bucket
            );
            Ok(())
        }
        Err(ReplayError::StillInvalid(report)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serialisable")
            );
            eprintln!(
                "refused: the file is still invalid ({} problems); nothing was written",
                report.problem_total()
            );
            Err(CliError::Reported { usage: false })
        }
        Err(err) => Err(CliError::usage(err)),
    }
}
