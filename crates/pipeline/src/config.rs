//! Configuration from environment variables, read once at cold start. A missing or malformed
//! variable stops the start with a message naming it and the values it accepts.

use std::fmt;
use std::str::FromStr;

use crate::generator::GeneratorSettings;
use crate::validate::SizeLimits;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}; expected {}",
            self.variable, self.problem, self.expected
        )
    }
}

/// Reads variables through `lookup` (the process environment in production, a map in tests).
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_lookup(lookup: F) -> Self {
        Env { lookup }
    }

    /// A non-empty value, required.
    pub fn required(
        &self,
        variable: &'static str,
        expected: &'static str,
    ) -> Result<String, ConfigError> {
        match (self.lookup)(variable) {
            Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            _ => Err(ConfigError {
                variable,
                problem: "is not set".into(),
                expected,
            }),
        }
    }

    /// A parsed value, or `default` when unset or empty.
    pub fn parsed<T: FromStr>(
        &self,
        variable: &'static str,
        default: T,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match (self.lookup)(variable) {
            Some(value) if !value.trim().is_empty() => {
                value.trim().parse().map_err(|_| ConfigError {
                    variable,
                    problem: format!("is '{value}'"),
                    expected,
                })
            }
            _ => Ok(default),
        }
    }

    /// `DEADLINE_MARGIN_MS` (default 2000): time kept back from an invocation's deadline.
    pub fn deadline_margin(&self) -> Result<std::time::Duration, ConfigError> {
        self.parsed("DEADLINE_MARGIN_MS", 2000, "a whole number of milliseconds")
            .map(std::time::Duration::from_millis)
    }

    /// `FUNCTION_TIMEOUT_SECONDS` (default `default_seconds`, the template's Timeout): the time an
    /// invocation gets when the runtime's deadline is not credible (see `lambda::deadline`).
    pub fn function_timeout(
        &self,
        default_seconds: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        self.parsed(
            "FUNCTION_TIMEOUT_SECONDS",
            default_seconds,
            "a whole number of seconds, 1 to 900",
        )
        .map(std::time::Duration::from_secs)
    }

    /// `METRICS_NAMESPACE` (default [`DEFAULT_METRICS_NAMESPACE`]).
    pub fn metrics_namespace(&self) -> Result<String, ConfigError> {
        self.parsed(
            "METRICS_NAMESPACE",
            DEFAULT_METRICS_NAMESPACE.to_owned(),
            "a CloudWatch namespace",
        )
    }

    /// `MAX_OBJECT_BYTES` and `MAX_CSV_BYTES` (defaults [`SizeLimits::DEFAULT`]).
    pub fn size_limits(&self) -> Result<SizeLimits, ConfigError> {
        let defaults = SizeLimits::DEFAULT;
        const BYTES: &str = "a whole number of bytes above 0";
        let max_object_bytes = at_least_one(
            self.parsed("MAX_OBJECT_BYTES", defaults.max_object_bytes, BYTES)?,
            "MAX_OBJECT_BYTES",
            BYTES,
        )?;
        let max_csv_bytes = at_least_one(
            self.parsed("MAX_CSV_BYTES", defaults.max_csv_bytes, BYTES)?,
            "MAX_CSV_BYTES",
            BYTES,
        )?;
        Ok(SizeLimits {
            max_object_bytes,
            max_csv_bytes,
        })
    }

    /// An S3 key prefix, which must end in '/'.
    pub fn key_prefix(&self, variable: &'static str, default: &str) -> Result<String, ConfigError> {
        let value = self.parsed(variable, default.to_owned(), "a key prefix ending in '/'")?;
        if value.ends_with('/') {
            Ok(value)
        } else {
            Err(ConfigError {
                variable,
                problem: format!("is '{value}'"),
                expected: "a key prefix ending in '/', such as stream_data/",
            })
        }
    }

    /// `true/false`, `1/0`, `yes/no` (any case).
    pub fn flag(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        match (self.lookup)(variable).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v.is_empty() => Ok(default),
            Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError {
                variable,
                problem: format!("is '{v}'"),
                expected: "true or false",
            }),
        }
    }
}

/// Default CloudWatch namespace for every function's metrics.
pub const DEFAULT_METRICS_NAMESPACE: &str = "CustomerPipeline";

/// The generator function's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub bucket: String,
    pub prefix: String,
    pub gzip: bool,
    pub settings: GeneratorSettings,
    pub metrics_namespace: String,
}

impl GeneratorConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let defaults = GeneratorSettings::default();
        let rows = env.parsed(
            "ROWS_PER_FILE",
            defaults.rows,
            "a whole number of rows, at least 1",
        )?;
        let settings = GeneratorSettings {
            rows,
            // Unset, it grows to fit the rows (RowsPerFile goes up to 5,000,000).
            id_space: env.parsed(
                "ID_SPACE",
                GeneratorSettings::id_space_fitting(rows),
                "a whole number between 1 and 2^53",
            )?,
            delete_rate: env.parsed(
                "DELETE_RATE",
                defaults.delete_rate,
                "a share between 0 and 1, e.g. 0.01",
            )?,
            new_rate: env.parsed(
                "NEW_RATE",
                defaults.new_rate,
                "a share between 0 and 1, e.g. 0.05",
            )?,
            seed: env.parsed("SEED", defaults.seed, "a whole number between 0 and 2^64-1")?,
        };
        settings.check().map_err(|problem| ConfigError {
            variable: "ROWS_PER_FILE, ID_SPACE, DELETE_RATE, NEW_RATE",
            problem: format!("are inconsistent: {problem}"),
            expected: "consistent settings",
        })?;
        let prefix = env.parsed("PREFIX", "stream_data/".to_owned(), "an S3 key prefix")?;
        if !prefix.is_empty() && !prefix.ends_with('/') {
            return Err(ConfigError {
                variable: "PREFIX",
                problem: format!("is '{prefix}'"),
                expected: "a key prefix ending in '/', such as stream_data/",
            });
        }
        Ok(GeneratorConfig {
            bucket: env.required(
                "BUCKET",
                "the name of the S3 bucket to write customer files to",
            )?,
            prefix,
            gzip: env.flag("GZIP", false)?,
            settings,
            metrics_namespace: env.metrics_namespace()?,
        })
    }
}

/// Where the ingest function's Snowflake settings come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SnowflakeSource {
    /// A Secrets Manager secret (ARN or name), re-read after `ttl`.
    Secret {
        id: String,
        /// `SNOWFLAKE_PIPE`, replacing the secret's `pipe` when set.
        pipe: Option<String>,
        ttl: std::time::Duration,
    },
    /// Local use: `SNOWFLAKE_*` variables and a key file.
    Fixed(crate::snowflake_settings::SnowflakeSettings),
}

/// The ingest function's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub bucket: String,
    pub settings: crate::ingest::IngestSettings,
    pub snowflake: SnowflakeSource,
    /// Time kept back from the invocation's deadline for metrics and the answer.
    pub deadline_margin: std::time::Duration,
    /// The invocation's time when the runtime's deadline is not credible.
    pub timeout: std::time::Duration,
    pub metrics_namespace: String,
}

impl IngestConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let snowflake = snowflake_source(env)?;
        Ok(IngestConfig {
            bucket: env.required(
                "BUCKET",
                "the name of the S3 bucket the customer files land in",
            )?,
            settings: crate::ingest::IngestSettings {
                stage_prefix: env.key_prefix("PREFIX", "stream_data/")?,
                quarantine_prefix: env.key_prefix("QUARANTINE_PREFIX", "quarantine/")?,
                limits: env.size_limits()?,
            },
            snowflake,
            deadline_margin: env.deadline_margin()?,
            timeout: env.function_timeout(120)?,
            metrics_namespace: env.metrics_namespace()?,
        })
    }
}

fn fixed_snowflake_settings<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<crate::snowflake_settings::SnowflakeSettings, ConfigError> {
    let expected_secret = "SNOWFLAKE_SECRET_ARN, or the SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PIPE and SNOWFLAKE_PRIVATE_KEY_PATH variables";
    let path = env.required("SNOWFLAKE_PRIVATE_KEY_PATH", expected_secret)?;
    let private_key = std::fs::read_to_string(&path).map_err(|e| ConfigError {
        variable: "SNOWFLAKE_PRIVATE_KEY_PATH",
        problem: format!("is '{path}', which cannot be read ({e})"),
        expected: "the path of a PKCS#8 PEM private key file",
    })?;
    let optional = |name: &str| (env.lookup)(name).filter(|v| !v.trim().is_empty());
    Ok(crate::snowflake_settings::SnowflakeSettings {
        account: env.required(
            "SNOWFLAKE_ACCOUNT",
            "the account identifier, e.g. xy12345.us-east-2.aws",
        )?,
        user: env.required(
            "SNOWFLAKE_USER",
            "the Snowflake user whose public key is registered",
        )?,
        pipe: env.required(
            "SNOWFLAKE_PIPE",
            "the fully qualified pipe name, e.g. CUSTOMERS.RAW.CUSTOMER_PIPE",
        )?,
        private_key,
        passphrase: optional("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"),
        jwt_account: optional("SNOWFLAKE_JWT_ACCOUNT"),
        base_url: optional("SNOWFLAKE_BASE_URL"),
        warehouse: optional("SNOWFLAKE_WAREHOUSE"),
        role: optional("SNOWFLAKE_ROLE"),
    })
}

/// `SNOWFLAKE_SECRET_ARN` (re-read after `SECRET_TTL_SECONDS`), else the `SNOWFLAKE_*` variables.
fn snowflake_source<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<SnowflakeSource, ConfigError> {
    Ok(
        match (env.lookup)("SNOWFLAKE_SECRET_ARN").filter(|v| !v.trim().is_empty()) {
            Some(id) => SnowflakeSource::Secret {
                id: id.trim().to_owned(),
                pipe: (env.lookup)("SNOWFLAKE_PIPE")
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty()),
                ttl: std::time::Duration::from_secs(env.parsed(
                    "SECRET_TTL_SECONDS",
                    900,
                    "a whole number of seconds",
                )?),
            },
            None => SnowflakeSource::Fixed(fixed_snowflake_settings(env)?),
        },
    )
}

/// The monitor function's configuration. Its Debug leaves the webhook URL out.
#[derive(Clone, PartialEq)]
pub struct MonitorConfig {
    /// The bucket holding the state object.
    pub bucket: String,
    pub state_key: String,
    pub snowflake: SnowflakeSource,
    /// Watched objects in the pipe's schema.
    pub table: String,
    pub tasks: Vec<String>,
    pub streams: Vec<String>,
    pub overlap: chrono::TimeDelta,
    pub lookback: chrono::TimeDelta,
    /// `ALERT_WEBHOOK_SECRET_ARN`: the secret holding the Slack-compatible incoming webhook
    /// URL, read at each run. The URL itself is a credential and never part of the configuration.
    pub alert_webhook_secret: Option<String>,
    /// `None` with `RECONCILE=false`.
    pub reconcile: Option<crate::monitor::ReconcileSettings>,
    /// `INGEST_QUEUE_URL`, where reconciliation announces unloaded files; set when `reconcile`
    /// is. The monitor never holds the ingest user's key: ingest does the loading.
    pub ingest_queue_url: Option<String>,
    pub deadline_margin: std::time::Duration,
    /// The invocation's time when the runtime's deadline is not credible.
    pub timeout: std::time::Duration,
    pub metrics_namespace: String,
}

impl std::fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = f.debug_struct("MonitorConfig");
        shown.field("bucket", &self.bucket);
        shown.field("state_key", &self.state_key);
        shown.field("snowflake", &self.snowflake);
        shown.field("table", &self.table);
        shown.field("tasks", &self.tasks);
        shown.field("streams", &self.streams);
        shown.field("overlap", &self.overlap);
        shown.field("lookback", &self.lookback);
        shown.field("alert_webhook_secret", &self.alert_webhook_secret);
        shown.field("reconcile", &self.reconcile);
        shown.field("ingest_queue_url", &self.ingest_queue_url);
        shown.field("deadline_margin", &self.deadline_margin);
        shown.field("timeout", &self.timeout);
        shown.field("metrics_namespace", &self.metrics_namespace);
        shown.finish()
    }
}

impl MonitorConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let reconcile_on = env.flag("RECONCILE", true)?;
        let table = env.names("MONITOR_TABLE", "CUSTOMER_RAW")?;
        let [table] = &table[..] else {
            return Err(ConfigError {
                variable: "MONITOR_TABLE",
                problem: "is not one name".into(),
                expected: "the raw table's unquoted name, e.g. CUSTOMER_RAW",
            });
        };
        Ok(MonitorConfig {
            bucket: env.required(
                "BUCKET",
                "the name of the S3 bucket holding the monitor's state",
            )?,
            state_key: env.parsed("STATE_KEY", "monitor/state.json".to_owned(), "an S3 key")?,
            snowflake: snowflake_source(env)?,
            table: table.clone(),
            tasks: env.names("MONITOR_TASKS", "TSK_SCD_RAW")?,
            streams: env.names("MONITOR_STREAMS", "CUSTOMER_RAW_CHANGES")?,
            overlap: env.minutes("HISTORY_OVERLAP_MINUTES", 60)?,
            lookback: env.minutes("FIRST_RUN_LOOKBACK_MINUTES", 60)?,
            alert_webhook_secret: alert_webhook_secret(env)?,
            reconcile: reconcile_on
                .then(|| reconcile_settings(env))
                .transpose()?,
            ingest_queue_url: reconcile_on
                .then(|| {
                    env.required(
                        "INGEST_QUEUE_URL",
                        "the ingest queue's URL, where reconciliation announces unloaded files (or RECONCILE=false)",
                    )
                })
                .transpose()?,
            deadline_margin: env.deadline_margin()?,
            timeout: env.function_timeout(90)?,
            metrics_namespace: env.metrics_namespace()?,
        })
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Comma-separated unquoted Snowflake names, upper-cased (they are written into SHOW
    /// statements, so only plain identifiers pass).
    fn names(&self, variable: &'static str, default: &str) -> Result<Vec<String>, ConfigError> {
        let value = self.parsed(variable, default.to_owned(), "comma-separated names")?;
        let names: Vec<String> = value
            .split(',')
            .map(|n| n.trim().to_ascii_uppercase())
            .filter(|n| !n.is_empty())
            .collect();
        let plain = |n: &String| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        };
        if names.iter().all(plain) {
            Ok(names)
        } else {
            Err(ConfigError {
                variable,
                problem: format!("is '{value}'"),
                expected: "comma-separated unquoted Snowflake names, e.g. TSK_SCD_RAW,MY_OTHER_TASK",
            })
        }
    }

    /// Whole minutes, 0 to 14 days (the longest history Snowflake's functions keep).
    fn minutes(
        &self,
        variable: &'static str,
        default: i64,
    ) -> Result<chrono::TimeDelta, ConfigError> {
        let value: i64 = self.parsed(variable, default, "a whole number of minutes, 0 to 20160")?;
        if (0..=20_160).contains(&value) {
            Ok(chrono::TimeDelta::minutes(value))
        } else {
            Err(ConfigError {
                variable,
                problem: format!("is {value}"),
                expected: "a whole number of minutes, 0 to 20160 (14 days)",
            })
        }
    }
}

/// Reconciliation's settings (with `RECONCILE` on).
fn reconcile_settings<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<crate::monitor::ReconcileSettings, ConfigError> {
    let defaults = crate::monitor::ReconcileSettings::new(
        &env.key_prefix("PREFIX", "stream_data/")?,
        &env.key_prefix("QUARANTINE_PREFIX", "quarantine/")?,
    );
    let grace = env.minutes("RECONCILE_GRACE_MINUTES", 15)?;
    let max_attempts = env.parsed(
        "RECONCILE_MAX_ATTEMPTS",
        defaults.max_attempts,
        "a whole number of announcements",
    )?;
    let max_per_run = env.parsed(
        "RECONCILE_MAX_PER_RUN",
        defaults.max_per_run,
        "a whole number of files, at least 1",
    )?;
    let max_per_run = at_least_one(max_per_run, "RECONCILE_MAX_PER_RUN", OFF_OPENLY)?;
    let budget_seconds = env.parsed(
        "RECONCILE_BUDGET_SECONDS",
        defaults.budget.as_secs(),
        "a whole number of seconds, at least 1",
    )?;
    let budget_seconds = at_least_one(budget_seconds, "RECONCILE_BUDGET_SECONDS", OFF_OPENLY)?;
    Ok(crate::monitor::ReconcileSettings {
        grace,
        max_attempts,
        max_per_run,
        budget: std::time::Duration::from_secs(budget_seconds),
        state_key: env.parsed(
            "RECONCILE_STATE_KEY",
            defaults.state_key.clone(),
            "an S3 key",
        )?,
        ..defaults
    })
}

/// What a reconciliation setting of 0 is told: it would switch reconciliation off quietly.
const OFF_OPENLY: &str = "at least 1 (RECONCILE=false turns reconciliation off)";

/// `value` unless it is 0, which would quietly switch a feature off.
fn at_least_one<T: PartialEq + From<u8>>(
    value: T,
    variable: &'static str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    if value == T::from(0) {
        return Err(ConfigError {
            variable,
            problem: "is 0".into(),
            expected,
        });
    }
    Ok(value)
}

/// `ALERT_WEBHOOK_SECRET_ARN`. The URL is a credential, so a URL in the environment (the old
/// `ALERT_WEBHOOK_URL`) is refused, without echoing it, rather than used.
fn alert_webhook_secret<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<String>, ConfigError> {
    if (env.lookup)("ALERT_WEBHOOK_URL").is_some_and(|v| !v.trim().is_empty()) {
        return Err(ConfigError {
            variable: "ALERT_WEBHOOK_URL",
            problem: "is set, and a webhook URL is a credential the configuration must not hold"
                .into(),
            expected: "the URL stored in a Secrets Manager secret, named by ALERT_WEBHOOK_SECRET_ARN",
        });
    }
    Ok((env.lookup)("ALERT_WEBHOOK_SECRET_ARN")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty()))
}

/// An environment holding exactly `vars`, for tests.
#[cfg(test)]
fn env_of(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env::from_lookup(move |name| map.get(name).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<GeneratorConfig, ConfigError> {
        GeneratorConfig::from_env(&env_of(vars))
    }

    #[test]
    fn defaults_apply_when_only_bucket_is_set() {
        let c = config(&[("BUCKET", "my-bucket")]).unwrap();
        assert_eq!(c.bucket, "my-bucket");
        assert_eq!(c.prefix, "stream_data/");
        assert_eq!(c.settings, GeneratorSettings::default());
        assert_eq!(c.settings.rows, 1000);
        assert_eq!(c.settings.id_space, 10_000);
        let big = config(&[("BUCKET", "b"), ("ROWS_PER_FILE", "5000000")]).unwrap();
        assert_eq!(big.settings.id_space, 5_000_000, "grows to fit the rows");
        assert_eq!(c.settings.delete_rate, 0.01);
        assert!(!c.gzip);
        assert_eq!(c.metrics_namespace, "CustomerPipeline");
    }

    #[test]
    fn missing_bucket_names_the_variable() {
        let err = config(&[]).unwrap_err();
        assert_eq!(err.variable, "BUCKET");
        assert_eq!(
            err.to_string(),
            "BUCKET is not set; expected the name of the S3 bucket to write customer files to"
        );
    }

    #[test]
    fn malformed_number_names_the_variable_and_accepted_values() {
        let err = config(&[("BUCKET", "b"), ("ROWS_PER_FILE", "lots")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ROWS_PER_FILE is 'lots'; expected a whole number of rows, at least 1"
        );
    }

    #[test]
    fn gzip_accepts_common_spellings_and_rejects_others() {
        assert!(config(&[("BUCKET", "b"), ("GZIP", "TRUE")]).unwrap().gzip);
        assert!(!config(&[("BUCKET", "b"), ("GZIP", "0")]).unwrap().gzip);
        assert_eq!(
            config(&[("BUCKET", "b"), ("GZIP", "maybe")])
                .unwrap_err()
                .variable,
            "GZIP"
        );
    }

    #[test]
    fn prefix_must_end_with_a_slash() {
        assert_eq!(
            config(&[("BUCKET", "b"), ("PREFIX", "data")])
                .unwrap_err()
                .variable,
            "PREFIX"
        );
    }

    #[test]
    fn inconsistent_rates_are_rejected() {
        let err =
            config(&[("BUCKET", "b"), ("DELETE_RATE", "0.7"), ("NEW_RATE", "0.7")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("DELETE_RATE + NEW_RATE must not exceed 1"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod ingest_tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<IngestConfig, ConfigError> {
        IngestConfig::from_env(&env_of(vars))
    }

    #[test]
    fn secret_arn_selects_secrets_manager_with_a_ttl() {
        let c = config(&[
            ("BUCKET", "b"),
            ("SNOWFLAKE_SECRET_ARN", "arn:aws:secretsmanager:x"),
        ])
        .unwrap();
        assert_eq!(
            c.snowflake,
            SnowflakeSource::Secret {
                id: "arn:aws:secretsmanager:x".into(),
                pipe: None,
                ttl: std::time::Duration::from_secs(900)
            }
        );
        assert_eq!(c.settings, crate::ingest::IngestSettings::default());
    }

    #[test]
    fn snowflake_pipe_goes_with_the_secret() {
        let c = config(&[
            ("BUCKET", "b"),
            ("SNOWFLAKE_SECRET_ARN", "arn:aws:secretsmanager:x"),
            ("SNOWFLAKE_PIPE", " CUSTOMERS.RAW.CUSTOMER_PIPE "),
        ])
        .unwrap();
        assert!(matches!(
            c.snowflake,
            SnowflakeSource::Secret { pipe: Some(p), .. } if p == "CUSTOMERS.RAW.CUSTOMER_PIPE"
        ));
    }

    #[test]
    fn without_a_secret_the_local_variables_are_required() {
        let err = config(&[("BUCKET", "b")]).unwrap_err();
        assert_eq!(err.variable, "SNOWFLAKE_PRIVATE_KEY_PATH");
        assert!(err.expected.contains("SNOWFLAKE_SECRET_ARN"), "{err}");
    }

    #[test]
    fn unreadable_key_file_is_named() {
        let err = config(&[
            ("BUCKET", "b"),
            ("SNOWFLAKE_PRIVATE_KEY_PATH", "/no/such/key.p8"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "SNOWFLAKE_PRIVATE_KEY_PATH is '/no/such/key.p8', which cannot be read"
            )
        );
    }

    /// The monitor's configuration from `vars`, with reconciliation's queue.
    fn monitor_config(vars: &[(&str, &str)]) -> Result<MonitorConfig, ConfigError> {
        let mut all = vec![INGEST_QUEUE];
        all.extend_from_slice(vars);
        MonitorConfig::from_env(&env_of(&all))
    }

    const INGEST_QUEUE: (&str, &str) = (
        "INGEST_QUEUE_URL",
        "https://sqs.eu-west-1.amazonaws.com/1/customer-ingest",
    );

    #[test]
    fn reconciliation_announces_on_the_ingest_queue_and_needs_no_snowpipe_key() {
        let c = monitor_config(&[("BUCKET", "b"), MONITOR_SECRET]).unwrap();
        assert_eq!(c.ingest_queue_url.as_deref(), Some(INGEST_QUEUE.1));
        let env = env_of(&[("BUCKET", "b"), MONITOR_SECRET]);
        let err = MonitorConfig::from_env(&env).unwrap_err();
        assert_eq!(err.variable, "INGEST_QUEUE_URL");
        let off = env_of(&[("BUCKET", "b"), MONITOR_SECRET, ("RECONCILE", "false")]);
        assert_eq!(
            MonitorConfig::from_env(&off).unwrap().ingest_queue_url,
            None
        );
    }

    #[test]
    fn reconciliation_caps_and_budget_can_be_set() {
        let c = monitor_config(&[
            ("BUCKET", "b"),
            MONITOR_SECRET,
            ("RECONCILE_MAX_PER_RUN", "7"),
            ("RECONCILE_BUDGET_SECONDS", "5"),
        ])
        .unwrap();
        let r = c.reconcile.unwrap();
        assert_eq!(r.max_per_run, 7);
        assert_eq!(r.budget, std::time::Duration::from_secs(5));
        let zero = monitor_config(&[
            ("BUCKET", "b"),
            MONITOR_SECRET,
            ("RECONCILE_MAX_PER_RUN", "0"),
        ]);
        assert_eq!(zero.unwrap_err().variable, "RECONCILE_MAX_PER_RUN");
    }

    const MONITOR_SECRET: (&str, &str) = (
        "SNOWFLAKE_SECRET_ARN",
        "arn:aws:secretsmanager:eu-west-1:1:secret:sf",
    );

    #[test]
    fn monitor_defaults_watch_the_pipelines_objects() {
        let c = monitor_config(&[("BUCKET", "b"), MONITOR_SECRET]).unwrap();
        assert_eq!(c.state_key, "monitor/state.json");
        assert_eq!(c.table, "CUSTOMER_RAW");
        assert_eq!(c.tasks, ["TSK_SCD_RAW"]);
        assert_eq!(c.streams, ["CUSTOMER_RAW_CHANGES"]);
        assert_eq!(c.overlap, chrono::TimeDelta::minutes(60));
        assert_eq!(c.alert_webhook_secret, None);
    }

    #[test]
    fn reconciliation_is_on_by_default_with_a_fifteen_minute_grace() {
        let c = monitor_config(&[("BUCKET", "b"), MONITOR_SECRET]).unwrap();
        let r = c.reconcile.expect("on by default");
        assert_eq!(r.grace, chrono::TimeDelta::minutes(15));
        assert_eq!(r.max_attempts, 3);
        assert_eq!(r.max_per_run, 100);
        assert_eq!(r.budget, std::time::Duration::from_secs(20));
        assert_eq!(
            (r.stage_prefix.as_str(), r.state_key.as_str()),
            ("stream_data/", "monitor/reconcile.json")
        );
        let off = monitor_config(&[("BUCKET", "b"), MONITOR_SECRET, ("RECONCILE", "false")]);
        assert_eq!(off.unwrap().reconcile, None);
    }

    #[test]
    fn monitor_refuses_names_that_could_change_a_statement() {
        let err = monitor_config(&[
            ("BUCKET", "b"),
            MONITOR_SECRET,
            ("MONITOR_TASKS", "A, B; DROP"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "MONITOR_TASKS");
    }

    #[test]
    fn the_webhook_is_named_by_a_secret_never_given_as_a_url() {
        let config = monitor_config(&[
            ("BUCKET", "b"),
            MONITOR_SECRET,
            (
                "ALERT_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:hook",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.alert_webhook_secret.as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:1:secret:hook")
        );
        let err = monitor_config(&[
            ("BUCKET", "b"),
            MONITOR_SECRET,
            ("ALERT_WEBHOOK_URL", "https://hooks.example/T0/secret-token"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "ALERT_WEBHOOK_URL");
        assert!(!err.to_string().contains("secret-token"), "{err}");
    }
}
