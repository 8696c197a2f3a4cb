//! Reconciliation and quarantine replay against the local stack (`pipectl dev`'s S3 and
//! Snowflake stand-ins), with the real clients: files nobody announced are found, announced on
//! the ingest queue and, through the ingest path, loaded once; quarantined files are never
//! announced again, a file that never loads is reported, and a corrected file replays under a
//! new key.

use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use pipectl::dev::stack::{DATABASE, PREFIX, SCHEMA, Stack, StackOptions};
use pipeline::generator::{FileId, GeneratorSettings, generate_bytes};
use pipeline::ingest::{
    Delivery, IngestSettings, ObjectRef, Outcome, ingest_objects, parse_delivery,
};
use pipeline::monitor::reconcile::FileStatus;
use pipeline::monitor::{
    Monitor, MonitorSettings, MonitorTarget, Problem, ReconcileSettings, reconcile,
};
use pipeline::quarantine::{ReplayError, list_quarantined, replay};
use tokio::time::Instant;

const SQL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql");

struct Local {
    stack: Stack,
    _dir: tempfile::TempDir,
}

async fn local_stack() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(StackOptions {
        state: dir.path(),
        sql_dir: SQL_DIR.as_ref(),
        snowflake_port: 0,
    })
    .await
    .unwrap();
    Local { stack, _dir: dir }
}

fn settings(max_attempts: u32) -> ReconcileSettings {
    ReconcileSettings {
        grace: TimeDelta::zero(),
        max_attempts,
        ..ReconcileSettings::new(PREFIX, "quarantine/")
    }
}

/// One reconciliation run, then the ingest function's work on what it announced.
struct Run {
    findings: Vec<pipeline::monitor::reconcile::Finding>,
    stuck: Vec<Problem>,
    /// What ingest did with each announced file.
    outcomes: Vec<Outcome>,
}

fn target() -> MonitorTarget {
    MonitorTarget::pipeline_objects(DATABASE, SCHEMA)
}

fn valid_csv(rows: u64, suffix: u32) -> Vec<u8> {
    let settings = GeneratorSettings {
        rows,
        ..GeneratorSettings::default()
    };
    generate_bytes(&settings, &FileId::new(Utc::now(), suffix), false)
}

/// A valid file with its first email broken.
fn invalid_csv() -> Vec<u8> {
    let text = String::from_utf8(valid_csv(5, 9)).unwrap();
    text.replacen('@', "#", 1).into_bytes()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

impl Local {
    /// Writes an object the way a producer would; nobody is subscribed, so no notification.
    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.stack
            .store
            .put_if_absent(key, Bytes::from(bytes), "text/csv")
            .await
            .unwrap();
    }

    async fn reconcile(&self, max_attempts: u32) -> Run {
        self.reconcile_at(max_attempts, Utc::now()).await
    }

    async fn reconcile_at(&self, max_attempts: u32, now: chrono::DateTime<Utc>) -> Run {
        let report = reconcile(
            &self.stack.store,
            &self.stack.sql,
            &self.stack.ingest_queue,
            &target(),
            &settings(max_attempts),
            now,
            soon(),
        )
        .await
        .unwrap();
        let mut outcomes = Vec::new();
        for body in self.stack.ingest_queue.take_all() {
            let payload = serde_json::from_str(&body).unwrap();
            let Delivery::Direct(objects) = parse_delivery(&payload).unwrap() else {
                panic!("an S3 notification was not read as one: {body}")
            };
            let (done, _) = ingest_objects(
                &self.stack.store,
                &self.stack.snowpipe,
                &IngestSettings::default(),
                &objects,
                soon(),
            )
            .await;
            outcomes.extend(done);
        }
        assert_eq!(outcomes.len(), report.announced.len());
        Run {
            findings: report.findings,
            stuck: report.stuck,
            outcomes,
        }
    }

    /// The ingest function's path for `key`, as its notification would trigger it.
    async fn ingest(&self, key: &str) -> Outcome {
        let object = ObjectRef {
            bucket: self.stack.store.bucket().to_owned(),
            key: key.to_owned(),
            size: None,
        };
        let (mut outcomes, _) = ingest_objects(
            &self.stack.store,
            &self.stack.snowpipe,
            &IngestSettings::default(),
            &[object],
            soon(),
        )
        .await;
        outcomes.remove(0)
    }

    async fn load_pending(&self) -> usize {
        let snowflake = self.stack.snowflake.clone();
        tokio::task::spawn_blocking(move || snowflake.load_pending(Utc::now()).len())
            .await
            .unwrap()
    }

    async fn raw_rows_from(&self, path: &str) -> u64 {
        let snowflake = self.stack.snowflake.clone();
        let sql = format!("SELECT count(*) FROM CUSTOMER_RAW WHERE _FILE_NAME = '{path}'");
        tokio::task::spawn_blocking(move || {
            let result = snowflake.query(&sql).unwrap();
            result.rows[0][0].clone().unwrap().parse().unwrap()
        })
        .await
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_written_without_a_notification_is_found_and_loaded_exactly_once() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_unannounced.csv");
    local.put(&key, valid_csv(20, 1)).await;

    let first = local.reconcile(3).await;
    assert!(
        matches!(&first.outcomes[..], [Outcome::Submitted { key: k, rows: 20, .. }] if *k == key),
        "{:?}",
        first.outcomes
    );
    assert_eq!(local.load_pending().await, 1);

    let second = local.reconcile(3).await;
    assert!(second.outcomes.is_empty(), "{:?}", second.outcomes);
    assert_eq!(second.findings[0].status, FileStatus::Loaded);
    assert_eq!(local.load_pending().await, 0);
    assert_eq!(local.raw_rows_from("customer_unannounced.csv").await, 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_file_is_never_resubmitted() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_bad.csv");
    local.put(&key, invalid_csv()).await;
    // Quarantined, but the delete of the original did not happen (a crash between the copy and
    // the delete): the original is still in the stage, older than its copy.
    local
        .stack
        .store
        .copy_object(&key, &format!("quarantine/{key}"))
        .await
        .unwrap();

    let report = local.reconcile(3).await;

    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].status, FileStatus::Quarantined);
    assert!(report.outcomes.is_empty());
    assert_eq!(local.stack.snowflake.pending_files(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_uploaded_again_under_a_quarantined_name_is_reconciled() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_fixed_in_place.csv");
    quarantine_invalid_file(&local, &key).await;
    // The producer uploads a corrected file under the same name; its notification is lost.
    local.put(&key, valid_csv(6, 4)).await;

    let report = local.reconcile(3).await;

    assert!(
        matches!(&report.outcomes[..], [Outcome::Submitted { rows: 6, .. }]),
        "{:?}",
        report.outcomes
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_given_up_on_stays_reported_past_13_days_until_it_leaves_the_stage() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_stuck.csv");
    local.put(&key, valid_csv(5, 2)).await;
    for _ in 0..2 {
        local.reconcile(2).await;
    }
    let stuck = |report: &Run| {
        report
            .stuck
            .iter()
            .map(Problem::key)
            .collect::<Vec<String>>()
    };
    let expected = [format!("notloading:{key}")];
    assert_eq!(stuck(&local.reconcile(2).await), expected);
    // Two weeks on, the file is outside the survey and still not loaded.
    let later = Utc::now() + TimeDelta::days(14);
    assert_eq!(stuck(&local.reconcile_at(2, later).await), expected);
    assert_eq!(stuck(&local.reconcile_at(2, later).await), expected);
    // The operator acts: the file leaves the stage, and the condition clears.
    local.stack.store.delete_object(&key).await.unwrap();
    assert!(local.reconcile_at(2, later).await.stuck.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_never_loads_is_reported_once_after_the_retry_cap() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_stuck.csv");
    local.put(&key, valid_csv(5, 2)).await;
    // The pipe never loads it (nothing calls load_pending): each run finds it not loaded.
    for attempt in 1..=2 {
        let report = local.reconcile(2).await;
        assert_eq!(report.outcomes.len(), 1, "attempt {attempt} resubmits");
        assert!(report.stuck.is_empty());
    }
    let capped = local.reconcile(2).await;
    assert!(capped.outcomes.is_empty(), "no third submission");
    assert_eq!(
        capped.stuck,
        [Problem::FileNotLoading {
            file: key.clone(),
            attempts: 2
        }]
    );

    let monitor = Monitor::new(
        local.stack.store.clone(),
        MonitorSettings {
            state_key: "monitor/state.json".into(),
            overlap: TimeDelta::minutes(60),
            lookback: TimeDelta::minutes(60),
        },
        None,
    );
    let first = monitor
        .run_with(
            &local.stack.sql,
            &target(),
            capped.stuck,
            Utc::now(),
            soon(),
        )
        .await
        .unwrap();
    assert!(
        first
            .reported
            .iter()
            .any(|p| p.key() == format!("notloading:{key}"))
    );
    let again = local.reconcile(2).await;
    let second = monitor
        .run_with(&local.stack.sql, &target(), again.stuck, Utc::now(), soon())
        .await
        .unwrap();
    assert!(
        second.reported.is_empty(),
        "a lasting condition is reported once: {:?}",
        second.reported
    );
}

/// Puts an invalid file at `key` and runs ingest on it: it goes to quarantine.
async fn quarantine_invalid_file(local: &Local, key: &str) {
    local.put(key, invalid_csv()).await;
    assert!(matches!(
        local.ingest(key).await,
        Outcome::Quarantined { .. }
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_file_replays_under_a_new_key_and_loads() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_fixme.csv");
    quarantine_invalid_file(&local, &key).await;
    let settings = IngestSettings::default();
    let listed = list_quarantined(&local.stack.store, &settings)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].original_key, key);
    assert!(
        listed[0]
            .first_error
            .as_deref()
            .is_some_and(|e| e.contains("email")),
        "{:?}",
        listed[0]
    );

    let fixed = valid_csv(7, 3);
    let new_key = replay(
        &local.stack.store,
        &settings,
        &listed[0].key,
        Some(fixed.into()),
        Utc::now(),
    )
    .await
    .unwrap();

    assert_ne!(new_key, key, "Snowpipe would skip the old name");
    assert!(new_key.starts_with(PREFIX) && new_key.contains(".replay-"));
    assert!(matches!(
        local.ingest(&new_key).await,
        Outcome::Submitted { rows: 7, .. }
    ));
    assert_eq!(local.load_pending().await, 1);
    let path = new_key.trim_start_matches(PREFIX);
    assert_eq!(local.raw_rows_from(path).await, 7);
    let still = list_quarantined(&local.stack.store, &settings)
        .await
        .unwrap();
    assert_eq!(still.len(), 1, "the original and its report stay for audit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_with_a_space_and_a_plus_is_quarantined_and_replayed_under_its_own_name() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer 1+2 (fix me).csv");
    quarantine_invalid_file(&local, &key).await;
    let settings = IngestSettings::default();
    let listed = list_quarantined(&local.stack.store, &settings)
        .await
        .unwrap();
    // The copy kept the key exactly: CopySource decoded to this object, not to `1 2` or `1+2`'s
    // neighbour.
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].original_key, key);
    assert_eq!(listed[0].key, format!("quarantine/{key}"));
    let new_key = replay(
        &local.stack.store,
        &settings,
        &listed[0].key,
        Some(valid_csv(4, 5).into()),
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        new_key.starts_with(&format!("{PREFIX}customer 1+2 (fix me).replay-")),
        "{new_key}"
    );
    assert!(matches!(
        local.ingest(&new_key).await,
        Outcome::Submitted { rows: 4, .. }
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uncorrected_file_is_refused_with_the_validators_report() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_still_bad.csv");
    quarantine_invalid_file(&local, &key).await;
    let settings = IngestSettings::default();

    let refused = replay(
        &local.stack.store,
        &settings,
        &format!("quarantine/{key}"),
        None,
        Utc::now(),
    )
    .await;

    let Err(ReplayError::StillInvalid(report)) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert!(!report.valid);
    assert_eq!(
        report.problem_counts.get("email_no_at"),
        Some(&1),
        "{report:?}"
    );
    let stage = local.stack.store.list_objects(PREFIX).await.unwrap();
    assert!(stage.is_empty(), "nothing written: {stage:?}");
}

/// An ingest queue that refuses every message.
struct DownQueue;

impl pipeline::ports::NotificationQueue for DownQueue {
    async fn send(&self, _body: String) -> Result<(), pipeline::ports::QueueError> {
        Err(pipeline::ports::QueueError {
            queue: "customer-ingest".into(),
            message: "503 Service Unavailable".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_announcement_that_was_not_sent_costs_no_attempt() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_queue_down.csv");
    local.put(&key, valid_csv(5, 3)).await;
    for _ in 0..3 {
        let report = reconcile(
            &local.stack.store,
            &local.stack.sql,
            &DownQueue,
            &target(),
            &settings(2),
            Utc::now(),
            soon(),
        )
        .await
        .unwrap();
        assert!(report.announced.is_empty());
        assert_eq!(report.deferred, 1);
        assert!(
            report.stuck.is_empty(),
            "never announced, so never given up"
        );
    }
    // The queue is back: the file is announced and loads.
    let run = local.reconcile(2).await;
    assert!(
        matches!(&run.outcomes[..], [Outcome::Submitted { rows: 5, .. }]),
        "{:?}",
        run.outcomes
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_announced_is_not_announced_again_within_the_grace_period() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_slow_queue.csv");
    local.put(&key, valid_csv(5, 5)).await;
    let with_grace = ReconcileSettings {
        grace: TimeDelta::minutes(15),
        ..settings(3)
    };
    let announce_at = |now| {
        let with_grace = with_grace.clone();
        let stack = &local.stack;
        async move {
            reconcile(
                &stack.store,
                &stack.sql,
                &stack.ingest_queue,
                &target(),
                &with_grace,
                now,
                soon(),
            )
            .await
            .unwrap()
            .announced
        }
    };
    let first = Utc::now() + TimeDelta::minutes(20);
    assert_eq!(announce_at(first).await, std::slice::from_ref(&key));
    // Five minutes on, the first message may still be in the queue: not again.
    assert!(announce_at(first + TimeDelta::minutes(5)).await.is_empty());
    // Past the grace period it still has not loaded: announced again.
    assert_eq!(announce_at(first + TimeDelta::minutes(16)).await, [key]);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_given_up_on_are_read_from_the_state_when_reconciliation_cannot_run() {
    let local = local_stack().await;
    let key = format!("{PREFIX}customer_stuck_again.csv");
    local.put(&key, valid_csv(5, 6)).await;
    for _ in 0..3 {
        local.reconcile(2).await;
    }
    let stuck = pipeline::monitor::reconcile::given_up(&local.stack.store, &settings(2))
        .await
        .unwrap();
    assert_eq!(
        stuck,
        [Problem::FileNotLoading {
            file: key,
            attempts: 2
        }]
    );
}
