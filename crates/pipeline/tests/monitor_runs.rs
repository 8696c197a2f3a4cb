//! Monitor runs over time: the state object in the S3 stand-in, the warehouse scripted in memory.
//! What is reported, when, and how often.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use devstack::S3StandIn;
use devstack::SnowflakeFake;
use devstack::snowflake_fake::Reply;
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::monitor::alert::Webhook;
use pipeline::monitor::{
    Monitor, MonitorError, MonitorSettings, MonitorState, MonitorTarget, Problem, Warehouse,
};
use snowflake::sql_api::{Column, Value};
use snowflake::{Binding, ResultSet, SnowflakeError};
use tokio::sync::Barrier;
use tokio::time::Instant;

const STATE_KEY: &str = "monitor/state.json";

/// What the warehouse currently shows; tests change it between runs.
#[derive(Clone, Default)]
struct Shown {
    failed_tasks: Vec<[&'static str; 6]>,
    failed_loads: Vec<[&'static str; 6]>,
    pipe_state: &'static str,
    suspended_task: Option<&'static str>,
    stale_stream: Option<&'static str>,
    down: bool,
}

#[derive(Clone, Default)]
struct ScriptedWarehouse {
    shown: Arc<Mutex<Shown>>,
    /// When set, the first statement of each run waits here: runs overlap for certain.
    barrier: Option<Arc<Barrier>>,
    window_starts: Arc<Mutex<Vec<String>>>,
}

impl ScriptedWarehouse {
    fn show(&self, change: impl FnOnce(&mut Shown)) {
        change(&mut self.shown.lock().unwrap());
    }
}

fn result(columns: &[&str], rows: Vec<Vec<Value>>) -> ResultSet {
    ResultSet {
        statement_handle: "h".into(),
        columns: columns
            .iter()
            .map(|name| Column {
                name: (*name).into(),
                kind: "text".into(),
                scale: None,
            })
            .collect(),
        rows,
    }
}

fn texts(cells: &[&str]) -> Vec<Value> {
    cells.iter().map(|c| Value::Text((*c).into())).collect()
}

impl Warehouse for ScriptedWarehouse {
    async fn query(
        &self,
        statement: &str,
        bindings: &[Binding],
        _deadline: Instant,
    ) -> Result<ResultSet, SnowflakeError> {
        if statement.contains("TASK_HISTORY") {
            if let Some(barrier) = &self.barrier {
                barrier.wait().await;
            }
            if let Some(Binding::Text(start)) = bindings.first() {
                self.window_starts.lock().unwrap().push(start.clone());
            }
        }
        let shown = self.shown.lock().unwrap().clone();
        if shown.down {
            return Err(SnowflakeError::Transport {
                operation: "execute statement",
                message: "connection refused".into(),
                request_id: "r".into(),
            });
        }
        let columns = [
            "NAME",
            "STATE",
            "QUERY_ID",
            "ERROR_CODE",
            "ERROR_MESSAGE",
            "SCHEDULED_TIME",
        ];
        Ok(if statement.contains("TASK_HISTORY") {
            result(
                &columns,
                shown.failed_tasks.iter().map(|r| texts(r)).collect(),
            )
        } else if statement.contains("COPY_HISTORY") {
            let columns = [
                "FILE_NAME",
                "STATUS",
                "FIRST_ERROR_MESSAGE",
                "ROW_COUNT",
                "ERROR_COUNT",
                "LAST_LOAD_TIME",
            ];
            result(
                &columns,
                shown.failed_loads.iter().map(|r| texts(r)).collect(),
            )
        } else if statement.contains("SYSTEM$PIPE_STATUS") {
            let status = format!(
                r#"{{"executionState":"{}","pendingFileCount":2}}"#,
                shown.pipe_state
            );
            result(&["STATUS"], vec![texts(&[&status])])
        } else if statement.starts_with("SHOW TASKS") {
            let rows = shown
                .suspended_task
                .map(|t| texts(&[t, "suspended", "SUSPENDED_DUE_TO_ERRORS"]))
                .into_iter()
                .collect();
            result(&["name", "state", "last_suspended_reason"], rows)
        } else if statement.contains("PIPELINE_MERGE_LAG") {
            result(
                &["UNMERGED_ROWS", "OLDEST_UNMERGED_LOADED_AT"],
                vec![vec![Value::Integer(0), Value::Null]],
            )
        } else {
            let rows = shown
                .stale_stream
                .map(|s| texts(&[s, "true"]))
                .into_iter()
                .collect();
            result(&["name", "stale"], rows)
        })
    }
}

const FAILED_TASK: [&str; 6] = [
    "TSK_SCD_RAW",
    "FAILED",
    "01b-q1",
    "100038",
    "Numeric value 'x' is not recognized",
    "2026-11-23T10:01:00.000+00:00",
];
const FAILED_LOAD: [&str; 6] = [
    "customer_a.csv",
    "LOAD_FAILED",
    "Field delimiter ',' found",
    "0",
    "1",
    "2026-11-23T10:02:00.000+00:00",
];

fn healthy() -> Shown {
    Shown {
        pipe_state: "RUNNING",
        ..Shown::default()
    }
}

fn everything_wrong() -> Shown {
    Shown {
        failed_tasks: vec![FAILED_TASK],
        failed_loads: vec![FAILED_LOAD],
        pipe_state: "PAUSED",
        suspended_task: Some("TSK_SCD_RAW"),
        stale_stream: Some("CUSTOMER_RAW_CHANGES"),
        down: false,
    }
}

fn target() -> MonitorTarget {
    MonitorTarget::pipeline_objects("CUSTOMERS", "RAW")
}

struct Fixture {
    _s3: S3StandIn,
    store: S3Store,
    warehouse: ScriptedWarehouse,
}

async fn fixture(shown: Shown) -> Fixture {
    let s3 = S3StandIn::start_in_temp_dir(&["landing"]).await.unwrap();
    let client = s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    );
    let warehouse = ScriptedWarehouse::default();
    warehouse.show(|s| *s = shown);
    Fixture {
        store: S3Store::new(client, "landing"),
        _s3: s3,
        warehouse,
    }
}

fn monitor(store: &S3Store, webhook: Option<Webhook>) -> Monitor {
    let settings = MonitorSettings {
        state_key: STATE_KEY.into(),
        overlap: TimeDelta::minutes(60),
        lookback: TimeDelta::minutes(30),
    };
    Monitor::new(store.clone(), settings, webhook)
}

fn at(minute: u32) -> DateTime<Utc> {
    format!("2026-11-23T10:{minute:02}:00Z").parse().unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn state(store: &S3Store) -> Option<MonitorState> {
    let object = store.get_versioned(STATE_KEY).await.unwrap()?;
    Some(MonitorState::from_json(&object.body).unwrap())
}

fn kinds(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(Problem::key).collect()
}

#[tokio::test]
async fn reports_every_kind_of_problem_on_the_first_run() {
    let f = fixture(everything_wrong()).await;
    let report = monitor(&f.store, None)
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    assert_eq!(
        kinds(&report.reported),
        [
            "task:TSK_SCD_RAW:01b-q1",
            "load:customer_a.csv:2026-11-23T10:02:00.000+00:00",
            "pipe:CUSTOMER_PIPE:PAUSED",
            "suspended:TSK_SCD_RAW",
            "stale:CUSTOMER_RAW_CHANGES",
        ]
    );
    assert!(report.claimed);
}

#[tokio::test]
async fn the_same_problems_are_not_reported_by_the_next_run() {
    let f = fixture(everything_wrong()).await;
    let monitor = monitor(&f.store, None);
    monitor
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    let second = monitor
        .run(&f.warehouse, &target(), at(35), soon())
        .await
        .unwrap();
    assert!(second.reported.is_empty(), "{:?}", second.reported);
    assert_eq!(second.health.problems.len(), 5, "still there, just not new");
}

#[tokio::test]
async fn a_new_failure_is_reported_alongside_old_ones_not_reported_again() {
    let f = fixture(everything_wrong()).await;
    let monitor = monitor(&f.store, None);
    monitor
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    let mut again = FAILED_TASK;
    again[2] = "01b-q2";
    f.warehouse.show(|s| s.failed_tasks.push(again));
    let second = monitor
        .run(&f.warehouse, &target(), at(35), soon())
        .await
        .unwrap();
    assert_eq!(kinds(&second.reported), ["task:TSK_SCD_RAW:01b-q2"]);
}

#[tokio::test]
async fn a_condition_that_clears_and_comes_back_is_reported_again() {
    let f = fixture(Shown {
        pipe_state: "PAUSED",
        ..healthy()
    })
    .await;
    let monitor = monitor(&f.store, None);
    let first = monitor
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    f.warehouse.show(|s| s.pipe_state = "RUNNING");
    let cleared = monitor
        .run(&f.warehouse, &target(), at(35), soon())
        .await
        .unwrap();
    f.warehouse.show(|s| s.pipe_state = "PAUSED");
    let back = monitor
        .run(&f.warehouse, &target(), at(40), soon())
        .await
        .unwrap();
    assert_eq!(kinds(&first.reported), ["pipe:CUSTOMER_PIPE:PAUSED"]);
    assert!(cleared.reported.is_empty());
    assert_eq!(kinds(&back.reported), ["pipe:CUSTOMER_PIPE:PAUSED"]);
}

#[tokio::test]
async fn first_run_looks_back_and_later_runs_start_an_overlap_before_the_mark() {
    let f = fixture(healthy()).await;
    let monitor = monitor(&f.store, None);
    let first = monitor
        .run(&f.warehouse, &target(), at(40), soon())
        .await
        .unwrap();
    let second = monitor
        .run(&f.warehouse, &target(), at(45), soon())
        .await
        .unwrap();
    assert_eq!(first.window_start, at(10), "30 minutes of lookback");
    assert_eq!(
        second.window_start,
        at(40) - TimeDelta::minutes(60),
        "60 minutes of overlap"
    );
    assert_eq!(
        *f.warehouse.window_starts.lock().unwrap(),
        ["2026-11-23T10:10:00.000Z", "2026-11-23T09:40:00.000Z"]
    );
    assert_eq!(state(&f.store).await.unwrap().checked_until, Some(at(45)));
}

#[tokio::test]
async fn a_snowflake_outage_fails_the_run_and_keeps_the_mark() {
    let f = fixture(healthy()).await;
    let monitor = monitor(&f.store, None);
    monitor
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    f.warehouse.show(|s| s.down = true);
    let err = monitor
        .run(&f.warehouse, &target(), at(35), soon())
        .await
        .unwrap_err();
    assert!(matches!(err, MonitorError::Snowflake(_)), "{err}");
    assert_eq!(state(&f.store).await.unwrap().checked_until, Some(at(30)));
    f.warehouse.show(|s| {
        *s = Shown {
            failed_tasks: vec![FAILED_TASK],
            ..healthy()
        }
    });
    let recovered = monitor
        .run(&f.warehouse, &target(), at(40), soon())
        .await
        .unwrap();
    assert_eq!(recovered.window_start, at(30) - TimeDelta::minutes(60));
    assert_eq!(kinds(&recovered.reported), ["task:TSK_SCD_RAW:01b-q1"]);
}

#[tokio::test]
async fn overlapping_runs_report_each_problem_once() {
    let mut f = fixture(everything_wrong()).await;
    f.warehouse.barrier = Some(Arc::new(Barrier::new(2)));
    let (a, b) = (monitor(&f.store, None), monitor(&f.store, None));
    let target = target();
    let (ra, rb) = tokio::join!(
        a.run(&f.warehouse, &target, at(30), soon()),
        b.run(&f.warehouse, &target, at(30), soon()),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.claimed as u8 + rb.claimed as u8,
        1,
        "exactly one run claims"
    );
    assert_eq!(ra.reported.len() + rb.reported.len(), 5);
}

#[tokio::test]
async fn an_unreadable_state_is_replaced_and_monitoring_goes_on() {
    let f = fixture(Shown {
        failed_tasks: vec![FAILED_TASK],
        ..healthy()
    })
    .await;
    f.store
        .replace_if_unchanged(STATE_KEY, "{not json".into(), "application/json", None)
        .await
        .unwrap();
    let report = monitor(&f.store, None)
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    assert!(report.claimed);
    assert_eq!(kinds(&report.reported), ["task:TSK_SCD_RAW:01b-q1"]);
    assert_eq!(state(&f.store).await.unwrap().checked_until, Some(at(30)));
}

#[test]
fn records_failure_counts_and_current_state_as_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let f = fixture(everything_wrong()).await;
            let monitor = monitor(&f.store, None);
            monitor
                .run(&f.warehouse, &target(), at(30), soon())
                .await
                .unwrap();
            // The second run finds nothing new: failure counts stay, state gauges are set again.
            monitor
                .run(&f.warehouse, &target(), at(35), soon())
                .await
                .unwrap();
        })
    });
    let values: std::collections::HashMap<String, f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(h) => h.len() as f64,
            };
            (key.key().name().to_owned(), value)
        })
        .collect();
    assert_eq!(values["MonitorRuns"], 2.0);
    assert_eq!(values["TaskFailures"], 1.0);
    assert_eq!(values["LoadFailures"], 1.0);
    assert_eq!(values["PipeNotRunning"], 1.0);
    assert_eq!(values["TasksSuspended"], 1.0);
    assert_eq!(values["StaleStreams"], 1.0);
    assert_eq!(values["PipePendingFiles"], 2.0);
}

#[tokio::test]
async fn posts_one_alert_for_a_run_with_new_problems_and_none_without() {
    let chat = SnowflakeFake::start(vec![Reply::status(200, "ok")])
        .await
        .unwrap();
    let f = fixture(Shown {
        failed_tasks: vec![FAILED_TASK],
        ..healthy()
    })
    .await;
    let webhook = Webhook::new(format!("{}/services/T000/B000/secret", chat.base_url())).unwrap();
    let monitor = monitor(&f.store, Some(webhook));
    let first = monitor
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    let second = monitor
        .run(&f.warehouse, &target(), at(35), soon())
        .await
        .unwrap();
    assert_eq!(first.alert, Some(Ok(())));
    assert_eq!(second.alert, None);
    let posts = chat.seen();
    assert_eq!(posts.len(), 1);
    let text = posts[0].json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("CUSTOMERS.RAW: 1 new problem"), "{text}");
    assert!(text.contains("task TSK_SCD_RAW FAILED"), "{text}");
    // Snowflake's message can quote row values: it stays in the logs, not in the chat.
    assert!(
        !text.contains("Numeric value 'x' is not recognized"),
        "{text}"
    );
}

#[tokio::test]
async fn a_failing_webhook_does_not_fail_the_run_or_hide_the_url() {
    let chat = SnowflakeFake::start(vec![Reply::status(500, "down")])
        .await
        .unwrap();
    let f = fixture(Shown {
        failed_tasks: vec![FAILED_TASK],
        ..healthy()
    })
    .await;
    let url = format!("{}/services/T000/B000/secret-token", chat.base_url());
    let monitor = monitor(&f.store, Some(Webhook::new(url).unwrap()));
    let report = monitor
        .run(&f.warehouse, &target(), at(30), soon())
        .await
        .unwrap();
    let Some(Err(message)) = report.alert else {
        panic!("expected a failed alert, got {:?}", report.alert);
    };
    assert_eq!(message, "alert webhook answered HTTP 500");
    assert!(
        report.claimed,
        "the problems still count as reported: they are in the logs"
    );
}
