//! A local Snowflake for `pipectl dev` and tests (see docs/stand-ins.md): the Snowpipe REST API
//! and the SQL API v2 over HTTP on 127.0.0.1, key-pair JWTs checked against the users' registered
//! keys, Snowflake's access control, and embedded DuckDB as the warehouse. It runs every script
//! of the shipped `sql/` as the role the script names, so the objects, grants and users are the
//! ones a real account would get. The only crate that builds DuckDB.

mod access;
mod auth;
pub mod catalog;
mod copy;
mod csv_fields;
mod ddl;
pub mod engine;
mod error;
mod parse;
pub mod pipe;
mod procedures;
mod scripting;
mod scripts;
mod server;
mod session;
mod show;
pub mod statements;
mod streams;
mod tasks;
pub mod translate;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

pub use catalog::TaskState;
pub use engine::{Account, Engine};
pub use error::SqlError;
pub use pipe::{LoadRecord, Pipe};
pub use statements::ResultTable;
pub use tasks::{RunState, TaskRun};

/// Where the stand-in keeps things, what it runs and what it serves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The DuckDB file (created if missing, reopened if present); `None` keeps it in memory.
    pub database_file: Option<PathBuf>,
    /// The folder holding the shipped scripts (`sql/`): every `0*.sql` runs at start, in name
    /// order; `99_teardown.sql` runs only through [`SnowflakeStandIn::run_script`].
    pub sql_dir: PathBuf,
    /// The scripts' `<% name %>` values, as `snow sql -D name=value` passes them.
    pub variables: BTreeMap<String, String>,
    pub account: Account,
    /// What `s3://` stage URLs point at: the S3 stand-in's root folder (a bucket is a folder).
    pub s3_root: PathBuf,
    /// 0 picks a free port.
    pub port: u16,
    /// A SQL API statement still running after this answers 202 and is polled (Snowflake: 45
    /// s, https://docs.snowflake.com/en/developer-guide/sql-api/handling-responses).
    pub async_after: Duration,
}

impl Options {
    /// The database and schema the scripts' `database` and `schema` variables name.
    pub fn data_schema(&self) -> String {
        let get = |name: &str| self.variables.get(name).cloned().unwrap_or_default();
        format!("{}.{}", get("database"), get("schema")).to_ascii_uppercase()
    }
}

/// A fault for the next Snowpipe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Status(u16),
    Slow(Duration),
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) options: Options,
    /// Each pipe's runtime (queue, load history), by full name, kept in step with the catalog.
    pub(crate) pipes: Mutex<BTreeMap<String, Pipe>>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    pub(crate) statements: Mutex<BTreeMap<String, server::Statement>>,
}

impl Shared {
    /// Creates the runtime of a pipe the catalog gained and forgets a dropped one.
    pub(crate) fn sync_pipes(&self) -> Result<(), String> {
        let names: Vec<String> = self
            .engine
            .catalog()
            .of_kind(catalog::Kind::Pipe)
            .map(|p| p.name.clone())
            .collect();
        let mut pipes = self.pipes.lock().expect("not poisoned");
        pipes.retain(|name, _| names.contains(name));
        for name in names {
            if let std::collections::btree_map::Entry::Vacant(entry) = pipes.entry(name) {
                let mut pipe = {
                    let catalog = self.engine.catalog();
                    Pipe::from_catalog(&catalog, entry.key(), &self.options.s3_root)?
                };
                pipe.restore_history(&self.engine)
                    .map_err(|e| format!("reading the pipe's load history failed: {e}"))?;
                entry.insert(pipe);
            }
        }
        Ok(())
    }

    /// Writes what SYSTEM$PIPE_STATUS reads.
    pub(crate) fn refresh_pipe_status(&self) -> Result<(), SqlError> {
        let statuses: Vec<(String, String)> = self
            .pipes
            .lock()
            .expect("not poisoned")
            .values()
            .map(|pipe| {
                let mut status = serde_json::json!({
                    "executionState": "RUNNING",
                    "pendingFileCount": pipe.pending(),
                });
                if let Some(last) = pipe.last_ingested() {
                    status["lastIngestedTimestamp"] = last
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                        .into();
                }
                (pipe.name.clone(), status.to_string())
            })
            .collect();
        self.engine.with_connection(|conn| -> Result<(), SqlError> {
            conn.execute_batch("DELETE FROM __standin_pipes")?;
            for (name, status) in statuses {
                conn.execute(
                    "INSERT INTO __standin_pipes VALUES (?, ?)",
                    duckdb::params![name, status],
                )?;
            }
            Ok(())
        })
    }
}

/// The running stand-in. Dropping it stops the server.
pub struct SnowflakeStandIn {
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl SnowflakeStandIn {
    /// Opens the warehouse, runs the setup scripts of `sql/` as the admin user, and serves on
    /// 127.0.0.1.
    pub async fn start(options: Options) -> Result<SnowflakeStandIn, String> {
        let opened = options.clone();
        let engine = tokio::task::spawn_blocking(move || -> Result<Engine, String> {
            let engine = Engine::open(
                opened.database_file.as_deref(),
                &opened.account,
                &opened.data_schema(),
            )?;
            for script in setup_scripts(&opened.sql_dir)? {
                let text = std::fs::read_to_string(&script)
                    .map_err(|e| format!("cannot read {}: {e}", script.display()))?;
                let name = script.file_name().unwrap_or_default().to_string_lossy();
                engine.run_script(&name, &text, &opened.account.admin_user, &opened.variables)?;
            }
            Ok(engine)
        })
        .await
        .map_err(|e| e.to_string())??;
        let shared = Arc::new(Shared {
            engine,
            options: options.clone(),
            pipes: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(VecDeque::new()),
            statements: Mutex::new(BTreeMap::new()),
        });
        shared.sync_pipes()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
        let base_url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let server = server::serve(listener, shared.clone());
        Ok(SnowflakeStandIn {
            base_url,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the client's SNOWFLAKE_BASE_URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs a script of `sql/` (by file name, e.g. `99_teardown.sql`) as the admin user, with the
    /// role its header names (blocking).
    pub fn run_script(&self, file_name: &str) -> Result<(), String> {
        let path = self.shared.options.sql_dir.join(file_name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let options = &self.shared.options;
        let result = self.shared.engine.run_script(
            file_name,
            &text,
            &options.account.admin_user,
            &options.variables,
        );
        self.shared.sync_pipes()?;
        result
    }

    /// The next Snowpipe requests meet these faults, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .extend(faults);
    }

    pub fn fail_next_task_run(&self, task: &str, message: &str) {
        self.shared.engine.fail_next_run(task, message);
    }

    /// Another session commits `sql` during the next task run, after the body's statement
    /// `after` (0-based; BEGIN TRANSACTION counts): a load landing between the run's statements.
    pub fn commit_during_next_task_run(&self, after: usize, sql: &str) {
        self.shared.engine.commit_during_next_run(after, sql);
    }

    /// Loads every queued file of every pipe (blocking: call from a blocking context or
    /// `spawn_blocking`).
    pub fn load_pending(&self, now: DateTime<Utc>) -> Vec<LoadRecord> {
        let mut pipes = self.shared.pipes.lock().expect("not poisoned");
        pipes
            .values_mut()
            .flat_map(|pipe| pipe.load_queued(&self.shared.engine, now))
            .collect()
    }

    /// One scheduled run of the task graph (blocking).
    pub fn run_tasks(&self, scheduled: DateTime<Utc>) -> Vec<TaskRun> {
        self.shared.engine.run_task_graph(scheduled)
    }

    pub fn pending_files(&self) -> usize {
        self.shared
            .pipes
            .lock()
            .expect("not poisoned")
            .values()
            .map(Pipe::pending)
            .sum()
    }

    /// Whether any stream has changes not yet consumed (blocking).
    pub fn streams_have_data(&self) -> Result<bool, SqlError> {
        for (name, _) in self.shared.engine.streams() {
            if self.shared.engine.stream_has_data(&name)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The local inspector (blocking): DuckDB SQL over the warehouse as no Snowflake user,
    /// without access control, for `pipectl dev`'s report and dumps. Never served over HTTP.
    pub fn query(&self, sql: &str) -> Result<ResultTable, SqlError> {
        statements::execute(&self.shared.engine, sql, &serde_json::Value::Null)
    }

    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Stops serving and waits (up to 5 s) until open connections let go of the warehouse, so
    /// the DuckDB file can be opened again at once. Drop the clients first.
    pub async fn shutdown(self) {
        let shared = self.shared.clone();
        drop(self);
        for _ in 0..100 {
            if Arc::strong_count(&shared) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SnowflakeStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The setup scripts: `0*.sql` in name order.
fn setup_scripts(sql_dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(sql_dir)
        .map_err(|e| format!("cannot read {}: {e}", sql_dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with('0') && name.ends_with(".sql")
        })
        .collect();
    scripts.sort();
    if scripts.is_empty() {
        return Err(format!(
            "no setup scripts (0*.sql) in {}",
            sql_dir.display()
        ));
    }
    Ok(scripts)
}
