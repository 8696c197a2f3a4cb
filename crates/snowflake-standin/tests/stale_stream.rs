//! A stream left unconsumed past its table's extended retention goes stale, SHOW STREAMS says
//! so, and the monitor reports it.

mod common;

use chrono::Utc;
use common::{fixture, soon};
use pipeline::monitor::{MonitorTarget, Problem, check_health};

const STREAM: &str = "CUSTOMERS.RAW.CUSTOMER_RAW_CHANGES";

async fn stale_streams_the_monitor_sees(f: &common::Fixture) -> Vec<Problem> {
    let target = MonitorTarget::pipeline_objects("CUSTOMERS", "RAW");
    let since = Utc::now() - chrono::TimeDelta::minutes(5);
    let health = check_health(&f.monitor_api(), &target, since, Utc::now(), soon())
        .await
        .unwrap();
    health
        .problems
        .into_iter()
        .filter(|p| matches!(p, Problem::StaleStream { .. }))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_unconsumed_for_more_than_14_days_is_stale_and_reported() {
    let f = fixture().await;
    // Rows wait (the task suspended, say): nothing keeps the stream fresh.
    f.load("a.csv", common::ANN).await;
    f.standin.engine().age_stream(STREAM, 15).unwrap();
    let shown = f.sql("SHOW STREAMS IN SCHEMA CUSTOMERS.RAW").await;
    assert_eq!(shown[0][6], "true", "{shown:?}");
    assert_eq!(
        stale_streams_the_monitor_sees(&f).await,
        [Problem::StaleStream {
            stream: "CUSTOMER_RAW_CHANGES".into()
        }]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_consumed_within_14_days_is_not_stale() {
    let f = fixture().await;
    f.standin.engine().age_stream(STREAM, 13).unwrap();
    assert_eq!(stale_streams_the_monitor_sees(&f).await, []);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_stream_that_the_task_checks_does_not_go_stale() {
    let f = fixture().await;
    f.standin.engine().age_stream(STREAM, 15).unwrap();
    // The task's WHEN finds no data, which keeps the stream fresh.
    f.standin.run_tasks(Utc::now());
    assert_eq!(stale_streams_the_monitor_sees(&f).await, []);
}
