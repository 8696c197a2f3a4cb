//! A pipe's runtime: files queued by insertFiles are loaded from the stage folder into the
//! target table by the pipe's own COPY statement and file format ([`crate::copy`]), ON_ERROR
//! decides what a bad row does (SKIP_FILE: the file loads nothing and is LOAD_FAILED with its
//! first error), and a 14-day load history per path makes a path already loaded skipped.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::catalog::{Catalog, Detail, Kind, PipeSpec};
use crate::copy::{self, CsvFormat, RecordContext};
use crate::engine::Engine;
use crate::translate::Column;

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
    /// DATABASE.SCHEMA.PIPE, as stored.
    pub name: String,
    pub spec: PipeSpec,
    format: CsvFormat,
    /// The target columns the COPY lists, with their declared types, and what fills each.
    columns: Vec<Column>,
    expressions: Vec<copy::Expression>,
    /// The folder the stage URL points at.
    pub stage_dir: PathBuf,
    queue: VecDeque<Queued>,
    /// When each path last loaded: the 14-day load history that makes insertFiles skip it.
    /// Rebuilt from `__standin_copy_history` on start, so a resumed state folder remembers.
    loaded: BTreeMap<String, DateTime<Utc>>,
    /// Load events in order, for insertReport.
    events: Vec<LoadRecord>,
}

const HISTORY_DAYS: i64 = 14;

impl Pipe {
    /// The runtime of the catalog's pipe `name`; an `s3://bucket/prefix/` stage reads
    /// `s3_root/bucket/prefix/`.
    pub fn from_catalog(catalog: &Catalog, name: &str, s3_root: &Path) -> Result<Pipe, String> {
        let Some(Detail::Pipe(spec)) = catalog.get(Kind::Pipe, name).map(|p| &p.detail) else {
            return Err(format!("no pipe {name}"));
        };
        let Some(Detail::Stage { url, .. }) =
            catalog.get(Kind::Stage, &spec.stage).map(|s| &s.detail)
        else {
            return Err(format!("the pipe's stage {} is gone", spec.stage));
        };
        let Some(Detail::FileFormat { options }) = catalog
            .get(Kind::FileFormat, &spec.file_format)
            .map(|f| &f.detail)
        else {
            return Err(format!(
                "the pipe's file format {} is gone",
                spec.file_format
            ));
        };
        let Some(Detail::Table {
            columns: declared, ..
        }) = catalog.get(Kind::Table, &spec.table).map(|t| &t.detail)
        else {
            return Err(format!("the pipe's table {} is gone", spec.table));
        };
        let path = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("the stage URL {url} is not s3://"))?;
        let columns = spec
            .columns
            .iter()
            .map(|c| {
                declared
                    .iter()
                    .find(|d| d.name.eq_ignore_ascii_case(c))
                    .cloned()
                    .ok_or_else(|| format!("{} has no column {c}", spec.table))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let expressions = spec
            .expressions
            .iter()
            .map(|e| copy::Expression::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.message)?;
        Ok(Pipe {
            name: name.to_owned(),
            expressions,
            format: CsvFormat::from_options(options).map_err(|e| e.message)?,
            columns,
            stage_dir: s3_root.join(path),
            spec: spec.clone(),
            queue: VecDeque::new(),
            loaded: BTreeMap::new(),
            events: Vec::new(),
        })
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

    /// Reads back the load history a previous run on the same warehouse file recorded for this
    /// pipe (not for an earlier pipe of the same name: a recreated pipe starts afresh).
    pub fn restore_history(&mut self, engine: &Engine) -> duckdb::Result<()> {
        let rows = engine.with_connection(|conn| {
            let mut statement = conn.prepare(
                "SELECT FILE_NAME, CAST(max(LAST_LOAD_TIME) AS VARCHAR) FROM __standin_copy_history \
                 WHERE PIPE_NAME = ? AND STATUS = 'Loaded' AND LAST_LOAD_TIME >= CAST(? AS TIMESTAMP) \
                 GROUP BY FILE_NAME",
            )?;
            let created = self.spec.created.naive_utc().to_string();
            let rows = statement.query_map([&self.name, &created], |row| {
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
            Ok(bytes) => self
                .rows(&bytes, &queued.path, now)
                .and_then(|(rows, parsed)| {
                    insert_rows(
                        engine,
                        crate::ddl::short(&self.spec.table),
                        &self.spec.columns,
                        &rows,
                    )
                    .map(|()| (rows.len() as u64, parsed))
                    .map_err(|e| (0, e))
                }),
            Err(e) => Err((
                0,
                format!("Remote file '{}' was not found. ({e})", queued.path),
            )),
        };
        let (status, rows_inserted, rows_parsed, first_error, line) = match outcome {
            Ok((rows, parsed)) => ("LOADED", rows, parsed, None, None),
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
                    self.spec.table,
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

    /// The file's rows as the COPY makes them, and how many records were parsed; under
    /// ON_ERROR = SKIP_FILE the first bad value fails the file (with its line), under CONTINUE
    /// a bad row is left out.
    fn rows(
        &self,
        bytes: &[u8],
        path: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Row>, u64), (u64, String)> {
        let records = self.format.records(bytes)?;
        let mut rows = Vec::with_capacity(records.len());
        for (number, (line, fields)) in records.iter().enumerate() {
            let context = RecordContext {
                fields,
                file_name: path,
                row_number: number as u64 + 1,
                scan_time: now,
            };
            let row: Result<Row, String> = self
                .expressions
                .iter()
                .zip(&self.columns)
                .map(|(expression, column)| {
                    copy::convert(expression.evaluate(&context), column, &self.format)
                })
                .collect();
            match row {
                Ok(row) => rows.push(row),
                Err(_) if self.spec.on_error == "CONTINUE" => {}
                Err(error) => return Err((*line, error)),
            }
        }
        Ok((rows, records.len() as u64))
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One row's values for the COPY's columns, as text (`None`: NULL).
type Row = Vec<Option<String>>;

/// One transaction, through DuckDB's appender: row-at-a-time INSERTs managed about 1,400 rows/s
/// and made the stand-in, not the pipeline, the bottleneck of `pipectl dev`.
fn insert_rows(
    engine: &Engine,
    table: &str,
    columns: &[String],
    rows: &[Row],
) -> Result<(), String> {
    engine.with_connection(|conn| {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        {
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            let mut appender = tx
                .appender_with_columns(table, &names)
                .map_err(|e| e.to_string())?;
            for row in rows {
                appender
                    .append_row(duckdb::appender_params_from_iter(row.iter()))
                    .map_err(|e| e.to_string())?;
            }
            appender.flush().map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    })
}
