//! The monitor's health checks against scripted SQL API answers, in the order the checks run:
//! task history, copy history, pipe status, SHOW TASKS, SHOW STREAMS.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use devstack::SnowflakeFake;
use devstack::monitor_replies::{
    load_failures as loads, merge_lag, pipe_status as pipe, shown, shown_tasks,
    task_failures as tasks,
};
use devstack::snowflake_fake::Reply;
use pipeline::monitor::{Health, MonitorTarget, Problem, check_health};
use serde_json::json;
use snowflake::{Connection, KeyPair, RetryPolicy, SnowflakeClient, SqlApi, StatementContext};
use tokio::time::Instant;

const KEY: &str = include_str!("../../snowflake/tests/data/test-only-rsa.p8");

fn target() -> MonitorTarget {
    MonitorTarget::pipeline_objects("CUSTOMERS", "RAW")
}

fn warehouse(fake: &SnowflakeFake) -> SqlApi {
    let connection = Connection {
        account: "xy12345".into(),
        user: "monitor".into(),
        jwt_account: None,
        base_url: Some(fake.base_url().to_owned()),
    };
    let client = SnowflakeClient::connect(
        &connection,
        KeyPair::from_pem(KEY, None).unwrap(),
        RetryPolicy::default(),
    )
    .unwrap();
    SqlApi::new(Arc::new(client), StatementContext::default())
}

fn at(ts: &str) -> DateTime<Utc> {
    ts.parse().unwrap()
}

/// The checks as a run at 10:30 makes them, looking back to 10:00.
async fn checks_from_10_to_10_30(fake: &SnowflakeFake) -> Health {
    check_health(
        &warehouse(fake),
        &target(),
        at("2026-11-23T10:00:00Z"),
        at("2026-11-23T10:30:00Z"),
        soon(),
    )
    .await
    .unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test]
async fn a_healthy_pipeline_has_no_problems() {
    let fake = SnowflakeFake::start(vec![
        tasks(json!([])),
        loads(json!([])),
        pipe(json!({"executionState": "RUNNING", "pendingFileCount": 0, "lastIngestedTimestamp": "2026-11-23T10:25:00.000Z"})),
        shown("state", json!([["TSK_SCD_RAW", "started"]])),
        shown("stale", json!([["CUSTOMER_RAW_CHANGES", "false"]])),
        merge_lag(0, None),
    ])
    .await
    .unwrap();
    let health = checks_from_10_to_10_30(&fake).await;
    assert!(health.problems.is_empty(), "{:?}", health.problems);
    assert_eq!(health.minutes_since_last_ingest, Some(5.0));
    assert_eq!(
        (health.unmerged_rows, health.merge_lag_seconds),
        (Some(0), Some(0.0))
    );
    assert_eq!(fake.seen().len(), 6);
}

#[tokio::test]
async fn reads_every_kind_of_problem_with_its_details() {
    let fake = SnowflakeFake::start(vec![
        tasks(json!([["TSK_SCD_RAW", "FAILED", "01b-q", "100038", "Numeric value 'x' is not recognized", "2026-11-23T10:01:00.000+00:00"]])),
        loads(json!([["customer_a.csv", "Load failed", "Field delimiter ',' found while expecting record delimiter", "0", "1", "2026-11-23T10:02:00.000+00:00"]])),
        pipe(json!({"executionState": "STOPPED_STAGE_DROPPED", "pendingFileCount": 3, "lastIngestedTimestamp": "2026-11-23T10:00:00.000Z"})),
        shown_tasks(json!([["TSK_SCD_RAW", "suspended", "SUSPENDED_DUE_TO_ERRORS"], ["SOMEONE_ELSES", "suspended", "SUSPENDED_DUE_TO_ERRORS"]])),
        shown("stale", json!([["SOMEONE_ELSES", "true"], ["CUSTOMER_RAW_CHANGES", "true"]])),
        // 10:28:30, 90 s before the checks' now.
        merge_lag(42, Some("1795429710.000000000")),
    ])
    .await
    .unwrap();
    let health = checks_from_10_to_10_30(&fake).await;
    assert_eq!(
        health.problems,
        vec![
            Problem::TaskFailed {
                task: "TSK_SCD_RAW".into(),
                state: "FAILED".into(),
                query_id: Some("01b-q".into()),
                error_code: Some("100038".into()),
                error_message: Some("Numeric value 'x' is not recognized".into()),
                scheduled_time: "2026-11-23T10:01:00.000+00:00".into(),
            },
            Problem::LoadFailed {
                file: "customer_a.csv".into(),
                status: "Load failed".into(),
                first_error: Some(
                    "Field delimiter ',' found while expecting record delimiter".into()
                ),
                rows_loaded: Some(0),
                errors: Some(1),
                last_load_time: "2026-11-23T10:02:00.000+00:00".into(),
            },
            Problem::PipeNotRunning {
                pipe: "CUSTOMER_PIPE".into(),
                state: "STOPPED_STAGE_DROPPED".into()
            },
            Problem::TaskSuspended {
                task: "TSK_SCD_RAW".into(),
                reason: "SUSPENDED_DUE_TO_ERRORS".into(),
            },
            Problem::StaleStream {
                stream: "CUSTOMER_RAW_CHANGES".into()
            },
        ]
    );
    assert_eq!(health.pipe_pending_files, 3);
    assert_eq!(health.minutes_since_last_ingest, Some(30.0));
    assert_eq!(
        (health.unmerged_rows, health.merge_lag_seconds),
        (Some(42), Some(90.0))
    );
    assert_eq!(health.problems[0].key(), "task:TSK_SCD_RAW:01b-q");
    assert_eq!(
        health.problems[1].key(),
        "load:customer_a.csv:2026-11-23T10:02:00.000+00:00"
    );
}

#[tokio::test]
async fn a_refused_merge_lag_view_leaves_the_other_checks_standing() {
    let refused = Reply::status(
        422,
        r#"{"code":"002003","sqlState":"42S02","message":"SQL compilation error:\nObject 'CUSTOMERS.RAW.PIPELINE_MERGE_LAG' does not exist or not authorized.","statementHandle":"h"}"#,
    );
    let fake = SnowflakeFake::start(vec![
        tasks(json!([])),
        loads(json!([])),
        pipe(json!({"executionState": "PAUSED", "pendingFileCount": 0})),
        shown("state", json!([["TSK_SCD_RAW", "started"]])),
        shown("stale", json!([])),
        refused,
    ])
    .await
    .unwrap();
    let health = checks_from_10_to_10_30(&fake).await;
    assert_eq!(
        health.problems,
        [Problem::PipeNotRunning {
            pipe: "CUSTOMER_PIPE".into(),
            state: "PAUSED".into()
        }]
    );
    assert_eq!(
        (health.unmerged_rows, health.merge_lag_seconds),
        (None, None)
    );
}

#[tokio::test]
async fn binds_values_and_keeps_windows_inside_the_history_retention() {
    let fake = SnowflakeFake::start(vec![
        tasks(json!([])),
        loads(json!([])),
        pipe(json!({"executionState": "RUNNING"})),
        shown("state", json!([])),
        shown("stale", json!([])),
        merge_lag(0, None),
    ])
    .await
    .unwrap();
    let now = at("2026-11-23T10:30:00Z");
    check_health(
        &warehouse(&fake),
        &target(),
        at("2026-10-01T00:00:00Z"),
        now,
        soon(),
    )
    .await
    .unwrap();
    let seen = fake.seen();
    let task_query = seen[0].json();
    assert!(
        task_query["statement"]
            .as_str()
            .unwrap()
            .contains("NAME IN ('TSK_SCD_RAW')")
    );
    assert_eq!(
        task_query["bindings"]["1"]["value"], "2026-11-16T10:35:00.000Z",
        "7 days back, less a margin"
    );
    assert_eq!(task_query["bindings"]["2"]["value"], "RAW");
    let copy_query = seen[1].json();
    assert_eq!(
        copy_query["bindings"]["1"]["value"],
        "CUSTOMERS.RAW.CUSTOMER_RAW"
    );
    assert_eq!(
        copy_query["bindings"]["2"]["value"], "2026-11-09T10:35:00.000Z",
        "14 days back, less a margin"
    );
    assert_eq!(
        seen[2].json()["bindings"]["1"]["value"],
        "CUSTOMERS.RAW.CUSTOMER_PIPE"
    );
    assert_eq!(
        seen[3].json()["statement"],
        "SHOW TASKS IN SCHEMA CUSTOMERS.RAW"
    );
}

/// One round whose SHOW TASKS answers `tasks`, everything else healthy.
async fn round_with_tasks(tasks: serde_json::Value) -> Health {
    let mut replies = devstack::monitor_replies::healthy_round();
    replies[3] = shown_tasks(tasks);
    let fake = SnowflakeFake::start(replies).await.unwrap();
    checks_from_10_to_10_30(&fake).await
}

#[tokio::test]
async fn a_task_an_operator_suspended_is_counted_but_not_a_problem() {
    let health = round_with_tasks(json!([["TSK_SCD_RAW", "suspended", "USER_SUSPENDED"]])).await;
    assert_eq!(health.problems, vec![]);
    assert_eq!(health.tasks_suspended_by_operator, vec!["TSK_SCD_RAW"]);
}

#[tokio::test]
async fn a_task_snowflake_suspended_after_failures_is_a_problem() {
    let health = round_with_tasks(json!([[
        "TSK_SCD_RAW",
        "suspended",
        "SUSPENDED_DUE_TO_ERRORS"
    ]]))
    .await;
    assert_eq!(
        health.problems,
        vec![Problem::TaskSuspended {
            task: "TSK_SCD_RAW".into(),
            reason: "SUSPENDED_DUE_TO_ERRORS".into(),
        }]
    );
    assert!(
        health.problems[0]
            .summary()
            .contains("ALTER TASK TSK_SCD_RAW RESUME")
    );
    assert!(health.tasks_suspended_by_operator.is_empty());
}

#[tokio::test]
async fn a_suspended_task_without_a_reason_is_a_problem() {
    let health = round_with_tasks(json!([["TSK_SCD_RAW", "suspended", null]])).await;
    assert_eq!(
        health.problems,
        vec![Problem::TaskSuspended {
            task: "TSK_SCD_RAW".into(),
            reason: "unknown".into(),
        }]
    );
}

#[tokio::test]
async fn a_failing_query_fails_the_round() {
    let failure = r#"{"code":"002003","sqlState":"02000","message":"Object does not exist","statementHandle":"h"}"#;
    let fake = SnowflakeFake::start(vec![Reply::status(422, failure)])
        .await
        .unwrap();
    let result = check_health(
        &warehouse(&fake),
        &target(),
        at("2026-11-23T10:00:00Z"),
        at("2026-11-23T10:30:00Z"),
        soon(),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn refuses_names_that_are_not_plain_identifiers() {
    let fake = SnowflakeFake::start(vec![]).await.unwrap();
    let mut bad = target();
    bad.schema = "RAW; DROP TABLE X".into();
    let err = check_health(
        &warehouse(&fake),
        &bad,
        at("2026-11-23T10:00:00Z"),
        at("2026-11-23T10:30:00Z"),
        soon(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("not a plain Snowflake identifier"),
        "{err}"
    );
    assert!(fake.seen().is_empty());
}
