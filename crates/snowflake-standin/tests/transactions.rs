//! A task run's transaction against a load that commits between its statements: the stream is
//! read as of the transaction's start and its offset moves only that far, so the late rows wait
//! for the next run instead of being consumed unread.

mod common;

use chrono::Utc;
use common::{ANN, fixture};
use snowflake_standin::RunState;

#[tokio::test(flavor = "multi_thread")]
async fn a_load_committed_during_a_run_is_merged_by_the_next_run() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    // After statement 1 (the working set, which reads the stream), another session loads
    // customer 2.
    f.standin.commit_during_next_task_run(
        1,
        "INSERT INTO CUSTOMER_RAW VALUES (2, 'Bob', 'Ray', 'bob@x.io', '2 Main St', 'Oslo', NULL,
         'NO', TIMESTAMP '2026-11-23 10:00:00', 'U', 'b.csv', 1, now())",
    );
    let runs = f.standin.run_tasks(Utc::now());
    assert_eq!(runs[0].state, RunState::Succeeded, "{runs:?}");
    assert_eq!(f.sql("SELECT CUSTOMER_ID FROM CUSTOMER").await, [["1"]]);
    assert!(
        f.standin.streams_have_data().unwrap(),
        "customer 2 still waits"
    );
    let runs = f.standin.run_tasks(Utc::now());
    assert_eq!(runs[0].state, RunState::Succeeded, "{runs:?}");
    assert_eq!(
        f.sql("SELECT CUSTOMER_ID FROM CUSTOMER ORDER BY CUSTOMER_ID")
            .await,
        [["1"], ["2"]]
    );
    assert_eq!(
        f.sql("SELECT count(*) FROM CUSTOMER_HISTORY").await,
        [["2"]]
    );
}
