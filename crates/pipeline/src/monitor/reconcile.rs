//! Reconciliation: stage files that nothing has loaded, found by comparing the stage listing
//! with COPY_HISTORY and quarantine, are announced again on the ingest queue with the
//! notification S3 would have sent, so the ingest function does its own work on them
//! (validate, then quarantine or submit). S3 notifications are at-least-once but can be lost,
//! and a dead-letter queue can fill during an outage; announcing twice is safe because
//! Snowpipe skips a path it loaded within 14 days. Each run announces at most `max_per_run`
//! files within a time budget of its own, so the monitor's checks always run after it. A file
//! that still does not load after `max_attempts` announcements is reported as a problem.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use snowflake::Binding;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{MonitorTarget, Problem, Warehouse};
use crate::aws::S3Store;
use crate::ingest::events::object_created_notification;
use crate::ingest::{IngestSettings, ObjectRef, Outcome, PipeLoader, ingest_objects};
use crate::ports::{ListedObject, NotificationQueue, StoreError, SwapOutcome};

/// Files older than this are left alone: COPY_HISTORY and Snowpipe's load memory keep 14 days,
/// so an older file announced again could be loaded a second time.
pub const MAX_AGE_DAYS: i64 = 13;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    pub stage_prefix: String,
    pub quarantine_prefix: String,
    /// Younger files may still be on their way through ingest and the pipe.
    pub grace: TimeDelta,
    /// Announcements of one file before it is reported instead.
    pub max_attempts: u32,
    /// Files announced by one run at most; the rest wait for later runs.
    pub max_per_run: usize,
    /// How long one run may spend, survey included, before it stops and leaves the rest.
    pub budget: std::time::Duration,
    /// The reconciliation state object (attempts per file).
    pub state_key: String,
}

impl ReconcileSettings {
    /// The defaults: 3 attempts, 100 files and 20 seconds per run.
    pub fn new(stage_prefix: &str, quarantine_prefix: &str) -> Self {
        ReconcileSettings {
            stage_prefix: stage_prefix.to_owned(),
            quarantine_prefix: quarantine_prefix.to_owned(),
            grace: TimeDelta::minutes(15),
            max_attempts: 3,
            max_per_run: 100,
            budget: std::time::Duration::from_secs(20),
            state_key: "monitor/reconcile.json".into(),
        }
    }
}

/// What the survey concluded about one stage object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// COPY_HISTORY has the file loaded (fully or partly).
    Loaded,
    /// COPY_HISTORY has the file failed: the monitor's LoadFailures covers it; announcing it would
    /// fail the same way.
    LoadFailed,
    /// A copy is in quarantine: invalid data, never submitted.
    Quarantined,
    /// Younger than the grace period: possibly still on its way.
    InGrace,
    /// Older than [`MAX_AGE_DAYS`]: beyond what the history can vouch for.
    TooOld,
    /// Nothing has loaded it.
    NotLoaded,
}

/// One stage object and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub object: ListedObject,
    /// The path relative to the stage, as insertFiles and COPY_HISTORY name it.
    pub path: String,
    pub status: FileStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("listing the bucket failed: {0}")]
    Store(#[from] StoreError),
    #[error("reading COPY_HISTORY failed: {0}")]
    Snowflake(#[from] snowflake::SnowflakeError),
    #[error("the survey did not finish within reconciliation's time budget")]
    OutOfTime,
}

/// Classifies every stage object last modified in `[since, until)`.
pub async fn survey<W: Warehouse>(
    store: &S3Store,
    warehouse: &W,
    target: &MonitorTarget,
    settings: &ReconcileSettings,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<Vec<Finding>, ReconcileError> {
    let objects: Vec<ListedObject> = store
        .list_objects(&settings.stage_prefix)
        .await?
        .into_iter()
        .filter(|o| o.last_modified >= since && o.last_modified < until)
        .filter(|o| is_customer_file(&o.key))
        .collect();
    let Some(oldest) = objects.iter().map(|o| o.last_modified).min() else {
        return Ok(Vec::new());
    };
    // Original key → when its quarantine copy was made.
    let quarantined: BTreeMap<String, DateTime<Utc>> = store
        .list_objects(&format!(
            "{}{}",
            settings.quarantine_prefix, settings.stage_prefix
        ))
        .await?
        .into_iter()
        .filter_map(|o| {
            let original = o.key.strip_prefix(&settings.quarantine_prefix)?;
            // A file too large to copy stays in the stage, its report alone in quarantine.
            let original = original
                .strip_suffix(crate::quarantine::REPORT_SUFFIX)
                .unwrap_or(original);
            Some((original.to_owned(), o.last_modified))
        })
        .collect();
    // A file loads after it lands, so its history starts at the oldest file (less an hour for
    // clock skew), within COPY_HISTORY's 14 days.
    let history_start =
        (oldest - TimeDelta::hours(1)).max(now - TimeDelta::days(14) + TimeDelta::minutes(5));
    let history = load_history(warehouse, target, history_start, deadline).await?;
    Ok(objects
        .into_iter()
        .map(|object| {
            let path = object
                .key
                .strip_prefix(&settings.stage_prefix)
                .unwrap_or(&object.key)
                .to_owned();
            // A stage object newer than its quarantine copy is a new upload under the old name.
            let quarantined_copy = quarantined
                .get(&object.key)
                .is_some_and(|copied| *copied >= object.last_modified);
            let status =
                if let Some(loaded) = history.get(&path).or_else(|| history.get(&object.key)) {
                    if *loaded {
                        FileStatus::Loaded
                    } else {
                        FileStatus::LoadFailed
                    }
                } else if quarantined_copy {
                    FileStatus::Quarantined
                } else if now - object.last_modified < settings.grace {
                    FileStatus::InGrace
                } else if now - object.last_modified > TimeDelta::days(MAX_AGE_DAYS) {
                    FileStatus::TooOld
                } else {
                    FileStatus::NotLoaded
                };
            Finding {
                object,
                path,
                status,
            }
        })
        .collect())
}

/// The ingest function's scope: other objects under the prefix are not customer files.
fn is_customer_file(key: &str) -> bool {
    key.ends_with(".csv") || key.ends_with(".csv.gz")
}

/// Each file COPY_HISTORY knows since `start`: true if any load of it succeeded.
async fn load_history<W: Warehouse>(
    warehouse: &W,
    target: &MonitorTarget,
    start: DateTime<Utc>,
    deadline: Instant,
) -> Result<BTreeMap<String, bool>, snowflake::SnowflakeError> {
    let result = warehouse
        .query(
            &format!(
                "SELECT FILE_NAME, STATUS FROM TABLE({db}.INFORMATION_SCHEMA.COPY_HISTORY(\
                 TABLE_NAME => ?, START_TIME => TO_TIMESTAMP_LTZ(?)))",
                db = target.database
            ),
            &[
                Binding::Text(target.qualified(&target.table)),
                Binding::Text(start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            ],
            deadline,
        )
        .await?;
    let mut history = BTreeMap::new();
    for row in 0..result.rows.len() {
        let text = |column| {
            result
                .get(row, column)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let loaded = matches!(
            text("STATUS").to_ascii_uppercase().as_str(),
            "LOADED" | "PARTIALLY LOADED" | "LOAD IN PROGRESS"
        );
        let entry = history.entry(text("FILE_NAME")).or_insert(false);
        *entry |= loaded;
    }
    Ok(history)
}

/// Puts `findings` through the ingest path here and now (`pipectl backfill`, run by an operator
/// with the ingest user's key): each is validated, then quarantined or submitted (valid ones
/// together, in as few insertFiles calls as its limit allows). Nothing reaches Snowflake
/// unvalidated.
pub async fn resubmit<P: PipeLoader>(
    store: &S3Store,
    pipe: &P,
    settings: &ReconcileSettings,
    findings: &[&Finding],
    deadline: Instant,
) -> Vec<Outcome> {
    let objects: Vec<ObjectRef> = findings
        .iter()
        .map(|f| ObjectRef {
            bucket: store.bucket().to_owned(),
            key: f.object.key.clone(),
            size: Some(f.object.size),
        })
        .collect();
    let ingest = IngestSettings {
        stage_prefix: settings.stage_prefix.clone(),
        quarantine_prefix: settings.quarantine_prefix.clone(),
        ..IngestSettings::default()
    };
    ingest_objects(store, pipe, &ingest, &objects, deadline)
        .await
        .0
}

/// Announcements made per file, kept between runs in the bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileState {
    #[serde(default)]
    pub attempts: BTreeMap<String, u32>,
    /// When each file was last announced: it is not announced again within the grace period,
    /// which gives the queue's own redeliveries time to work.
    #[serde(default)]
    pub announced_at: BTreeMap<String, DateTime<Utc>>,
}

impl ReconcileState {
    /// The files given up on: reported as [`Problem::FileNotLoading`].
    pub fn given_up(&self, max_attempts: u32) -> Vec<Problem> {
        self.attempts
            .iter()
            .filter(|(_, attempts)| **attempts >= max_attempts)
            .map(|(file, &attempts)| Problem::FileNotLoading {
                file: file.clone(),
                attempts,
            })
            .collect()
    }
}

/// The files given up on as the last run left them: what the monitor reports when this run's
/// reconciliation failed, so FilesNotLoading does not clear by itself.
pub async fn given_up(
    store: &S3Store,
    settings: &ReconcileSettings,
) -> Result<Vec<Problem>, StoreError> {
    let state: ReconcileState = match store.get_versioned(&settings.state_key).await? {
        Some(object) => serde_json::from_slice(&object.body).unwrap_or_default(),
        None => ReconcileState::default(),
    };
    let stuck = state.given_up(settings.max_attempts);
    metrics::gauge!(crate::metrics::FILES_NOT_LOADING).set(stuck.len() as f64);
    Ok(stuck)
}

/// What one reconciliation run did.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    pub findings: Vec<Finding>,
    /// Files announced on the ingest queue this run.
    pub announced: Vec<String>,
    /// Files not loaded that wait for a later run: past `max_per_run`, out of budget, or their
    /// announcement failed (and counts as an attempt).
    pub deferred: usize,
    /// Still not loaded after the cap: reported as [`Problem::FileNotLoading`].
    pub stuck: Vec<Problem>,
    /// False when an overlapping run replaced the state first (and so announces instead).
    pub claimed: bool,
}

/// The monitor's reconciliation: survey the last [`MAX_AGE_DAYS`], pick the files not loaded
/// (fewest attempts first, at most `max_per_run`, none announced within the grace period),
/// claim them with a compare-and-swap of the state so overlapping runs do not both announce,
/// announce them on the ingest queue, then count an attempt only for each announcement that
/// was sent. Files at `max_attempts` are reported instead. It stops at its own budget or
/// `deadline`, whichever comes first.
pub async fn reconcile<W: Warehouse, Q: NotificationQueue>(
    store: &S3Store,
    warehouse: &W,
    queue: &Q,
    target: &MonitorTarget,
    settings: &ReconcileSettings,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<ReconcileReport, ReconcileError> {
    let deadline = deadline.min(Instant::now() + settings.budget);
    let window = (now - TimeDelta::days(MAX_AGE_DAYS), now);
    let findings = tokio::time::timeout_at(
        deadline,
        survey(store, warehouse, target, settings, window, now, deadline),
    )
    .await
    .map_err(|_| ReconcileError::OutOfTime)??;
    let (state, e_tag) = match store.get_versioned(&settings.state_key).await? {
        Some(object) => (
            serde_json::from_slice(&object.body).unwrap_or_default(),
            Some(object.e_tag),
        ),
        None => (ReconcileState::default(), None),
    };
    let plan = plan(&state, &findings, settings, now);
    let mut next = plan.next.clone();
    next.given_up_kept(store, settings, &state, &findings)
        .await?;
    let stuck = next.given_up(settings.max_attempts);
    // The claim: the due files carry this run's time, so an overlapping run skips them.
    let mut claimed = next.clone();
    for finding in &plan.due {
        claimed.announced_at.insert(finding.object.key.clone(), now);
    }
    if !swap(store, settings, &claimed, e_tag.as_deref()).await? {
        warn!("an overlapping run updated the reconciliation state first; it announces");
        return Ok(ReconcileReport {
            findings,
            stuck,
            claimed: false,
            ..ReconcileReport::default()
        });
    }
    let mut deferred = plan.deferred;
    let mut announced = Vec::new();
    for finding in &plan.due {
        let file = &finding.object.key;
        if Instant::now() >= deadline {
            deferred += 1;
            continue;
        }
        let body = object_created_notification(store.bucket(), file, finding.object.size, now);
        match tokio::time::timeout_at(deadline, queue.send(body)).await {
            Ok(Ok(())) => {
                let attempt = next.attempts.get(file).copied().unwrap_or(0) + 1;
                info!(%file, attempt, "announced a stage file that nothing had loaded on the ingest queue");
                announced.push(file.clone());
            }
            Ok(Err(error)) => {
                warn!(%file, %error, "announcing a stage file failed; a later run tries again");
                deferred += 1;
            }
            Err(_) => deferred += 1,
        }
    }
    // Only sent announcements count as attempts, and files claimed but not sent may be
    // announced by the next run.
    if !plan.due.is_empty() {
        record_sent(store, settings, &plan.due, &announced).await?;
    }
    if deferred > 0 {
        info!(
            deferred,
            "reconciliation left files for later runs (per-run cap, budget or failed sends)"
        );
    }
    metrics::counter!(crate::metrics::FILES_RECONCILED).increment(announced.len() as u64);
    metrics::gauge!(crate::metrics::FILES_NOT_LOADING).set(stuck.len() as f64);
    Ok(ReconcileReport {
        findings,
        announced,
        deferred,
        stuck,
        claimed: true,
    })
}

/// What a run will do: the files to announce, how many wait, and the state without this run's
/// announcements.
struct Plan<'a> {
    due: Vec<&'a Finding>,
    deferred: usize,
    next: ReconcileState,
}

fn plan<'a>(
    state: &ReconcileState,
    findings: &'a [Finding],
    settings: &ReconcileSettings,
    now: DateTime<Utc>,
) -> Plan<'a> {
    let attempts_of = |finding: &Finding| {
        state
            .attempts
            .get(&finding.object.key)
            .copied()
            .unwrap_or(0)
    };
    // Fewest attempts first: past the cap, files not yet announced go before those that were,
    // so a backlog moves on instead of announcing the same files run after run.
    let mut not_loaded: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == FileStatus::NotLoaded)
        .collect();
    not_loaded.sort_by_key(|f| attempts_of(f));
    let mut plan = Plan {
        due: Vec::new(),
        deferred: 0,
        next: ReconcileState::default(),
    };
    for finding in not_loaded {
        let key = &finding.object.key;
        let attempts = attempts_of(finding);
        plan.next.attempts.insert(key.clone(), attempts);
        let last = state.announced_at.get(key).copied();
        if let Some(last) = last {
            plan.next.announced_at.insert(key.clone(), last);
        }
        let resting = last.is_some_and(|last| now - last < settings.grace);
        if attempts >= settings.max_attempts || resting {
            continue;
        }
        if plan.due.len() < settings.max_per_run {
            plan.due.push(finding);
        } else {
            plan.deferred += 1;
        }
    }
    plan
}

/// Replaces the state if it is still the version read; false when another run changed it.
async fn swap(
    store: &S3Store,
    settings: &ReconcileSettings,
    state: &ReconcileState,
    read_e_tag: Option<&str>,
) -> Result<bool, StoreError> {
    let body = serde_json::to_vec_pretty(state).expect("state serialises");
    let outcome = store
        .replace_if_unchanged(
            &settings.state_key,
            body.into(),
            "application/json",
            read_e_tag,
        )
        .await?;
    Ok(outcome == SwapOutcome::Written)
}

/// After the sends: an attempt for each file announced, and the claim released for each claimed
/// file that was not, on the latest state (read again, so a concurrent change is kept).
async fn record_sent(
    store: &S3Store,
    settings: &ReconcileSettings,
    due: &[&Finding],
    announced: &[String],
) -> Result<(), StoreError> {
    for _ in 0..3 {
        let Some(object) = store.get_versioned(&settings.state_key).await? else {
            return Ok(());
        };
        let mut state: ReconcileState = serde_json::from_slice(&object.body).unwrap_or_default();
        for finding in due {
            let key = &finding.object.key;
            if announced.contains(key) {
                *state.attempts.entry(key.clone()).or_default() += 1;
            } else {
                state.announced_at.remove(key);
            }
        }
        if swap(store, settings, &state, Some(&object.e_tag)).await? {
            return Ok(());
        }
    }
    warn!("the reconciliation state kept changing; this run's attempts were not recorded");
    Ok(())
}

impl ReconcileState {
    /// Keeps the entries of files given up on that aged out of the survey while they are still
    /// in the stage (see [`still_stuck`]).
    async fn given_up_kept(
        &mut self,
        store: &S3Store,
        settings: &ReconcileSettings,
        previous: &ReconcileState,
        findings: &[Finding],
    ) -> Result<(), StoreError> {
        for problem in still_stuck(store, settings, previous, findings).await? {
            if let Problem::FileNotLoading { file, attempts } = problem {
                self.attempts.insert(file, attempts);
            }
        }
        Ok(())
    }
}

/// Files given up on that aged out of the survey stay reported until they are gone from the
/// stage or an operator removes their entry from the state: FilesNotLoading must not clear by
/// itself while a file is still unloaded. Files that loaded, were quarantined or left are
/// forgotten with the new state.
async fn still_stuck(
    store: &S3Store,
    settings: &ReconcileSettings,
    state: &ReconcileState,
    findings: &[Finding],
) -> Result<Vec<Problem>, StoreError> {
    let mut stuck = Vec::new();
    for (key, &attempts) in &state.attempts {
        let surveyed = findings.iter().any(|f| &f.object.key == key);
        if attempts < settings.max_attempts || surveyed {
            continue;
        }
        let still_staged = store.list_objects(key).await?.iter().any(|o| &o.key == key);
        if still_staged {
            stuck.push(Problem::FileNotLoading {
                file: key.clone(),
                attempts,
            });
        }
    }
    Ok(stuck)
}
