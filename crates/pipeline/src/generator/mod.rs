//! Deterministic fake customer files: the same settings, seed and file identity (scheduled time
//! and event id) always give the same bytes, so a re-delivered schedule event rewrites the same
//! key with the same content instead of creating a duplicate.
//!
//! The generator keeps no state between files. A customer's identity (name, country, first
//! address) is a pure function of (seed, customer_id), so an id keeps its identity across files;
//! an update row starts from that identity and applies one or two changes drawn from the file's
//! random stream. The id space `1..=ID_SPACE` is split in two: ids above
//! `ID_SPACE * (1 - NEW_RATE)` form the sign-up range that "new customer" rows draw from; updates
//! and deletes draw from the rest. Within a file no id repeats.

pub mod handler;
mod output;
mod permutation;
mod profile;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::contract::{CustomerRecord, MAX_CUSTOMER_ID, Op};
pub use output::{Chunk, CsvChunks, PROGRESS_EVERY_ROWS, generate_bytes, write_file};
use permutation::Permutation;
use profile::{Change, Country};

/// How many rows and which kinds. Validated by [`GeneratorSettings::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorSettings {
    pub rows: u64,
    pub id_space: u64,
    /// Share of rows that are deletes (`op=D`).
    pub delete_rate: f64,
    /// Share of rows that are new customers (drawn from the sign-up range).
    pub new_rate: f64,
    pub seed: u64,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        GeneratorSettings {
            rows: 1000,
            id_space: 10_000,
            delete_rate: 0.01,
            new_rate: 0.05,
            seed: 42,
        }
    }
}

impl GeneratorSettings {
    /// The id space when none is given: 10,000 customers, or as many as the rows of one file
    /// when that is more (ids never repeat within a file).
    pub fn id_space_fitting(rows: u64) -> u64 {
        GeneratorSettings::default().id_space.max(rows)
    }

    /// Explains the first inconsistency, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_CUSTOMER_ID).contains(&self.id_space) {
            return Err(format!(
                "ID_SPACE must be between 1 and {MAX_CUSTOMER_ID}, got {}",
                self.id_space
            ));
        }
        if self.rows == 0 || self.rows > self.id_space {
            return Err(format!(
                "ROWS_PER_FILE must be between 1 and ID_SPACE ({}) because ids never repeat within a file, got {}",
                self.id_space, self.rows
            ));
        }
        for (name, rate) in [
            ("DELETE_RATE", self.delete_rate),
            ("NEW_RATE", self.new_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "{name} must be a share between 0 and 1, got {rate}"
                ));
            }
        }
        if self.delete_rate + self.new_rate > 1.0 {
            return Err(format!(
                "DELETE_RATE + NEW_RATE must not exceed 1, got {} + {}",
                self.delete_rate, self.new_rate
            ));
        }
        Ok(())
    }
}

/// What makes a file unique: its scheduled time (whole seconds) and an 8-hex-digit id taken
/// from the triggering event. Both go into the object key and seed the random stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub scheduled_at: DateTime<Utc>,
    pub suffix: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event has an empty id, which cannot name a file")]
pub struct BadEventId(pub String);

impl FileId {
    /// From a scheduled event's `time` and `id`. An EventBridge id is a UUID: its first 8 hex
    /// digits are the suffix. Any other id (the template passes EventBridge Scheduler's schedule
    /// ARN, because its execution id changes on every retry) is hashed, so every delivery of one
    /// scheduled time names the same file.
    pub fn from_event(time: DateTime<Utc>, event_id: &str) -> Result<FileId, BadEventId> {
        if event_id.trim().is_empty() {
            return Err(BadEventId(event_id.to_owned()));
        }
        let hex_head = event_id
            .get(..8)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        let suffix = hex_head.unwrap_or_else(|| {
            let hash = event_id
                .bytes()
                .fold(0, |acc, byte| mix(acc, u64::from(byte)));
            (hash >> 32) as u32
        });
        Ok(FileId::new(time, suffix))
    }

    pub fn new(time: DateTime<Utc>, suffix: u32) -> FileId {
        let whole_seconds = DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time);
        FileId {
            scheduled_at: whole_seconds,
            suffix,
        }
    }

    /// For files made without an event (`pipectl generate` without `--id`): the 8 hex digits
    /// are derived from the seed and time, so the same command names the same file.
    pub fn derived(time: DateTime<Utc>, seed: u64) -> FileId {
        FileId::new(time, (mix(seed, time.timestamp() as u64) >> 32) as u32)
    }

    /// `<prefix>customer_<YYYYMMDDTHHMMSSZ>_<8 hex>.csv[.gz]`
    pub fn object_key(&self, prefix: &str, gzip: bool) -> String {
        format!(
            "{prefix}customer_{}_{:08x}.csv{}",
            self.scheduled_at.format("%Y%m%dT%H%M%SZ"),
            self.suffix,
            if gzip { ".gz" } else { "" }
        )
    }
}

/// Folds two words into one well-mixed word (SplitMix64's finaliser over their combination).
/// Used to derive independent, reproducible seeds; not for security.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Source change times of a file's rows fall in the minute before its scheduled time.
const CHANGE_WINDOW_SECONDS: i64 = 60;

#[derive(Clone, Copy)]
enum RowKind {
    Update,
    New,
    Delete,
}

/// One pass over a file's rows, filling a caller-owned record so no row allocates anew.
pub struct CustomerStream {
    settings: GeneratorSettings,
    scheduled_at: DateTime<Utc>,
    rng: Xoshiro256PlusPlus,
    existing: Pool,
    signups: Pool,
    produced: u64,
}

/// Ids `first..first + len`, handed out in the permutation's order.
struct Pool {
    first: u64,
    order: Permutation,
    next: u64,
}

impl Pool {
    fn take(&mut self) -> Option<u64> {
        (self.next < self.order.len()).then(|| {
            let id = self.first + self.order.at(self.next);
            self.next += 1;
            id
        })
    }
}

impl CustomerStream {
    /// `settings` must have passed [`GeneratorSettings::check`].
    pub fn new(settings: &GeneratorSettings, file: &FileId) -> CustomerStream {
        let file_seed = mix(
            mix(settings.seed, file.scheduled_at.timestamp() as u64),
            u64::from(file.suffix),
        );
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(file_seed);
        let signup_ids = ((settings.id_space as f64) * settings.new_rate).round() as u64;
        let existing_ids = settings.id_space - signup_ids.min(settings.id_space);
        let existing = Pool {
            first: 1,
            order: Permutation::new(existing_ids, &mut rng),
            next: 0,
        };
        let signups = Pool {
            first: existing_ids + 1,
            order: Permutation::new(settings.id_space - existing_ids, &mut rng),
            next: 0,
        };
        CustomerStream {
            settings: settings.clone(),
            scheduled_at: file.scheduled_at,
            rng,
            existing,
            signups,
            produced: 0,
        }
    }

    pub fn rows_left(&self) -> u64 {
        self.settings.rows - self.produced
    }

    /// Overwrites `record` with the next row; `false` once all rows were produced.
    pub fn next_into(&mut self, record: &mut CustomerRecord) -> bool {
        if self.produced == self.settings.rows {
            return false;
        }
        self.produced += 1;
        let draw: f64 = self.rng.random();
        let kind = if draw < self.settings.delete_rate {
            RowKind::Delete
        } else if draw < self.settings.delete_rate + self.settings.new_rate {
            RowKind::New
        } else {
            RowKind::Update
        };
        // Rows never exceed the id space, so one of the pools always has an id left.
        let id = match kind {
            RowKind::New => self.signups.take().or_else(|| self.existing.take()),
            RowKind::Update | RowKind::Delete => {
                self.existing.take().or_else(|| self.signups.take())
            }
        }
        .expect("rows <= id_space");
        let age = self.rng.random_range(0..CHANGE_WINDOW_SECONDS);
        record.customer_id = id;
        record.updated_at = self.scheduled_at - TimeDelta::seconds(age);
        match kind {
            RowKind::Delete => {
                record.op = Op::Delete;
                for field in [
                    &mut record.first_name,
                    &mut record.last_name,
                    &mut record.email,
                    &mut record.street,
                    &mut record.city,
                    &mut record.state,
                    &mut record.country,
                ] {
                    field.clear();
                }
            }
            RowKind::New => {
                record.op = Op::Upsert;
                self.fill_identity(id, record);
            }
            RowKind::Update => {
                record.op = Op::Upsert;
                let country = self.fill_identity(id, record);
                let changes = if self.rng.random_bool(0.25) { 2 } else { 1 };
                for _ in 0..changes {
                    let change = Change::pick(&mut self.rng);
                    profile::apply_change(change, country, &mut self.rng, record);
                }
            }
        }
        true
    }

    /// The customer's stable identity: a function of (seed, id) only.
    fn fill_identity(&self, id: u64, record: &mut CustomerRecord) -> Country {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(self.settings.seed, id));
        let country = Country::pick(&mut rng);
        profile::fill_profile(country, &mut rng, record);
        country
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn at(ts: &str) -> DateTime<Utc> {
        ts.parse().unwrap()
    }

    fn rows(settings: &GeneratorSettings, file: &FileId) -> Vec<CustomerRecord> {
        let mut stream = CustomerStream::new(settings, file);
        let mut record = CustomerRecord::default();
        let mut out = Vec::new();
        while stream.next_into(&mut record) {
            out.push(record.clone());
        }
        out
    }

    #[test]
    fn key_comes_from_event_time_and_id() {
        let file = FileId::from_event(
            at("2026-11-23T10:15:00.750Z"),
            "5B3A9C1E-0000-4000-8000-000000000000",
        )
        .unwrap();
        assert_eq!(
            file.object_key("stream_data/", false),
            "stream_data/customer_20261123T101500Z_5b3a9c1e.csv"
        );
        assert_eq!(
            file.object_key("x/", true),
            "x/customer_20261123T101500Z_5b3a9c1e.csv.gz"
        );
    }

    #[test]
    fn rejects_an_empty_event_id() {
        assert_eq!(
            FileId::from_event(at("2026-11-23T10:15:00Z"), " "),
            Err(BadEventId(" ".into()))
        );
    }

    #[test]
    fn an_id_without_hex_prefix_names_the_file_by_its_hash() {
        let time = at("2026-11-23T10:15:00Z");
        let arn = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/generator";
        let first = FileId::from_event(time, arn).unwrap();
        assert_eq!(FileId::from_event(time, arn).unwrap(), first, "stable");
        let other = FileId::from_event(time, &format!("{arn}-2")).unwrap();
        assert_ne!(other.suffix, first.suffix);
        assert_ne!(FileId::from_event(time, "test-event").unwrap(), first);
    }

    #[test]
    fn ids_never_repeat_within_a_file_even_when_it_uses_the_whole_space() {
        let settings = GeneratorSettings {
            rows: 500,
            id_space: 500,
            ..GeneratorSettings::default()
        };
        let file = FileId::new(at("2026-11-23T10:15:00Z"), 1);
        let ids: HashSet<u64> = rows(&settings, &file)
            .iter()
            .map(|r| r.customer_id)
            .collect();
        assert_eq!(ids.len(), 500);
        assert!(ids.iter().all(|id| (1..=500).contains(id)));
    }

    #[test]
    fn a_customer_keeps_identity_across_files() {
        let settings = GeneratorSettings {
            rows: 300,
            id_space: 400,
            delete_rate: 0.0,
            ..GeneratorSettings::default()
        };
        let first = rows(&settings, &FileId::new(at("2026-11-23T10:15:00Z"), 1));
        let second = rows(&settings, &FileId::new(at("2026-11-23T10:16:00Z"), 2));
        let mut common = 0;
        for a in &first {
            if let Some(b) = second.iter().find(|b| b.customer_id == a.customer_id) {
                common += 1;
                assert_eq!(a.first_name, b.first_name, "id {}", a.customer_id);
                assert_eq!(a.country, b.country, "id {}", a.customer_id);
            }
        }
        assert!(common > 100, "only {common} ids in common");
    }

    #[test]
    fn mix_of_kinds_follows_the_rates() {
        let settings = GeneratorSettings {
            rows: 10_000,
            id_space: 100_000,
            delete_rate: 0.1,
            new_rate: 0.2,
            seed: 3,
        };
        let all = rows(&settings, &FileId::new(at("2026-11-23T10:15:00Z"), 9));
        let deletes = all.iter().filter(|r| r.op == Op::Delete).count();
        let signups = all
            .iter()
            .filter(|r| r.op == Op::Upsert && r.customer_id > 80_000)
            .count();
        assert!((800..1200).contains(&deletes), "{deletes} deletes");
        assert!((1700..2300).contains(&signups), "{signups} sign-ups");
        assert!(
            all.iter()
                .filter(|r| r.op == Op::Delete)
                .all(|r| r.email.is_empty())
        );
    }

    #[test]
    fn change_times_fall_in_the_minute_before_the_schedule() {
        let scheduled = at("2026-11-23T10:15:00Z");
        let all = rows(&GeneratorSettings::default(), &FileId::new(scheduled, 4));
        assert!(all.iter().all(
            |r| r.updated_at <= scheduled && r.updated_at > scheduled - TimeDelta::seconds(60)
        ));
    }

    #[test]
    fn settings_check_names_the_variable() {
        let too_many = GeneratorSettings {
            rows: 11,
            id_space: 10,
            ..GeneratorSettings::default()
        };
        assert!(too_many.check().unwrap_err().contains("ROWS_PER_FILE"));
        let rates = GeneratorSettings {
            delete_rate: 0.6,
            new_rate: 0.6,
            ..GeneratorSettings::default()
        };
        assert!(
            rates
                .check()
                .unwrap_err()
                .contains("DELETE_RATE + NEW_RATE")
        );
        assert_eq!(GeneratorSettings::default().check(), Ok(()));
    }
}
