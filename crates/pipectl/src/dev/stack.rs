//! The local stack `pipectl dev` runs on: the S3 stand-in, the Snowflake stand-in with a
//! throwaway key registered, and the real clients pointed at them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devstack::S3StandIn;
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use snowflake::{
    Connection, KeyPair, RetryPolicy, SnowflakeClient, Snowpipe, SqlApi, StatementContext,
};
use snowflake_standin::{Options, SnowflakeStandIn};

pub const BUCKET: &str = "landing";
pub const PREFIX: &str = "stream_data/";
pub const DATABASE: &str = "CUSTOMERS";
pub const SCHEMA: &str = "RAW";
pub const PIPE: &str = "CUSTOMER_PIPE";
pub const WAREHOUSE: &str = "STANDIN_WH";
const ACCOUNT: &str = "standin";
const USER: &str = "PIPELINE";

pub struct Stack {
    pub s3: S3StandIn,
    pub snowflake: Arc<SnowflakeStandIn>,
    pub store: S3Store,
    pub snowpipe: Snowpipe,
    pub sql: SqlApi,
    pub key_path: PathBuf,
}

/// Where the stand-ins listen and keep their state.
pub struct StackOptions<'a> {
    pub state: &'a Path,
    pub sql_dir: &'a Path,
    pub snowflake_port: u16,
}

impl Stack {
    pub async fn start(options: StackOptions<'_>) -> Result<Stack, String> {
        let state = options.state;
        std::fs::create_dir_all(state.join("s3").join(BUCKET))
            .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
        let s3 = S3StandIn::start(state.join("s3"))
            .await
            .map_err(|e| format!("the S3 stand-in did not start: {e}"))?;
        let snowflake = SnowflakeStandIn::start(Options {
            database_file: Some(state.join("warehouse.duckdb")),
            sql_dir: options.sql_dir.to_owned(),
            database: DATABASE.into(),
            schema: SCHEMA.into(),
            pipe: PIPE.into(),
            table: "CUSTOMER_RAW".into(),
            stage_dir: s3.object_path(BUCKET, PREFIX),
            port: options.snowflake_port,
        })
        .await?;
        let (key, key_path) = throwaway_key(state)?;
        snowflake.register_user(ACCOUNT, USER, key.public_key_base64())?;
        let connection = Connection {
            account: ACCOUNT.into(),
            user: USER.into(),
            jwt_account: None,
            base_url: Some(snowflake.base_url().to_owned()),
        };
        let client = Arc::new(
            SnowflakeClient::connect(&connection, key, RetryPolicy::default())
                .map_err(|e| e.to_string())?,
        );
        let context = StatementContext {
            database: Some(DATABASE.into()),
            schema: Some(SCHEMA.into()),
            warehouse: Some(WAREHOUSE.into()),
            role: None,
        };
        let store = S3Store::new(
            s3_client_for_endpoint(
                &s3.endpoint(),
                devstack::s3::ACCESS_KEY,
                devstack::s3::SECRET_KEY,
            ),
            BUCKET,
        );
        Ok(Stack {
            snowpipe: Snowpipe::new(client.clone(), format!("{DATABASE}.{SCHEMA}.{PIPE}")),
            sql: SqlApi::new(client, context),
            store,
            s3,
            snowflake: Arc::new(snowflake),
            key_path,
        })
    }

    /// The variables that point the real Lambda binaries (and `pipectl sql`) at the stand-ins.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.s3.endpoint()),
            ("AWS_ACCESS_KEY_ID", devstack::s3::ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", devstack::s3::SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("BUCKET", BUCKET.into()),
            ("PREFIX", PREFIX.into()),
            ("SNOWFLAKE_ACCOUNT", ACCOUNT.into()),
            ("SNOWFLAKE_USER", USER.into()),
            ("SNOWFLAKE_PIPE", format!("{DATABASE}.{SCHEMA}.{PIPE}")),
            (
                "SNOWFLAKE_PRIVATE_KEY_PATH",
                self.key_path.display().to_string(),
            ),
            ("SNOWFLAKE_BASE_URL", self.snowflake.base_url().to_owned()),
            ("SNOWFLAKE_DATABASE", DATABASE.into()),
            ("SNOWFLAKE_SCHEMA", SCHEMA.into()),
            ("SNOWFLAKE_WAREHOUSE", WAREHOUSE.into()),
        ]
    }
}

/// The key in `state/dev-key.p8`, made on the first run (a fresh 2048-bit RSA key, never used
/// anywhere else).
fn throwaway_key(state: &Path) -> Result<(KeyPair, PathBuf), String> {
    let path = state.join("dev-key.p8");
    if !path.is_file() {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| format!("generating a key failed: {e}"))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| format!("encoding the key failed: {e}"))?;
        std::fs::write(&path, pem.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key = KeyPair::from_pem(&pem, None).map_err(|e| e.to_string())?;
    Ok((key, path))
}
