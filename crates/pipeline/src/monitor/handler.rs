//! One scheduled invocation of the monitor function: load the current Snowflake settings,
//! reconcile, run the checks, and answer with a short summary. Failing to reach Snowflake fails
//! the invocation, so the function's Errors alarm fires and the state's mark stays where it
//! was. The Lambda binary and `pipectl dev` both run this.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use snowflake::{RetryPolicy, SqlApi};
use tokio::time::Instant;

use super::alert::{Webhook, WebhookUrlSource};
use super::{
    Monitor, MonitorError, MonitorSettings, MonitorTarget, Problem, ReconcileSettings, RunReport,
    reconcile,
};
use crate::aws::S3Store;
use crate::config::MonitorConfig;
use crate::ports::NotificationQueue;
use crate::snowflake_settings::{SettingsError, SettingsSource, SnowflakeSettings};

pub struct MonitorHandler<Src, Q, W> {
    monitor: Monitor,
    source: Src,
    /// The alert webhook's URL, read at each run (a secret, so never held in configuration).
    webhook_url: Option<W>,
    policy: RetryPolicy,
    watched: (String, Vec<String>, Vec<String>),
    /// Reconciliation's settings and the ingest queue it announces unloaded files on.
    reconcile: Option<(ReconcileSettings, Q)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorFailure {
    /// The settings could not be loaded or used; when no retry can help, the message says it
    /// is a configuration error.
    #[error("{}{error}", if error.configuration_hint().is_some() { "configuration error: " } else { "" })]
    Settings {
        #[from]
        error: SettingsError,
    },
    /// The watched objects are misnamed: retrying cannot help until they are fixed.
    #[error("configuration error: {0}")]
    Target(String),
    #[error(transparent)]
    Run(#[from] MonitorError),
}

impl MonitorFailure {
    /// The kind of failure, as Lambda's error type: what operators filter and alarm on.
    pub fn error_type(&self) -> &'static str {
        match self {
            MonitorFailure::Settings { error } if error.configuration_hint().is_some() => {
                "ConfigurationError"
            }
            MonitorFailure::Settings { .. } => "TransientError",
            MonitorFailure::Target(_) => "ConfigurationError",
            MonitorFailure::Run(MonitorError::Snowflake(e)) if e.configuration_hint().is_some() => {
                "ConfigurationError"
            }
            MonitorFailure::Run(MonitorError::Snowflake(_)) => "SnowflakeUnavailable",
            MonitorFailure::Run(MonitorError::State(_)) => "StateStoreError",
        }
    }
}

/// What reconciliation did: how many files it announced on the ingest queue, and the files it
/// gave up on, as problems.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    pub announced: usize,
    pub stuck: Vec<Problem>,
}

/// What one invocation did: the files reconciliation announced, those it gave up on, and the
/// monitor run's report.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRun {
    pub reconciled: usize,
    pub files_not_loading: usize,
    pub report: RunReport,
}

impl MonitorRun {
    /// The JSON the function answers with.
    pub fn summary(&self) -> Value {
        let report = &self.report;
        json!({
            "filesReconciled": self.reconciled,
            "windowStart": report.window_start,
            "problemsNow": report.health.problems.len(),
            "reported": report.reported.iter().map(|p| p.key()).collect::<Vec<_>>(),
            "claimed": report.claimed,
            "pipePendingFiles": report.health.pipe_pending_files,
            "minutesSinceLastIngest": report.health.minutes_since_last_ingest,
            "alertPosted": report.alert.as_ref().map(Result::is_ok),
        })
    }
}

impl<Src: SettingsSource, Q: NotificationQueue, W: WebhookUrlSource> MonitorHandler<Src, Q, W> {
    /// `ingest_queue` is where reconciliation announces files (config.ingest_queue_url);
    /// `webhook_url` reads the alert webhook (config.alert_webhook_secret).
    pub fn new(
        store: S3Store,
        source: Src,
        ingest_queue: Option<Q>,
        webhook_url: Option<W>,
        config: &MonitorConfig,
    ) -> Self {
        let settings = MonitorSettings {
            state_key: config.state_key.clone(),
            overlap: config.overlap,
            lookback: config.lookback,
        };
        MonitorHandler {
            monitor: Monitor::new(store, settings, None),
            source,
            webhook_url,
            policy: RetryPolicy::default(),
            watched: (
                config.table.clone(),
                config.tasks.clone(),
                config.streams.clone(),
            ),
            reconcile: config.reconcile.clone().zip(ingest_queue),
        }
    }

    /// How Snowflake calls are retried (tests shorten it).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The invocation as Lambda sees it: the run's summary, or why it failed.
    pub async fn handle(
        &self,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Value, MonitorFailure> {
        Ok(self.run(now, deadline).await?.summary())
    }

    /// The invocation with everything it did, for callers that count (`pipectl dev`):
    /// reconciliation, then the checks.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<MonitorRun, MonitorFailure> {
        let (warehouse, target) = self.connect().await?;
        // Reconciliation stops at its own budget, so the checks below always run.
        let reconciled = self
            .reconcile_with(&warehouse, &target, now, deadline)
            .await;
        self.check_with(&warehouse, &target, reconciled, now, deadline)
            .await
    }

    /// Reconciliation alone, as a run does it first (`pipectl dev` drains with it).
    pub async fn reconcile(
        &self,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Reconciled, MonitorFailure> {
        let (warehouse, target) = self.connect().await?;
        Ok(self
            .reconcile_with(&warehouse, &target, now, deadline)
            .await)
    }

    /// The checks alone, with the files a reconciliation gave up on (`stuck`) as problems.
    pub async fn check(
        &self,
        stuck: Vec<Problem>,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<MonitorRun, MonitorFailure> {
        let (warehouse, target) = self.connect().await?;
        let given_up = Reconciled {
            announced: 0,
            stuck,
        };
        self.check_with(&warehouse, &target, given_up, now, deadline)
            .await
    }

    /// The SQL API and the watched objects from the current settings, read per run: a rotated
    /// key or a moved pipe takes effect on the next schedule.
    async fn connect(&self) -> Result<(SqlApi, MonitorTarget), MonitorFailure> {
        let settings = self.source.load().await?;
        let warehouse = settings.sql_api(self.policy)?;
        let target = self.target(&settings)?;
        Ok((warehouse, target))
    }

    async fn reconcile_with(
        &self,
        warehouse: &SqlApi,
        target: &MonitorTarget,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Reconciled {
        let Some((settings, queue)) = &self.reconcile else {
            return Reconciled::default();
        };
        let store = self.monitor.store();
        match reconcile(store, warehouse, queue, target, settings, now, deadline).await {
            Ok(report) => Reconciled {
                announced: report.announced.len(),
                stuck: report.stuck,
            },
            // The files given up on stay reported, so FilesNotLoading does not clear.
            Err(err) => {
                tracing::warn!(error = %err, "reconciliation failed; the next run tries again");
                crate::metrics::record_reconcile_failure();
                let stuck = super::reconcile::given_up(store, settings)
                    .await
                    .unwrap_or_default();
                Reconciled {
                    announced: 0,
                    stuck,
                }
            }
        }
    }

    async fn check_with(
        &self,
        warehouse: &SqlApi,
        target: &MonitorTarget,
        reconciled: Reconciled,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<MonitorRun, MonitorFailure> {
        let files_not_loading = reconciled.stuck.len();
        let webhook = self.webhook().await;
        let report = self
            .monitor
            .run_alerting(
                warehouse,
                target,
                reconciled.stuck,
                webhook.as_ref(),
                now,
                deadline,
            )
            .await?;
        Ok(MonitorRun {
            reconciled: reconciled.announced,
            files_not_loading,
            report,
        })
    }

    /// This run's webhook; when it cannot be read or is not https, the run goes on without
    /// it and says why (the problems are still logged and counted).
    async fn webhook(&self) -> Option<Webhook> {
        let url = match self.webhook_url.as_ref()?.load().await {
            Ok(url) => url,
            Err(err) => {
                tracing::warn!(error = %err, "the alert webhook could not be read; no alert this run");
                crate::metrics::record_alert_failure();
                return None;
            }
        };
        match Webhook::new(url) {
            Ok(webhook) => Some(webhook),
            Err(err) => {
                tracing::warn!(error = %err, "the alert webhook is refused; no alert this run");
                crate::metrics::record_alert_failure();
                None
            }
        }
    }

    fn target(&self, settings: &SnowflakeSettings) -> Result<MonitorTarget, MonitorFailure> {
        let pipe = settings.pipe_name()?;
        let (table, tasks, streams) = &self.watched;
        let target = MonitorTarget {
            database: pipe.database,
            schema: pipe.schema,
            pipe: pipe.pipe,
            table: table.clone(),
            tasks: tasks.clone(),
            streams: streams.clone(),
        };
        target.check().map_err(MonitorFailure::Target)?;
        Ok(target)
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
