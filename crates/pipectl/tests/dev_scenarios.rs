//! `pipectl dev` scenarios, in-process: hand-written files replayed through the whole local
//! pipeline (S3 put, notification, validation, Snowpipe, the shipped tasks), then the exact
//! CUSTOMER and CUSTOMER_HISTORY contents and the guarantees.

use std::path::Path;

use pipectl::dev::{DevArgs, Report, run_dev};

const HEADER: &str =
    "customer_id,first_name,last_name,email,street,city,state,country,updated_at,op\n";

fn args(replay: &Path, state: &Path, dump: &Path) -> DevArgs {
    DevArgs {
        duration: 0,
        every: 5.0,
        rows: 10,
        seed: 1,
        state: state.to_owned(),
        json: false,
        replay: Some(replay.to_owned()),
        dump: Some(dump.to_owned()),
        snowflake_port: 0,
        sql: concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql").into(),
        task_every: 0.2,
        monitor_every: 1.0,
        reconcile_grace: 5.0,
        chaos: false,
        serve: false,
    }
}

/// Replays `files` (name, rows without the header) and returns the report and the dumped
/// CUSTOMER and CUSTOMER_HISTORY with the given columns, one line per row.
async fn replay(
    files: &[(&str, &str)],
    customer: &[&str],
    history: &[&str],
) -> (Report, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (input, state, dump) = (
        dir.path().join("in"),
        dir.path().join("state"),
        dir.path().join("out"),
    );
    std::fs::create_dir_all(&input).unwrap();
    for (name, rows) in files {
        std::fs::write(input.join(name), format!("{HEADER}{rows}")).unwrap();
    }
    let report = run_dev(&args(&input, &state, &dump), false).await.unwrap();
    (
        report,
        read(&dump.join("CUSTOMER.csv"), customer),
        read(&dump.join("CUSTOMER_HISTORY.csv"), history),
    )
}

fn read(path: &Path, columns: &[&str]) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let index: Vec<usize> = columns
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h == *c)
                .unwrap_or_else(|| panic!("no column {c}"))
        })
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            index.iter().map(|i| &r[*i]).collect::<Vec<_>>().join("|")
        })
        .collect()
}

const CUSTOMER: &[&str] = &["CUSTOMER_ID", "FIRST_NAME", "UPDATED_AT", "IS_DELETED"];
const HISTORY: &[&str] = &[
    "CUSTOMER_ID",
    "FIRST_NAME",
    "START_TIME",
    "END_TIME",
    "IS_CURRENT",
];

fn assert_guarantees(report: &Report) {
    assert!(
        report.passed(),
        "{:#?}\n{:#?}",
        report.checks,
        report.counts
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_and_deletes_become_scd1_values_and_closed_versions() {
    let (report, customer, history) = replay(
        &[
            ("customer_1.csv", "1,Ann,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n2,Bob,Ray,bob@x.io,2 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n3,Cid,Moe,cid@x.io,3 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n"),
            ("customer_2.csv", "1,Anna,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:05:00Z,U\n2,,,,,,,,2026-11-23T10:05:00Z,D\n"),
        ],
        CUSTOMER,
        HISTORY,
    )
    .await;
    assert_guarantees(&report);
    assert_eq!(
        customer,
        [
            "1|Anna|2026-11-23 10:05:00|false",
            "2|Bob|2026-11-23 10:05:00|true",
            "3|Cid|2026-11-23 10:00:00|false",
        ]
    );
    assert_eq!(
        history,
        [
            "1|Ann|2026-11-23 10:00:00|2026-11-23 10:05:00|false",
            "1|Anna|2026-11-23 10:05:00|9999-12-31 00:00:00|true",
            "2|Bob|2026-11-23 10:00:00|2026-11-23 10:05:00|false",
            "3|Cid|2026-11-23 10:00:00|9999-12-31 00:00:00|true",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_older_file_does_not_overwrite_newer_values_and_takes_its_place_in_history() {
    let (report, customer, history) = replay(
        &[
            (
                "customer_a.csv",
                "1,Newer,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:05:00Z,U\n",
            ),
            (
                "customer_b.csv",
                "1,Older,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n",
            ),
        ],
        CUSTOMER,
        HISTORY,
    )
    .await;
    assert_guarantees(&report);
    assert_eq!(customer, ["1|Newer|2026-11-23 10:05:00|false"]);
    // The older change happened: it is the version before the newer one.
    assert_eq!(
        history,
        [
            "1|Older|2026-11-23 10:00:00|2026-11-23 10:05:00|false",
            "1|Newer|2026-11-23 10:05:00|9999-12-31 00:00:00|true"
        ]
    );
}

/// The worked example in docs/snowflake-setup.md ("How CUSTOMER and CUSTOMER_HISTORY evolve"), table for table.
#[tokio::test(flavor = "multi_thread")]
async fn the_readmes_worked_example_a_late_file_splits_versions() {
    const CITY: &[&str] = &[
        "CUSTOMER_ID",
        "CITY",
        "START_TIME",
        "END_TIME",
        "IS_CURRENT",
    ];
    let (report, customer, history) = replay(
        &[
            (
                "customer_1.csv",
                "7,Ada,Lovelace,ada@x.io,1 Main St,London,England,UK,2026-11-23T09:59:10Z,U\n8,Bob,Ray,bob@x.io,2 Via Roma,Rome,Lazio,IT,2026-11-23T09:59:20Z,U\n",
            ),
            (
                "customer_2.csv",
                "7,Ada,Lovelace,ada@x.io,1 Main St,Leeds,England,UK,2026-11-23T10:00:40Z,U\n8,,,,,,,,2026-11-23T10:00:20Z,D\n",
            ),
            (
                "customer_3.csv",
                "7,Ada,Lovelace,ada@x.io,1 Main St,York,England,UK,2026-11-23T10:00:25Z,U\n8,Bob,Ray,bob@x.io,2 Via Roma,Milan,Lombardy,IT,2026-11-23T10:00:10Z,U\n",
            ),
        ],
        CUSTOMER,
        CITY,
    )
    .await;
    assert_guarantees(&report);
    assert_eq!(
        customer,
        [
            "7|Ada|2026-11-23 10:00:40|false",
            "8|Bob|2026-11-23 10:00:20|true"
        ]
    );
    assert_eq!(
        history,
        [
            "7|London|2026-11-23 09:59:10|2026-11-23 10:00:25|false",
            "7|York|2026-11-23 10:00:25|2026-11-23 10:00:40|false",
            "7|Leeds|2026-11-23 10:00:40|9999-12-31 00:00:00|true",
            "8|Rome|2026-11-23 09:59:20|2026-11-23 10:00:10|false",
            "8|Milan|2026-11-23 10:00:10|2026-11-23 10:00:20|false",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_of_duplicate_ids_in_one_file_wins() {
    let (report, customer, _) = replay(
        &[(
            "customer_1.csv",
            "1,Second,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:01:00Z,U\n1,First,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n1,Third,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:01:00Z,U\n",
        )],
        CUSTOMER,
        HISTORY,
    )
    .await;
    assert_guarantees(&report);
    // Equal times: the later row of the file wins (file name, then row number).
    assert_eq!(customer, ["1|Third|2026-11-23 10:01:00|false"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_file_is_quarantined_and_loads_nothing() {
    let (report, customer, _) = replay(
        &[
            (
                "customer_1.csv",
                "1,Ann,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n",
            ),
            (
                "customer_2.csv",
                "2,Bob,Ray,not-an-email,2 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n",
            ),
        ],
        CUSTOMER,
        HISTORY,
    )
    .await;
    assert_guarantees(&report);
    assert_eq!(
        (report.counts.files_valid, report.counts.files_quarantined),
        (1, 1)
    );
    assert_eq!(customer, ["1|Ann|2026-11-23 10:00:00|false"]);
}

/// A generated (not replayed) run of `seconds`, a file every `every` seconds.
async fn generated_run(seconds: u64, every: f64, rows: u64, chaos: bool) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let run = DevArgs {
        replay: None,
        dump: None,
        duration: seconds,
        every,
        rows,
        chaos,
        ..args(dir.path(), &dir.path().join("state"), dir.path())
    };
    run_dev(&run, false).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_run_keeps_every_guarantee() {
    let report = generated_run(4, 1.0, 200, false).await;
    assert_guarantees(&report);
    // How many files fit in the time depends on the machine; that every one loaded does not.
    let c = &report.counts;
    assert!(
        c.files_loaded >= 1 && c.files_loaded == c.files_generated,
        "{c:?}"
    );
    assert!(report.tables.customers > 0 && report.tables.history_versions > 0);
    assert!(report.counts.monitor_runs >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_file_is_timed_through_every_stage() {
    let report = generated_run(3, 1.0, 100, false).await;
    let stages: Vec<&str> = report.freshness.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            "created → validated",
            "validated → insertFiles accepted",
            "accepted → loaded into RAW",
            "loaded → merged into CUSTOMER",
            "merged → in CUSTOMER_HISTORY",
            "end to end"
        ]
    );
    for stage in &report.freshness {
        assert_eq!(stage.files as u64, report.counts.files_loaded, "{stage:?}");
        assert!(
            stage.p50_ms <= stage.p95_ms && stage.p95_ms <= stage.max_ms,
            "{stage:?}"
        );
    }
    let end_to_end = report.freshness.last().unwrap();
    let slowest_stage = report.freshness[..5]
        .iter()
        .map(|s| s.max_ms)
        .max()
        .unwrap();
    assert!(end_to_end.max_ms >= slowest_stage, "{:?}", report.freshness);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chaos_run_survives_every_fault() {
    // The short soak: 20 s, a file every half second, every fault kind several times.
    let report = generated_run(20, 0.5, 100, true).await;
    assert_guarantees(&report);
    let faults = &report.counts.faults;
    assert!(
        faults.invalid_files >= 1 && faults.failed_task_runs == 1,
        "{faults:?}"
    );
    assert!(
        faults.snowpipe_faults >= 3 && faults.duplicate_notifications >= 1,
        "{faults:?}"
    );
    assert!(report.counts.task_runs_failed >= 1);
    // S3: the upload's SlowDown is retried by the SDK, the read failing three times fails the
    // file, which is delivered again.
    assert!(faults.s3_errors >= 4, "{faults:?}");
    assert!(
        report.counts.files_failed_ingest >= 1,
        "{:?}",
        report.counts
    );
    assert_eq!(report.counts.files_left_failed, 0);
    // Lost notifications and crashed ingest runs are made good by reconciliation.
    assert!(
        faults.lost_notifications + faults.ingest_crashes >= 1,
        "{faults:?}"
    );
    assert!(
        report.counts.files_reconciled >= faults.lost_notifications + faults.ingest_crashes,
        "{:?}",
        report.counts
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_state_folder_resumes_and_checks_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = DevArgs {
        replay: None,
        dump: None,
        duration: 2,
        every: 1.0,
        rows: 50,
        ..args(dir.path(), &dir.path().join("state"), dir.path())
    };
    let first = run_dev(&run, false).await.unwrap();
    let second = run_dev(&run, false).await.unwrap();
    assert_guarantees(&first);
    assert_guarantees(&second);
    assert!(
        second.tables.raw_rows > first.tables.raw_rows,
        "the warehouse kept the first run's rows"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_delivered_twice_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let rows = [
        "1,Ann,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:00:00Z,U\n",
        "1,Anna,Lee,ann@x.io,1 Main St,Oslo,Oslo,Norway,2026-11-23T10:05:00Z,U\n",
    ];
    for (i, row) in rows.iter().enumerate() {
        std::fs::write(
            input.join(format!("customer_{i}.csv")),
            format!("{HEADER}{row}"),
        )
        .unwrap();
    }
    // --chaos in a replay re-delivers notifications (Snowpipe and task faults are generator-only).
    let run = DevArgs {
        chaos: true,
        ..args(&input, &dir.path().join("state"), &out)
    };
    let report = run_dev(&run, false).await.unwrap();
    assert_guarantees(&report);
    assert!(
        report.counts.faults.duplicate_notifications >= 1,
        "{:?}",
        report.counts
    );
    assert_eq!(
        report.counts.files_skipped_already_loaded,
        report.counts.faults.duplicate_notifications
    );
    assert_eq!(report.tables.raw_rows, 2);
    assert_eq!(
        read(&out.join("CUSTOMER_HISTORY.csv"), HISTORY),
        [
            "1|Ann|2026-11-23 10:00:00|2026-11-23 10:05:00|false",
            "1|Anna|2026-11-23 10:05:00|9999-12-31 00:00:00|true",
        ]
    );
}
