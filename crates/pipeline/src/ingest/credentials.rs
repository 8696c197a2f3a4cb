//! Snowflake connection settings and the pipe built from them, cached for the container's life
//! with a time-to-live so a rotated secret takes effect without a redeploy.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use snowflake::{
    Connection, InsertFilesResponse, KeyPair, RetryPolicy, SnowflakeClient, Snowpipe, SqlApi,
    StagedFile, StatementContext,
};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::info;

use super::{IngestError, PipeLoader};

/// What the ingest function needs to reach the pipe: the Secrets Manager secret's JSON
/// (`account`, `user`, `private_key`, `pipe`, optional `passphrase`, `jwt_account`, `base_url`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SnowflakeSettings {
    pub account: String,
    pub user: String,
    /// PKCS#8 PEM.
    pub private_key: String,
    #[serde(default)]
    pub passphrase: Option<String>,
    /// Fully qualified pipe name, e.g. `CUSTOMERS.RAW.CUSTOMER_PIPE`. May be left out of the
    /// secret when `SNOWFLAKE_PIPE` names it (one key-pair secret for several pipes).
    #[serde(default)]
    pub pipe: String,
    #[serde(default)]
    pub jwt_account: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    /// For the SQL API (the monitor): the warehouse and role its statements run with.
    #[serde(default)]
    pub warehouse: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

/// Never prints the key or passphrase.
impl fmt::Debug for SnowflakeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnowflakeSettings")
            .field("account", &self.account)
            .field("user", &self.user)
            .field("pipe", &self.pipe)
            .field("jwt_account", &self.jwt_account)
            .field("base_url", &self.base_url)
            .field("warehouse", &self.warehouse)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl SnowflakeSettings {
    /// Parses the secret's JSON; `pipe` (from `SNOWFLAKE_PIPE`) replaces the secret's pipe. The
    /// error names the missing fields, never the values.
    pub fn from_secret_json(
        json: &str,
        pipe: Option<&str>,
    ) -> Result<SnowflakeSettings, IngestError> {
        let mut settings: SnowflakeSettings =
            serde_json::from_str(json).map_err(|e| IngestError::Credentials {
                message: format!(
                    "the Snowflake secret is not JSON with account, user and private_key ({})",
                    // serde's message names the field and position, not the value.
                    e.to_string().split(" at line").next().unwrap_or_default()
                ),
                retryable: false,
            })?;
        if let Some(pipe) = pipe {
            settings.pipe = pipe.to_owned();
        }
        if settings.pipe.trim().is_empty() {
            return Err(IngestError::Credentials {
                message: "the Snowflake secret has no pipe and SNOWFLAKE_PIPE is not set".into(),
                retryable: false,
            });
        }
        Ok(settings)
    }

    fn client(&self, policy: RetryPolicy) -> Result<Arc<SnowflakeClient>, IngestError> {
        let key = KeyPair::from_pem(&self.private_key, self.passphrase.as_deref())?;
        let connection = Connection {
            account: self.account.clone(),
            user: self.user.clone(),
            jwt_account: self.jwt_account.clone(),
            base_url: self.base_url.clone(),
        };
        let client = SnowflakeClient::connect(&connection, key, policy)?;
        info!(
            account = %self.account,
            user = %self.user,
            pipe = %self.pipe,
            fingerprint = client.signer().fingerprint(),
            "Snowflake client ready"
        );
        Ok(Arc::new(client))
    }

    /// The Snowpipe REST client for the pipe.
    pub fn snowpipe(&self, policy: RetryPolicy) -> Result<Snowpipe, IngestError> {
        Ok(Snowpipe::new(self.client(policy)?, self.pipe.clone()))
    }

    /// The SQL API with the pipe's database and schema, and the warehouse and role, as context.
    pub fn sql_api(&self, policy: RetryPolicy) -> Result<SqlApi, IngestError> {
        let snowflake::PipeName {
            database, schema, ..
        } = self.pipe_name()?;
        let context = StatementContext {
            database: Some(database),
            schema: Some(schema),
            warehouse: self.warehouse.clone(),
            role: self.role.clone(),
        };
        Ok(SqlApi::new(self.client(policy)?, context))
    }

    /// The pipe's qualified name; it must be fully qualified for the REST API anyway.
    pub fn pipe_name(&self) -> Result<snowflake::PipeName, IngestError> {
        self.pipe
            .parse()
            .map_err(|e: snowflake::NotQualified| IngestError::Credentials {
                message: e.to_string(),
                retryable: false,
            })
    }
}

/// Where settings come from: Secrets Manager in Lambda, fixed values locally and in tests.
pub trait SettingsSource: Send + Sync {
    fn load(&self) -> impl Future<Output = Result<SnowflakeSettings, IngestError>> + Send;
}

/// Settings known up front (`SNOWFLAKE_*` variables and a key file).
pub struct FixedSettings(pub SnowflakeSettings);

impl SettingsSource for FixedSettings {
    async fn load(&self) -> Result<SnowflakeSettings, IngestError> {
        Ok(self.0.clone())
    }
}

/// The pipe, rebuilt from its source after `ttl` or after an authentication or not-found error
/// (a rotated key or a renamed pipe), so one cold start does not pin old credentials.
pub struct CachedPipe<S: SettingsSource> {
    source: S,
    ttl: Duration,
    policy: RetryPolicy,
    current: Mutex<Option<(Arc<Snowpipe>, Instant)>>,
}

impl<S: SettingsSource> CachedPipe<S> {
    pub fn new(source: S, ttl: Duration, policy: RetryPolicy) -> Self {
        CachedPipe {
            source,
            ttl,
            policy,
            current: Mutex::new(None),
        }
    }

    async fn pipe(&self) -> Result<Arc<Snowpipe>, IngestError> {
        let mut current = self.current.lock().await;
        if let Some((pipe, loaded)) = current.as_ref()
            && loaded.elapsed() < self.ttl
        {
            return Ok(pipe.clone());
        }
        let pipe = Arc::new(self.source.load().await?.snowpipe(self.policy)?);
        *current = Some((pipe.clone(), Instant::now()));
        Ok(pipe)
    }
}

impl<S: SettingsSource> PipeLoader for CachedPipe<S> {
    async fn insert_files(
        &self,
        files: &[StagedFile],
        deadline: Instant,
    ) -> Result<Vec<InsertFilesResponse>, IngestError> {
        let pipe = self.pipe().await?;
        let result = pipe.insert_files(files, deadline).await;
        if let Err(err) = &result
            && matches!(err.status(), Some(401 | 403 | 404))
        {
            *self.current.lock().await = None;
        }
        Ok(result?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devstack::SnowflakeFake;
    use devstack::snowflake_fake::Reply;
    use std::sync::atomic::{AtomicU32, Ordering};

    const KEY: &str = include_str!("../../../snowflake/tests/data/test-only-rsa.p8");

    /// Counts how often the settings were (re)loaded.
    struct CountingSource {
        settings: SnowflakeSettings,
        loads: AtomicU32,
    }

    impl SettingsSource for &CountingSource {
        async fn load(&self) -> Result<SnowflakeSettings, IngestError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            Ok(self.settings.clone())
        }
    }

    fn settings(base_url: &str) -> SnowflakeSettings {
        SnowflakeSettings {
            account: "xy12345".into(),
            user: "ingest".into(),
            private_key: KEY.into(),
            passphrase: Some("not-used".into()),
            pipe: "DB.SCHEMA.PIPE".into(),
            jwt_account: None,
            base_url: Some(base_url.into()),
            warehouse: None,
            role: None,
        }
    }

    fn files() -> Vec<StagedFile> {
        vec![StagedFile {
            path: "a.csv".into(),
            size: Some(1),
        }]
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn loads_settings_once_within_the_ttl() {
        let fake = SnowflakeFake::start(vec![]).await.unwrap();
        let source = CountingSource {
            settings: settings(fake.base_url()),
            loads: AtomicU32::new(0),
        };
        let pipe = CachedPipe::new(&source, Duration::from_secs(3600), RetryPolicy::default());
        for _ in 0..3 {
            pipe.insert_files(&files(), soon()).await.unwrap();
        }
        assert_eq!(source.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reloads_after_the_ttl_so_rotation_takes_effect() {
        let fake = SnowflakeFake::start(vec![]).await.unwrap();
        let source = CountingSource {
            settings: settings(fake.base_url()),
            loads: AtomicU32::new(0),
        };
        let pipe = CachedPipe::new(&source, Duration::ZERO, RetryPolicy::default());
        pipe.insert_files(&files(), soon()).await.unwrap();
        pipe.insert_files(&files(), soon()).await.unwrap();
        assert_eq!(source.loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn reloads_after_a_not_found_pipe() {
        let fake = SnowflakeFake::start(vec![Reply::status(404, r#"{"message":"no such pipe"}"#)])
            .await
            .unwrap();
        let source = CountingSource {
            settings: settings(fake.base_url()),
            loads: AtomicU32::new(0),
        };
        let pipe = CachedPipe::new(&source, Duration::from_secs(3600), RetryPolicy::default());
        assert!(pipe.insert_files(&files(), soon()).await.is_err());
        pipe.insert_files(&files(), soon()).await.unwrap();
        assert_eq!(source.loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn debug_output_never_shows_the_key_or_passphrase() {
        let shown = format!("{:?}", settings("http://x"));
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains("not-used"),
            "{shown}"
        );
        assert!(shown.contains("DB.SCHEMA.PIPE"));
    }

    #[test]
    fn secret_json_errors_name_fields_not_values() {
        let err = SnowflakeSettings::from_secret_json(
            r#"{"account":"a","private_key":"SECRETVALUE","pipe":"D.S.P"}"#,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("user"), "{err}");
        assert!(!err.contains("SECRETVALUE"), "{err}");
    }

    const SECRET_WITHOUT_PIPE: &str = r#"{"account":"a","user":"u","private_key":"SECRETVALUE"}"#;

    #[test]
    fn secret_without_pipe_needs_snowflake_pipe() {
        let err = SnowflakeSettings::from_secret_json(SECRET_WITHOUT_PIPE, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SNOWFLAKE_PIPE"), "{err}");
        assert!(!err.contains("SECRETVALUE"), "{err}");
    }

    #[test]
    fn snowflake_pipe_replaces_the_secrets_pipe() {
        let from_variable =
            SnowflakeSettings::from_secret_json(SECRET_WITHOUT_PIPE, Some("D.S.P")).unwrap();
        assert_eq!(from_variable.pipe, "D.S.P");
        let with_pipe = r#"{"account":"a","user":"u","private_key":"k","pipe":"OLD.S.P"}"#;
        let replaced = SnowflakeSettings::from_secret_json(with_pipe, Some("NEW.S.P")).unwrap();
        assert_eq!(replaced.pipe, "NEW.S.P");
    }
}
