//! The local stack `pipectl dev` runs on: the S3 stand-in, and the Snowflake stand-in set up by
//! running `sql/` as deployed, with a throwaway key for each user the scripts create, and the
//! real clients pointed at them as the deployed functions use them: ingest as the ingest user,
//! the monitor and the operator commands as the monitor user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use devstack::S3StandIn;
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::config::Env;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use snowflake::{
    Connection, KeyPair, RetryPolicy, SnowflakeClient, Snowpipe, SqlApi, StatementContext,
};
use snowflake_standin::{Account, Options, SnowflakeStandIn};

use crate::error::{CliError, CliResult};

pub const BUCKET: &str = "landing";
pub const PREFIX: &str = "stream_data/";
pub const DATABASE: &str = "CUSTOMERS";
pub const SCHEMA: &str = "RAW";
pub const PIPE: &str = "CUSTOMER_PIPE";
pub const WAREHOUSE: &str = "STANDIN_WH";
const ACCOUNT: &str = "standin";

/// The users `sql/01_account.sql` creates, plus the account's first user, who runs the scripts.
pub const ADMIN_USER: &str = "ADMIN";
pub const INGEST_USER: &str = "CUSTOMER_PIPELINE_INGEST_USER";
pub const MONITOR_USER: &str = "CUSTOMER_PIPELINE_MONITOR_USER";
/// The role the monitor's SQL API statements run with (the monitor user's only role).
pub const MONITOR_ROLE: &str = "CUSTOMER_PIPELINE_MONITOR";
pub const ADMIN_ROLE: &str = "CUSTOMER_PIPELINE_ADMIN";

/// Who a set of variables signs in as: the env file's name, the user, its key file, and the
/// SQL API role.
struct Identity {
    file: &'static str,
    user: &'static str,
    key: &'static str,
    role: Option<&'static str>,
}

const IDENTITIES: [Identity; 3] = [
    Identity {
        file: "admin.env",
        user: ADMIN_USER,
        key: "admin-key.p8",
        role: Some(ADMIN_ROLE),
    },
    Identity {
        file: "ingest.env",
        user: INGEST_USER,
        key: "ingest-key.p8",
        role: None,
    },
    Identity {
        file: "monitor.env",
        user: MONITOR_USER,
        key: "monitor-key.p8",
        role: Some(MONITOR_ROLE),
    },
];

pub struct Stack {
    pub s3: S3StandIn,
    pub snowflake: Arc<SnowflakeStandIn>,
    pub store: S3Store,
    /// The ingest function's Snowpipe client: the ingest user.
    pub snowpipe: Snowpipe,
    /// The monitor's SQL API client: the monitor user with the monitor role.
    pub sql: SqlApi,
    /// The ingest queue reconciliation announces unloaded files on; `pipectl dev` hands what
    /// it holds to the ingest stage with the bucket's own notifications.
    pub ingest_queue: pipeline::ports::InProcessQueue,
    /// Each file's way through the stages, for the run's freshness figures.
    pub freshness: super::freshness::Freshness,
    state: PathBuf,
}

/// Where the stand-ins listen and keep their state.
pub struct StackOptions<'a> {
    pub state: &'a Path,
    pub sql_dir: &'a Path,
    pub snowflake_port: u16,
}

impl Stack {
    pub async fn start(options: StackOptions<'_>) -> CliResult<Stack> {
        let state = options.state;
        std::fs::create_dir_all(state.join("s3").join(BUCKET))
            .map_err(|e| CliError::usage(format!("cannot create {}: {e}", state.display())))?;
        let s3 = S3StandIn::start(state.join("s3"))
            .await
            .map_err(|e| CliError::usage(format!("the S3 stand-in did not start: {e}")))?;
        // The deployed bucket's policy: the stage is write-once (template.yaml, WriteOnceStage).
        s3.write_once(BUCKET, PREFIX);
        let keys: Vec<KeyPair> = IDENTITIES
            .iter()
            .map(|identity| throwaway_key(&state.join(identity.key)))
            .collect::<Result<_, _>>()?;
        let snowflake = SnowflakeStandIn::start(Options {
            database_file: Some(state.join("warehouse.duckdb")),
            sql_dir: options.sql_dir.to_owned(),
            variables: variables(&keys[1], &keys[2]),
            account: Account {
                name: ACCOUNT.into(),
                admin_user: ADMIN_USER.into(),
                admin_public_key: keys[0].public_key_base64().to_owned(),
            },
            s3_root: s3.object_path("", ""),
            port: options.snowflake_port,
            async_after: Duration::from_secs(45),
        })
        .await
        .map_err(CliError::usage)?;
        let client = |user: &str, key: KeyPair| -> CliResult<Arc<SnowflakeClient>> {
            let connection = Connection {
                account: ACCOUNT.into(),
                user: user.into(),
                jwt_account: None,
                base_url: Some(snowflake.base_url().to_owned()),
            };
            SnowflakeClient::connect(&connection, key, RetryPolicy::default())
                .map(Arc::new)
                .map_err(CliError::usage)
        };
        let mut keys = keys.into_iter().skip(1);
        let ingest = client(INGEST_USER, keys.next().expect("three keys"))?;
        let monitor = client(MONITOR_USER, keys.next().expect("three keys"))?;
        let context = StatementContext {
            database: Some(DATABASE.into()),
            schema: Some(SCHEMA.into()),
            warehouse: Some(WAREHOUSE.into()),
            role: Some(MONITOR_ROLE.into()),
        };
        let store = S3Store::new(
            s3_client_for_endpoint(
                &s3.endpoint(),
                devstack::s3::ACCESS_KEY,
                devstack::s3::SECRET_KEY,
            ),
            BUCKET,
        );
        let pipe = format!("{DATABASE}.{SCHEMA}.{PIPE}");
        Ok(Stack {
            ingest_queue: Default::default(),
            snowpipe: Snowpipe::new(ingest, pipe),
            sql: SqlApi::new(monitor, context),
            store,
            s3,
            snowflake: Arc::new(snowflake),
            freshness: Default::default(),
            state: state.to_owned(),
        })
    }

    /// For each user, the env file's name and the variables that point the real Lambda
    /// binaries, `pipectl sql` and `pipectl doctor` at the stand-ins as that user.
    pub fn environments(&self) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
        IDENTITIES
            .iter()
            .map(|identity| {
                let mut variables = vec![
                    ("AWS_ENDPOINT_URL", self.s3.endpoint()),
                    ("AWS_ACCESS_KEY_ID", devstack::s3::ACCESS_KEY.into()),
                    ("AWS_SECRET_ACCESS_KEY", devstack::s3::SECRET_KEY.into()),
                    ("AWS_REGION", "us-east-1".into()),
                    ("BUCKET", BUCKET.into()),
                    ("PREFIX", PREFIX.into()),
                    ("SNOWFLAKE_ACCOUNT", ACCOUNT.into()),
                    ("SNOWFLAKE_USER", identity.user.into()),
                    ("SNOWFLAKE_PIPE", format!("{DATABASE}.{SCHEMA}.{PIPE}")),
                    (
                        "SNOWFLAKE_PRIVATE_KEY_PATH",
                        self.state.join(identity.key).display().to_string(),
                    ),
                    ("SNOWFLAKE_BASE_URL", self.snowflake.base_url().to_owned()),
                    ("SNOWFLAKE_DATABASE", DATABASE.into()),
                    ("SNOWFLAKE_SCHEMA", SCHEMA.into()),
                    ("SNOWFLAKE_WAREHOUSE", WAREHOUSE.into()),
                ];
                if let Some(role) = identity.role {
                    variables.push(("SNOWFLAKE_ROLE", role.into()));
                }
                if identity.user == MONITOR_USER {
                    // Reconciliation announces files on an SQS queue, and the stand-ins have
                    // no SQS: the monitor run by cargo lambda checks only, while `pipectl dev`'s
                    // own loop reconciles.
                    variables.push(("RECONCILE", "false".into()));
                }
                (identity.file, variables)
            })
            .collect()
    }

    /// The variables of `file` (one of [`Stack::environments`]) with `overrides` on top: what a
    /// function run by `cargo lambda watch` with that file sourced reads.
    pub fn function_env(
        &self,
        file: &str,
        overrides: &[(&'static str, String)],
    ) -> Env<impl Fn(&str) -> Option<String> + use<>> {
        let mut variables: BTreeMap<&'static str, String> = self
            .environments()
            .into_iter()
            .find(|(name, _)| *name == file)
            .map(|(_, variables)| variables.into_iter().collect())
            .unwrap_or_default();
        variables.extend(overrides.iter().cloned());
        Env::from_lookup(move |name: &str| variables.get(name).cloned())
    }

    /// Writes `<state>/admin.env`, `ingest.env` and `monitor.env` (`export NAME='value'`
    /// lines); returns their paths.
    pub fn write_environments(&self) -> CliResult<Vec<PathBuf>> {
        let mut written = Vec::new();
        for (file, variables) in self.environments() {
            let text: String = variables
                .iter()
                .map(|(name, value)| format!("export {name}='{value}'\n"))
                .collect();
            let path = self.state.join(file);
            std::fs::write(&path, text)
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The `-D` values the scripts take, as a deployment would pass them to `snow sql`.
fn variables(ingest: &KeyPair, monitor: &KeyPair) -> BTreeMap<String, String> {
    [
        ("database", DATABASE),
        ("schema", SCHEMA),
        ("warehouse", WAREHOUSE),
        ("integration", "CUSTOMER_S3"),
        ("bucket_url", "s3://landing/stream_data/"),
        ("aws_role_arn", "arn:aws:iam::000000000000:role/standin"),
        ("admin_user", ADMIN_USER),
        ("ingest_public_key", ingest.public_key_base64()),
        ("monitor_public_key", monitor.public_key_base64()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// The key at `path`, made on the first run (a fresh 2048-bit RSA key, never used anywhere
/// else).
fn throwaway_key(path: &Path) -> CliResult<KeyPair> {
    if !path.is_file() {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| CliError::usage(format!("generating a key failed: {e}")))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| CliError::usage(format!("encoding the key failed: {e}")))?;
        std::fs::write(path, pem.as_bytes())
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    KeyPair::from_pem(&pem, None).map_err(CliError::usage)
}
