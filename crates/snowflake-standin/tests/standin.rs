//! The stand-in through the real Snowflake client: JWTs checked, files loaded with COPY's
//! semantics, the shipped task bodies run over emulated streams, history answered.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use snowflake::{
    Connection, KeyPair, RetryPolicy, SnowflakeClient, Snowpipe, SqlApi, StagedFile,
    StatementContext,
};
use snowflake_standin::{Options, SnowflakeStandIn};
use tokio::time::Instant;

const KEY: &str = include_str!("../../snowflake/tests/data/test-only-rsa.p8");
const HEADER: &str =
    "customer_id,first_name,last_name,email,street,city,state,country,updated_at,op\n";

struct Fixture {
    _dir: Option<tempfile::TempDir>,
    stage_dir: std::path::PathBuf,
    standin: SnowflakeStandIn,
    client: Arc<SnowflakeClient>,
}

/// A stand-in with an in-memory warehouse over a temporary stage folder.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut f = fixture_in(dir.path(), None).await;
    f._dir = Some(dir);
    f
}

/// A stand-in over `dir/stage`, keeping its warehouse in `database_file` if given.
async fn fixture_in(dir: &std::path::Path, database_file: Option<std::path::PathBuf>) -> Fixture {
    let stage_dir = dir.join("stage");
    std::fs::create_dir_all(&stage_dir).unwrap();
    let options = Options {
        database_file,
        sql_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql").into(),
        database: "CUSTOMERS".into(),
        schema: "RAW".into(),
        pipe: "CUSTOMER_PIPE".into(),
        table: "CUSTOMER_RAW".into(),
        stage_dir: stage_dir.clone(),
        port: 0,
    };
    let standin = SnowflakeStandIn::start(options).await.unwrap();
    let key = KeyPair::from_pem(KEY, None).unwrap();
    standin
        .register_user("standin", "pipeline", key.public_key_base64())
        .unwrap();
    let connection = Connection {
        account: "standin".into(),
        user: "pipeline".into(),
        jwt_account: None,
        base_url: Some(standin.base_url().to_owned()),
    };
    let client = SnowflakeClient::connect(&connection, key, RetryPolicy::default()).unwrap();
    Fixture {
        stage_dir,
        _dir: None,
        standin,
        client: Arc::new(client),
    }
}

impl Fixture {
    fn stage(&self, name: &str, rows: &str) {
        std::fs::write(self.stage_dir.join(name), format!("{HEADER}{rows}")).unwrap();
    }

    /// Submits `names` with insertFiles; returns the paths the pipe skipped as already seen.
    async fn submit(&self, names: &[&str]) -> Vec<String> {
        let files: Vec<StagedFile> = names
            .iter()
            .map(|n| StagedFile {
                path: (*n).into(),
                size: None,
            })
            .collect();
        let answers = Snowpipe::new(self.client.clone(), "CUSTOMERS.RAW.CUSTOMER_PIPE")
            .insert_files(&files, soon())
            .await
            .unwrap();
        answers
            .iter()
            .flat_map(|a| a.skipped_files.iter().map(|s| s.path().to_owned()))
            .collect()
    }

    async fn sql(&self, statement: &str) -> Vec<Vec<String>> {
        let api = SqlApi::new(self.client.clone(), StatementContext::default());
        let result = api
            .query(statement, &[], Duration::from_secs(10), soon())
            .await
            .unwrap();
        result
            .rows
            .iter()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect()
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_file_flows_through_raw_into_customer_and_history() {
    let f = fixture().await;
    f.stage("a.csv", "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n2,Bob,Ray,bob@x.io,2 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n");
    f.submit(&["a.csv"]).await;
    let loads = f.standin.load_pending(Utc::now());
    assert_eq!(loads[0].status, "LOADED", "{:?}", loads[0].first_error);
    let runs = f.standin.run_tasks(Utc::now());
    let states: Vec<_> = runs
        .iter()
        .map(|r| (r.task.as_str(), r.state, r.error.clone()))
        .collect();
    assert_eq!(
        states,
        [
            ("TSK_SCD_RAW", "SUCCEEDED", None),
            ("TSK_SCD_HIST", "SUCCEEDED", None)
        ]
    );
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER").await, [["2"]]);
    assert_eq!(
        f.sql("SELECT count(*) FROM CUSTOMER_HISTORY WHERE IS_CURRENT")
            .await,
        [["2"]]
    );
    let again = f.standin.run_tasks(Utc::now());
    assert!(again.iter().all(|r| r.state == "SKIPPED"), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_signed_by_an_unregistered_key_is_refused_with_390144() {
    let f = fixture().await;
    let other = KeyPair::from_pem(
        include_str!("../../snowflake/tests/data/test-only-rsa-encrypted.p8"),
        Some("test-passphrase"),
    );
    // The encrypted test key is the same key; sign as a user nobody registered instead.
    let connection = Connection {
        account: "standin".into(),
        user: "intruder".into(),
        jwt_account: None,
        base_url: Some(f.standin.base_url().to_owned()),
    };
    let client =
        SnowflakeClient::connect(&connection, other.unwrap(), RetryPolicy::default()).unwrap();
    let err = SqlApi::new(Arc::new(client), StatementContext::default())
        .query("SELECT 1", &[], Duration::from_secs(5), soon())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("390144"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_row_skips_the_whole_file_and_records_its_first_error() {
    let f = fixture().await;
    f.stage("bad.csv", "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\nx,Bob,Ray,bob@x.io,2 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n");
    f.submit(&["bad.csv"]).await;
    let loads = f.standin.load_pending(Utc::now());
    assert_eq!(loads[0].status, "LOAD_FAILED");
    assert_eq!(
        loads[0].first_error.as_deref(),
        Some("Numeric value 'x' is not recognized")
    );
    assert_eq!(loads[0].first_error_line_num, Some(3));
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER_RAW").await, [["0"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_loaded_before_is_skipped_and_reported() {
    let f = fixture().await;
    f.stage(
        "a.csv",
        "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n",
    );
    f.submit(&["a.csv"]).await;
    f.standin.load_pending(Utc::now());
    assert_eq!(f.submit(&["a.csv"]).await, ["a.csv"]);
    assert!(f.standin.load_pending(Utc::now()).is_empty());
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER_RAW").await, [["1"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_load_history_survives_a_restart_on_the_same_warehouse_file() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse.duckdb");
    let first = fixture_in(dir.path(), Some(warehouse.clone())).await;
    first.stage(
        "a.csv",
        "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n",
    );
    first.submit(&["a.csv"]).await;
    assert_eq!(first.standin.load_pending(Utc::now()).len(), 1);
    first.standin.shutdown().await;

    let second = fixture_in(dir.path(), Some(warehouse)).await;
    assert_eq!(second.submit(&["a.csv"]).await, ["a.csv"]);
    assert!(second.standin.load_pending(Utc::now()).is_empty());
    assert_eq!(
        second.sql("SELECT count(*) FROM CUSTOMER_RAW").await,
        [["1"]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_checks_read_failures_from_the_standins_history() {
    use pipeline::monitor::{MonitorTarget, Problem, check_health};
    let f = fixture().await;
    f.stage(
        "bad.csv",
        "x,Bob,Ray,bob@x.io,2 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n",
    );
    f.stage(
        "good.csv",
        "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n",
    );
    f.submit(&["bad.csv", "good.csv"]).await;
    let start = Utc::now() - chrono::TimeDelta::minutes(1);
    f.standin.load_pending(Utc::now());
    f.standin
        .fail_next_task_run("TSK_SCD_RAW", "injected failure");
    f.standin.run_tasks(Utc::now());
    let target = MonitorTarget::pipeline_objects("CUSTOMERS", "RAW");
    let api = SqlApi::new(f.client.clone(), StatementContext::default());
    let health = check_health(&api, &target, start, Utc::now(), soon())
        .await
        .unwrap();
    let kinds: Vec<&str> = health
        .problems
        .iter()
        .map(|p| match p {
            Problem::TaskFailed { .. } => "task",
            Problem::LoadFailed { .. } => "load",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["task", "load"], "{:?}", health.problems);
    let Problem::LoadFailed {
        file, first_error, ..
    } = &health.problems[1]
    else {
        unreachable!()
    };
    assert_eq!(
        (file.as_str(), first_error.as_deref()),
        ("bad.csv", Some("Numeric value 'x' is not recognized"))
    );
    assert!(health.minutes_since_last_ingest.is_some_and(|m| m < 1.0));
}
