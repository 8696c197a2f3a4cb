//! Property: any sequence of files (inserts, updates, deletes, timestamps out of order, ids
//! repeated within and across files) replayed through the local pipeline keeps the guarantees,
//! and CUSTOMER holds, per id, the newest row by (time, file, row) as computed here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pipectl::dev::{DevArgs, run_dev};
use proptest::prelude::*;

const HEADER: &str =
    "customer_id,first_name,last_name,email,street,city,state,country,updated_at,op\n";

/// (id, minute, delete?, name variant)
type Row = (u8, u8, bool, u8);

fn files() -> impl Strategy<Value = Vec<Vec<Row>>> {
    let row = (1u8..6, 0u8..30, proptest::bool::weighted(0.2), 0u8..3);
    proptest::collection::vec(proptest::collection::vec(row, 1..6), 1..5)
}

fn csv(rows: &[Row]) -> String {
    let mut text = HEADER.to_owned();
    for (id, minute, delete, variant) in rows {
        let at = format!("2026-11-23T10:{minute:02}:00Z");
        if *delete {
            writeln!(text, "{id},,,,,,,,{at},D").unwrap();
        } else {
            writeln!(
                text,
                "{id},Name{variant},Lee,c{id}@x.io,{variant} Main St,Oslo,Oslo,Norway,{at},U"
            )
            .unwrap();
        }
    }
    text
}

/// The expected CUSTOMER as `id|deleted|name variant`, by the contract's ordering. A
/// tombstone's attributes are not part of the contract (they depend on how loads are batched),
/// so deleted ids show none.
fn expected(files: &[Vec<Row>]) -> Vec<String> {
    // id → ((minute, file, row), deleted, name variant) of its newest row.
    type Newest = ((u8, usize, usize), bool, u8);
    let mut newest: BTreeMap<u8, Newest> = BTreeMap::new();
    for (f, rows) in files.iter().enumerate() {
        for (r, (id, minute, delete, variant)) in rows.iter().enumerate() {
            let order = (*minute, f, r);
            let entry = newest.entry(*id).or_insert((order, *delete, *variant));
            if order >= entry.0 {
                *entry = (order, *delete, *variant);
            }
        }
    }
    newest
        .into_iter()
        .map(|(id, (_, deleted, variant))| shown(id.to_string(), deleted, variant.to_string()))
        .collect()
}

fn shown(id: String, deleted: bool, variant: String) -> String {
    if deleted {
        format!("{id}|true|")
    } else {
        format!("{id}|false|{variant}")
    }
}

fn run(files: &[Vec<Row>]) -> (pipectl::dev::Report, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (i, rows) in files.iter().enumerate() {
        std::fs::write(input.join(format!("customer_{i:02}.csv")), csv(rows)).unwrap();
    }
    let args = DevArgs {
        duration: 0,
        every: 5.0,
        rows: 10,
        seed: 1,
        state: dir.path().join("state"),
        json: false,
        replay: Some(input),
        dump: Some(dir.path().join("out")),
        snowflake_port: 0,
        sql: concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql").into(),
        task_every: 0.2,
        monitor_every: 5.0,
        reconcile_grace: 5.0,
        chaos: false,
        serve: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run_dev(&args, false)).unwrap();
    let mut reader = csv::Reader::from_path(dir.path().join("out/CUSTOMER.csv")).unwrap();
    let customers = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let variant = r[1].trim_start_matches("Name").to_owned();
            shown(r[0].to_owned(), &r[9] == "true", variant)
        })
        .collect();
    (report, customers)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_files_keeps_the_guarantees(files in files()) {
        let (report, customers) = run(&files);
        prop_assert!(report.passed(), "{:#?}", report.checks);
        prop_assert_eq!(customers, expected(&files));
    }
}
