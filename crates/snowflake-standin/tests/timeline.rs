//! CUSTOMER_HISTORY is the event-time timeline of every loaded row, and CUSTOMER its last step,
//! whatever order files arrive in, however loads are batched between task runs and however often
//! a run fails and is retried. The oracle below is an independent implementation of the rule in
//! sql/04_scd.sql, compared exactly with both tables.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;

use chrono::{TimeZone, Utc};
use common::{Fixture, HEADER};
use proptest::prelude::*;
use snowflake_standin::RunState;

/// (customer id, minute of UPDATED_AT, delete?, attribute variant)
type Row = (u8, u8, bool, u8);

/// One file as the test sends it.
#[derive(Debug, Clone)]
struct File {
    rows: Vec<Row>,
    gzip: bool,
    /// A bad row: the pipe skips the whole file (ON_ERROR = SKIP_FILE).
    invalid: bool,
    /// Run the task after loading this file (else the rows wait for a later run).
    run_after: bool,
    /// That run fails (and the next one retries it).
    run_fails: bool,
    /// The previous file is delivered again after this one (Snowpipe skips it).
    resend_previous: bool,
}

/// The attributes of a variant: 0 and 2 differ only in a NULL, so equality must be null-safe.
fn attributes(variant: u8) -> (&'static str, Option<&'static str>) {
    match variant {
        0 => ("Ann", Some("Oslo")),
        1 => ("Bea", Some("Oslo")),
        _ => ("Ann", None),
    }
}

fn csv(rows: &[Row], invalid: bool) -> String {
    let mut text = HEADER.to_owned();
    for (id, minute, delete, variant) in rows {
        let at = format!("2026-11-23T10:{minute:02}:00Z");
        if *delete && *variant != 1 {
            text.push_str(&format!("{id},,,,,,,,{at},D\n"));
        } else if *delete {
            // The contract requires only the id and the time of a delete; attributes may come.
            text.push_str(&format!(
                "{id},Ann,Lee,c{id}@x.io,1 Main St,Oslo,Oslo,NO,{at},D\n"
            ));
        } else {
            let (first, state) = attributes(*variant);
            let state = state.unwrap_or("");
            text.push_str(&format!(
                "{id},{first},Lee,c{id}@x.io,1 Main St,Oslo,{state},NO,{at},U\n"
            ));
        }
    }
    if invalid {
        text.push_str("9,Bad,Row,b@x.io,1 Main St,Oslo,,NO,not-a-time,U\n");
    }
    text
}

fn epoch(minute: u8) -> String {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 23, 10, u32::from(minute), 0)
        .unwrap();
    format!("{}.000000000", at.timestamp())
}

const OPEN_END: &str = "253402214400.000000000";

/// A loaded row, as the oracle orders it: (minute, file name, row number).
#[derive(Debug, Clone)]
struct Loaded {
    order: (u8, String, usize),
    delete: bool,
    variant: u8,
}

/// The loaded rows per customer. Invalid files load nothing.
fn loaded(files: &[File], names: &[String]) -> BTreeMap<u8, Vec<Loaded>> {
    let mut by_customer: BTreeMap<u8, Vec<Loaded>> = BTreeMap::new();
    for (file, name) in files.iter().zip(names) {
        if file.invalid {
            continue;
        }
        for (number, (id, minute, delete, variant)) in file.rows.iter().enumerate() {
            by_customer.entry(*id).or_default().push(Loaded {
                order: (*minute, name.clone(), number),
                delete: *delete,
                variant: *variant,
            });
        }
    }
    for rows in by_customer.values_mut() {
        rows.sort_by(|a, b| a.order.cmp(&b.order));
    }
    by_customer
}

/// CUSTOMER_HISTORY by the rule, as `id|first|state|start|end|current` lines.
fn expected_history(by_customer: &BTreeMap<u8, Vec<Loaded>>) -> Vec<String> {
    let mut lines = Vec::new();
    for (id, rows) in by_customer {
        // At one instant the last row wins.
        let mut last_at_each_minute: Vec<&Loaded> = Vec::new();
        for row in rows {
            match last_at_each_minute.last_mut() {
                Some(last) if last.order.0 == row.order.0 => *last = row,
                _ => last_at_each_minute.push(row),
            }
        }
        let mut open: Option<(u8, (&str, Option<&str>))> = None;
        let mut versions = Vec::new();
        for row in last_at_each_minute {
            let minute = row.order.0;
            if row.delete {
                if let Some((start, attrs)) = open.take() {
                    versions.push((start, Some(minute), attrs));
                }
                continue;
            }
            let attrs = attributes(row.variant);
            match open {
                Some((_, current)) if current == attrs => {}
                _ => {
                    if let Some((start, previous)) = open.take() {
                        versions.push((start, Some(minute), previous));
                    }
                    open = Some((minute, attrs));
                }
            }
        }
        if let Some((start, attrs)) = open {
            versions.push((start, None, attrs));
        }
        for (start, end, (first, state)) in versions {
            lines.push(format!(
                "{id}|{first}|{}|{}|{}|{}",
                state.unwrap_or("NULL"),
                epoch(start),
                end.map_or(OPEN_END.to_owned(), epoch),
                end.is_none()
            ));
        }
    }
    lines
}

/// CUSTOMER by its rule (newest row per id; a delete is a tombstone), as `id|deleted|first|state`
/// lines; a tombstone's attributes are not part of the contract.
fn expected_customer(by_customer: &BTreeMap<u8, Vec<Loaded>>) -> Vec<String> {
    by_customer
        .iter()
        .map(|(id, rows)| {
            let newest = rows.last().expect("a customer has rows");
            if newest.delete {
                format!("{id}|true|-|-")
            } else {
                let (first, state) = attributes(newest.variant);
                format!("{id}|false|{first}|{}", state.unwrap_or("NULL"))
            }
        })
        .collect()
}

fn table(f: &Fixture, sql: &str) -> Vec<String> {
    f.standin
        .query(sql)
        .unwrap()
        .rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| cell.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn actual_history(f: &Fixture) -> Vec<String> {
    table(
        f,
        "SELECT CUSTOMER_ID, FIRST_NAME, STATE, START_TIME, END_TIME, IS_CURRENT FROM CUSTOMER_HISTORY ORDER BY CUSTOMER_ID, START_TIME",
    )
}

fn actual_customer(f: &Fixture) -> Vec<String> {
    table(
        f,
        "SELECT CUSTOMER_ID, IS_DELETED, CASE WHEN IS_DELETED THEN '-' ELSE FIRST_NAME END, CASE WHEN IS_DELETED THEN '-' ELSE coalesce(STATE, 'NULL') END FROM CUSTOMER ORDER BY CUSTOMER_ID",
    )
}

/// Stages `file` as `name`, submits it and runs the pipe.
async fn load(f: &Fixture, name: &str, file: &File) {
    let text = csv(&file.rows, file.invalid);
    let bytes = if file.gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    } else {
        text.into_bytes()
    };
    std::fs::write(f.stage_dir.join(name), bytes).unwrap();
    f.submit(&[name]).await;
    f.standin.load_pending(Utc::now());
}

/// Runs the task until the stream is empty (the retries a triggered task gets).
fn run_until_caught_up(f: &Fixture) {
    for _ in 0..5 {
        let runs = f.standin.run_tasks(Utc::now());
        if runs.iter().all(|r| r.state == RunState::Skipped) {
            return;
        }
    }
    panic!("the task did not catch up");
}

/// Loads `files` in order, running the task as each says, then until caught up; returns the
/// file names used.
async fn replay(f: &Fixture, files: &[File]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let name = format!("f{i:02}.csv{}", if file.gzip { ".gz" } else { "" });
        load(f, &name, file).await;
        if let Some(previous) = names.last().filter(|_| file.resend_previous) {
            f.submit(&[previous.as_str()]).await;
            f.standin.load_pending(Utc::now());
        }
        if file.run_after {
            if file.run_fails {
                f.standin
                    .fail_next_task_run("TSK_SCD_RAW", "injected failure");
            }
            f.standin.run_tasks(Utc::now());
        }
        names.push(name);
    }
    run_until_caught_up(f);
    names
}

fn files() -> impl Strategy<Value = Vec<File>> {
    let row = (1u8..4, 0u8..12, proptest::bool::weighted(0.25), 0u8..3);
    let file = (
        proptest::collection::vec(row, 1..6),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.15),
        proptest::bool::weighted(0.5),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(rows, gzip, invalid, run_after, run_fails, resend_previous)| File {
                rows,
                gzip,
                invalid,
                run_after,
                run_fails,
                resend_previous,
            },
        );
    proptest::collection::vec(file, 1..7)
}

fn check(files: Vec<File>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let f = common::fixture().await;
        let names = replay(&f, &files).await;
        let by_customer = loaded(&files, &names);
        prop_assert_eq!(actual_history(&f), expected_history(&by_customer));
        prop_assert_eq!(actual_customer(&f), expected_customer(&by_customer));
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn history_is_the_timeline_of_every_loaded_row(files in files()) {
        check(files)?;
    }
}

fn upsert(id: u8, minute: u8, variant: u8) -> Row {
    (id, minute, false, variant)
}

fn file(rows: Vec<Row>, run_after: bool) -> File {
    File {
        rows,
        gzip: false,
        invalid: false,
        run_after,
        run_fails: false,
        resend_previous: false,
    }
}

#[test]
fn a_late_row_splits_the_version_it_falls_into() {
    check(vec![
        file(vec![upsert(1, 0, 0), upsert(1, 10, 1)], true),
        // 10:05, between the two versions: Ann (10:00–10:05), then NULL state (10:05–10:10).
        file(vec![upsert(1, 5, 2)], true),
    ])
    .unwrap();
}

#[test]
fn an_older_upsert_after_a_delete_fills_the_gap_before_it() {
    check(vec![
        file(vec![upsert(1, 0, 0), (1, 10, true, 0)], true),
        file(vec![upsert(1, 5, 1)], true),
        file(vec![upsert(1, 11, 1)], true),
    ])
    .unwrap();
}

#[test]
fn two_changes_loaded_between_two_runs_are_two_versions() {
    check(vec![
        file(vec![upsert(1, 0, 0)], false),
        file(vec![upsert(1, 1, 1)], false),
        file(vec![upsert(1, 2, 0)], true),
    ])
    .unwrap();
}

#[test]
fn a_run_that_fails_three_times_then_succeeds_loses_no_version() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let f = common::fixture().await;
        let files = vec![
            file(vec![upsert(1, 0, 0), upsert(1, 1, 1)], false),
            file(vec![upsert(1, 2, 2), (1, 3, true, 0)], false),
        ];
        let mut names = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let name = format!("f{i:02}.csv");
            load(&f, &name, file).await;
            names.push(name);
        }
        for _ in 0..3 {
            f.standin
                .fail_next_task_run("TSK_SCD_RAW", "injected failure");
            let runs = f.standin.run_tasks(Utc::now());
            assert_eq!(runs[0].state, RunState::Failed, "{runs:?}");
            assert!(
                actual_history(&f).is_empty(),
                "a failed run commits nothing"
            );
            assert!(
                actual_customer(&f).is_empty(),
                "a failed run commits nothing"
            );
        }
        run_until_caught_up(&f);
        let by_customer = loaded(&files, &names);
        assert_eq!(actual_history(&f), expected_history(&by_customer));
        assert_eq!(actual_history(&f).len(), 3);
        assert_eq!(actual_customer(&f), expected_customer(&by_customer));
    });
}

#[test]
fn the_rebuild_script_recomputes_history_from_raw_and_is_idempotent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let f = common::fixture().await;
        let files = vec![
            file(
                vec![upsert(1, 0, 0), upsert(2, 1, 1), upsert(1, 5, 1)],
                true,
            ),
            file(vec![upsert(1, 3, 2), (2, 4, true, 0)], false),
        ];
        let names = replay(&f, &files).await;
        let expected = expected_history(&loaded(&files, &names));
        // History as an earlier design left it: versions missing and one that never happened.
        f.standin
            .query("DELETE FROM CUSTOMER_HISTORY WHERE CUSTOMER_ID = 1")
            .unwrap();
        f.standin
            .query("UPDATE CUSTOMER_HISTORY SET FIRST_NAME = 'Wrong'")
            .unwrap();
        for _ in 0..2 {
            f.standin.run_script("90_rebuild_history.sql").unwrap();
            f.standin.run_script("06_grants.sql").unwrap();
            run_until_caught_up(&f);
            assert_eq!(actual_history(&f), expected);
            assert_eq!(
                actual_customer(&f),
                expected_customer(&loaded(&files, &names))
            );
        }
    });
}

#[test]
fn the_rebuild_script_merges_itself_without_waiting_for_the_task() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let f = common::fixture().await;
        let files = vec![file(vec![upsert(1, 0, 0), upsert(1, 5, 1)], true)];
        let names = replay(&f, &files).await;
        let expected = expected_history(&loaded(&files, &names));
        f.standin.query("DELETE FROM CUSTOMER_HISTORY").unwrap();
        f.standin.run_script("90_rebuild_history.sql").unwrap();
        // No task run: the script called the merge itself.
        assert_eq!(actual_history(&f), expected);
        // A fresh SHOW_INITIAL_ROWS stream is no trigger: the task would have skipped.
        assert!(!f.standin.streams_have_data().unwrap());
        // The script's own check, run again: nothing left unmerged.
        let script =
            std::fs::read_to_string(format!("{}/90_rebuild_history.sql", common::SQL_DIR)).unwrap();
        let start = script
            .find("SELECT COUNT(*) AS CUSTOMERS_NOT_REBUILT")
            .unwrap();
        let check = &script[start..start + script[start..].find(';').unwrap()];
        assert_eq!(f.sql(check).await, [["0"]]);
        // And it sees a customer whose CUSTOMER row is not its newest RAW row.
        f.standin
            .query("UPDATE CUSTOMER SET _FILE_ROW_NUMBER = 99")
            .unwrap();
        assert_eq!(f.sql(check).await, [["1"]]);
    });
}

#[test]
fn a_fresh_stream_with_initial_rows_has_no_data_for_stream_has_data_until_the_table_changes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let f = common::fixture().await;
        replay(&f, &[file(vec![upsert(1, 0, 0)], true)]).await;
        f.sql("ALTER TASK TSK_SCD_RAW SUSPEND").await;
        f.sql(
            "CREATE OR REPLACE STREAM CUSTOMER_RAW_CHANGES ON TABLE CUSTOMER_RAW APPEND_ONLY = TRUE SHOW_INITIAL_ROWS = TRUE",
        )
        .await;
        assert_eq!(f.sql("SELECT count(*) FROM CUSTOMER_RAW_CHANGES").await, [["1"]]);
        assert!(!f.standin.streams_have_data().unwrap());
        load(&f, "later.csv", &file(vec![upsert(2, 1, 0)], true)).await;
        assert!(f.standin.streams_have_data().unwrap());
    });
}
