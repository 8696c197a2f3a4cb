//! One monitor run: read the state, check since its mark, claim the new problems by replacing
//! the state with a compare-and-swap, and only then report them (log, metrics, alert). A run
//! that loses the swap to an overlapping run reports nothing; a run that cannot reach Snowflake
//! fails before touching the state.

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::alert::{Webhook, alert_text};
use super::{Health, MonitorState, MonitorTarget, Problem, Warehouse, check_health};
use crate::aws::S3Store;
use crate::ports::{StoreError, SwapOutcome};

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    /// The state object's key in the bucket.
    pub state_key: String,
    /// How far before the mark each history window starts, for rows that appear late.
    pub overlap: TimeDelta,
    /// How far back the first run looks.
    pub lookback: TimeDelta,
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("the checks failed, the mark was not moved: {0}")]
    Snowflake(#[from] snowflake::SnowflakeError),
    #[error("the monitor state could not be read or written: {0}")]
    State(#[from] StoreError),
}

/// What one run found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub window_start: DateTime<Utc>,
    pub health: Health,
    /// Problems this run reported (empty when it lost the race).
    pub reported: Vec<Problem>,
    /// False when an overlapping run replaced the state first.
    pub claimed: bool,
    /// The webhook's answer, when there was something to post and a webhook to post it to.
    pub alert: Option<Result<(), String>>,
}

pub struct Monitor {
    store: S3Store,
    settings: MonitorSettings,
    webhook: Option<Webhook>,
}

impl Monitor {
    pub fn new(store: S3Store, settings: MonitorSettings, webhook: Option<Webhook>) -> Self {
        Monitor {
            store,
            settings,
            webhook,
        }
    }

    /// The bucket holding the state (reconciliation lists the stage in it).
    pub fn store(&self) -> &S3Store {
        &self.store
    }

    /// Checks `target` through `warehouse` (built per run from the current secret).
    pub async fn run<W: Warehouse>(
        &self,
        warehouse: &W,
        target: &MonitorTarget,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<RunReport, MonitorError> {
        self.run_with(warehouse, target, Vec::new(), now, deadline)
            .await
    }

    /// [`Monitor::run`] with problems found elsewhere this run (reconciliation's stuck files)
    /// reported, remembered and alerted like the checks' own.
    pub async fn run_with<W: Warehouse>(
        &self,
        warehouse: &W,
        target: &MonitorTarget,
        found_elsewhere: Vec<Problem>,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<RunReport, MonitorError> {
        let webhook = self.webhook.as_ref();
        self.run_alerting(warehouse, target, found_elsewhere, webhook, now, deadline)
            .await
    }

    /// [`Monitor::run_with`], alerting through `webhook` (read for this run) instead of the one
    /// given at construction.
    pub async fn run_alerting<W: Warehouse>(
        &self,
        warehouse: &W,
        target: &MonitorTarget,
        found_elsewhere: Vec<Problem>,
        webhook: Option<&Webhook>,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<RunReport, MonitorError> {
        let (state, read_e_tag) = self.read_state().await?;
        let window_start = state.window_start(now, self.settings.overlap, self.settings.lookback);
        let mut health = check_health(warehouse, target, window_start, now, deadline).await?;
        health.problems.extend(found_elsewhere);
        let (new, next) = state.advance(&health.problems, now);
        let swap = self
            .store
            .replace_if_unchanged(
                &self.settings.state_key,
                next.to_json().into(),
                "application/json",
                read_e_tag.as_deref(),
            )
            .await?;
        let claimed = swap == SwapOutcome::Written;
        let reported = if claimed {
            new
        } else {
            warn!(
                state_key = %self.settings.state_key,
                "an overlapping monitor run moved the mark first and reports; the next run picks up anything only this one saw"
            );
            Vec::new()
        };
        for problem in &reported {
            log_problem(problem);
        }
        for task in &health.tasks_suspended_by_operator {
            tracing::warn!(
                task,
                "task suspended by an operator (USER_SUSPENDED): not alerted; new rows wait in its stream until ALTER TASK … RESUME"
            );
        }
        crate::metrics::record_monitor(&health, &reported);
        let alert = alert(webhook, target, &reported).await;
        info!(
            window_start = %window_start,
            problems_now = health.problems.len(),
            reported = reported.len(),
            pending_files = health.pipe_pending_files,
            minutes_since_last_ingest = health.minutes_since_last_ingest,
            merge_lag_seconds = health.merge_lag_seconds,
            unmerged_rows = health.unmerged_rows,
            claimed,
            "monitor run done"
        );
        Ok(RunReport {
            window_start,
            health,
            reported,
            claimed,
            alert,
        })
    }

    /// The state and its ETag; an unreadable object (edited by hand, truncated) is replaced by a
    /// fresh state rather than stopping the monitor, at the cost of re-reporting the lookback.
    async fn read_state(&self) -> Result<(MonitorState, Option<String>), StoreError> {
        let Some(object) = self.store.get_versioned(&self.settings.state_key).await? else {
            return Ok((MonitorState::default(), None));
        };
        let state = MonitorState::from_json(&object.body).unwrap_or_else(|err| {
            error!(
                state_key = %self.settings.state_key,
                error = %err,
                "the monitor state is not valid JSON; starting over from the lookback window"
            );
            MonitorState::default()
        });
        Ok((state, Some(object.e_tag)))
    }
}

async fn alert(
    webhook: Option<&Webhook>,
    target: &MonitorTarget,
    reported: &[Problem],
) -> Option<Result<(), String>> {
    let webhook = webhook.filter(|_| !reported.is_empty())?;
    let title = format!("{}.{}", target.database, target.schema);
    let result = webhook.post(&alert_text(&title, reported)).await;
    if let Err(err) = &result {
        warn!(error = %err, "the alert could not be posted; the problems are in these logs");
        crate::metrics::record_alert_failure();
    }
    Some(result)
}

/// One structured error line per problem, with every detail as its own field.
fn log_problem(problem: &Problem) {
    let key = problem.key();
    let summary = problem.summary();
    match problem {
        Problem::TaskFailed {
            task,
            state,
            query_id,
            error_code,
            error_message,
            scheduled_time,
        } => error!(
            problem = "task_failed",
            key, task, state, query_id, error_code, error_message, scheduled_time, "{summary}"
        ),
        Problem::LoadFailed {
            file,
            status,
            first_error,
            rows_loaded,
            errors,
            last_load_time,
        } => error!(
            problem = "load_failed",
            key,
            file,
            status,
            first_error,
            rows_loaded = rows_loaded.map(|n| n as i64),
            errors = errors.map(|n| n as i64),
            last_load_time,
            "{summary}"
        ),
        Problem::PipeNotRunning { pipe, state } => {
            error!(problem = "pipe_not_running", key, pipe, state, "{summary}")
        }
        Problem::TaskSuspended { task, reason } => {
            error!(problem = "task_suspended", key, task, reason, "{summary}")
        }
        Problem::StaleStream { stream } => {
            error!(problem = "stale_stream", key, stream, "{summary}")
        }
        Problem::FileNotLoading { file, attempts } => {
            error!(
                problem = "file_not_loading",
                key, file, attempts, "{summary}"
            )
        }
    }
}
