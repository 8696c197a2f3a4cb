//! `pipectl doctor` as a user runs it, against the scripted Snowflake fake and the S3 stand-in.

use std::process::Output;

use devstack::monitor_replies::{result, shown};
use devstack::snowflake_fake::Reply;
use devstack::{S3StandIn, SnowflakeFake};
use serde_json::json;

const KEY_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../snowflake/tests/data/test-only-rsa.p8"
);
const FINGERPRINT: &str = include_str!("../../snowflake/tests/data/test-only-rsa.fingerprint");

fn signed_in(warehouse: Option<&str>) -> Reply {
    signed_in_as("MONITOR", "CUSTOMER_PIPELINE_MONITOR", warehouse)
}

/// The answer to doctor's `SELECT CURRENT_USER(), CURRENT_ROLE(), CURRENT_WAREHOUSE()`.
fn signed_in_as(user: &str, role: &str, warehouse: Option<&str>) -> Reply {
    result(
        &[
            ("USER_NAME", "text"),
            ("ROLE_NAME", "text"),
            ("WAREHOUSE_NAME", "text"),
        ],
        json!([[user, role, warehouse]]),
    )
}

/// SHOW GRANTS TO ROLE rows (privilege, name).
fn grants(rows: &[(&str, &str)]) -> Reply {
    let rows: Vec<_> = rows.iter().map(|(p, n)| json!([p, n])).collect();
    result(&[("privilege", "text"), ("name", "text")], json!(rows))
}

/// What sql/06_grants.sql gives the monitor role.
const MONITOR_GRANTS: [(&str, &str); 8] = [
    ("USAGE", "CUSTOMERS"),
    ("USAGE", "CUSTOMERS.RAW"),
    ("USAGE", "PIPELINE_WH"),
    ("MONITOR", "CUSTOMERS.RAW.TSK_SCD_RAW"),
    ("MONITOR", "CUSTOMERS.RAW.CUSTOMER_PIPE"),
    ("REFERENCES", "CUSTOMERS.RAW.CUSTOMER_RAW"),
    ("SELECT", "CUSTOMERS.RAW.CUSTOMER_RAW_CHANGES"),
    ("SELECT", "CUSTOMERS.RAW.PIPELINE_MERGE_LAG"),
];

/// The monitor role's grants, and USAGE on the connection test's warehouse too.
fn monitor_grants() -> Reply {
    let mut rows = MONITOR_GRANTS.to_vec();
    rows.push(("USAGE", "DEV_WH"));
    grants(&rows)
}

fn pipe_running() -> Reply {
    devstack::monitor_replies::pipe_status(json!({"executionState": "RUNNING"}))
}

/// The replies of a monitor configuration's checks, in order.
fn monitor_round(signed: Reply, role_grants: Reply, tasks: Reply) -> Vec<Reply> {
    vec![signed, role_grants, pipe_running(), tasks]
}

fn insert_report() -> Reply {
    Reply::status(
        200,
        r#"{"pipe":"CUSTOMERS.RAW.CUSTOMER_PIPE","completeResult":true,"nextBeginMark":"1_0","files":[]}"#,
    )
}

async fn doctor(fake: &SnowflakeFake, s3: &S3StandIn, extra: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pipectl"));
    cmd.env_clear()
        .args(["doctor", "--s3-endpoint", &s3.endpoint()])
        .env("SNOWFLAKE_ACCOUNT", "xy12345")
        .env("SNOWFLAKE_USER", "MONITOR")
        .env("SNOWFLAKE_PRIVATE_KEY_PATH", KEY_PATH)
        .env("SNOWFLAKE_BASE_URL", fake.base_url())
        .env("SNOWFLAKE_PIPE", "CUSTOMERS.RAW.CUSTOMER_PIPE")
        .env("SNOWFLAKE_ROLE", "CUSTOMER_PIPELINE_MONITOR")
        .env("BUCKET", "landing")
        .env("AWS_ACCESS_KEY_ID", devstack::s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", devstack::s3::SECRET_KEY)
        .envs(extra.iter().copied());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn started_tasks() -> Reply {
    shown("state", json!([["TSK_SCD_RAW", "started"]]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_setup_passes_every_check() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let fake = SnowflakeFake::start(monitor_round(
        signed_in(Some("PIPELINE_WH")),
        monitor_grants(),
        started_tasks(),
    ))
    .await
    .unwrap();
    let out = doctor(&fake, &s3, &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for line in [
        format!(
            "ok    key       {KEY_PATH} readable, fingerprint {}",
            FINGERPRINT.trim()
        ),
        "ok    auth      JWT accepted: user MONITOR, role CUSTOMER_PIPELINE_MONITOR".into(),
        "ok    warehouse PIPELINE_WH in use".into(),
        "ok    grants    role CUSTOMER_PIPELINE_MONITOR holds the 8 privileges it needs".into(),
        "ok    pipe      CUSTOMERS.RAW.CUSTOMER_PIPE is RUNNING".into(),
        "ok    tasks     TSK_SCD_RAW started in CUSTOMERS.RAW".into(),
        "ok    bucket    s3://landing/stream_data/ reachable".into(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in\n{stdout}");
    }
    assert_eq!(
        fake.seen()[1].json()["statement"],
        "SHOW GRANTS TO ROLE CUSTOMER_PIPELINE_MONITOR"
    );
    assert_eq!(
        fake.seen()[3].json()["statement"],
        "SHOW TASKS IN SCHEMA CUSTOMERS.RAW"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_grant_is_named_as_the_statement_that_adds_it() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let without_references: Vec<(&str, &str)> = MONITOR_GRANTS
        .into_iter()
        .filter(|(privilege, _)| *privilege != "REFERENCES")
        .collect();
    let without_references = grants(&without_references);
    let fake = SnowflakeFake::start(monitor_round(
        signed_in(Some("PIPELINE_WH")),
        without_references,
        started_tasks(),
    ))
    .await
    .unwrap();
    let out = doctor(&fake, &s3, &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  grants    role CUSTOMER_PIPELINE_MONITOR lacks 1 privilege(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "GRANT REFERENCES ON TABLE CUSTOMERS.RAW.CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_MONITOR; -- COPY_HISTORY"
        ),
        "{stdout}"
    );
}

/// What sql/06_grants.sql and 01 grant the ingest role, as SHOW GRANTS lists them.
const INGEST_GRANTS: [(&str, &str); 8] = [
    ("USAGE", "CUSTOMERS"),
    ("USAGE", "CUSTOMERS.RAW"),
    ("OPERATE", "CUSTOMERS.RAW.CUSTOMER_PIPE"),
    ("MONITOR", "CUSTOMERS.RAW.CUSTOMER_PIPE"),
    ("USAGE", "CUSTOMERS.RAW.CUSTOMER_STAGE"),
    ("USAGE", "CUSTOMERS.RAW.CUSTOMER_CSV"),
    ("INSERT", "CUSTOMERS.RAW.CUSTOMER_RAW"),
    ("SELECT", "CUSTOMERS.RAW.CUSTOMER_RAW"),
];

#[tokio::test(flavor = "multi_thread")]
async fn an_ingest_configuration_checks_the_snowpipe_grants_and_no_queries() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let who = signed_in_as("INGEST", "CUSTOMER_PIPELINE_INGEST", None);
    let fake = SnowflakeFake::start(vec![who, grants(&INGEST_GRANTS), insert_report()])
        .await
        .unwrap();
    let out = doctor(&fake, &s3, &[("SNOWFLAKE_ROLE", "")]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "skip  warehouse skipped: the ingest user runs no queries",
        "ok    grants    role CUSTOMER_PIPELINE_INGEST holds the 8 privileges it needs",
        "ok    pipe      CUSTOMERS.RAW.CUSTOMER_PIPE visible to the REST API",
        "skip  tasks     skipped: the ingest user does not watch tasks",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_set_up_before_the_file_format_grant_is_told_to_grant_it() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let who = signed_in_as("INGEST", "CUSTOMER_PIPELINE_INGEST", None);
    let earlier: Vec<(&str, &str)> = INGEST_GRANTS
        .into_iter()
        .filter(|(_, object)| !object.ends_with("CUSTOMER_CSV"))
        .collect();
    let fake = SnowflakeFake::start(vec![who, grants(&earlier), insert_report()])
        .await
        .unwrap();
    let out = doctor(&fake, &s3, &[("SNOWFLAKE_ROLE", "")]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "GRANT USAGE ON FILE FORMAT CUSTOMERS.RAW.CUSTOMER_CSV TO ROLE CUSTOMER_PIPELINE_INGEST;"
        ),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_jwt_explains_how_to_register_the_key() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let refused = r#"{"code":"390144","message":"JWT token is invalid."}"#;
    let fake = SnowflakeFake::start(vec![
        Reply::status(401, refused),
        Reply::status(401, refused),
    ])
    .await
    .unwrap();
    let out = doctor(&fake, &s3, &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  auth"), "{stdout}");
    assert!(
        stdout.contains(&format!("RSA_PUBLIC_KEY_FP is {}", FINGERPRINT.trim())),
        "{stdout}"
    );
    assert!(stdout.contains("pipectl key --user MONITOR"), "{stdout}");
    assert!(
        stdout.contains("skip  pipe      skipped: not signed in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    bucket"),
        "the bucket is checked anyway: {stdout}"
    );
    assert!(
        !stdout.contains("PRIVATE KEY") && !stdout.contains("eyJ"),
        "no key or token: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_task_missing_warehouse_and_bucket_are_each_explained() {
    let s3 = S3StandIn::start_in_temp_dir(&["other"]).await.unwrap();
    let tasks = shown("state", json!([["TSK_SCD_RAW", "suspended"]]));
    let fake = SnowflakeFake::start(monitor_round(signed_in(None), monitor_grants(), tasks))
        .await
        .unwrap();
    let out = doctor(&fake, &s3, &[("MONITOR_TASKS", "TSK_SCD_RAW,TSK_SCD_HIST")]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  warehouse no warehouse in use"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  tasks     TSK_SCD_RAW is suspended; TSK_SCD_HIST does not exist"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  bucket    listing s3://landing failed: NoSuchBucket"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_the_settings_from_a_snowflake_cli_connection() {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let fake = SnowflakeFake::start(monitor_round(
        signed_in(Some("DEV_WH")),
        monitor_grants(),
        started_tasks(),
    ))
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("connections.toml"),
        format!(
            "[dev]\naccount = \"myorg-dev\"\nuser = \"ALICE\"\nprivate_key_file = \"{KEY_PATH}\"\nwarehouse = \"DEV_WH\"\n"
        ),
    )
    .unwrap();
    let home_path = home.path().to_str().unwrap();
    let out = doctor(
        &fake,
        &s3,
        &[
            ("SNOWFLAKE_HOME", home_path),
            ("SNOWFLAKE_DEFAULT_CONNECTION_NAME", "dev"),
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok    settings  from connection 'dev' in "),
        "{stdout}"
    );
    let sent = fake.seen()[0].json();
    assert_eq!(sent["warehouse"], "DEV_WH");
}
