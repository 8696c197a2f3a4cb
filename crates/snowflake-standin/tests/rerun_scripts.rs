//! Re-running one script of `sql/` alone keeps the grants 06 gave (CREATE OR ALTER TASK, COPY
//! GRANTS on views), and the objects 01, 02 and 04 create are owned and kept as documented.

mod common;

use common::fixture;
use snowflake_standin::catalog::{Detail, Kind};

/// A statement as the monitor user with its own role.
async fn monitor_sql(f: &common::Fixture, statement: &str) -> Result<Vec<Vec<String>>, String> {
    f.sql_as(&f.monitor, Some("CUSTOMER_PIPELINE_MONITOR"), statement)
        .await
        .map_err(|e| e.to_string())
}

/// What the monitor's checks read, each of which fails or comes back empty without its grant.
async fn monitor_can_watch_everything(f: &common::Fixture) {
    let tasks = monitor_sql(f, "SHOW TASKS IN SCHEMA CUSTOMERS.RAW")
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1, "the monitor sees the task: {tasks:?}");
    monitor_sql(
        f,
        "SELECT UNMERGED_ROWS FROM CUSTOMERS.RAW.PIPELINE_MERGE_LAG",
    )
    .await
    .unwrap();
    let streams = monitor_sql(f, "SHOW STREAMS IN SCHEMA CUSTOMERS.RAW")
        .await
        .unwrap();
    assert_eq!(streams.len(), 1, "the monitor sees the stream: {streams:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rerunning_04_alone_keeps_the_monitors_grant_on_the_task() {
    let f = fixture().await;
    f.standin.run_script("04_scd.sql").unwrap();
    monitor_can_watch_everything(&f).await;
    let shown = f.sql("SHOW TASKS IN SCHEMA CUSTOMERS.RAW").await;
    assert_eq!(shown[0][7], "started", "04 resumes the task it altered");
}

#[tokio::test(flavor = "multi_thread")]
async fn rerunning_02_and_05_alone_keeps_the_grants_on_their_views() {
    let f = fixture().await;
    f.standin.run_script("02_tables.sql").unwrap();
    f.standin.run_script("05_monitoring.sql").unwrap();
    monitor_can_watch_everything(&f).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_copy_grants_rerunning_05_loses_the_monitors_select_on_the_lag_view() {
    let dir = tempfile::tempdir().unwrap();
    let sql = common::edited_sql(dir.path(), "05_monitoring.sql", |text| {
        text.replace("COPY GRANTS\n", "")
    });
    let f = common::start(dir, &sql, false).await.unwrap();
    f.standin.run_script("05_monitoring.sql").unwrap();
    let error = monitor_sql(
        &f,
        "SELECT UNMERGED_ROWS FROM CUSTOMERS.RAW.PIPELINE_MERGE_LAG",
    )
    .await
    .unwrap_err();
    assert!(error.contains("002003"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_or_alter_refuses_a_started_task() {
    let f = fixture().await;
    let error = f
        .sql_as(
            &f.admin,
            Some("CUSTOMER_PIPELINE_ADMIN"),
            "CREATE OR ALTER TASK TSK_SCD_RAW WAREHOUSE = PIPELINE_WH AS SELECT 1",
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("suspended"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warehouse_database_and_schema_belong_to_sysadmin() {
    let f = fixture().await;
    let catalog = f.standin.engine().catalog();
    for (kind, name) in [
        (Kind::Warehouse, "PIPELINE_WH"),
        (Kind::Database, "CUSTOMERS"),
        (Kind::Schema, "CUSTOMERS.RAW"),
    ] {
        assert_eq!(catalog.get(kind, name).unwrap().owner, "SYSADMIN", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_task_working_set_is_transient_without_time_travel() {
    let f = fixture().await;
    let catalog = f.standin.engine().catalog();
    let work = catalog
        .get(Kind::Table, "CUSTOMERS.RAW.CUSTOMER_SCD_WORK")
        .unwrap();
    let Detail::Table {
        transient,
        retention_days,
        ..
    } = &work.detail
    else {
        panic!("not a table: {work:?}")
    };
    assert_eq!((*transient, *retention_days), (true, Some(0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_table_refuses_more_than_one_day_of_time_travel() {
    let f = fixture().await;
    let error = f
        .sql_as(
            &f.admin,
            Some("CUSTOMER_PIPELINE_ADMIN"),
            "CREATE TRANSIENT TABLE T (A NUMBER) DATA_RETENTION_TIME_IN_DAYS = 2",
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("0 or 1"), "{error}");
}
