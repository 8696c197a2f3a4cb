//! How long each file takes through each stage of a `pipectl dev` run: object created →
//! validated → insertFiles accepted → loaded into CUSTOMER_RAW → merged into CUSTOMER → in
//! CUSTOMER_HISTORY, with p50, p95 and max per stage and end to end.
//!
//! What each instant is: *created* when the upload completed; *validated* when ingest called
//! insertFiles for its batch (it validates every file of a batch first, so this bounds the
//! file's validation from above); *accepted* when insertFiles answered; *loaded* when the pipe's
//! load committed; *merged* when the first task run after the load committed. CUSTOMER and
//! CUSTOMER_HISTORY are written in that one transaction (sql/04_scd.sql), so a file is in
//! CUSTOMER_HISTORY at the instant it is merged into CUSTOMER: that stage is zero by
//! construction, listed so the table reads the same as the pipeline's stages.

use std::collections::BTreeMap;
use std::sync::Mutex;

use pipeline::ingest::{IngestError, PipeLoader};
use serde::Serialize;
use snowflake::{InsertFilesResponse, Snowpipe, StagedFile};
use tokio::time::Instant;

use super::stack::PREFIX;

/// The instants one file reached, as far as it got.
#[derive(Debug, Clone, Default)]
struct FileTimes {
    created: Option<Instant>,
    validated: Option<Instant>,
    accepted: Option<Instant>,
    loaded: Option<Instant>,
    merged: Option<Instant>,
}

/// Per-file instants, recorded by the stages as they happen.
#[derive(Debug, Default)]
pub struct Freshness {
    files: Mutex<BTreeMap<String, FileTimes>>,
}

/// One stage's latency over the files that went through it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageLatency {
    pub stage: &'static str,
    pub files: usize,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
}

/// The stage path of an object key or a pipe path.
fn path(key: &str) -> String {
    key.strip_prefix(PREFIX).unwrap_or(key).to_owned()
}

impl Freshness {
    fn stamp(&self, key: &str, at: Instant, field: fn(&mut FileTimes) -> &mut Option<Instant>) {
        let mut files = self.files.lock().expect("not poisoned");
        let slot = field(files.entry(path(key)).or_default());
        // The first time counts: a re-delivery or a resubmission does not make a file younger.
        slot.get_or_insert(at);
    }

    pub fn created(&self, key: &str) {
        self.stamp(key, Instant::now(), |t| &mut t.created);
    }

    pub fn loaded(&self, path: &str) {
        self.stamp(path, Instant::now(), |t| &mut t.loaded);
    }

    /// A task run committed: every file loaded before it is in CUSTOMER and CUSTOMER_HISTORY.
    pub fn merged(&self) {
        let now = Instant::now();
        for times in self.files.lock().expect("not poisoned").values_mut() {
            if times.loaded.is_some() && times.merged.is_none() {
                times.merged = Some(now);
            }
        }
    }

    /// p50, p95 and max of each stage, and of the whole way.
    pub fn summary(&self) -> Vec<StageLatency> {
        let files = self.files.lock().expect("not poisoned");
        let between = |stage: &'static str,
                       from: fn(&FileTimes) -> Option<Instant>,
                       to: fn(&FileTimes) -> Option<Instant>| {
            let mut millis: Vec<u64> = files
                .values()
                .filter_map(|t| Some(to(t)?.saturating_duration_since(from(t)?)))
                .map(|d| d.as_millis() as u64)
                .collect();
            millis.sort_unstable();
            StageLatency {
                stage,
                files: millis.len(),
                p50_ms: percentile(&millis, 50),
                p95_ms: percentile(&millis, 95),
                max_ms: millis.last().copied().unwrap_or(0),
            }
        };
        vec![
            between("created → validated", |t| t.created, |t| t.validated),
            between(
                "validated → insertFiles accepted",
                |t| t.validated,
                |t| t.accepted,
            ),
            between("accepted → loaded into RAW", |t| t.accepted, |t| t.loaded),
            between("loaded → merged into CUSTOMER", |t| t.loaded, |t| t.merged),
            between("merged → in CUSTOMER_HISTORY", |t| t.merged, |t| t.merged),
            between("end to end", |t| t.created, |t| t.merged),
        ]
    }
}

/// The nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// The ingest path's Snowpipe, stamping each file's validated and accepted instants.
pub struct TimedPipe<'a> {
    pub pipe: &'a Snowpipe,
    pub freshness: &'a Freshness,
}

impl PipeLoader for TimedPipe<'_> {
    async fn insert_files(
        &self,
        files: &[StagedFile],
        deadline: Instant,
    ) -> Result<Vec<InsertFilesResponse>, IngestError> {
        let called = Instant::now();
        for file in files {
            self.freshness
                .stamp(&file.path, called, |t| &mut t.validated);
        }
        let answers = PipeLoader::insert_files(self.pipe, files, deadline).await?;
        let answered = Instant::now();
        for file in files {
            self.freshness
                .stamp(&file.path, answered, |t| &mut t.accepted);
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), 10);
        assert_eq!(percentile(&values, 95), 19);
        assert_eq!(percentile(&[7], 95), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn a_stage_counts_only_files_that_reached_both_ends() {
        let freshness = Freshness::default();
        freshness.created("stream_data/a.csv");
        freshness.created("stream_data/b.csv");
        freshness.loaded("a.csv");
        freshness.merged();
        let summary = freshness.summary();
        let end_to_end = summary.iter().find(|s| s.stage == "end to end").unwrap();
        assert_eq!(end_to_end.files, 1);
        let loaded = &summary[3];
        assert_eq!(
            (loaded.stage, loaded.files),
            ("loaded → merged into CUSTOMER", 1)
        );
    }
}
