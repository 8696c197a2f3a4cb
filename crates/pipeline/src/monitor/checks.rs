//! The health checks: each is one SQL statement through the SQL API and the
//! reading of its answer into typed problems and gauge values.

use std::future::Future;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use snowflake::sql_api::Value;
use snowflake::{Binding, ResultSet, SnowflakeError, SqlApi, TaskState};
use tokio::time::Instant;

/// Runs statements (the SQL API in production, scripted answers in tests).
pub trait Warehouse: Send + Sync {
    fn query(
        &self,
        statement: &str,
        bindings: &[Binding],
        deadline: Instant,
    ) -> impl Future<Output = Result<ResultSet, SnowflakeError>> + Send;
}

impl Warehouse for SqlApi {
    async fn query(
        &self,
        statement: &str,
        bindings: &[Binding],
        deadline: Instant,
    ) -> Result<ResultSet, SnowflakeError> {
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .max(std::time::Duration::from_secs(1));
        SqlApi::query(self, statement, bindings, timeout, deadline).await
    }
}

/// What to watch. Names are unquoted Snowflake identifiers (checked by [`MonitorTarget::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorTarget {
    pub database: String,
    pub schema: String,
    /// Unqualified, e.g. CUSTOMER_PIPE.
    pub pipe: String,
    /// Unqualified, e.g. CUSTOMER_RAW.
    pub table: String,
    /// Unqualified task names of the graph.
    pub tasks: Vec<String>,
    /// Unqualified stream names.
    pub streams: Vec<String>,
}

impl MonitorTarget {
    /// The objects `sql/` creates, in `database.schema`.
    pub fn pipeline_objects(database: &str, schema: &str) -> MonitorTarget {
        MonitorTarget {
            database: database.to_owned(),
            schema: schema.to_owned(),
            pipe: "CUSTOMER_PIPE".into(),
            table: "CUSTOMER_RAW".into(),
            tasks: vec!["TSK_SCD_RAW".into()],
            streams: vec!["CUSTOMER_RAW_CHANGES".into()],
        }
    }

    /// SHOW statements take no bindings, so names are written into them: only plain identifiers
    /// are accepted.
    pub fn check(&self) -> Result<(), String> {
        let names = [&self.database, &self.schema, &self.pipe, &self.table]
            .into_iter()
            .chain(&self.tasks)
            .chain(&self.streams);
        for name in names {
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
            if !plain {
                return Err(format!(
                    "'{name}' is not a plain Snowflake identifier (letters, digits, _ and $)"
                ));
            }
        }
        Ok(())
    }

    pub fn qualified(&self, name: &str) -> String {
        format!("{}.{}.{name}", self.database, self.schema)
    }
}

/// Something wrong, with what an operator needs to find it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    TaskFailed {
        task: String,
        state: String,
        query_id: Option<String>,
        error_code: Option<String>,
        error_message: Option<String>,
        scheduled_time: String,
    },
    LoadFailed {
        file: String,
        status: String,
        first_error: Option<String>,
        rows_loaded: Option<i128>,
        errors: Option<i128>,
        last_load_time: String,
    },
    PipeNotRunning {
        pipe: String,
        state: String,
    },
    /// Suspended by anything but an operator's ALTER TASK … SUSPEND: by Snowflake after
    /// SUSPEND_TASK_AFTER_NUM_FAILURES consecutive failures (SUSPENDED_DUE_TO_ERRORS), by an
    /// ownership change, or for a reason SHOW TASKS does not give (`reason` "unknown").
    TaskSuspended {
        task: String,
        reason: String,
    },
    StaleStream {
        stream: String,
    },
    /// A stage file that reconciliation submitted `attempts` times and that still has not loaded.
    FileNotLoading {
        file: String,
        attempts: u32,
    },
}

impl Problem {
    /// Identifies the occurrence, so each is reported once however often it is seen.
    pub fn key(&self) -> String {
        match self {
            Problem::TaskFailed {
                task,
                query_id,
                scheduled_time,
                ..
            } => {
                format!(
                    "task:{task}:{}",
                    query_id.as_deref().unwrap_or(scheduled_time)
                )
            }
            Problem::LoadFailed {
                file,
                last_load_time,
                ..
            } => format!("load:{file}:{last_load_time}"),
            Problem::PipeNotRunning { pipe, state } => format!("pipe:{pipe}:{state}"),
            Problem::TaskSuspended { task, .. } => format!("suspended:{task}"),
            Problem::StaleStream { stream } => format!("stale:{stream}"),
            Problem::FileNotLoading { file, .. } => format!("notloading:{file}"),
        }
    }

    /// A state that lasts until someone fixes it (reported again if it comes back after being
    /// fixed), as opposed to an event in the history.
    pub fn is_condition(&self) -> bool {
        Problem::is_condition_key(&self.key())
    }

    /// Whether a [`Problem::key`] names a condition.
    pub fn is_condition_key(key: &str) -> bool {
        ["pipe:", "suspended:", "stale:", "notloading:"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
    }

    /// One line for people (the alert message).
    pub fn summary(&self) -> String {
        match self {
            Problem::TaskFailed {
                task,
                state,
                error_code,
                error_message,
                scheduled_time,
                ..
            } => format!(
                "task {task} {state} (scheduled {scheduled_time}): {} {}",
                error_code.as_deref().unwrap_or("-"),
                error_message.as_deref().unwrap_or("no message")
            ),
            Problem::LoadFailed {
                file,
                status,
                first_error,
                ..
            } => format!(
                "file {file} {status}: {}",
                first_error.as_deref().unwrap_or("no error message")
            ),
            Problem::PipeNotRunning { pipe, state } => {
                format!("pipe {pipe} is {state}, not RUNNING")
            }
            Problem::TaskSuspended { task, reason } if reason == AUTO_SUSPENDED => format!(
                "task {task} was suspended by Snowflake after its runs failed repeatedly (SUSPENDED_DUE_TO_ERRORS); new rows wait in the stream: fix the cause in TASK_HISTORY, then ALTER TASK {task} RESUME"
            ),
            Problem::TaskSuspended { task, reason } => {
                format!(
                    "task {task} is suspended (last_suspended_reason {reason}), not by an operator"
                )
            }
            Problem::StaleStream { stream } => {
                format!("stream {stream} is stale: its changes can no longer be read")
            }
            Problem::FileNotLoading { file, attempts } => format!(
                "file {file} is still not loaded after {attempts} submissions by reconciliation"
            ),
        }
    }

    /// The summary for a chat outside the account: Snowflake's free text is left out, since a
    /// task's error message or a load's first error can quote a row's values (a customer's
    /// name or email). The logs keep the full [`Problem::summary`].
    pub fn alert_line(&self) -> String {
        match self {
            Problem::TaskFailed {
                task,
                state,
                error_code,
                scheduled_time,
                ..
            } => format!(
                "task {task} {state} (scheduled {scheduled_time}): error {}; the message is in TASK_HISTORY and the monitor's logs",
                error_code.as_deref().unwrap_or("-"),
            ),
            Problem::LoadFailed { file, status, .. } => format!(
                "file {file} {status}: the first error is in COPY_HISTORY and the monitor's logs"
            ),
            other => other.summary(),
        }
    }
}

/// One round of checks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Health {
    pub problems: Vec<Problem>,
    pub pipe_pending_files: u64,
    /// `None` when the pipe has not ingested anything (or says nothing about it).
    pub minutes_since_last_ingest: Option<f64>,
    /// Loaded rows not yet applied to CUSTOMER and CUSTOMER_HISTORY (`None`: the view could not
    /// be read).
    pub unmerged_rows: Option<u64>,
    /// How long the oldest of them has waited (0 when none wait).
    pub merge_lag_seconds: Option<f64>,
    /// Watched tasks an operator suspended (USER_SUSPENDED): deliberate, so logged and counted
    /// but not alerted; the merge-lag alarm still fires if rows wait too long.
    pub tasks_suspended_by_operator: Vec<String>,
}

/// SHOW TASKS' last_suspended_reason for a suspension by Snowflake after failures, and for one by
/// an operator: "SUSPENDED_DUE_TO_ERRORS: The task failed a certain number of consecutive times
/// and was suspended"; "USER_SUSPENDED: The user suspended the task by running the alter task
/// <name> suspend command"
/// (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_08/bcr-1385-1414).
pub const AUTO_SUSPENDED: &str = "SUSPENDED_DUE_TO_ERRORS";
pub const USER_SUSPENDED: &str = "USER_SUSPENDED";

/// TASK_HISTORY keeps 7 days and COPY_HISTORY 14; windows are clamped inside them.
const TASK_HISTORY_DAYS: i64 = 7;
const COPY_HISTORY_DAYS: i64 = 14;

const ISO: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.FF3TZH:TZM'"#;

/// Runs every check for what happened since `since` (and the current state).
pub async fn check_health<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<Health, SnowflakeError> {
    target.check().map_err(SnowflakeError::InvalidRequest)?;
    let window = Window { since, now };
    let mut health = Health {
        problems: failed_task_runs(warehouse, target, window, deadline).await?,
        ..Health::default()
    };
    health
        .problems
        .extend(failed_loads(warehouse, target, window, deadline).await?);
    pipe_status(warehouse, target, now, deadline, &mut health).await?;
    suspended_tasks(warehouse, target, deadline, &mut health).await?;
    health
        .problems
        .extend(stale_streams(warehouse, target, deadline).await?);
    // Last, and not fatal: whether an account allows a view over a stream is not settled by
    // Snowflake's documentation, and the checks above must be reported either way.
    match warehouse
        .query(
            &format!(
                "SELECT UNMERGED_ROWS, OLDEST_UNMERGED_LOADED_AT FROM {}",
                target.qualified(MERGE_LAG_VIEW)
            ),
            &[],
            deadline,
        )
        .await
    {
        Ok(lag) => {
            let (rows, seconds) = merge_lag(&lag, now);
            health.unmerged_rows = Some(rows);
            health.merge_lag_seconds = Some(seconds);
        }
        Err(error) => tracing::error!(%error, view = MERGE_LAG_VIEW, "the merge-lag check failed"),
    }
    Ok(health)
}

/// The time the history checks look back over.
#[derive(Clone, Copy)]
struct Window {
    since: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Window {
    /// The window's start as a binding, no earlier than a history function keeping `days`
    /// allows (less five minutes, for the clock between us and Snowflake).
    fn start(self, days: i64) -> Binding {
        let earliest = self.now - TimeDelta::days(days) + TimeDelta::minutes(5);
        Binding::Text(
            self.since
                .max(earliest)
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

async fn failed_task_runs<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    window: Window,
    deadline: Instant,
) -> Result<Vec<Problem>, SnowflakeError> {
    let tasks = warehouse
        .query(
            &task_failures_sql(target),
            &[
                window.start(TASK_HISTORY_DAYS),
                Binding::Text(target.schema.clone()),
            ],
            deadline,
        )
        .await?;
    Ok((0..tasks.rows.len())
        .map(|row| Problem::TaskFailed {
            task: text(&tasks, row, "NAME").unwrap_or_default(),
            state: text(&tasks, row, "STATE").unwrap_or_default(),
            query_id: text(&tasks, row, "QUERY_ID"),
            error_code: text(&tasks, row, "ERROR_CODE"),
            error_message: text(&tasks, row, "ERROR_MESSAGE"),
            scheduled_time: text(&tasks, row, "SCHEDULED_TIME").unwrap_or_default(),
        })
        .collect())
}

async fn failed_loads<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    window: Window,
    deadline: Instant,
) -> Result<Vec<Problem>, SnowflakeError> {
    let loads = warehouse
        .query(
            &format!(
                "SELECT FILE_NAME, STATUS, FIRST_ERROR_MESSAGE, ROW_COUNT, ERROR_COUNT, \
                 TO_VARCHAR(LAST_LOAD_TIME, {ISO}) AS LAST_LOAD_TIME \
                 FROM TABLE({db}.INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => ?, START_TIME => TO_TIMESTAMP_LTZ(?))) \
                 WHERE UPPER(STATUS) NOT IN ('LOADED', 'LOAD IN PROGRESS') ORDER BY LAST_LOAD_TIME",
                db = target.database
            ),
            &[
                Binding::Text(target.qualified(&target.table)),
                window.start(COPY_HISTORY_DAYS),
            ],
            deadline,
        )
        .await?;
    Ok((0..loads.rows.len())
        .map(|row| Problem::LoadFailed {
            file: text(&loads, row, "FILE_NAME").unwrap_or_default(),
            status: text(&loads, row, "STATUS").unwrap_or_default(),
            first_error: text(&loads, row, "FIRST_ERROR_MESSAGE"),
            rows_loaded: loads.get(row, "ROW_COUNT").and_then(Value::as_i128),
            errors: loads.get(row, "ERROR_COUNT").and_then(Value::as_i128),
            last_load_time: text(&loads, row, "LAST_LOAD_TIME").unwrap_or_default(),
        })
        .collect())
}

/// SYSTEM$PIPE_STATUS: a pipe not RUNNING is a problem; its pending files and the time since
/// its last ingest go into `health`.
async fn pipe_status<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    now: DateTime<Utc>,
    deadline: Instant,
    health: &mut Health,
) -> Result<(), SnowflakeError> {
    let pipe = warehouse
        .query(
            "SELECT SYSTEM$PIPE_STATUS(?) AS STATUS",
            &[Binding::Text(target.qualified(&target.pipe))],
            deadline,
        )
        .await?;
    let status: serde_json::Value = text(&pipe, 0, "STATUS")
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let state = status["executionState"]
        .as_str()
        .unwrap_or("UNKNOWN")
        .to_owned();
    if state != "RUNNING" {
        health.problems.push(Problem::PipeNotRunning {
            pipe: target.pipe.clone(),
            state,
        });
    }
    health.pipe_pending_files = status["pendingFileCount"].as_u64().unwrap_or(0);
    health.minutes_since_last_ingest = status["lastIngestedTimestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (now - t.to_utc()).num_seconds() as f64 / 60.0);
    Ok(())
}

/// The names of the watched objects a SHOW command lists with `column` passing `matches`.
async fn shown_where<W: Warehouse>(
    warehouse: &W,
    show: String,
    (column, matches): (&str, fn(&str) -> bool),
    watched: &[String],
    deadline: Instant,
) -> Result<Vec<String>, SnowflakeError> {
    let shown = warehouse.query(&show, &[], deadline).await?;
    Ok((0..shown.rows.len())
        .filter(|&row| text(&shown, row, column).is_some_and(|v| matches(&v)))
        .filter_map(|row| text(&shown, row, "name"))
        .filter(|name| watched.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .collect())
}

/// Suspended watched tasks: a problem unless an operator suspended them. A missing or empty
/// last_suspended_reason counts as a problem (the safe side: which value a never-resumed task
/// shows is not documented, docs/not-verified.md).
async fn suspended_tasks<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    deadline: Instant,
    health: &mut Health,
) -> Result<(), SnowflakeError> {
    let show = format!("SHOW TASKS IN SCHEMA {}.{}", target.database, target.schema);
    let shown = warehouse.query(&show, &[], deadline).await?;
    for row in 0..shown.rows.len() {
        let suspended = text(&shown, row, "state")
            .is_some_and(|state| state.parse() == Ok(TaskState::Suspended));
        let Some(task) = text(&shown, row, "name")
            .filter(|name| target.tasks.iter().any(|w| w.eq_ignore_ascii_case(name)))
        else {
            continue;
        };
        if !suspended {
            continue;
        }
        match text(&shown, row, "last_suspended_reason").filter(|r| !r.is_empty()) {
            Some(reason) if reason == USER_SUSPENDED => {
                health.tasks_suspended_by_operator.push(task);
            }
            reason => health.problems.push(Problem::TaskSuspended {
                task,
                reason: reason.unwrap_or_else(|| "unknown".into()),
            }),
        }
    }
    Ok(())
}

async fn stale_streams<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    deadline: Instant,
) -> Result<Vec<Problem>, SnowflakeError> {
    let show = format!(
        "SHOW STREAMS IN SCHEMA {}.{}",
        target.database, target.schema
    );
    let stale: fn(&str) -> bool = |stale| stale.eq_ignore_ascii_case("true");
    let names = shown_where(warehouse, show, ("stale", stale), &target.streams, deadline);
    Ok(names
        .await?
        .into_iter()
        .map(|stream| Problem::StaleStream { stream })
        .collect())
}

/// The view's row: how many rows wait, and for how many seconds the oldest has (0 when none).
fn merge_lag(lag: &ResultSet, now: DateTime<Utc>) -> (u64, f64) {
    let rows = lag
        .get(0, "UNMERGED_ROWS")
        .and_then(Value::as_i128)
        .map_or(0, |n| u64::try_from(n).unwrap_or(0));
    let oldest = match lag.get(0, "OLDEST_UNMERGED_LOADED_AT") {
        Some(Value::Timestamp(oldest)) => Some(*oldest),
        Some(Value::TimestampTz(oldest)) => Some(oldest.to_utc()),
        _ => None,
    };
    let seconds = oldest.map_or(0.0, |oldest| {
        ((now - oldest).num_milliseconds() as f64 / 1000.0).max(0.0)
    });
    (rows, seconds)
}

/// The merge-lag view, in the monitored schema.
pub const MERGE_LAG_VIEW: &str = "PIPELINE_MERGE_LAG";

fn task_failures_sql(target: &MonitorTarget) -> String {
    let names = target
        .tasks
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT NAME, STATE, QUERY_ID, ERROR_CODE, ERROR_MESSAGE, \
         TO_VARCHAR(SCHEDULED_TIME, {ISO}) AS SCHEDULED_TIME \
         FROM TABLE({db}.INFORMATION_SCHEMA.TASK_HISTORY(\
         SCHEDULED_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?), RESULT_LIMIT => 10000, ERROR_ONLY => TRUE)) \
         WHERE SCHEMA_NAME = ? AND NAME IN ({names}) \
         AND STATE IN ('FAILED', 'FAILED_AND_AUTO_SUSPENDED', 'CANCELLED') ORDER BY SCHEDULED_TIME",
        db = target.database
    )
}

/// A cell as text (numbers and timestamps as they print), `None` for NULL or a missing column.
fn text(result: &ResultSet, row: usize, column: &str) -> Option<String> {
    match result.get(row, column)? {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
