//! The stand-in set up from `sql/` (or a changed copy of it), with a client for each user the
//! scripts create, signing with its own test-only key.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use snowflake::{
    Connection, KeyPair, RetryPolicy, SnowflakeClient, SnowflakeError, Snowpipe, SqlApi,
    StagedFile, StatementContext,
};
use snowflake_standin::{Account, Options, SnowflakeStandIn};
use tokio::time::Instant;

pub const ADMIN_KEY: &str = include_str!("../../../snowflake/tests/data/test-only-rsa.p8");
pub const INGEST_KEY: &str = include_str!("../../../snowflake/tests/data/test-only-rsa-2.p8");
pub const MONITOR_KEY: &str = include_str!("../../../snowflake/tests/data/test-only-rsa-3.p8");
pub const HEADER: &str =
    "customer_id,first_name,last_name,email,street,city,state,country,updated_at,op\n";
/// One valid row: customer 1, an upsert.
pub const ANN: &str = "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n";
pub const SQL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql");
pub const PIPE: &str = "CUSTOMERS.RAW.CUSTOMER_PIPE";
pub const INGEST_USER: &str = "CUSTOMER_PIPELINE_INGEST_USER";
pub const MONITOR_USER: &str = "CUSTOMER_PIPELINE_MONITOR_USER";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub stage_dir: PathBuf,
    pub standin: SnowflakeStandIn,
    pub admin: Arc<SnowflakeClient>,
    pub ingest: Arc<SnowflakeClient>,
    pub monitor: Arc<SnowflakeClient>,
}

/// The scripts' `-D` values, as a deployment passes them.
pub fn variables() -> BTreeMap<String, String> {
    let public = |pem: &str| {
        KeyPair::from_pem(pem, None)
            .unwrap()
            .public_key_base64()
            .to_owned()
    };
    [
        ("database", "CUSTOMERS".to_owned()),
        ("schema", "RAW".to_owned()),
        ("warehouse", "PIPELINE_WH".to_owned()),
        ("integration", "CUSTOMER_S3".to_owned()),
        ("bucket_url", "s3://landing/stream_data/".to_owned()),
        (
            "aws_role_arn",
            "arn:aws:iam::000000000000:role/test".to_owned(),
        ),
        ("admin_user", "ADMIN".to_owned()),
        ("ingest_public_key", public(INGEST_KEY)),
        ("monitor_public_key", public(MONITOR_KEY)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub fn options(dir: &Path, sql_dir: &Path, database_file: Option<PathBuf>) -> Options {
    Options {
        database_file,
        sql_dir: sql_dir.to_owned(),
        variables: variables(),
        account: Account {
            name: "standin".into(),
            admin_user: "ADMIN".into(),
            admin_public_key: KeyPair::from_pem(ADMIN_KEY, None)
                .unwrap()
                .public_key_base64()
                .to_owned(),
        },
        s3_root: dir.join("s3"),
        port: 0,
        // Every statement answers 202 first, so the client's polling runs.
        async_after: Duration::ZERO,
    }
}

/// A stand-in over the shipped `sql/`, in memory.
pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    start(dir, Path::new(SQL_DIR), false).await.unwrap()
}

/// A stand-in over `sql_dir` in `dir` (its warehouse in `dir/warehouse.duckdb` when `keep`).
pub async fn start(dir: tempfile::TempDir, sql_dir: &Path, keep: bool) -> Result<Fixture, String> {
    let stage_dir = dir.path().join("s3/landing/stream_data");
    std::fs::create_dir_all(&stage_dir).unwrap();
    let file = keep.then(|| dir.path().join("warehouse.duckdb"));
    let standin = SnowflakeStandIn::start(options(dir.path(), sql_dir, file)).await?;
    let client = |user: &str, pem: &str| {
        let connection = Connection {
            account: "standin".into(),
            user: user.into(),
            jwt_account: None,
            base_url: Some(standin.base_url().to_owned()),
        };
        let key = KeyPair::from_pem(pem, None).unwrap();
        Arc::new(SnowflakeClient::connect(&connection, key, RetryPolicy::default()).unwrap())
    };
    Ok(Fixture {
        admin: client("ADMIN", ADMIN_KEY),
        ingest: client(INGEST_USER, INGEST_KEY),
        monitor: client(MONITOR_USER, MONITOR_KEY),
        stage_dir,
        standin,
        dir,
    })
}

/// A copy of `sql/` with `edit` applied to the file `name`.
pub fn edited_sql(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let copy = dir.join("sql");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(SQL_DIR).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = if file == name { edit(&text) } else { text };
        std::fs::write(copy.join(file), text).unwrap();
    }
    copy
}

/// The pipeline's database, schema and warehouse, with `role` (None: the user's default).
pub fn context(role: Option<&str>) -> StatementContext {
    StatementContext {
        database: Some("CUSTOMERS".into()),
        schema: Some("RAW".into()),
        warehouse: Some("PIPELINE_WH".into()),
        role: role.map(str::to_owned),
    }
}

pub fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

impl Fixture {
    pub fn stage(&self, name: &str, rows: &str) {
        std::fs::write(self.stage_dir.join(name), format!("{HEADER}{rows}")).unwrap();
    }

    /// Stages `rows` as `name`, submits it as the ingest user and runs the pipe.
    pub async fn load(&self, name: &str, rows: &str) -> Vec<snowflake_standin::LoadRecord> {
        self.stage(name, rows);
        self.submit(&[name]).await;
        self.standin.load_pending(chrono::Utc::now())
    }

    /// Submits `names` with insertFiles as `client`'s user.
    pub async fn submit_as(
        &self,
        client: &Arc<SnowflakeClient>,
        names: &[&str],
    ) -> Result<Vec<String>, SnowflakeError> {
        let files: Vec<StagedFile> = names
            .iter()
            .map(|n| StagedFile {
                path: (*n).into(),
                size: None,
            })
            .collect();
        let answers = Snowpipe::new(client.clone(), PIPE)
            .insert_files(&files, soon())
            .await?;
        Ok(answers
            .iter()
            .flat_map(|a| a.skipped_files.iter().map(|s| s.path().to_owned()))
            .collect())
    }

    /// Submits as the ingest user; returns the paths the pipe skipped as already seen.
    pub async fn submit(&self, names: &[&str]) -> Vec<String> {
        self.submit_as(&self.ingest, names).await.unwrap()
    }

    /// A statement as `client`'s user with `role` (None: the default role) and the warehouse.
    pub async fn sql_as(
        &self,
        client: &Arc<SnowflakeClient>,
        role: Option<&str>,
        statement: &str,
    ) -> Result<Vec<Vec<String>>, SnowflakeError> {
        let result = SqlApi::new(client.clone(), context(role))
            .query(statement, &[], Duration::from_secs(10), soon())
            .await?;
        Ok(result
            .rows
            .iter()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect())
    }

    /// A statement as the admin user with the pipeline's admin role.
    pub async fn sql(&self, statement: &str) -> Vec<Vec<String>> {
        self.sql_as(&self.admin, Some("CUSTOMER_PIPELINE_ADMIN"), statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
    }

    /// The monitor's SQL API client, as the monitor function makes it.
    pub fn monitor_api(&self) -> SqlApi {
        SqlApi::new(
            self.monitor.clone(),
            context(Some("CUSTOMER_PIPELINE_MONITOR")),
        )
    }
}
