//! What a `pipectl dev` run did, and the pipeline's guarantees (docs/pipectl.md, "pipectl dev") checked on the data it produced.

use std::collections::BTreeSet;

use pipeline::ingest::OutcomeCounts;
use pipeline::ingest::handler::Handled;
use pipeline::monitor::Problem;
use pipeline::monitor::handler::MonitorRun;
use serde::Serialize;
use snowflake_standin::SnowflakeStandIn;

use crate::error::{CliError, CliResult};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub files_generated: u64,
    pub files_valid: u64,
    pub files_quarantined: u64,
    pub files_skipped_already_loaded: u64,
    /// Ingest failures (each is delivered again, as SQS would).
    pub files_failed_ingest: u64,
    /// Files still failing when the run ended.
    pub files_left_failed: u64,
    /// Stage files nothing had loaded, put through the ingest path by reconciliation.
    pub files_reconciled: u64,
    /// Files reconciliation gave up on (submitted the maximum number of times).
    pub files_not_loading: u64,
    pub files_loaded: u64,
    pub files_load_failed: u64,
    pub task_runs_succeeded: u64,
    pub task_runs_failed: u64,
    pub task_runs_skipped: u64,
    pub monitor_runs: u64,
    pub alerts_raised: u64,
    pub task_failures_alerted: u64,
    pub notifications: u64,
    /// insertFiles requests by the ingest path and the retries among them (429, 5xx, slow).
    pub snowpipe_requests: u64,
    pub snowpipe_retries: u64,
    pub faults: Faults,
}

impl Counts {
    /// One ingest invocation's outcomes and Snowpipe calls.
    pub fn add_ingest(&mut self, handled: &Handled) {
        let outcomes = OutcomeCounts::of(&handled.outcomes);
        self.files_valid += outcomes.submitted;
        self.files_skipped_already_loaded += outcomes.already_loaded;
        self.files_quarantined += outcomes.quarantined;
        self.files_failed_ingest += outcomes.failed;
        self.snowpipe_requests += handled.stats.snowpipe_requests;
        self.snowpipe_retries += handled.stats.snowpipe_retries;
    }

    /// One monitor invocation: what reconciliation did and what the run reported.
    pub fn add_monitor_run(&mut self, run: &MonitorRun) {
        self.monitor_runs += 1;
        self.files_reconciled += run.reconciled as u64;
        self.files_not_loading = run.files_not_loading as u64;
        self.alerts_raised += run.report.reported.len() as u64;
        self.task_failures_alerted += run
            .report
            .reported
            .iter()
            .filter(|p| matches!(p, Problem::TaskFailed { .. }))
            .count() as u64;
    }
}

/// What `--chaos` injected.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Faults {
    pub snowpipe_faults: u64,
    pub s3_errors: u64,
    pub lost_notifications: u64,
    /// Valid files whose ingest crashed before insertFiles (their messages lost).
    pub ingest_crashes: u64,
    pub failed_task_runs: u64,
    pub invalid_files: u64,
    pub duplicate_notifications: u64,
}

/// That each injected fault was survived (the data guarantees are checked separately).
pub fn chaos_checks(counts: &Counts) -> Vec<Check> {
    let f = &counts.faults;
    vec![
        Check {
            guarantee: "invalid files quarantined, none loaded",
            passed: counts.files_quarantined == f.invalid_files,
            detail: format!(
                "{} injected, {} quarantined",
                f.invalid_files, counts.files_quarantined
            ),
        },
        Check {
            guarantee: "a failed task run raised an alert",
            passed: f.failed_task_runs == 0 || counts.task_failures_alerted >= f.failed_task_runs,
            detail: format!(
                "{} failed runs injected, {} task failures alerted",
                f.failed_task_runs, counts.task_failures_alerted
            ),
        },
        Check {
            guarantee: "Snowpipe and S3 faults and duplicate notifications retried or skipped",
            passed: counts.files_left_failed == 0 && counts.files_not_loading == 0,
            detail: format!(
                "{} Snowpipe faults ({} client retries), {} S3 errors, {} duplicate notifications; {} ingest failures delivered again, {} still failing",
                f.snowpipe_faults,
                counts.snowpipe_retries,
                f.s3_errors,
                f.duplicate_notifications,
                counts.files_failed_ingest,
                counts.files_left_failed
            ),
        },
        Check {
            guarantee: "files whose notification was lost or whose ingest crashed were reconciled",
            passed: counts.files_reconciled >= f.lost_notifications + f.ingest_crashes,
            detail: format!(
                "{} notifications lost, {} ingest runs crashed before insertFiles; {} files reconciled",
                f.lost_notifications, f.ingest_crashes, counts.files_reconciled
            ),
        },
    ]
}

/// Keys submitted to Snowpipe, for the exactly-once check, and the valid files the run
/// generated (every one must have been submitted).
#[derive(Debug, Default)]
pub struct Submitted {
    pub keys: BTreeSet<String>,
    pub rows: u64,
    pub generated_valid: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub guarantee: &'static str,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tables {
    pub raw_rows: u64,
    pub customers: u64,
    pub live_customers: u64,
    pub history_versions: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seconds: f64,
    pub counts: Counts,
    pub tables: Tables,
    /// Per stage and end to end, over this run's files.
    pub freshness: Vec<super::freshness::StageLatency>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// One number from a query (blocking).
pub fn number(snowflake: &SnowflakeStandIn, sql: &str) -> CliResult<u64> {
    let result = snowflake
        .query(sql)
        .map_err(|e| CliError::usage(format!("{sql}: {e}")))?;
    result
        .rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .ok_or_else(|| CliError::usage(format!("{sql}: no number")))
}

pub fn tables(snowflake: &SnowflakeStandIn) -> CliResult<Tables> {
    Ok(Tables {
        raw_rows: number(snowflake, "SELECT count(*) FROM CUSTOMER_RAW")?,
        customers: number(snowflake, "SELECT count(*) FROM CUSTOMER")?,
        live_customers: number(
            snowflake,
            "SELECT count(*) FROM CUSTOMER WHERE NOT IS_DELETED",
        )?,
        history_versions: number(snowflake, "SELECT count(*) FROM CUSTOMER_HISTORY")?,
    })
}

/// The guarantees, each as a query that counts violations (blocking). Call after the streams
/// are drained.
pub fn check_guarantees(
    snowflake: &SnowflakeStandIn,
    submitted: &Submitted,
) -> CliResult<Vec<Check>> {
    Ok(vec![
        every_valid_file_submitted(submitted),
        loaded_exactly_once(snowflake, submitted)?,
        customer_is_newest_row(snowflake)?,
        history_is_well_formed(snowflake)?,
        super::oracle::history_check(snowflake)?,
    ])
}

fn every_valid_file_submitted(submitted: &Submitted) -> Check {
    let never_submitted = submitted
        .generated_valid
        .difference(&submitted.keys)
        .count();
    Check {
        guarantee: "every valid file generated was submitted",
        passed: never_submitted == 0,
        detail: format!(
            "{} valid files generated, {never_submitted} never submitted",
            submitted.generated_valid.len()
        ),
    }
}

fn loaded_exactly_once(snowflake: &SnowflakeStandIn, submitted: &Submitted) -> CliResult<Check> {
    // This run's files only: a resumed state folder holds earlier runs' rows too.
    let paths = if submitted.keys.is_empty() {
        "NULL".to_owned()
    } else {
        submitted
            .keys
            .iter()
            .map(|k| {
                format!(
                    "'{}'",
                    k.trim_start_matches(super::stack::PREFIX)
                        .replace('\'', "''")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let loaded_files = number(
        snowflake,
        &format!(
            "SELECT count(DISTINCT _FILE_NAME) FROM CUSTOMER_RAW WHERE _FILE_NAME IN ({paths})"
        ),
    )?;
    let raw_rows = number(
        snowflake,
        &format!("SELECT count(*) FROM CUSTOMER_RAW WHERE _FILE_NAME IN ({paths})"),
    )?;
    let duplicates = number(
        snowflake,
        "SELECT count(*) - count(DISTINCT (_FILE_NAME, _FILE_ROW_NUMBER)) FROM CUSTOMER_RAW",
    )?;
    Ok(Check {
        guarantee: "every valid file loaded exactly once",
        passed: duplicates == 0
            && raw_rows == submitted.rows
            && loaded_files == submitted.keys.len() as u64,
        detail: format!(
            "{} files with {} rows submitted; CUSTOMER_RAW holds {raw_rows} of their rows from {loaded_files} files; {duplicates} file rows loaded twice",
            submitted.keys.len(),
            submitted.rows
        ),
    })
}

fn customer_is_newest_row(snowflake: &SnowflakeStandIn) -> CliResult<Check> {
    let newest_mismatches = number(
        snowflake,
        "WITH newest AS (
             SELECT * FROM CUSTOMER_RAW
             QUALIFY row_number() OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT DESC, _FILE_NAME DESC, _FILE_ROW_NUMBER DESC, _LOADED_AT DESC) = 1)
         SELECT count(*) FROM newest n FULL OUTER JOIN CUSTOMER c ON n.CUSTOMER_ID = c.CUSTOMER_ID
         WHERE n.CUSTOMER_ID IS NULL OR c.CUSTOMER_ID IS NULL
            OR n.UPDATED_AT IS DISTINCT FROM c.UPDATED_AT
            OR (n.OP = 'D') IS DISTINCT FROM c.IS_DELETED
            OR n._FILE_NAME IS DISTINCT FROM c._FILE_NAME
            OR n._FILE_ROW_NUMBER IS DISTINCT FROM c._FILE_ROW_NUMBER
            OR n._LOADED_AT IS DISTINCT FROM c._LOADED_AT
            OR (n.OP = 'U' AND (n.FIRST_NAME IS DISTINCT FROM c.FIRST_NAME OR n.LAST_NAME IS DISTINCT FROM c.LAST_NAME
                OR n.EMAIL IS DISTINCT FROM c.EMAIL OR n.STREET IS DISTINCT FROM c.STREET OR n.CITY IS DISTINCT FROM c.CITY
                OR n.STATE IS DISTINCT FROM c.STATE OR n.COUNTRY IS DISTINCT FROM c.COUNTRY))",
    )?;
    Ok(Check {
        guarantee: "CUSTOMER is the newest loaded row per id",
        passed: newest_mismatches == 0,
        detail: format!("{newest_mismatches} ids differ from the newest row in CUSTOMER_RAW"),
    })
}

fn history_is_well_formed(snowflake: &SnowflakeStandIn) -> CliResult<Check> {
    let wrong_current = number(
        snowflake,
        "SELECT count(*) FROM CUSTOMER c
         LEFT JOIN (SELECT CUSTOMER_ID, count(*) FILTER (WHERE IS_CURRENT) AS n FROM CUSTOMER_HISTORY GROUP BY CUSTOMER_ID) h
           ON h.CUSTOMER_ID = c.CUSTOMER_ID
         WHERE coalesce(h.n, 0) <> CASE WHEN c.IS_DELETED THEN 0 ELSE 1 END",
    )?;
    let overlaps = number(
        snowflake,
        "SELECT count(*) FROM (
             SELECT START_TIME, END_TIME, lead(START_TIME) OVER (PARTITION BY CUSTOMER_ID ORDER BY START_TIME) AS next_start
             FROM CUSTOMER_HISTORY)
         WHERE END_TIME < START_TIME OR (next_start IS NOT NULL AND END_TIME > next_start)",
    )?;
    let stale_current = number(
        snowflake,
        "SELECT count(*) FROM CUSTOMER_HISTORY h JOIN CUSTOMER c ON c.CUSTOMER_ID = h.CUSTOMER_ID
         WHERE h.IS_CURRENT AND (h.FIRST_NAME IS DISTINCT FROM c.FIRST_NAME OR h.EMAIL IS DISTINCT FROM c.EMAIL
            OR h.STREET IS DISTINCT FROM c.STREET OR h.COUNTRY IS DISTINCT FROM c.COUNTRY)",
    )?;
    Ok(Check {
        guarantee: "history non-overlapping, one current version per live id, none for a deleted one",
        passed: wrong_current == 0 && overlaps == 0 && stale_current == 0,
        detail: format!(
            "{wrong_current} ids with the wrong number of current versions, {overlaps} overlapping versions, {stale_current} current versions unlike CUSTOMER"
        ),
    })
}
