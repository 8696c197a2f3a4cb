//! The shipped file format reads a file exactly as the ingest function's validator did: the
//! contract is RFC 4180, with no backslash escapes, and an empty field is absent whether quoted
//! or not. The stand-in's COPY models ESCAPE_UNENCLOSED_FIELD and NULL_IF as Snowflake documents
//! them, so the format's defaults are shown to shift columns.

mod common;

use common::{HEADER, fixture};

/// Valid under the contract: customer 1's first name ends in a backslash (`Ann\` then `Lee`),
/// customer 2's last name is the text `\N` and its street holds a backslash, customer 3's
/// delete leaves its attributes empty, some quoted (`""`).
const ROWS: &str = "1,Ann\\,Lee,ann@x.io,1 Main St,Oslo,Viken,NO,2026-11-23T10:00:00Z,U\n\
                    2,Bo,\\N,bo@x.io,Main \\ St,Oslo,Viken,NO,2026-11-23T10:00:00Z,U\n\
                    3,\"\",,,\"\",,\"\",,2026-11-23T10:00:00Z,D\n";

fn validator_accepts(rows: &str) {
    let mut validator = pipeline::validate::Validator::default();
    let file = format!("{HEADER}{rows}");
    validator.feed(file.as_bytes());
    let report = validator.finish(file.len() as u64, false);
    assert_eq!(report.problem_total(), 0, "{report:?}");
}

/// The stand-in with 03_ingest.sql as it was before: CUSTOMER_CSV without the two options.
async fn with_format_defaults() -> common::Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sql = common::edited_sql(dir.path(), "03_ingest.sql", |text| {
        text.lines()
            .filter(|l| !l.contains("ESCAPE_UNENCLOSED_FIELD") && !l.contains("NULL_IF = ('')"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    common::start(dir, &sql, false).await.unwrap()
}

const LOADED: &str = "SELECT CUSTOMER_ID, COALESCE(FIRST_NAME, 'NULL'), COALESCE(LAST_NAME, 'NULL'), \
                      COALESCE(STREET, 'NULL'), COALESCE(STATE, 'NULL') \
                      FROM CUSTOMER_RAW ORDER BY CUSTOMER_ID";

#[tokio::test(flavor = "multi_thread")]
async fn backslashes_and_empty_quoted_fields_load_exactly_as_the_validator_read_them() {
    validator_accepts(ROWS);
    let f = fixture().await;
    let loads = f.load("escapes.csv", ROWS).await;
    assert_eq!(loads[0].status, "LOADED", "{:?}", loads[0].first_error);
    assert_eq!(
        f.sql(LOADED).await,
        [
            ["1", "Ann\\", "Lee", "1 Main St", "Viken"],
            ["2", "Bo", "\\N", "Main \\ St", "Viken"],
            ["3", "NULL", "NULL", "NULL", "NULL"],
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_format_defaults_a_backslash_comma_shifts_the_columns_and_fails_the_file() {
    let f = with_format_defaults().await;
    let loads = f.load("escapes.csv", ROWS).await;
    // `Ann\,Lee` is one field, so UPDATED_AT reads the op column.
    assert_eq!(loads[0].status, "LOAD_FAILED");
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_format_defaults_a_literal_backslash_n_loads_as_null() {
    let f = with_format_defaults().await;
    let row = "2,Bo,\\N,bo@x.io,Main St,Oslo,Viken,NO,2026-11-23T10:00:00Z,U\n";
    validator_accepts(row);
    let loads = f.load("n.csv", row).await;
    assert_eq!(loads[0].status, "LOADED", "{:?}", loads[0].first_error);
    assert_eq!(
        f.sql("SELECT COALESCE(LAST_NAME, 'NULL') FROM CUSTOMER_RAW")
            .await,
        [["NULL"]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipe_that_writes_as_before_the_stages_alias_is_refused() {
    let f = fixture().await;
    let pipe = |alias: &str| {
        format!(
            "CREATE PIPE P2 AS COPY INTO CUSTOMER_RAW (CUSTOMER_ID) \
             FROM (SELECT f.$1 FROM @CUSTOMER_STAGE {alias}) FILE_FORMAT = (FORMAT_NAME = 'CUSTOMER_CSV')"
        )
    };
    let err = f
        .sql_as(&f.admin, Some("CUSTOMER_PIPELINE_ADMIN"), &pipe("AS f"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("AS before the stage's alias"),
        "{err}"
    );
    f.sql(&pipe("f")).await;
}
