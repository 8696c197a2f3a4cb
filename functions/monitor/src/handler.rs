//! One scheduled invocation: load the current Snowflake settings, run the monitor, and answer
//! with a short summary. Failing to reach Snowflake fails the invocation, so the function's
//! Errors alarm fires and the state's mark stays where it was.

use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use pipeline::config::MonitorConfig;
use pipeline::ingest::IngestError;
use pipeline::ingest::credentials::{SettingsSource, SnowflakeSettings};
use pipeline::monitor::alert::{Webhook, WebhookUrlSource};
use pipeline::monitor::{
    Monitor, MonitorError, MonitorSettings, MonitorTarget, ReconcileSettings, reconcile,
};
use pipeline::ports::{NotificationQueue, ObjectStore};
use serde_json::{Value, json};
use snowflake::RetryPolicy;
use tokio::time::Instant;

pub(crate) struct MonitorHandler<S, Src, Q, W> {
    monitor: Monitor<S>,
    source: Src,
    /// The alert webhook's URL, read at each run (a secret, so never held in configuration).
    webhook_url: Option<W>,
    policy: RetryPolicy,
    watched: (String, Vec<String>, Vec<String>),
    /// Reconciliation's settings and the ingest queue it announces unloaded files on.
    reconcile: Option<(ReconcileSettings, Q)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum MonitorFailure {
    /// The settings are wrong: retrying cannot help until they are fixed.
    #[error("configuration error: {0}")]
    Configuration(IngestError),
    #[error("{0}")]
    Settings(IngestError),
    #[error(transparent)]
    Run(#[from] MonitorError),
}

impl From<MonitorFailure> for Diagnostic {
    fn from(failure: MonitorFailure) -> Diagnostic {
        let error_type = match &failure {
            MonitorFailure::Configuration(_) => "ConfigurationError",
            MonitorFailure::Settings(_) => "TransientError",
            MonitorFailure::Run(MonitorError::Snowflake(e)) if e.configuration_hint().is_some() => {
                "ConfigurationError"
            }
            MonitorFailure::Run(MonitorError::Snowflake(_)) => "SnowflakeUnavailable",
            MonitorFailure::Run(MonitorError::State(_)) => "StateStoreError",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

impl From<IngestError> for MonitorFailure {
    fn from(err: IngestError) -> MonitorFailure {
        if err.configuration_hint().is_some() {
            MonitorFailure::Configuration(err)
        } else {
            MonitorFailure::Settings(err)
        }
    }
}

impl<S: ObjectStore, Src: SettingsSource, Q: NotificationQueue, W: WebhookUrlSource>
    MonitorHandler<S, Src, Q, W>
{
    /// `ingest_queue` is where reconciliation announces files (config.ingest_queue_url);
    /// `webhook_url` reads the alert webhook (config.alert_webhook_secret).
    pub(crate) fn new(
        store: S,
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

    #[cfg(test)]
    pub(crate) fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub(crate) async fn handle(
        &self,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Value, MonitorFailure> {
        // Read per run: a rotated key or a moved pipe takes effect on the next schedule.
        let settings = self.source.load().await?;
        let warehouse = settings.sql_api(self.policy)?;
        let target = self.target(&settings)?;
        // Reconciliation stops at its own budget, so the checks below always run.
        let (reconciled, stuck) = match &self.reconcile {
            Some((reconcile_settings, queue)) => {
                let store = self.monitor.store();
                match reconcile(
                    store,
                    &warehouse,
                    queue,
                    &target,
                    reconcile_settings,
                    now,
                    deadline,
                )
                .await
                {
                    Ok(report) => (report.announced.len(), report.stuck),
                    // The files given up on stay reported, so FilesNotLoading does not clear.
                    Err(err) => {
                        tracing::warn!(error = %err, "reconciliation failed; the next run tries again");
                        pipeline::metrics::record_reconcile_failure();
                        let stuck =
                            pipeline::monitor::reconcile::given_up(store, reconcile_settings)
                                .await
                                .unwrap_or_default();
                        (0, stuck)
                    }
                }
            }
            None => (0, Vec::new()),
        };
        let webhook = self.webhook().await;
        let report = self
            .monitor
            .run_alerting(&warehouse, &target, stuck, webhook.as_ref(), now, deadline)
            .await?;
        Ok(json!({
            "filesReconciled": reconciled,
            "windowStart": report.window_start,
            "problemsNow": report.health.problems.len(),
            "reported": report.reported.iter().map(|p| p.key()).collect::<Vec<_>>(),
            "claimed": report.claimed,
            "pipePendingFiles": report.health.pipe_pending_files,
            "minutesSinceLastIngest": report.health.minutes_since_last_ingest,
            "alertPosted": report.alert.as_ref().map(Result::is_ok),
        }))
    }

    /// This run's webhook; when it cannot be read or is not https, the run goes on without
    /// it and says why (the problems are still logged and counted).
    async fn webhook(&self) -> Option<Webhook> {
        let url = match self.webhook_url.as_ref()?.load().await {
            Ok(url) => url,
            Err(err) => {
                tracing::warn!(error = %err, "the alert webhook could not be read; no alert this run");
                pipeline::metrics::record_alert_failure();
                return None;
            }
        };
        match Webhook::new(url) {
            Ok(webhook) => Some(webhook),
            Err(err) => {
                tracing::warn!(error = %err, "the alert webhook is refused; no alert this run");
                pipeline::metrics::record_alert_failure();
                None
            }
        }
    }

    fn target(&self, settings: &SnowflakeSettings) -> Result<MonitorTarget, IngestError> {
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
        target.check().map_err(|message| IngestError::Credentials {
            message,
            retryable: false,
        })?;
        Ok(target)
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
