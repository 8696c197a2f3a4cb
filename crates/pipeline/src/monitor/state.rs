//! The monitor's memory between runs: how far the history has been checked and which problems
//! were already reported. It lives as a small JSON object in the bucket and is replaced only
//! with a compare-and-swap, so of two overlapping runs only one reports.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::Problem;

/// Event keys are kept past COPY_HISTORY's 14-day retention, after which no check can see the
/// event again.
const KEEP_REPORTED_DAYS: i64 = 15;
/// A bound on the object's size (about 1 MB) even if thousands of loads fail.
const MAX_REPORTED: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    /// Everything scheduled or loaded before this instant has been checked.
    pub checked_until: Option<DateTime<Utc>>,
    /// Problem keys already reported, with when each was first reported.
    #[serde(default)]
    pub reported: BTreeMap<String, DateTime<Utc>>,
}

impl MonitorState {
    pub fn from_json(bytes: &[u8]) -> Result<MonitorState, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("state serialises")
    }

    /// Where the next history window starts: `overlap` before the mark, because history rows
    /// appear late (a task's row when it finishes, a load's after COPY commits), or `lookback`
    /// before `now` on the first run. Repeats inside the overlap are filtered by key.
    pub fn window_start(
        &self,
        now: DateTime<Utc>,
        overlap: TimeDelta,
        lookback: TimeDelta,
    ) -> DateTime<Utc> {
        match self.checked_until {
            Some(mark) => mark - overlap,
            None => now - lookback,
        }
    }

    /// The problems not reported before, in the order found, and the state after reporting them:
    /// the mark moved to `now`, conditions that cleared forgotten (so they are reported again if
    /// they come back), old event keys dropped.
    pub fn advance(&self, found: &[Problem], now: DateTime<Utc>) -> (Vec<Problem>, MonitorState) {
        let mut next = self.clone();
        next.checked_until = Some(now);
        let current_conditions: Vec<String> = found
            .iter()
            .filter(|p| p.is_condition())
            .map(Problem::key)
            .collect();
        next.reported.retain(|key, first| {
            if Problem::is_condition_key(key) {
                current_conditions.contains(key)
            } else {
                now - *first < TimeDelta::days(KEEP_REPORTED_DAYS)
            }
        });
        let mut new = Vec::new();
        for problem in found {
            let key = problem.key();
            if let std::collections::btree_map::Entry::Vacant(entry) = next.reported.entry(key) {
                entry.insert(now);
                new.push(problem.clone());
            }
        }
        if next.reported.len() > MAX_REPORTED {
            let mut by_age: Vec<(DateTime<Utc>, String)> =
                next.reported.iter().map(|(k, t)| (*t, k.clone())).collect();
            by_age.sort();
            let excess = next.reported.len() - MAX_REPORTED;
            for (_, key) in by_age.into_iter().take(excess) {
                next.reported.remove(&key);
            }
        }
        (new, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_load(file: &str) -> Problem {
        Problem::LoadFailed {
            file: file.into(),
            status: "LOAD_FAILED".into(),
            first_error: None,
            rows_loaded: None,
            errors: None,
            last_load_time: "t".into(),
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        format!("2026-11-{day:02}T10:00:00Z").parse().unwrap()
    }

    #[test]
    fn forgets_reported_events_after_fifteen_days() {
        let (_, state) = MonitorState::default().advance(&[failed_load("a.csv")], at(1));
        let (_, kept) = state.advance(&[], at(15));
        let (_, dropped) = state.advance(&[], at(16));
        assert_eq!(kept.reported.len(), 1);
        assert!(dropped.reported.is_empty());
    }

    #[test]
    fn keeps_at_most_the_newest_ten_thousand_keys() {
        let old: Vec<Problem> = (0..10).map(|i| failed_load(&format!("old{i}"))).collect();
        let new: Vec<Problem> = (0..MAX_REPORTED)
            .map(|i| failed_load(&format!("new{i}")))
            .collect();
        let (_, state) = MonitorState::default().advance(&old, at(1));
        let (reported, state) = state.advance(&new, at(2));
        assert_eq!(reported.len(), MAX_REPORTED);
        assert_eq!(state.reported.len(), MAX_REPORTED);
        assert!(state.reported.keys().all(|k| k.starts_with("load:new")));
    }
}
