//! The three functions as `pipectl dev` runs them: the library's handlers, the very ones the
//! Lambda binaries run, configured the way Lambda configures them, from the variables
//! `pipectl dev --serve` writes for `cargo lambda watch` (ingest.env, monitor.env).

use chrono::TimeDelta;
use pipeline::config::{GeneratorConfig, IngestConfig, MonitorConfig, SnowflakeSource};
use pipeline::ingest::IngestSettings;
use pipeline::monitor::ReconcileSettings;
use pipeline::monitor::alert::FixedWebhookUrl;
use pipeline::monitor::handler::MonitorHandler;
use pipeline::ports::InProcessQueue;
use pipeline::snowflake_settings::FixedSettings;

use super::DevArgs;
use super::stack::Stack;
use crate::error::{CliError, CliResult};

/// The monitor function's handler on the stand-ins: no webhook, the in-process ingest queue.
pub(super) type DevMonitor = MonitorHandler<FixedSettings, InProcessQueue, FixedWebhookUrl>;

pub(super) struct Functions {
    /// `None` with `--replay`.
    pub generator: Option<GeneratorConfig>,
    pub ingest: IngestSettings,
    /// The scheduled monitor, its reconciliation grace scaled down (`--reconcile-grace`).
    pub monitor: DevMonitor,
    /// The monitor runs after the loop: no grace, and room for the drain's own attempts, so
    /// what no notification brought is found now, as the next scheduled runs would.
    pub final_monitor: DevMonitor,
}

impl Functions {
    pub fn configure(stack: &Stack, args: &DevArgs) -> CliResult<Functions> {
        // `--replay` feeds files instead of the generator.
        let generator = args
            .replay
            .is_none()
            .then(|| {
                let overrides = [
                    ("ROWS_PER_FILE", args.rows.to_string()),
                    ("SEED", args.seed.to_string()),
                ];
                GeneratorConfig::from_env(&stack.function_env("ingest.env", &overrides)).map_err(
                    |e| CliError::usage(format!("generator settings (--rows, --seed): {e}")),
                )
            })
            .transpose()?;
        let ingest = IngestConfig::from_env(&stack.function_env("ingest.env", &[]))
            .map_err(|e| CliError::usage(format!("ingest configuration: {e}")))?;
        // The stand-ins have no SQS: reconciliation announces on the in-process queue, which
        // the loop hands to the ingest stage. The URL only satisfies the configuration.
        let monitor_env = stack.function_env(
            "monitor.env",
            &[
                ("RECONCILE", "true".into()),
                ("INGEST_QUEUE_URL", "in-process://customer-ingest".into()),
            ],
        );
        let mut monitor = MonitorConfig::from_env(&monitor_env)
            .map_err(|e| CliError::usage(format!("monitor configuration: {e}")))?;
        let scheduled = monitor.reconcile.clone().map(|settings| ReconcileSettings {
            grace: TimeDelta::milliseconds((args.reconcile_grace * 1000.0) as i64),
            ..settings
        });
        let after_the_loop = scheduled.clone().map(|settings| ReconcileSettings {
            grace: TimeDelta::zero(),
            max_attempts: settings.max_attempts + 5,
            ..settings
        });
        let mut handler = |reconcile: Option<ReconcileSettings>| -> CliResult<DevMonitor> {
            monitor.reconcile = reconcile;
            let SnowflakeSource::Fixed(settings) = monitor.snowflake.clone() else {
                return Err(CliError::usage(
                    "monitor.env names a secret; the stand-ins need fixed settings",
                ));
            };
            Ok(MonitorHandler::new(
                stack.store.clone(),
                FixedSettings(settings),
                Some(stack.ingest_queue.clone()),
                None,
                &monitor,
            ))
        };
        Ok(Functions {
            generator,
            ingest: ingest.settings,
            monitor: handler(scheduled)?,
            final_monitor: handler(after_the_loop)?,
        })
    }
}
