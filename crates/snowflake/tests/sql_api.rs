//! The SQL API v2 client against the scripted fake: the request it sends, polling, partitions,
//! failures, resends and the deadline.

use std::sync::Arc;
use std::time::Duration;

use devstack::SnowflakeFake;
use devstack::snowflake_fake::Reply;
use snowflake::sql_api::Value;
use snowflake::{
    Binding, Connection, KeyPair, RetryPolicy, SnowflakeClient, SnowflakeError, SqlApi,
    StatementContext,
};
use tokio::time::Instant;

const KEY: &str = include_str!("data/test-only-rsa.p8");

const RESULT: &str = r#"{
  "statementHandle": "01b2-h",
  "resultSetMetaData": {
    "numRows": 2, "format": "jsonv2",
    "rowType": [{"name": "NAME", "type": "text"}, {"name": "RUNS", "type": "fixed", "scale": 0},
                {"name": "LAST_RUN", "type": "timestamp_ntz"}],
    "partitionInfo": [{"rowCount": 2}]
  },
  "data": [["TSK_SCD_RAW", "3", "1795428300.000000000"], ["TSK_ARCHIVER", "1", null]]
}"#;

fn api(fake: &SnowflakeFake) -> SqlApi {
    let connection = Connection {
        account: "xy12345".into(),
        user: "monitor".into(),
        jwt_account: None,
        base_url: Some(fake.base_url().to_owned()),
    };
    let policy = RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(50),
        attempt_timeout: Duration::from_secs(2),
    };
    let client =
        SnowflakeClient::connect(&connection, KeyPair::from_pem(KEY, None).unwrap(), policy)
            .unwrap();
    let context = StatementContext {
        database: Some("CUSTOMERS".into()),
        schema: Some("RAW".into()),
        warehouse: Some("PIPELINE_WH".into()),
        role: Some("CUSTOMER_PIPELINE_MONITOR".into()),
    };
    SqlApi::new(Arc::new(client), context)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test]
async fn sends_the_statement_with_context_and_typed_bindings() {
    let fake = SnowflakeFake::start(vec![Reply::status(200, RESULT)])
        .await
        .unwrap();
    let bindings = [Binding::Text("TSK_SCD_RAW".into()), Binding::Fixed(10)];
    let result = api(&fake)
        .query(
            "SELECT ? AS NAME, ? AS N",
            &bindings,
            Duration::from_secs(30),
            soon(),
        )
        .await
        .unwrap();
    let req = &fake.seen()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/api/v2/statements")
    );
    assert!(uuid::Uuid::parse_str(req.query_value("requestId").unwrap()).is_ok());
    assert_eq!(req.query_value("retry"), None);
    assert_eq!(
        req.headers["x-snowflake-authorization-token-type"],
        "KEYPAIR_JWT"
    );
    assert!(
        req.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("customer-pipeline-snowflake/")
    );
    let body = req.json();
    assert_eq!(body["statement"], "SELECT ? AS NAME, ? AS N");
    assert_eq!(body["timeout"], 30);
    assert_eq!(
        (body["database"].as_str(), body["schema"].as_str()),
        (Some("CUSTOMERS"), Some("RAW"))
    );
    assert_eq!(body["warehouse"], "PIPELINE_WH");
    assert_eq!(body["role"], "CUSTOMER_PIPELINE_MONITOR");
    assert_eq!(
        body["bindings"]["1"],
        serde_json::json!({"type": "TEXT", "value": "TSK_SCD_RAW"})
    );
    assert_eq!(
        body["bindings"]["2"],
        serde_json::json!({"type": "FIXED", "value": "10"})
    );
    assert_eq!(result.rows.len(), 2);
    assert_eq!(result.get(0, "runs"), Some(&Value::Integer(3)));
    assert_eq!(
        result.get(0, "LAST_RUN"),
        Some(&Value::Timestamp("2026-11-23T10:05:00Z".parse().unwrap()))
    );
    assert_eq!(result.get(1, "LAST_RUN"), Some(&Value::Null));
}

#[tokio::test]
async fn polls_a_running_statement_until_it_finishes() {
    let running = r#"{"statementHandle":"h-1","code":"333334","message":"Asynchronous execution in progress."}"#;
    let fake = SnowflakeFake::start(vec![
        Reply::status(202, running),
        Reply::status(202, running),
        Reply::status(200, RESULT),
    ])
    .await
    .unwrap();
    let result = api(&fake)
        .query("SELECT 1", &[], Duration::from_secs(30), soon())
        .await
        .unwrap();
    assert_eq!(result.rows.len(), 2);
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("GET", "/api/v2/statements/h-1")
    );
}

#[tokio::test]
async fn fetches_and_stitches_every_partition() {
    let first = RESULT.replace(
        r#""partitionInfo": [{"rowCount": 2}]"#,
        r#""partitionInfo": [{"rowCount": 2}, {"rowCount": 1}, {"rowCount": 1}]"#,
    );
    let fake = SnowflakeFake::start(vec![
        Reply::status(200, &first),
        Reply::status(200, r#"{"data": [["P1", "5", null]]}"#),
        Reply::status(200, r#"{"data": [["P2", "6", null]]}"#),
    ])
    .await
    .unwrap();
    let result = api(&fake)
        .query("SELECT 1", &[], Duration::from_secs(30), soon())
        .await
        .unwrap();
    let names: Vec<&str> = (0..result.rows.len())
        .map(|i| result.get(i, "NAME").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(names, ["TSK_SCD_RAW", "TSK_ARCHIVER", "P1", "P2"]);
    let seen = fake.seen();
    assert_eq!(seen[1].path, "/api/v2/statements/01b2-h");
    assert_eq!(
        (
            seen[1].query_value("partition"),
            seen[2].query_value("partition")
        ),
        (Some("1"), Some("2"))
    );
}

#[tokio::test]
async fn a_failed_statement_is_a_typed_error() {
    let failure = r#"{"code":"002003","sqlState":"42S02","message":"SQL compilation error: Object 'X' does not exist.","statementHandle":"h-2"}"#;
    let fake = SnowflakeFake::start(vec![Reply::status(422, failure)])
        .await
        .unwrap();
    let err = api(&fake)
        .query("SELECT * FROM X", &[], Duration::from_secs(30), soon())
        .await
        .unwrap_err();
    match &err {
        SnowflakeError::StatementFailed {
            code,
            sql_state,
            message,
            statement_handle,
            ..
        } => {
            assert_eq!((code.as_str(), sql_state.as_str()), ("002003", "42S02"));
            assert!(message.contains("does not exist"));
            assert_eq!(statement_handle.as_deref(), Some("h-2"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.retryable());
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_resent_statement_carries_retry_true_and_the_same_request_id() {
    let fake = SnowflakeFake::start(vec![Reply::status(503, ""), Reply::status(200, RESULT)])
        .await
        .unwrap();
    api(&fake)
        .query("SELECT 1", &[], Duration::from_secs(30), soon())
        .await
        .unwrap();
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].query_value("retry"), None);
    assert_eq!(seen[1].query_value("retry"), Some("true"));
    assert_eq!(
        seen[0].query_value("requestId"),
        seen[1].query_value("requestId")
    );
}

#[tokio::test]
async fn a_statement_still_running_at_the_deadline_is_cancelled() {
    let running = r#"{"statementHandle":"h-3"}"#;
    let fake = SnowflakeFake::start(vec![Reply::status(202, running); 50])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(900);
    let err = api(&fake)
        .query(
            "SELECT SYSTEM$WAIT(60)",
            &[],
            Duration::from_secs(120),
            deadline,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, SnowflakeError::DeadlineExceeded { .. }),
        "{err}"
    );
    let seen = fake.seen();
    let cancel = seen.last().unwrap();
    assert_eq!(
        (cancel.method.as_str(), cancel.path.as_str()),
        ("POST", "/api/v2/statements/h-3/cancel")
    );
}
