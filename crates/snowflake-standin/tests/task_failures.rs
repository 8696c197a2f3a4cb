//! The task's failure parameters as Snowflake documents them: SUSPEND_TASK_AFTER_NUM_FAILURES
//! suspends it after consecutive failed runs, USER_TASK_TIMEOUT_MS fails a run that takes too
//! long, and the monitor tells Snowflake's suspension from an operator's.

mod common;

use chrono::Utc;
use common::{ANN, fixture, soon};
use pipeline::monitor::{Health, MonitorTarget, Problem, check_health};
use snowflake_standin::RunState;

const BOB: &str = "2,Bob,Ray,bob@x.io,2 Main St,Oslo,,NO,2026-11-23T10:00:00Z,U\n";

/// One scheduled run that fails with an injected error.
fn failing_run(f: &common::Fixture) -> RunState {
    f.standin
        .fail_next_task_run("TSK_SCD_RAW", "injected failure");
    let runs = f.standin.run_tasks(Utc::now());
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].state
}

async fn monitor_checks(f: &common::Fixture) -> Health {
    let target = MonitorTarget::pipeline_objects("CUSTOMERS", "RAW");
    let start = Utc::now() - chrono::TimeDelta::minutes(5);
    check_health(&f.monitor_api(), &target, start, Utc::now(), soon())
        .await
        .unwrap()
}

async fn shown_state_and_reason(f: &common::Fixture) -> Vec<Vec<String>> {
    f.sql("SHOW TASKS IN SCHEMA CUSTOMERS.RAW")
        .await
        .into_iter()
        .map(|row| vec![row[7].clone(), row[10].clone()])
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_failed_runs_in_a_row_suspend_the_task_with_snowflakes_reason() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    let states: Vec<RunState> = (0..10).map(|_| failing_run(&f)).collect();
    assert_eq!(states[..9], [RunState::Failed; 9]);
    assert_eq!(states[9], RunState::FailedAndAutoSuspended);
    assert_eq!(
        shown_state_and_reason(&f).await,
        [["suspended", "SUSPENDED_DUE_TO_ERRORS"]]
    );
    assert!(
        f.standin.run_tasks(Utc::now()).is_empty(),
        "a suspended task does not run"
    );
    // Nothing is lost: the rows wait in the stream for the task's return.
    assert!(f.standin.streams_have_data().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_run_starts_the_failure_count_again() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    for _ in 0..9 {
        assert_eq!(failing_run(&f), RunState::Failed);
    }
    assert_eq!(
        f.standin.run_tasks(Utc::now())[0].state,
        RunState::Succeeded
    );
    f.load("b.csv", BOB).await;
    for _ in 0..9 {
        assert_eq!(failing_run(&f), RunState::Failed);
    }
    assert_eq!(shown_state_and_reason(&f).await[0][0], "started");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_reports_snowflakes_suspension_with_its_reason() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    for _ in 0..10 {
        failing_run(&f);
    }
    let health = monitor_checks(&f).await;
    assert!(
        health.problems.contains(&Problem::TaskSuspended {
            task: "TSK_SCD_RAW".into(),
            reason: "SUSPENDED_DUE_TO_ERRORS".into(),
        }),
        "{:?}",
        health.problems
    );
    let last_failure = health.problems.iter().find_map(|p| match p {
        Problem::TaskFailed { state, .. } if state == "FAILED_AND_AUTO_SUSPENDED" => Some(state),
        _ => None,
    });
    assert!(last_failure.is_some(), "{:?}", health.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_does_not_report_an_operators_suspension() {
    let f = fixture().await;
    f.sql("ALTER TASK TSK_SCD_RAW SUSPEND").await;
    assert_eq!(
        shown_state_and_reason(&f).await,
        [["suspended", "USER_SUSPENDED"]]
    );
    let health = monitor_checks(&f).await;
    assert_eq!(health.problems, vec![]);
    assert_eq!(health.tasks_suspended_by_operator, ["TSK_SCD_RAW"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_longer_than_user_task_timeout_ms_fails_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let sql = common::edited_sql(dir.path(), "04_scd.sql", |text| {
        text.replace(
            "USER_TASK_TIMEOUT_MS = 3600000",
            "USER_TASK_TIMEOUT_MS = 20",
        )
    });
    let f = common::start(dir, &sql, false).await.unwrap();
    // Enough rows that the first merge takes far longer than 20 ms.
    f.standin
        .query(
            "INSERT INTO CUSTOMER_RAW
             SELECT i % 50000 + 1, 'First', 'Last', 'c' || i || '@x.io', 'Street', 'Oslo', NULL,
                    'NO', TIMESTAMP '2026-01-01 00:00:00' + to_seconds(i), 'U', 'bulk.csv', i + 1,
                    now()
             FROM range(400000) AS t(i)",
        )
        .unwrap();
    let runs = f.standin.run_tasks(Utc::now());
    assert_eq!(runs[0].state, RunState::Failed, "{runs:?}");
    let message = &runs[0].error.as_ref().unwrap().1;
    assert!(message.contains("USER_TASK_TIMEOUT_MS = 20"), "{message}");
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER").await, [["0"]]);
    assert_eq!(
        f.sql("SELECT count(*) FROM CUSTOMER_SCD_WORK").await,
        [["0"]]
    );
    assert!(f.standin.streams_have_data().unwrap());
}
