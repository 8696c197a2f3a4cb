//! The stand-in through the real Snowflake client: JWTs checked, files loaded with COPY's
//! semantics, the shipped task bodies run over emulated streams, history answered.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{ANN, fixture, soon};
use snowflake::{Connection, KeyPair, RetryPolicy, SnowflakeClient, SqlApi, StatementContext};
use snowflake_standin::RunState;

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_file_flows_through_raw_into_customer_and_history() {
    let f = fixture().await;
    let loads = f.load("a.csv", "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n2,Bob,Ray,bob@x.io,2 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n").await;
    assert_eq!(loads[0].status, "LOADED", "{:?}", loads[0].first_error);
    let runs = f.standin.run_tasks(Utc::now());
    let states: Vec<_> = runs
        .iter()
        .map(|r| (r.task.as_str(), r.state, r.error.clone()))
        .collect();
    assert_eq!(states, [("TSK_SCD_RAW", RunState::Succeeded, None)]);
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER").await, [["2"]]);
    assert_eq!(
        f.sql("SELECT count(*) FROM CUSTOMER_HISTORY WHERE IS_CURRENT")
            .await,
        [["2"]]
    );
    let again = f.standin.run_tasks(Utc::now());
    assert!(
        again.iter().all(|r| r.state == RunState::Skipped),
        "{again:?}"
    );
}

/// `SELECT 1` as `user`, signing with `key`: the error it meets.
async fn refused(f: &common::Fixture, user: &str, key: &str) -> snowflake::SnowflakeError {
    let connection = Connection {
        account: "standin".into(),
        user: user.into(),
        jwt_account: None,
        base_url: Some(f.standin.base_url().to_owned()),
    };
    let key = KeyPair::from_pem(key, None).unwrap();
    let client = SnowflakeClient::connect(&connection, key, RetryPolicy::default()).unwrap();
    SqlApi::new(Arc::new(client), StatementContext::default())
        .query("SELECT 1", &[], Duration::from_secs(5), soon())
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_signed_by_another_users_key_is_refused_with_390144() {
    let f = fixture().await;
    // The ingest user's key, presented as the monitor user.
    let err = refused(&f, common::MONITOR_USER, common::INGEST_KEY).await;
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("390144"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_nobody_created_is_refused_with_390144() {
    let f = fixture().await;
    let err = refused(&f, "intruder", common::ADMIN_KEY).await;
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("390144"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_row_skips_the_whole_file_and_records_its_first_error() {
    let f = fixture().await;
    let loads = f.load("bad.csv", "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\nx,Bob,Ray,bob@x.io,2 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n").await;
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
    f.load("a.csv", ANN).await;
    assert_eq!(f.submit(&["a.csv"]).await, ["a.csv"]);
    assert!(f.standin.load_pending(Utc::now()).is_empty());
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER_RAW").await, [["1"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_load_history_survives_a_restart_on_the_same_warehouse_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let first = common::start(dir, std::path::Path::new(common::SQL_DIR), true)
        .await
        .unwrap();
    first.stage("a.csv", ANN);
    first.submit(&["a.csv"]).await;
    assert_eq!(first.standin.load_pending(Utc::now()).len(), 1);
    let common::Fixture { standin, dir, .. } = first;
    standin.shutdown().await;

    let second = common::start(dir, std::path::Path::new(common::SQL_DIR), true)
        .await
        .unwrap();
    assert_eq!(second.dir.path(), path);
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
    f.stage("good.csv", ANN);
    f.submit(&["bad.csv", "good.csv"]).await;
    let start = Utc::now() - chrono::TimeDelta::minutes(1);
    f.standin.load_pending(Utc::now());
    f.standin
        .fail_next_task_run("TSK_SCD_RAW", "injected failure");
    f.standin.run_tasks(Utc::now());
    let target = MonitorTarget::pipeline_objects("CUSTOMERS", "RAW");
    let health = check_health(&f.monitor_api(), &target, start, Utc::now(), soon())
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

#[tokio::test(flavor = "multi_thread")]
async fn a_short_row_loads_nulls_and_fails_only_on_a_not_null_column() {
    // ERROR_ON_COLUMN_COUNT_MISMATCH is ignored by a COPY with a transformation: the short row
    // reads NULL for its missing fields, and UPDATED_AT is NOT NULL.
    let f = fixture().await;
    let loads = f.load("short.csv", "1,Ann,Lee\n").await;
    assert_eq!(loads[0].status, "LOAD_FAILED");
    assert_eq!(
        loads[0].first_error.as_deref(),
        Some("NULL result in a non-nullable column UPDATED_AT")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_row_loads_its_first_ten_fields() {
    let f = fixture().await;
    f.stage(
        "long.csv",
        "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U,extra,fields\n",
    );
    f.submit(&["long.csv"]).await;
    let loads = f.standin.load_pending(Utc::now());
    assert_eq!(loads[0].status, "LOADED", "{:?}", loads[0].first_error);
    assert_eq!(
        f.sql("SELECT OP, _FILE_ROW_NUMBER FROM CUSTOMER_RAW").await,
        [["U", "1"]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_declared_timestamp_format_refuses_fractional_seconds() {
    let f = fixture().await;
    f.stage(
        "fraction.csv",
        "1,Ann,Lee,ann@x.io,1 Main St,Oslo,,NO,2026-11-23T10:00:00.5Z,U\n",
    );
    f.submit(&["fraction.csv"]).await;
    let loads = f.standin.load_pending(Utc::now());
    assert_eq!(
        loads[0].first_error.as_deref(),
        Some("Timestamp '2026-11-23T10:00:00.5Z' is not recognized")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn loaded_at_is_the_scan_time_of_the_load() {
    let f = fixture().await;
    f.stage("a.csv", ANN);
    f.submit(&["a.csv"]).await;
    let scanned: chrono::DateTime<Utc> = "2026-12-01T08:00:00Z".parse().unwrap();
    f.standin.load_pending(scanned);
    let at = "TIMESTAMPTZ '2026-12-01 08:00:00+00'";
    assert_eq!(
        f.sql(&format!(
            "SELECT count(*) FROM CUSTOMER_RAW WHERE _LOADED_AT = {at}"
        ))
        .await,
        [["1"]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pipe_names_are_case_sensitive() {
    let f = fixture().await;
    let lower = snowflake::Snowpipe::new(f.ingest.clone(), "customers.raw.customer_pipe");
    let err = lower.insert_report(None, soon()).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let exact = snowflake::Snowpipe::new(f.ingest.clone(), common::PIPE);
    assert!(exact.insert_report(None, soon()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn load_history_scan_reports_the_range_of_its_entries() {
    let f = fixture().await;
    let start = Utc::now() - chrono::TimeDelta::minutes(1);
    f.load("a.csv", ANN).await;
    let pipe = snowflake::Snowpipe::new(f.ingest.clone(), common::PIPE);
    let history = pipe.load_history_scan(start, None, soon()).await.unwrap();
    assert_eq!(history.files.len(), 1);
    assert!(history.range_start_time.is_some());
    assert_eq!(history.range_start_time, history.range_end_time);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_result_still_types_its_columns() {
    let f = fixture().await;
    let result = SqlApi::new(
        f.admin.clone(),
        common::context(Some("CUSTOMER_PIPELINE_ADMIN")),
    )
    .query(
        "SELECT CUSTOMER_ID, UPDATED_AT, IS_DELETED FROM CUSTOMER WHERE FALSE",
        &[],
        Duration::from_secs(10),
        soon(),
    )
    .await
    .unwrap();
    let types: Vec<&str> = result.columns.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(types, ["fixed", "timestamp_ntz", "boolean"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_statement_handle_is_a_422_with_code_000709() {
    let f = fixture().await;
    let token = f.admin.signer().token().unwrap();
    let answer = reqwest::Client::new()
        .get(format!(
            "{}/api/v2/statements/01234567-0000-0000-0000-000000000000",
            f.standin.base_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 422);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "000709");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_syntax_error_answers_with_snowflakes_code() {
    let f = fixture().await;
    let err = f
        .sql_as(&f.admin, Some("CUSTOMER_PIPELINE_ADMIN"), "SELEC 1")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("001003"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_leaves_a_stream_as_it_was_and_committed_dml_consumes_it() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    let pending = "SELECT count(*) FROM CUSTOMER_RAW_CHANGES";
    assert_eq!(f.sql(pending).await, [["1"]]);
    assert_eq!(
        f.sql(pending).await,
        [["1"]],
        "a query alone never moves the offset"
    );
    f.sql("CREATE TABLE SEEN (CUSTOMER_ID NUMBER(38, 0))").await;
    f.sql("INSERT INTO SEEN SELECT CUSTOMER_ID FROM CUSTOMER_RAW_CHANGES")
        .await;
    assert_eq!(f.sql(pending).await, [["0"]]);
    assert_eq!(f.sql("SELECT count(*) FROM SEEN").await, [["1"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_that_fails_rolls_back_its_transaction_and_keeps_the_stream() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    f.sql("CREATE TABLE SEEN (CUSTOMER_ID NUMBER(38, 0))").await;
    let block = "EXECUTE IMMEDIATE $$
        BEGIN
            BEGIN TRANSACTION;
            INSERT INTO SEEN SELECT CUSTOMER_ID FROM CUSTOMER_RAW_CHANGES;
            INSERT INTO SEEN SELECT NO_SUCH_COLUMN FROM CUSTOMER_RAW;
            COMMIT;
        EXCEPTION
            WHEN OTHER THEN
                ROLLBACK;
                RAISE;
        END;
    $$";
    let err = f
        .sql_as(&f.admin, Some("CUSTOMER_PIPELINE_ADMIN"), block)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("NO_SUCH_COLUMN"), "{err}");
    assert_eq!(f.sql("SELECT count(*) FROM SEEN").await, [["0"]]);
    assert_eq!(
        f.sql("SELECT count(*) FROM CUSTOMER_RAW_CHANGES").await,
        [["1"]]
    );
}
