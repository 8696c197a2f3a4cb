//! The pipe: files queued by insertFiles are loaded from the stage folder into the raw table
//! with the shipped COPY's semantics (reference §2): the header skipped, `$1…$10` converted to
//! the table's types, METADATA$FILENAME and METADATA$FILE_ROW_NUMBER captured, ON_ERROR =
//! SKIP_FILE (one bad row loads nothing and the file is LOAD_FAILED with its first error), and a
//! 14-day load history per path so a path already loaded is skipped.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use pipeline::contract::COLUMNS;
use serde::Serialize;

use crate::engine::Engine;

/// What the load history remembers of one file (insertReport's `files[]` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadRecord {
    pub path: String,
    pub stage_location: String,
    pub file_size: u64,
    pub time_received: String,
    pub last_insert_time: String,
    pub rows_inserted: u64,
    pub rows_parsed: u64,
    pub errors_seen: u64,
    pub error_limit: u64,
    pub complete: bool,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error_line_num: Option<u64>,
    #[serde(skip)]
    pub loaded_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Queued {
    path: String,
    received: DateTime<Utc>,
}

/// One pipe over one stage folder.
pub struct Pipe {
    /// DATABASE.SCHEMA.PIPE, upper case.
    pub name: String,
    pub table: String,
    /// The folder the stage URL points at (the S3 stand-in's bucket folder and prefix).
    pub stage_dir: PathBuf,
    queue: VecDeque<Queued>,
    /// When each path last loaded: the 14-day load history that makes insertFiles skip it.
    /// Rebuilt from `__standin_copy_history` on start, so a resumed state folder remembers.
    loaded: BTreeMap<String, DateTime<Utc>>,
    /// Load events in order, for insertReport.
    events: Vec<LoadRecord>,
    pub paused: bool,
}

const HISTORY_DAYS: i64 = 14;

impl Pipe {
    pub fn new(name: &str, table: &str, stage_dir: PathBuf) -> Pipe {
        Pipe {
            name: name.to_ascii_uppercase(),
            table: table.to_ascii_uppercase(),
            stage_dir,
            queue: VecDeque::new(),
            loaded: BTreeMap::new(),
            events: Vec::new(),
            paused: false,
        }
    }

    /// Queues `paths`; returns the ones skipped because they were loaded within 14 days (or
    /// are queued already).
    pub fn insert_files(&mut self, paths: &[String], now: DateTime<Utc>) -> Vec<String> {
        let mut skipped = Vec::new();
        for path in paths {
            let loaded = self
                .loaded
                .get(path)
                .is_some_and(|at| now - *at < TimeDelta::days(HISTORY_DAYS));
            if loaded || self.queue.iter().any(|q| &q.path == path) {
                skipped.push(path.clone());
            } else {
                self.queue.push_back(Queued {
                    path: path.clone(),
                    received: now,
                });
            }
        }
        skipped
    }

    /// Reads back the load history a previous run on the same warehouse file recorded.
    pub fn restore_history(&mut self, engine: &Engine) -> duckdb::Result<()> {
        let rows = engine.with_connection(|conn| {
            let mut statement = conn.prepare(
                "SELECT FILE_NAME, CAST(max(LAST_LOAD_TIME) AS VARCHAR) FROM __standin_copy_history \
                 WHERE PIPE_NAME = ? AND STATUS = 'Loaded' GROUP BY FILE_NAME",
            )?;
            let rows = statement.query_map([&self.name], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            rows.collect::<duckdb::Result<Vec<_>>>()
        })?;
        for (path, at) in rows {
            if let Ok(at) = NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S%.f") {
                self.loaded.insert(path, at.and_utc());
            }
        }
        Ok(())
    }

    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    pub fn last_ingested(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .filter(|e| e.status == "LOADED")
            .map(|e| e.loaded_at)
            .max()
    }

    /// Events of the last 10 minutes (insertReport's window).
    pub fn recent_events(&self, now: DateTime<Utc>) -> Vec<LoadRecord> {
        self.events
            .iter()
            .filter(|e| now - e.loaded_at <= TimeDelta::minutes(10))
            .cloned()
            .collect()
    }

    pub fn events_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<LoadRecord> {
        self.events
            .iter()
            .filter(|e| e.loaded_at >= start && e.loaded_at < end)
            .cloned()
            .collect()
    }

    /// Loads every queued file, one COPY each, and records it for COPY_HISTORY.
    pub fn load_queued(&mut self, engine: &Engine, now: DateTime<Utc>) -> Vec<LoadRecord> {
        if self.paused {
            return Vec::new();
        }
        let mut loaded = Vec::new();
        while let Some(queued) = self.queue.pop_front() {
            let record = self.load_one(engine, &queued, now);
            if record.status == "LOADED" {
                self.loaded.insert(record.path.clone(), record.loaded_at);
            }
            self.events.push(record.clone());
            loaded.push(record);
        }
        loaded
    }

    fn load_one(&self, engine: &Engine, queued: &Queued, now: DateTime<Utc>) -> LoadRecord {
        let file = self.stage_dir.join(&queued.path);
        let bytes = std::fs::read(&file);
        let file_size = bytes.as_ref().map_or(0, |b| b.len() as u64);
        let outcome = match bytes {
            Ok(bytes) => parse_file(&bytes).and_then(|rows| {
                insert_rows(engine, &self.table, &queued.path, &rows)
                    .map(|()| rows.len() as u64)
                    .map_err(|e| (0, e))
            }),
            Err(e) => Err((
                0,
                format!("Remote file '{}' was not found. ({e})", queued.path),
            )),
        };
        let (status, rows_inserted, rows_parsed, first_error, line) = match outcome {
            Ok(rows) => ("LOADED", rows, rows, None, None),
            Err((line, error)) => (
                "LOAD_FAILED",
                0,
                line.saturating_sub(1),
                Some(error),
                Some(line),
            ),
        };
        let record = LoadRecord {
            path: queued.path.clone(),
            stage_location: format!("{}/", self.stage_dir.display()),
            file_size,
            time_received: iso(queued.received),
            last_insert_time: iso(now),
            rows_inserted,
            rows_parsed,
            errors_seen: u64::from(first_error.is_some()),
            error_limit: 1,
            complete: true,
            status: status.to_owned(),
            first_error,
            first_error_line_num: line,
            loaded_at: now,
        };
        let history = engine.with_connection(|conn| {
            conn.execute(
                "INSERT INTO __standin_copy_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP), ?)",
                duckdb::params![
                    record.path,
                    format!("{}.{}.{}", engine.database, engine.schema, self.table),
                    if record.status == "LOADED" { "Loaded" } else { "Load failed" },
                    record.rows_inserted as i64,
                    record.rows_parsed as i64,
                    record.errors_seen as i64,
                    record.first_error,
                    record.first_error_line_num.map(|n| n as i64),
                    record.file_size as i64,
                    now.naive_utc().to_string(),
                    self.name,
                ],
            )
        });
        if let Err(err) = history {
            tracing::error!(error = %err, "recording a load failed");
        }
        record
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One data row converted to the raw table's types: id, 7 texts, timestamp, op.
type Row = (i64, Vec<Option<String>>, NaiveDateTime, String);

/// Parses the whole file or returns the first error with its line number, as COPY reports it.
fn parse_file(bytes: &[u8]) -> Result<Vec<Row>, (u64, String)> {
    let mut text = Vec::new();
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut text)
            .map_err(|e| {
                (
                    1,
                    format!("Invalid data encountered during decompression for file: {e}"),
                )
            })?;
        &text[..]
    } else {
        bytes
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for (index, record) in reader.byte_records().enumerate() {
        let line = index as u64 + 2;
        let record = record.map_err(|e| (line, format!("Error parsing the file: {e}")))?;
        if record.len() != COLUMNS.len() {
            return Err((
                line,
                format!(
                    "Number of columns in file ({}) does not match that of the corresponding table ({}), use file format option error_on_column_count_mismatch=false to ignore this error",
                    record.len(),
                    COLUMNS.len()
                ),
            ));
        }
        let mut fields = Vec::with_capacity(record.len());
        for field in record.iter() {
            let text = std::str::from_utf8(field)
                .map_err(|_| (line, "Invalid UTF8 detected in string".to_owned()))?;
            // EMPTY_FIELD_AS_NULL = TRUE.
            fields.push((!text.is_empty()).then(|| text.to_owned()));
        }
        let not_null = |i: usize| {
            fields[i].clone().ok_or_else(|| {
                (
                    line,
                    format!(
                        "NULL result in a non-nullable column {}",
                        COLUMNS[i].to_ascii_uppercase()
                    ),
                )
            })
        };
        let id_text = not_null(0)?;
        let id: i64 = id_text
            .parse()
            .map_err(|_| (line, format!("Numeric value '{id_text}' is not recognized")))?;
        let at_text = not_null(8)?;
        let updated_at = DateTime::parse_from_rfc3339(&at_text)
            .map(|t| t.naive_utc())
            .or_else(|_| NaiveDateTime::parse_from_str(&at_text, "%Y-%m-%d %H:%M:%S"))
            .map_err(|_| (line, format!("Timestamp '{at_text}' is not recognized")))?;
        let op = not_null(9)?;
        if op.len() > 1 {
            return Err((
                line,
                format!("User character length limit (1) exceeded by string '{op}'"),
            ));
        }
        rows.push((id, fields[1..8].to_vec(), updated_at, op));
    }
    Ok(rows)
}

/// One transaction: all rows or none.
/// One transaction, through DuckDB's appender: row-at-a-time INSERTs managed about 1,400 rows/s
/// and made the stand-in, not the pipeline, the bottleneck of `pipectl dev`.
fn insert_rows(engine: &Engine, table: &str, path: &str, rows: &[Row]) -> Result<(), String> {
    engine.with_connection(|conn| {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut appender = tx
                .appender_with_columns(
                    table,
                    &[
                        "CUSTOMER_ID",
                        "FIRST_NAME",
                        "LAST_NAME",
                        "EMAIL",
                        "STREET",
                        "CITY",
                        "STATE",
                        "COUNTRY",
                        "UPDATED_AT",
                        "OP",
                        "_FILE_NAME",
                        "_FILE_ROW_NUMBER",
                    ],
                )
                .map_err(|e| e.to_string())?;
            for (number, (id, texts, updated_at, op)) in rows.iter().enumerate() {
                appender
                    .append_row(duckdb::params![
                        id,
                        texts[0],
                        texts[1],
                        texts[2],
                        texts[3],
                        texts[4],
                        texts[5],
                        texts[6],
                        updated_at.to_string(),
                        op,
                        path,
                        number as i64 + 1,
                    ])
                    .map_err(|e| e.to_string())?;
            }
            appender.flush().map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_after_the_header_with_nulls_for_empty_fields() {
        let rows = parse_file(b"customer_id,first_name,last_name,email,street,city,state,country,updated_at,op\n7,Ann,,a@x.io,1 Main St,Oslo,,NO,2026-11-23T10:14:51Z,U\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 7);
        assert_eq!(rows[0].1[1], None);
        assert_eq!(rows[0].2.to_string(), "2026-11-23 10:14:51");
    }

    #[test]
    fn the_first_bad_value_fails_the_file_with_its_line() {
        let err = parse_file(b"h1,h2,h3,h4,h5,h6,h7,h8,h9,h10\n1,a,b,c,d,e,f,g,2026-11-23T10:14:51Z,U\nx,a,b,c,d,e,f,g,2026-11-23T10:14:51Z,U\n").unwrap_err();
        assert_eq!(err, (3, "Numeric value 'x' is not recognized".to_owned()));
    }

    #[test]
    fn a_short_row_is_a_column_count_mismatch() {
        let err = parse_file(b"h\n1,a\n").unwrap_err();
        assert!(
            err.1.starts_with("Number of columns in file (2)"),
            "{}",
            err.1
        );
    }
}
