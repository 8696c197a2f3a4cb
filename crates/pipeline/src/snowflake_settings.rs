//! The Snowflake settings every function and command connects with: where they come from
//! (Secrets Manager, or `SNOWFLAKE_*` variables and a key file), what they hold, the clients
//! built from them, and the one error type for all of it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::Deserialize;
use snowflake::{
    Connection, KeyPair, PipeName, RetryPolicy, SnowflakeClient, SnowflakeError, Snowpipe, SqlApi,
    StatementContext,
};
use tracing::info;

/// The Secrets Manager secret's JSON (`account`, `user`, `private_key`, `pipe`, optional
/// `passphrase`, `jwt_account`, `base_url`, `warehouse`, `role`), or the same values from
/// `SNOWFLAKE_*` variables.
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

/// Why settings could not be loaded or used. No variant carries the key, the passphrase or
/// the secret's text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// The secret's value is not the JSON above; the reason names fields, never values.
    #[error("the Snowflake secret is not JSON with account, user and private_key ({0})")]
    NotSettingsJson(String),
    #[error("the Snowflake secret has no pipe and SNOWFLAKE_PIPE is not set")]
    NoPipe,
    #[error(transparent)]
    PipeName(#[from] snowflake::NotQualified),
    /// Secrets Manager did not give the secret's value.
    #[error("reading secret {secret_id} failed: {reason}")]
    SecretUnreadable {
        secret_id: String,
        reason: String,
        retryable: bool,
    },
    /// The key does not parse, or the client cannot be built from the settings.
    #[error(transparent)]
    Client(#[from] SnowflakeError),
}

impl SettingsError {
    pub fn retryable(&self) -> bool {
        match self {
            SettingsError::SecretUnreadable { retryable, .. } => *retryable,
            SettingsError::Client(e) => e.retryable(),
            _ => false,
        }
    }

    /// For errors no retry can fix: which setting to check.
    pub fn configuration_hint(&self) -> Option<String> {
        match self {
            SettingsError::Client(e) => e.configuration_hint().map(str::to_owned),
            _ if !self.retryable() => {
                Some("SNOWFLAKE_SECRET_ARN (or the SNOWFLAKE_* variables and key file)".into())
            }
            _ => None,
        }
    }
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
    ) -> Result<SnowflakeSettings, SettingsError> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let mut settings: SnowflakeSettings =
            serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|e| SettingsError::NotSettingsJson(without_values(&e)))?;
        if let Some(pipe) = pipe {
            settings.pipe = pipe.to_owned();
        }
        if settings.pipe.trim().is_empty() {
            return Err(SettingsError::NoPipe);
        }
        Ok(settings)
    }

    fn client(&self, policy: RetryPolicy) -> Result<Arc<SnowflakeClient>, SettingsError> {
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
    pub fn snowpipe(&self, policy: RetryPolicy) -> Result<Snowpipe, SettingsError> {
        Ok(Snowpipe::new(self.client(policy)?, self.pipe.clone()))
    }

    /// The SQL API with the pipe's database and schema, and the warehouse and role, as context.
    pub fn sql_api(&self, policy: RetryPolicy) -> Result<SqlApi, SettingsError> {
        let PipeName {
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
    pub fn pipe_name(&self) -> Result<PipeName, SettingsError> {
        Ok(self.pipe.parse()?)
    }
}

/// Where settings come from: Secrets Manager in Lambda, fixed values locally and in tests.
pub trait SettingsSource: Send + Sync {
    fn load(&self) -> impl Future<Output = Result<SnowflakeSettings, SettingsError>> + Send;
}

/// Settings known up front (`SNOWFLAKE_*` variables and a key file).
pub struct FixedSettings(pub SnowflakeSettings);

impl SettingsSource for FixedSettings {
    async fn load(&self) -> Result<SnowflakeSettings, SettingsError> {
        Ok(self.0.clone())
    }
}

/// Settings for tests: the test-only key (never registered anywhere), the pipe
/// `DB.SCHEMA.PIPE`, and `base_url` as the endpoint.
/// serde's message for a secret that does not parse, without the values: "invalid type:
/// integer `123456`, expected a string" would put a passphrase into the logs and the Lambda
/// error payload. Kept: the field's path and what was expected (from the type, not the data);
/// missing, unknown or duplicate field names; a syntax error's kind.
fn without_values(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = error.inner();
    let message = inner.to_string();
    let message = message.split(" at line").next().unwrap_or_default();
    if !inner.is_data() {
        return message.to_owned();
    }
    let field_name = ["missing field", "unknown field", "duplicate field"];
    if field_name.iter().any(|start| message.starts_with(start)) {
        return message.to_owned();
    }
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, expected)| format!(" (expected {expected})"))
        .unwrap_or_default();
    format!("`{}` has the wrong type or value{expected}", error.path())
}

#[cfg(test)]
pub(crate) fn test_settings(base_url: &str) -> SnowflakeSettings {
    SnowflakeSettings {
        account: "xy12345".into(),
        user: "ingest".into(),
        private_key: include_str!("../../snowflake/tests/data/test-only-rsa.p8").into(),
        passphrase: Some("not-used".into()),
        pipe: "DB.SCHEMA.PIPE".into(),
        jwt_account: None,
        base_url: Some(base_url.into()),
        warehouse: None,
        role: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SnowflakeSettings {
        test_settings("http://x")
    }

    #[test]
    fn debug_output_never_shows_the_key_or_passphrase() {
        let shown = format!("{:?}", settings());
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
    fn a_wrong_type_in_the_secret_names_the_field_but_never_the_value() {
        for secret in [
            r#"{"account":"a","user":"u","private_key":"k","passphrase":918273645}"#,
            r#"{"account":"a","user":"u","private_key":{"pem":"918273645"}}"#,
            r#"{"account":"a","user":"u","private_key":"k","passphrase":"x","pipe":918273645}"#,
        ] {
            let err = SnowflakeSettings::from_secret_json(secret, None)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("918273645"), "{err}");
            assert!(err.contains("wrong type"), "{err}");
        }
        let err = SnowflakeSettings::from_secret_json(
            r#"{"account":"a","user":"u","private_key":"k","passphrase":918273645}"#,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`passphrase`"), "{err}");
    }

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

    #[test]
    fn settings_that_no_retry_can_fix_name_the_setting_to_check() {
        let err = SnowflakeSettings::from_secret_json(SECRET_WITHOUT_PIPE, None).unwrap_err();
        assert!(!err.retryable());
        assert!(
            err.configuration_hint()
                .unwrap()
                .contains("SNOWFLAKE_SECRET_ARN")
        );
        let throttled = SettingsError::SecretUnreadable {
            secret_id: "s".into(),
            reason: "ThrottlingException".into(),
            retryable: true,
        };
        assert_eq!(throttled.configuration_hint(), None);
    }
}
