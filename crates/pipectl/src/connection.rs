//! Where and as whom `pipectl` connects to Snowflake. Each setting comes from, in order: its
//! flag, the named connection (`--connection NAME` in the Snowflake CLI's `connections.toml`,
//! or `[connections.NAME]` in its `config.toml`), then its `SNOWFLAKE_*` variable, which is the
//! Snowflake CLI's own precedence, so users reuse what they already have.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use snowflake::{Connection, KeyPair, RetryPolicy, SnowflakeClient, SqlApi, StatementContext};

use pipectl::error::{CliError, CliResult};

#[derive(Args, Debug, Default, Clone)]
pub struct ConnectionArgs {
    /// A connection from the Snowflake CLI's connections.toml or config.toml (in
    /// $SNOWFLAKE_HOME or ~/.snowflake) [env: SNOWFLAKE_DEFAULT_CONNECTION_NAME]
    #[arg(long, short = 'c', value_name = "NAME")]
    connection: Option<String>,
    /// Account identifier as in the host name, e.g. xy12345.us-east-2.aws [env: SNOWFLAKE_ACCOUNT]
    #[arg(long)]
    account: Option<String>,
    /// [env: SNOWFLAKE_USER]
    #[arg(long)]
    user: Option<String>,
    /// PKCS#8 PEM private key; its passphrase from SNOWFLAKE_PRIVATE_KEY_PASSPHRASE
    /// [env: SNOWFLAKE_PRIVATE_KEY_PATH]
    #[arg(long, value_name = "FILE")]
    private_key_path: Option<PathBuf>,
    /// The account in the JWT claims, when it differs from the normalised identifier
    /// [env: SNOWFLAKE_JWT_ACCOUNT]
    #[arg(long)]
    jwt_account: Option<String>,
    /// Default https://<account>.snowflakecomputing.com [env: SNOWFLAKE_BASE_URL]
    #[arg(long)]
    base_url: Option<String>,
    /// [env: SNOWFLAKE_DATABASE]
    #[arg(long)]
    database: Option<String>,
    /// [env: SNOWFLAKE_SCHEMA]
    #[arg(long)]
    schema: Option<String>,
    /// [env: SNOWFLAKE_WAREHOUSE]
    #[arg(long)]
    warehouse: Option<String>,
    /// [env: SNOWFLAKE_ROLE]
    #[arg(long)]
    role: Option<String>,
}

/// The settings after the flags, the named connection and the environment are merged. Its
/// Debug leaves the passphrase out.
#[derive(Clone, PartialEq, Eq)]
pub struct Resolved {
    pub account: String,
    pub user: String,
    pub private_key_path: PathBuf,
    pub passphrase: Option<String>,
    pub jwt_account: Option<String>,
    pub base_url: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
    pub warehouse: Option<String>,
    pub role: Option<String>,
    /// "connection 'dev' in /home/me/.snowflake/connections.toml", when one was used.
    pub named: Option<String>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = f.debug_struct("Resolved");
        shown.field("account", &self.account);
        shown.field("user", &self.user);
        shown.field("private_key_path", &self.private_key_path);
        shown.field(
            "passphrase",
            &self.passphrase.as_ref().map(|_| "<redacted>"),
        );
        shown.field("jwt_account", &self.jwt_account);
        shown.field("base_url", &self.base_url);
        shown.field("database", &self.database);
        shown.field("schema", &self.schema);
        shown.field("warehouse", &self.warehouse);
        shown.field("role", &self.role);
        shown.field("named", &self.named);
        shown.finish()
    }
}

impl Resolved {
    /// Reads the key and signs in; errors say what to fix.
    pub fn client(&self) -> CliResult<SnowflakeClient> {
        let key = self.key_pair()?;
        let connection = Connection {
            account: self.account.clone(),
            user: self.user.clone(),
            jwt_account: self.jwt_account.clone(),
            base_url: self.base_url.clone(),
        };
        SnowflakeClient::connect(&connection, key, RetryPolicy::default()).map_err(CliError::usage)
    }

    pub fn key_pair(&self) -> CliResult<KeyPair> {
        let pem = std::fs::read_to_string(&self.private_key_path).map_err(|e| {
            CliError::usage(format!(
                "cannot read the private key {}: {e}",
                self.private_key_path.display()
            ))
        })?;
        KeyPair::from_pem(&pem, self.passphrase.as_deref()).map_err(CliError::usage)
    }

    /// `pipe` as DATABASE.SCHEMA.PIPE, completed from the database and schema if needed.
    pub fn qualified_pipe(&self, pipe: &str) -> Option<String> {
        if let Ok(name) = pipe.parse::<snowflake::PipeName>() {
            return Some(name.to_string());
        }
        match (&self.database, &self.schema) {
            (Some(database), Some(schema)) => Some(format!("{database}.{schema}.{pipe}")),
            _ => None,
        }
    }

    pub fn context(&self) -> StatementContext {
        StatementContext {
            database: self.database.clone(),
            schema: self.schema.clone(),
            warehouse: self.warehouse.clone(),
            role: self.role.clone(),
        }
    }

    pub fn sql_api(&self) -> CliResult<SqlApi> {
        Ok(SqlApi::new(Arc::new(self.client()?), self.context()))
    }
}

impl ConnectionArgs {
    /// Merges flags, the named connection and the process environment.
    pub fn resolve(&self) -> CliResult<Resolved> {
        let home = std::env::var_os("SNOWFLAKE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::home_dir().map(|h| h.join(".snowflake")));
        self.resolve_with(|name| std::env::var(name).ok(), home.as_deref())
    }

    /// [`Self::resolve`] with the environment and the Snowflake CLI's folder given.
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
        snowflake_home: Option<&Path>,
    ) -> CliResult<Resolved> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let name = self
            .connection
            .clone()
            .or_else(|| env("SNOWFLAKE_DEFAULT_CONNECTION_NAME"));
        let (file, named) = match &name {
            Some(name) => {
                let home = snowflake_home
                    .ok_or_else(|| CliError::usage("no home folder to find connections.toml in"))?;
                let (table, path) = named_connection(home, name)?;
                (
                    table,
                    Some(format!("connection '{name}' in {}", path.display())),
                )
            }
            None => (toml::Table::new(), None),
        };
        let from_file = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| file.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
        };
        let pick = |flag: &Option<String>, keys: &[&str], variable: &str| {
            flag.clone()
                .or_else(|| from_file(keys))
                .or_else(|| env(variable))
        };
        let missing = |what: &str, variable: &str| {
            CliError::usage(format!(
                "no {what}: pass --{}, set {variable}{}",
                what.replace(' ', "-"),
                if named.is_some() {
                    ", or add it to the connection"
                } else {
                    ", or name a Snowflake CLI connection with --connection"
                }
            ))
        };
        let base_url = pick(&self.base_url, &[], "SNOWFLAKE_BASE_URL")
            .or_else(|| from_file(&["host"]).map(|host| format!("https://{host}")));
        Ok(Resolved {
            account: pick(&self.account, &["account"], "SNOWFLAKE_ACCOUNT")
                .ok_or_else(|| missing("account", "SNOWFLAKE_ACCOUNT"))?,
            user: pick(&self.user, &["user"], "SNOWFLAKE_USER")
                .ok_or_else(|| missing("user", "SNOWFLAKE_USER"))?,
            private_key_path: self
                .private_key_path
                .clone()
                .or_else(|| from_file(&["private_key_file", "private_key_path"]).map(PathBuf::from))
                .or_else(|| env("SNOWFLAKE_PRIVATE_KEY_PATH").map(PathBuf::from))
                .ok_or_else(|| missing("private key path", "SNOWFLAKE_PRIVATE_KEY_PATH"))?,
            passphrase: from_file(&["private_key_file_pwd"])
                .or_else(|| env("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")),
            jwt_account: pick(&self.jwt_account, &[], "SNOWFLAKE_JWT_ACCOUNT"),
            base_url,
            database: pick(&self.database, &["database"], "SNOWFLAKE_DATABASE"),
            schema: pick(&self.schema, &["schema"], "SNOWFLAKE_SCHEMA"),
            warehouse: pick(&self.warehouse, &["warehouse"], "SNOWFLAKE_WAREHOUSE"),
            role: pick(&self.role, &["role"], "SNOWFLAKE_ROLE"),
            named,
        })
    }
}

/// `[NAME]` in connections.toml, or `[connections.NAME]` in config.toml when there is no
/// connections.toml (the Snowflake CLI ignores config.toml's connections when it exists).
fn named_connection(home: &Path, name: &str) -> CliResult<(toml::Table, PathBuf)> {
    let connections = home.join("connections.toml");
    let config = home.join("config.toml");
    let (path, in_config) = if connections.is_file() {
        (connections, false)
    } else if config.is_file() {
        (config, true)
    } else {
        return Err(CliError::usage(format!(
            "connection '{name}' asked for, but neither {} nor {} exists",
            connections.display(),
            config.display()
        )));
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let document: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        CliError::usage(format!(
            "{} is not valid TOML: {}",
            path.display(),
            e.message()
        ))
    })?;
    let section = if in_config {
        document.get("connections").and_then(|c| c.get(name))
    } else {
        document.get(name)
    };
    match section.and_then(|s| s.as_table()) {
        Some(table) => Ok((table.clone(), path)),
        None => Err(CliError::usage(format!(
            "{} has no connection named '{name}'",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(file: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
        dir
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn debug_output_holds_no_passphrase() {
        let resolved = Resolved {
            account: "acct".into(),
            user: "ALICE".into(),
            private_key_path: "key.p8".into(),
            passphrase: Some("correct-horse-battery".into()),
            jwt_account: None,
            base_url: None,
            database: None,
            schema: None,
            warehouse: None,
            role: None,
            named: None,
        };
        let shown = format!("{resolved:?}");
        assert!(!shown.contains("correct-horse-battery"), "{shown}");
        assert!(shown.contains("ALICE"), "{shown}");
    }

    fn named(name: &str) -> ConnectionArgs {
        ConnectionArgs {
            connection: Some(name.into()),
            ..ConnectionArgs::default()
        }
    }

    const CONNECTIONS: &str = r#"
[dev]
account = "myorg-dev"
user = "ALICE"
authenticator = "SNOWFLAKE_JWT"
private_key_file = "/keys/alice.p8"
warehouse = "DEV_WH"
role = "CUSTOMER_PIPELINE_MONITOR"
"#;

    #[test]
    fn reads_a_named_connection_from_connections_toml() {
        let home = home_with("connections.toml", CONNECTIONS);
        let resolved = named("dev")
            .resolve_with(vars(&[]), Some(home.path()))
            .unwrap();
        assert_eq!(resolved.account, "myorg-dev");
        assert_eq!(resolved.user, "ALICE");
        assert_eq!(resolved.private_key_path, PathBuf::from("/keys/alice.p8"));
        assert_eq!(resolved.warehouse.as_deref(), Some("DEV_WH"));
        assert!(resolved.named.unwrap().starts_with("connection 'dev' in "));
    }

    #[test]
    fn flags_beat_the_connection_and_the_connection_beats_the_environment() {
        let home = home_with("connections.toml", CONNECTIONS);
        let args = ConnectionArgs {
            role: Some("ACCOUNTADMIN".into()),
            ..named("dev")
        };
        let env = vars(&[
            ("SNOWFLAKE_USER", "BOB"),
            ("SNOWFLAKE_DATABASE", "CUSTOMERS"),
        ]);
        let resolved = args.resolve_with(env, Some(home.path())).unwrap();
        assert_eq!(resolved.role.as_deref(), Some("ACCOUNTADMIN"));
        assert_eq!(resolved.user, "ALICE");
        assert_eq!(
            resolved.database.as_deref(),
            Some("CUSTOMERS"),
            "filled from the environment"
        );
    }

    #[test]
    fn reads_connections_from_config_toml_when_there_is_no_connections_toml() {
        let home = home_with(
            "config.toml",
            "default_connection_name = \"x\"\n[connections.ci]\naccount = \"xy12345\"\nuser = \"CI\"\nprivate_key_path = \"/k.p8\"\nhost = \"xy12345.privatelink.snowflakecomputing.com\"\n",
        );
        let resolved = named("ci")
            .resolve_with(vars(&[]), Some(home.path()))
            .unwrap();
        assert_eq!(resolved.private_key_path, PathBuf::from("/k.p8"));
        assert_eq!(
            resolved.base_url.as_deref(),
            Some("https://xy12345.privatelink.snowflakecomputing.com")
        );
    }

    #[test]
    fn uses_the_environment_without_a_connection() {
        let env = vars(&[
            ("SNOWFLAKE_ACCOUNT", "xy12345"),
            ("SNOWFLAKE_USER", "MONITOR"),
            ("SNOWFLAKE_PRIVATE_KEY_PATH", "/k.p8"),
        ]);
        let resolved = ConnectionArgs::default().resolve_with(env, None).unwrap();
        assert_eq!(
            (resolved.account.as_str(), resolved.named),
            ("xy12345", None)
        );
    }

    #[test]
    fn an_unknown_connection_name_is_a_clear_error() {
        let home = home_with("connections.toml", CONNECTIONS);
        let err = named("prod")
            .resolve_with(vars(&[]), Some(home.path()))
            .unwrap_err();
        assert!(
            err.to_string().ends_with("has no connection named 'prod'"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_setting_says_every_way_to_give_it() {
        let err = ConnectionArgs::default()
            .resolve_with(vars(&[("SNOWFLAKE_ACCOUNT", "xy12345")]), None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no user: pass --user, set SNOWFLAKE_USER, or name a Snowflake CLI connection with --connection"
        );
    }
}
