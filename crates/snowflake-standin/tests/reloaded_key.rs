//! A key loaded again after Snowpipe's 14-day load history forgot it brings rows with equal
//! (UPDATED_AT, _FILE_NAME, _FILE_ROW_NUMBER): the later load wins, in CUSTOMER and in
//! CUSTOMER_HISTORY alike, whichever run sees it.

mod common;

use chrono::Utc;
use common::fixture;
use snowflake_standin::RunState;

/// A RAW row of customer 1 at 10:00 from a.csv row 1, as a load at `loaded_at` wrote it.
fn load_row(f: &common::Fixture, first_name: &str, loaded_at: &str) {
    f.standin
        .query(&format!(
            "INSERT INTO CUSTOMER_RAW VALUES (1, '{first_name}', 'Lee', 'ann@x.io', '1 Main St',
             'Oslo', NULL, 'NO', TIMESTAMP '2026-11-23 10:00:00', 'U', 'a.csv', 1,
             TIMESTAMPTZ '{loaded_at}')"
        ))
        .unwrap();
}

fn run(f: &common::Fixture) {
    let runs = f.standin.run_tasks(Utc::now());
    assert_eq!(runs[0].state, RunState::Succeeded, "{runs:?}");
}

/// CUSTOMER's first name, and the current version's.
async fn names(f: &common::Fixture) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    (
        f.sql("SELECT FIRST_NAME FROM CUSTOMER").await,
        f.sql("SELECT FIRST_NAME FROM CUSTOMER_HISTORY WHERE IS_CURRENT")
            .await,
    )
}

const FIRST: &str = "2026-11-01 00:00:00+00";
const LATER: &str = "2026-11-20 00:00:00+00";

#[tokio::test(flavor = "multi_thread")]
async fn the_later_load_wins_when_one_run_sees_both() {
    let f = fixture().await;
    load_row(&f, "Old", FIRST);
    load_row(&f, "New", LATER);
    run(&f);
    assert_eq!(
        names(&f).await,
        (vec![vec!["New".into()]], vec![vec!["New".into()]])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_later_load_wins_when_it_comes_in_a_later_run() {
    let f = fixture().await;
    load_row(&f, "Old", FIRST);
    run(&f);
    load_row(&f, "New", LATER);
    run(&f);
    assert_eq!(
        names(&f).await,
        (vec![vec!["New".into()]], vec![vec!["New".into()]])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_earlier_load_that_a_later_run_sees_does_not_win() {
    let f = fixture().await;
    load_row(&f, "New", LATER);
    run(&f);
    load_row(&f, "Old", FIRST);
    run(&f);
    assert_eq!(
        names(&f).await,
        (vec![vec!["New".into()]], vec![vec!["New".into()]])
    );
}
