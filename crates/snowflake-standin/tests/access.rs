//! Snowflake's access control over the shipped `sql/`: each grant is shown to be needed by
//! removing it from a copy and watching the operation it enables fail; the service users can do
//! what they are for and nothing else; the scripts are idempotent and teardown leaves nothing;
//! the task graph refuses changes in the order Snowflake refuses them.

mod common;

use std::path::Path;

use chrono::Utc;
use common::{ANN, Fixture, fixture, soon};
use snowflake::SnowflakeError;

/// What a grant makes possible, tried as the user the grant is for.
#[derive(Debug, Clone, Copy)]
enum Operation {
    IngestInsertFiles,
    IngestInsertReport,
    MonitorSeesTask(&'static str),
    MonitorSeesStream(&'static str),
    MonitorPipeStatus,
    MonitorCopyHistory,
    MonitorMergeLag,
}

/// Every grant line of sql/06_grants.sql (by a unique part of it), the operation that needs it,
/// and how that operation fails without it.
const GRANTS: &[(&str, Operation, &str)] = &[
    (
        "OPERATE ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_INGEST",
        Operation::IngestInsertFiles,
        "HTTP 404",
    ),
    (
        "MONITOR ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_INGEST",
        Operation::IngestInsertReport,
        "HTTP 404",
    ),
    (
        "USAGE ON STAGE CUSTOMER_STAGE TO ROLE CUSTOMER_PIPELINE_INGEST",
        Operation::IngestInsertFiles,
        "HTTP 404",
    ),
    (
        "USAGE ON FILE FORMAT CUSTOMER_CSV TO ROLE CUSTOMER_PIPELINE_INGEST",
        Operation::IngestInsertFiles,
        "HTTP 404",
    ),
    (
        "INSERT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_INGEST",
        Operation::IngestInsertFiles,
        "HTTP 404",
    ),
    (
        "SELECT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_INGEST",
        Operation::IngestInsertFiles,
        "HTTP 404",
    ),
    (
        "MONITOR ON TASK TSK_SCD_RAW TO",
        Operation::MonitorSeesTask("TSK_SCD_RAW"),
        "TSK_SCD_RAW is not in SHOW TASKS",
    ),
    (
        "MONITOR ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_MONITOR",
        Operation::MonitorPipeStatus,
        "Pipe 'CUSTOMERS.RAW.CUSTOMER_PIPE' does not exist or not authorized",
    ),
    (
        "REFERENCES ON TABLE CUSTOMER_RAW TO",
        Operation::MonitorCopyHistory,
        "002003",
    ),
    (
        "SELECT ON STREAM CUSTOMER_RAW_CHANGES TO",
        Operation::MonitorSeesStream("CUSTOMER_RAW_CHANGES"),
        "CUSTOMER_RAW_CHANGES is not in SHOW STREAMS",
    ),
    (
        "SELECT ON VIEW PIPELINE_MERGE_LAG TO",
        Operation::MonitorMergeLag,
        "Object 'CUSTOMERS.RAW.PIPELINE_MERGE_LAG' does not exist or not authorized",
    ),
];

/// Runs `operation`; `Err` says how it failed.
async fn attempt(f: &Fixture, operation: Operation) -> Result<(), String> {
    let text = |e: SnowflakeError| e.to_string();
    match operation {
        Operation::IngestInsertFiles => f
            .submit_as(&f.ingest, &["a.csv"])
            .await
            .map(drop)
            .map_err(text),
        Operation::IngestInsertReport => snowflake::Snowpipe::new(f.ingest.clone(), common::PIPE)
            .insert_report(None, soon())
            .await
            .map(drop)
            .map_err(text),
        Operation::MonitorSeesTask(name) | Operation::MonitorSeesStream(name) => {
            let what = if matches!(operation, Operation::MonitorSeesTask(_)) {
                "TASKS"
            } else {
                "STREAMS"
            };
            let rows = monitor_sql(f, &format!("SHOW {what} IN SCHEMA CUSTOMERS.RAW")).await?;
            if rows.iter().any(|r| r[0] == name) {
                Ok(())
            } else {
                Err(format!("{name} is not in SHOW {what}"))
            }
        }
        Operation::MonitorPipeStatus => {
            monitor_sql(f, &format!("SELECT SYSTEM$PIPE_STATUS('{}')", common::PIPE))
                .await
                .map(drop)
        }
        Operation::MonitorCopyHistory => monitor_sql(
            f,
            "SELECT * FROM TABLE(CUSTOMERS.INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => 'CUSTOMERS.RAW.CUSTOMER_RAW', START_TIME => TO_TIMESTAMP_LTZ('2026-01-01')))",
        )
        .await
        .map(drop),
        Operation::MonitorMergeLag => {
            monitor_sql(f, "SELECT UNMERGED_ROWS FROM CUSTOMERS.RAW.PIPELINE_MERGE_LAG")
                .await
                .map(drop)
        }
    }
}

async fn monitor_sql(f: &Fixture, statement: &str) -> Result<Vec<Vec<String>>, String> {
    f.sql_as(&f.monitor, Some("CUSTOMER_PIPELINE_MONITOR"), statement)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_grant_every_service_operation_works() {
    let f = fixture().await;
    f.stage("a.csv", ANN);
    for (grant, operation, _) in GRANTS {
        attempt(&f, *operation)
            .await
            .unwrap_or_else(|e| panic!("{operation:?} (for {grant}): {e}"));
    }
}

#[test]
fn every_grant_in_06_has_an_operation_that_needs_it() {
    let script = std::fs::read_to_string(Path::new(common::SQL_DIR).join("06_grants.sql")).unwrap();
    let grants: Vec<&str> = script.lines().filter(|l| l.starts_with("GRANT ")).collect();
    for line in &grants {
        let covered = GRANTS
            .iter()
            .filter(|(part, ..)| line.contains(part))
            .count();
        assert_eq!(covered, 1, "{line} must match exactly one entry of GRANTS");
    }
    assert_eq!(
        grants.len(),
        GRANTS.len(),
        "an entry of GRANTS matches no grant"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_any_grant_of_06_breaks_the_operation_that_needs_it() {
    for (grant, operation, failure) in GRANTS {
        let dir = tempfile::tempdir().unwrap();
        let sql = common::edited_sql(dir.path(), "06_grants.sql", |text| {
            text.lines()
                .filter(|l| !l.contains(grant))
                .map(|l| format!("{l}\n"))
                .collect()
        });
        let f = common::start(dir, &sql, false).await.unwrap();
        f.stage("a.csv", ANN);
        match attempt(&f, *operation).await {
            Ok(()) => panic!("{operation:?} still works without GRANT {grant}"),
            Err(err) => assert!(
                err.contains(failure),
                "without GRANT {grant}, {operation:?} failed otherwise: {err}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_granting_the_admin_role_to_sysadmin_teardown_cannot_drop_the_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let sql = common::edited_sql(dir.path(), "01_account.sql", |text| {
        text.replace("GRANT ROLE CUSTOMER_PIPELINE_ADMIN TO ROLE SYSADMIN;", "")
    });
    let f = common::start(dir, &sql, false).await.unwrap();
    let err = f.standin.run_script("99_teardown.sql").unwrap_err();
    assert!(
        err.contains("TSK_SCD_RAW") && err.contains("003001"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_granting_the_admin_role_to_the_installer_the_scripts_cannot_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let sql = common::edited_sql(dir.path(), "01_account.sql", |text| {
        text.replace(
            "GRANT ROLE CUSTOMER_PIPELINE_ADMIN TO USER <% admin_user %>;",
            "",
        )
    });
    let err = common::start(dir, &sql, false).await.err().unwrap();
    assert!(
        err.starts_with("02_tables.sql") && err.contains("not granted"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_schema_privilege_of_the_admin_role_is_needed_by_the_script_that_uses_it() {
    for (privilege, script) in [
        ("CREATE TABLE", "02_tables.sql"),
        ("CREATE VIEW", "02_tables.sql"),
        ("CREATE FILE FORMAT", "03_ingest.sql"),
        ("CREATE STAGE", "03_ingest.sql"),
        ("CREATE PIPE", "03_ingest.sql"),
        ("CREATE STREAM", "04_scd.sql"),
        ("CREATE TASK", "04_scd.sql"),
        ("CREATE PROCEDURE", "04_scd.sql"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sql = common::edited_sql(dir.path(), "01_account.sql", |text| {
            text.replace(&format!(", {privilege}"), "")
                .replace(&format!(",\n{privilege}"), "")
        });
        let err = common::start(dir, &sql, false).await.err();
        let err = err.unwrap_or_else(|| panic!("the scripts ran without {privilege}"));
        assert!(err.starts_with(script), "without {privilege}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_execute_task_the_admin_role_cannot_create_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let sql = common::edited_sql(dir.path(), "01_account.sql", |text| {
        text.replace(
            "GRANT EXECUTE TASK ON ACCOUNT TO ROLE CUSTOMER_PIPELINE_ADMIN;",
            "",
        )
    });
    let err = common::start(dir, &sql, false).await.err().unwrap();
    assert!(
        err.starts_with("04_scd.sql") && err.contains("EXECUTE TASK"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_user_cannot_read_customer_rows() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    for table in [
        "CUSTOMER_RAW",
        "CUSTOMER",
        "CUSTOMER_CURRENT",
        "CUSTOMER_HISTORY",
        "CUSTOMER_RAW_CHANGES",
        "CUSTOMER_SCD_WORK",
        "V_CUSTOMER_TIMELINE",
        "CUSTOMERS.RAW.CUSTOMER_RAW",
    ] {
        let err = monitor_sql(&f, &format!("SELECT * FROM {table}"))
            .await
            .unwrap_err();
        assert!(err.contains("002003"), "{table}: {err}");
    }
    // It holds one role, so no secondary role can lend it another's privileges.
    let statement = format!("SHOW GRANTS TO USER {}", common::MONITOR_USER);
    let roles = f
        .sql_as(&f.admin, Some("ACCOUNTADMIN"), &statement)
        .await
        .unwrap();
    let roles: Vec<&str> = roles.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(roles, ["CUSTOMER_PIPELINE_MONITOR"]);
    // Nor can it load files: reconciliation leaves that to ingest.
    let err = f.submit_as(&f.monitor, &["a.csv"]).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
}

/// (privilege, granted_on) pairs of `SHOW GRANTS TO ROLE role` on objects named `object`.
async fn role_grants_on(f: &common::Fixture, role: &str, object: &str) -> Vec<(String, String)> {
    let rows = f
        .sql_as(
            &f.admin,
            Some("ACCOUNTADMIN"),
            &format!("SHOW GRANTS TO ROLE {role}"),
        )
        .await
        .unwrap();
    let mut grants: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r[2] == object)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    grants.sort();
    grants
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_role_holds_only_usage_on_the_warehouse() {
    let f = fixture().await;
    assert_eq!(
        role_grants_on(&f, "CUSTOMER_PIPELINE_MONITOR", "PIPELINE_WH").await,
        [("USAGE".to_owned(), "WAREHOUSE".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_role_holds_usage_and_the_create_privileges_on_the_schema_and_nothing_else() {
    let f = fixture().await;
    let privileges: Vec<String> = role_grants_on(&f, "CUSTOMER_PIPELINE_ADMIN", "CUSTOMERS.RAW")
        .await
        .into_iter()
        .map(|(privilege, _)| privilege)
        .collect();
    assert_eq!(
        privileges,
        [
            "CREATE FILE FORMAT",
            "CREATE PIPE",
            "CREATE PROCEDURE",
            "CREATE STAGE",
            "CREATE STREAM",
            "CREATE TABLE",
            "CREATE TASK",
            "CREATE VIEW",
            "USAGE"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ingest_user_can_do_nothing_but_use_the_pipe() {
    let f = fixture().await;
    f.stage("a.csv", ANN);
    assert!(f.submit_as(&f.ingest, &["a.csv"]).await.is_ok());
    let query = f
        .sql_as(&f.ingest, None, "SELECT * FROM CUSTOMER_RAW")
        .await
        .unwrap_err()
        .to_string();
    assert!(query.contains("000606"), "{query}");
    let create = f
        .sql_as(&f.ingest, None, "CREATE TABLE X (A NUMBER)")
        .await
        .unwrap_err()
        .to_string();
    assert!(create.contains("003001"), "{create}");
    let shown = f.sql_as(&f.ingest, None, "SHOW TASKS").await.unwrap();
    assert!(shown.is_empty(), "{shown:?}");
    let monitor_role = f
        .sql_as(&f.ingest, Some("CUSTOMER_PIPELINE_MONITOR"), "SELECT 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(monitor_role.contains("not granted"), "{monitor_role}");
}

/// The setup scripts, in the order they run.
const SETUP: [&str; 6] = [
    "01_account.sql",
    "02_tables.sql",
    "03_ingest.sql",
    "04_scd.sql",
    "05_monitoring.sql",
    "06_grants.sql",
];

#[tokio::test(flavor = "multi_thread")]
async fn setup_runs_twice_then_teardown_leaves_nothing_then_setup_runs_again() {
    let f = fixture().await;
    for script in SETUP {
        f.standin.run_script(script).unwrap();
    }
    f.stage("a.csv", ANN);
    f.submit(&["a.csv"]).await;
    assert_eq!(f.standin.load_pending(Utc::now()).len(), 1);

    f.standin.run_script("99_teardown.sql").unwrap();
    {
        let catalog = f.standin.engine().catalog();
        let left: Vec<&String> = catalog.objects.values().map(|o| &o.name).collect();
        // What 01 creates only if missing stays: it may be shared.
        assert_eq!(
            left,
            ["CUSTOMERS", "CUSTOMER_S3", "CUSTOMERS.RAW", "PIPELINE_WH"],
            "left behind"
        );
        assert!(
            catalog
                .roles
                .keys()
                .all(|r| !r.starts_with("CUSTOMER_PIPELINE"))
        );
        assert!(
            catalog
                .users
                .keys()
                .all(|u| !u.starts_with("CUSTOMER_PIPELINE"))
        );
    }
    assert_eq!(f.standin.pending_files(), 0);

    for script in SETUP {
        f.standin.run_script(script).unwrap();
    }
    // A new pipe: a new load history, so the same path loads again into the new table.
    f.submit(&["a.csv"]).await;
    assert_eq!(f.standin.load_pending(Utc::now()).len(), 1);
    assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER_RAW").await, [["1"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_leaves_what_others_keep_in_the_schema_and_the_shared_warehouse() {
    let f = fixture().await;
    // Someone else's table in the same schema.
    f.sql_as(
        &f.admin,
        Some("ACCOUNTADMIN"),
        "CREATE TABLE SOMEONE_ELSES (A NUMBER)",
    )
    .await
    .unwrap();
    f.standin.run_script("99_teardown.sql").unwrap();
    let catalog = f.standin.engine().catalog();
    use snowflake_standin::catalog::Kind;
    assert!(
        catalog
            .get(Kind::Table, "CUSTOMERS.RAW.SOMEONE_ELSES")
            .is_some()
    );
    assert!(catalog.get(Kind::Warehouse, "PIPELINE_WH").is_some());
    assert!(
        catalog
            .get(Kind::Table, "CUSTOMERS.RAW.CUSTOMER_RAW")
            .is_none()
    );
}

/// A child task of the shipped root, created as the admin role with the root suspended, as
/// Snowflake requires ("The root task must be suspended before … a child task is added").
const CHILD: &str = "CREATE TASK TSK_CHILD WAREHOUSE = PIPELINE_WH AFTER TSK_SCD_RAW AS SELECT 1";

#[tokio::test(flavor = "multi_thread")]
async fn resuming_the_root_before_its_child_fails_on_the_child() {
    let f = fixture().await;
    f.sql("ALTER TASK TSK_SCD_RAW SUSPEND").await;
    f.sql(CHILD).await;
    f.sql("ALTER TASK TSK_SCD_RAW RESUME").await;
    let err = f
        .sql_as(
            &f.admin,
            Some("CUSTOMER_PIPELINE_ADMIN"),
            "ALTER TASK TSK_CHILD RESUME",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("091421") && err.contains("TSK_SCD_RAW"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_a_child_to_a_started_graph_fails() {
    let f = fixture().await;
    let err = f
        .sql_as(&f.admin, Some("CUSTOMER_PIPELINE_ADMIN"), CHILD)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("091421"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_task_is_suspended_and_has_lost_its_grants() {
    let f = fixture().await;
    f.sql("ALTER TASK TSK_SCD_RAW SUSPEND").await;
    f.sql("CREATE OR REPLACE TASK TSK_SCD_RAW WAREHOUSE = PIPELINE_WH AS SELECT 1")
        .await;
    let shown = f.sql("SHOW TASKS IN SCHEMA CUSTOMERS.RAW").await;
    let task = shown.iter().find(|r| r[0] == "TSK_SCD_RAW").unwrap();
    assert_eq!(task[7], "suspended");
    let monitor = monitor_sql(&f, "SHOW TASKS IN SCHEMA CUSTOMERS.RAW")
        .await
        .unwrap();
    assert!(
        monitor.is_empty(),
        "MONITOR on the old task is gone: {monitor:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn task_history_shows_only_tasks_the_role_may_monitor() {
    let f = fixture().await;
    f.sql("ALTER TASK TSK_SCD_RAW SUSPEND").await;
    f.sql(CHILD).await;
    f.sql("ALTER TASK TSK_CHILD RESUME").await;
    f.sql("ALTER TASK TSK_SCD_RAW RESUME").await;
    f.load("a.csv", ANN).await;
    let runs = f.standin.run_tasks(Utc::now());
    assert_eq!(runs.len(), 2, "both tasks ran: {runs:?}");
    let history = "SELECT NAME FROM TABLE(CUSTOMERS.INFORMATION_SCHEMA.TASK_HISTORY(SCHEDULED_TIME_RANGE_START => TO_TIMESTAMP_LTZ('2026-01-01')))";
    assert_eq!(monitor_sql(&f, history).await.unwrap(), [["TSK_SCD_RAW"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_name_reaches_a_table_round_the_access_checks() {
    let f = fixture().await;
    f.load("a.csv", ANN).await;
    for (statement, code) in [
        // A name in another case or schema is another name, which does not exist.
        ("SELECT * FROM \"customer_raw\"", "002003"),
        ("SELECT * FROM main.CUSTOMER_RAW", "002003"),
        ("SELECT * FROM OTHER.CUSTOMER_RAW", "002003"),
        // The stand-in's own tables and DuckDB's file and catalog functions are no Snowflake's.
        ("SELECT * FROM __standin_catalog", "002003"),
        ("SELECT * FROM __STANDIN_STREAM_OFFSETS", "002003"),
        ("SELECT * FROM read_csv('/etc/passwd')", "001003"),
        ("SELECT * FROM query_table('CUSTOMER_RAW')", "001003"),
        ("SELECT * FROM duckdb_tables()", "001003"),
        ("PRAGMA show_tables", "001003"),
    ] {
        let err = monitor_sql(&f, statement).await.unwrap_err();
        assert!(err.contains(code), "{statement}: {err}");
    }
    // A session whose schema does not hold the table does not find it either.
    let elsewhere = snowflake::StatementContext {
        schema: Some("OTHER".into()),
        ..common::context(Some("CUSTOMER_PIPELINE_MONITOR"))
    };
    let err = snowflake::SqlApi::new(f.monitor.clone(), elsewhere)
        .query(
            "SELECT * FROM CUSTOMER_RAW",
            &[],
            std::time::Duration::from_secs(10),
            soon(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("002003"), "{err}");
}
