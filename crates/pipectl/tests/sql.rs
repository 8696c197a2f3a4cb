//! `pipectl sql` as a user runs it, against the scripted Snowflake fake.

use std::process::Output;

use devstack::SnowflakeFake;
use devstack::snowflake_fake::Reply;

const KEY_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../snowflake/tests/data/test-only-rsa.p8"
);
const RESULT: &str = r#"{
  "statementHandle": "h",
  "resultSetMetaData": {"numRows": 2, "format": "jsonv2",
    "rowType": [{"name": "NAME", "type": "text"}, {"name": "RUNS", "type": "fixed", "scale": 0},
                {"name": "LAST_RUN", "type": "timestamp_ntz"}],
    "partitionInfo": [{"rowCount": 2}]},
  "data": [["TSK_SCD_RAW", "3", "1795428300.000000000"], ["TSK_ARCHIVER", "12", null]]
}"#;

async fn pipectl(fake: &SnowflakeFake, args: &[&str], key_path: &str) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pipectl"));
    cmd.env_clear()
        .arg("sql")
        .args(args)
        .env("SNOWFLAKE_ACCOUNT", "xy12345")
        .env("SNOWFLAKE_USER", "monitor")
        .env("SNOWFLAKE_PRIVATE_KEY_PATH", key_path)
        .env("SNOWFLAKE_BASE_URL", fake.base_url())
        .env("SNOWFLAKE_DATABASE", "CUSTOMERS");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn prints_the_rows_as_a_table() {
    let fake = SnowflakeFake::start(vec![Reply::status(200, RESULT)])
        .await
        .unwrap();
    let out = pipectl(&fake, &["SELECT NAME, RUNS, LAST_RUN FROM X"], KEY_PATH).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "NAME         | RUNS | LAST_RUN");
    assert_eq!(lines[2], "TSK_SCD_RAW  | 3    | 2026-11-23T10:05:00Z");
    assert_eq!(lines[3], "TSK_ARCHIVER | 12   | NULL");
    assert!(text(&out.stderr).contains("(2 rows)"));
    assert_eq!(fake.seen()[0].json()["database"], "CUSTOMERS");
}

#[tokio::test(flavor = "multi_thread")]
async fn prints_json_objects_with_json_flag() {
    let fake = SnowflakeFake::start(vec![Reply::status(200, RESULT)])
        .await
        .unwrap();
    let out = pipectl(&fake, &["--json", "SELECT 1"], KEY_PATH).await;
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows[0],
        serde_json::json!({"NAME": "TSK_SCD_RAW", "RUNS": 3, "LAST_RUN": "2026-11-23T10:05:00Z"})
    );
    assert_eq!(rows[1]["LAST_RUN"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_statement_exits_one_with_snowflakes_message() {
    let failure = r#"{"code":"001003","sqlState":"42000","message":"SQL compilation error: syntax error","statementHandle":"h"}"#;
    let fake = SnowflakeFake::start(vec![Reply::status(422, failure)])
        .await
        .unwrap();
    let out = pipectl(&fake, &["SELEC 1"], KEY_PATH).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("001003") && stderr.contains("syntax error"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_key_exits_two_before_calling_snowflake() {
    let fake = SnowflakeFake::start(vec![]).await.unwrap();
    let out = pipectl(&fake, &["SELECT 1"], "/no/such/key.p8").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the private key /no/such/key.p8"));
    assert!(fake.seen().is_empty());
}
