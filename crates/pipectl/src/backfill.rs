//! `pipectl backfill`: the monitor's reconciliation on demand, for a chosen time range. Lists
//! the stage, compares it with COPY_HISTORY and quarantine, prints what it found, and (unless
//! `--dry-run`) submits the files nothing has loaded.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use pipeline::ingest::Outcome;
use pipeline::monitor::reconcile::{FileStatus, Finding, resubmit, survey};
use pipeline::monitor::{MonitorTarget, ReconcileSettings};
use snowflake::{Snowpipe, SqlApi};
use tokio::time::Instant;

use crate::bucket::BucketArgs;
use crate::connection::ConnectionArgs;
use pipectl::error::CliError;

#[derive(Args, Debug)]
pub struct BackfillArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    bucket: BucketArgs,
    /// The pipe, DATABASE.SCHEMA.PIPE (or PIPE with --database and --schema)
    #[arg(long, env = "SNOWFLAKE_PIPE", default_value = "CUSTOMER_PIPE")]
    pipe: String,
    /// The raw table whose COPY_HISTORY is compared
    #[arg(long, default_value = "CUSTOMER_RAW")]
    table: String,
    /// Files last modified at or after this: RFC 3339 (2026-11-24T08:00:00Z) or an age (90m, 6h, 2d)
    #[arg(long, value_parser = parse_time)]
    since: DateTime<Utc>,
    /// Files last modified before this (same forms; default now)
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Files younger than this many minutes are left alone: they may be on their way
    #[arg(long, default_value_t = 15)]
    grace_minutes: i64,
    /// Show what would be submitted, submit nothing
    #[arg(long)]
    dry_run: bool,
}

/// RFC 3339, or an age before now such as `90m`, `6h`, `2d`.
fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    let (number, unit) = value.split_at(value.len().saturating_sub(1));
    let amount: i64 = number
        .parse()
        .map_err(|_| format!("'{value}' is neither RFC 3339 nor an age like 90m, 6h or 2d"))?;
    let age = match unit {
        "m" => TimeDelta::minutes(amount),
        "h" => TimeDelta::hours(amount),
        "d" => TimeDelta::days(amount),
        _ => return Err(format!("'{value}': the unit is m, h or d")),
    };
    Ok(Utc::now() - age)
}

/// Exit status: 0 done (or nothing to do), 1 Snowflake or S3 failed, 2 bad arguments.
pub fn run(args: BackfillArgs) -> Result<(), CliError> {
    let resolved = args.connection.resolve()?;
    let pipe = resolved.qualified_pipe(&args.pipe).ok_or_else(|| {
        CliError::usage("pass --pipe DATABASE.SCHEMA.PIPE, or --database and --schema")
    })?;
    let client = Arc::new(resolved.client()?);
    let name: snowflake::PipeName = pipe
        .parse()
        .map_err(|_| CliError::usage(format!("pipe '{pipe}' is not DATABASE.SCHEMA.PIPE")))?;
    let target = MonitorTarget {
        database: name.database,
        schema: name.schema,
        pipe: name.pipe,
        table: args.table.to_ascii_uppercase(),
        tasks: Vec::new(),
        streams: Vec::new(),
    };
    let settings = ReconcileSettings {
        grace: TimeDelta::minutes(args.grace_minutes),
        max_attempts: u32::MAX,
        state_key: String::new(),
        ..ReconcileSettings::new(&args.bucket.prefix, &args.bucket.quarantine_prefix)
    };
    let now = Utc::now();
    let until = args.until.unwrap_or(now);
    if args.since >= until {
        return Err(CliError::usage("--since must be before --until"));
    }
    let runtime = crate::single_thread_runtime();
    runtime.block_on(async {
        let mut context = resolved.context();
        context.database.get_or_insert_with(|| target.database.clone());
        context.schema.get_or_insert_with(|| target.schema.clone());
        let warehouse = SqlApi::new(client.clone(), context);
        let store = args.bucket.store().await;
        let deadline = Instant::now() + Duration::from_secs(600);
        let window = (args.since, until);
        let findings = survey(&store, &warehouse, &target, &settings, window, now, deadline)
            .await
            .map_err(CliError::failed)?;
        let due: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.status == FileStatus::NotLoaded)
            .collect();
        let outcomes = if args.dry_run || due.is_empty() {
            Vec::new()
        } else {
            let snowpipe = Snowpipe::new(client, pipe.clone());
            resubmit(&store, &snowpipe, &settings, &due, deadline).await
        };
        print_table(&findings, &outcomes);
        let failed = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed { .. }))
            .count();
        println!(
            "\n{} file(s) between {} and {}: {} not loaded{}",
            findings.len(),
            args.since.format("%Y-%m-%d %H:%M:%S"),
            until.format("%Y-%m-%d %H:%M:%S"),
            due.len(),
            match (args.dry_run, due.is_empty()) {
                (_, true) => String::new(),
                (true, false) => ", none submitted (--dry-run)".into(),
                (false, false) => format!(
                    ", put through the ingest path to {pipe} ({failed} failed; Snowpipe skips any it loaded)"
                ),
            }
        );
        if failed > 0 {
            // The table and the summary line above say which.
            return Err(CliError::Reported { usage: false });
        }
        Ok(())
    })
}

fn print_table(findings: &[Finding], outcomes: &[Outcome]) {
    println!(
        "{:<20}  {:>9}  {:<12}  {:<16}  key",
        "last modified", "bytes", "status", "action"
    );
    let mut done = outcomes.iter();
    for finding in findings {
        let (status, action) = match finding.status {
            FileStatus::Loaded => ("loaded", "-".to_owned()),
            FileStatus::LoadFailed => ("load failed", "see COPY_HISTORY".to_owned()),
            FileStatus::Quarantined => ("quarantined", "never".to_owned()),
            FileStatus::InGrace => ("in grace", "wait".to_owned()),
            FileStatus::TooOld => ("too old", "by hand".to_owned()),
            FileStatus::NotLoaded => (
                "not loaded",
                match done.next() {
                    None => "would submit".to_owned(),
                    Some(Outcome::Submitted { .. }) => "submitted".to_owned(),
                    Some(Outcome::AlreadyLoaded { .. }) => "already loaded".to_owned(),
                    Some(Outcome::Quarantined { .. }) => "quarantined now".to_owned(),
                    Some(Outcome::Skipped { reason, .. }) => format!("skipped: {reason}"),
                    Some(Outcome::Failed { error, .. }) => format!("FAILED: {error}"),
                },
            ),
        };
        println!(
            "{:<20}  {:>9}  {status:<12}  {action:<16}  {}",
            finding.object.last_modified.format("%Y-%m-%d %H:%M:%S"),
            finding.object.size,
            finding.object.key
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_an_age() {
        assert_eq!(
            parse_time("2026-11-24T08:00:00Z").unwrap(),
            "2026-11-24T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let two_hours_ago = parse_time("2h").unwrap();
        assert!(
            (Utc::now() - two_hours_ago - TimeDelta::hours(2))
                .num_seconds()
                .abs()
                < 5
        );
        assert!(parse_time("yesterday").unwrap_err().contains("90m"));
        assert!(parse_time("5w").unwrap_err().contains("unit"));
    }
}
