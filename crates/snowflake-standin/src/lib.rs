//! A local Snowflake for `pipectl dev` and tests (see the README section "The stand-ins"): the
//! Snowpipe REST API and the SQL API v2 over HTTP on 127.0.0.1, key-pair JWTs checked as
//! Snowflake checks them, and embedded DuckDB as the warehouse holding the tables, streams and
//! tasks created from the shipped `sql/`. The only crate that builds DuckDB.

mod auth;
pub mod engine;
pub mod pipe;
mod server;
pub mod statements;
pub mod translate;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

pub use auth::RegisteredUser;
pub use engine::{Engine, SqlError, TaskRun};
pub use pipe::{LoadRecord, Pipe};
pub use statements::ResultTable;

/// Where the stand-in keeps things and what it serves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The DuckDB file (created if missing, reopened if present); `None` keeps it in memory.
    pub database_file: Option<PathBuf>,
    /// The folder holding the shipped scripts (`sql/`).
    pub sql_dir: PathBuf,
    pub database: String,
    pub schema: String,
    /// Unqualified, e.g. CUSTOMER_PIPE.
    pub pipe: String,
    /// The pipe's target table, e.g. CUSTOMER_RAW.
    pub table: String,
    /// The folder the pipe's stage points at: the S3 stand-in's bucket folder plus the prefix.
    pub stage_dir: PathBuf,
    /// 0 picks a free port.
    pub port: u16,
}

/// A fault for the next Snowpipe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Status(u16),
    Slow(Duration),
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) pipe: Mutex<Pipe>,
    pub(crate) users: Mutex<Vec<RegisteredUser>>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    pub(crate) results: Mutex<BTreeMap<String, serde_json::Value>>,
}

impl Shared {
    /// Writes what SHOW TASKS, SHOW STREAMS and SYSTEM$PIPE_STATUS read.
    pub(crate) fn refresh_catalog(&self) -> Result<(), SqlError> {
        let engine = &self.engine;
        let pipe_status = {
            let pipe = self.pipe.lock().expect("not poisoned");
            let mut status = serde_json::json!({
                "executionState": if pipe.paused { "PAUSED" } else { "RUNNING" },
                "pendingFileCount": pipe.pending(),
            });
            if let Some(last) = pipe.last_ingested() {
                status["lastIngestedTimestamp"] = last
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    .into();
            }
            (pipe.name.clone(), status.to_string())
        };
        let tasks = engine.tasks();
        let streams = engine.streams().to_vec();
        engine.with_connection(|conn| -> Result<(), SqlError> {
            conn.execute_batch(
                "DELETE FROM __standin_pipes; DELETE FROM __standin_show_tasks; DELETE FROM __standin_show_streams;",
            )?;
            conn.execute(
                "INSERT INTO __standin_pipes VALUES (?, ?)",
                duckdb::params![pipe_status.0, pipe_status.1],
            )?;
            for task in &tasks {
                conn.execute(
                    "INSERT INTO __standin_show_tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    duckdb::params![
                        task.name,
                        engine.database,
                        engine.schema,
                        if task.started { "started" } else { "suspended" },
                        task.schedule,
                        task.after.as_ref().map(|a| format!("[\"{a}\"]")).unwrap_or_else(|| "[]".into()),
                        task.when_stream.as_ref().map(|s| format!("SYSTEM$STREAM_HAS_DATA('{s}')")),
                    ],
                )?;
            }
            for stream in &streams {
                conn.execute(
                    "INSERT INTO __standin_show_streams VALUES (?, ?, ?, ?, ?, 'false')",
                    duckdb::params![
                        stream.name,
                        engine.database,
                        engine.schema,
                        stream.table,
                        if stream.append_only { "APPEND_ONLY" } else { "DEFAULT" },
                    ],
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
    /// Opens the warehouse, applies `sql/`, and serves on 127.0.0.1.
    pub async fn start(options: Options) -> Result<SnowflakeStandIn, String> {
        let opened = options.clone();
        let engine = tokio::task::spawn_blocking(move || {
            Engine::open(
                opened.database_file.as_deref(),
                &opened.sql_dir,
                &opened.database,
                &opened.schema,
            )
        })
        .await
        .map_err(|e| e.to_string())??;
        let pipe_name = format!("{}.{}.{}", options.database, options.schema, options.pipe);
        let mut pipe = Pipe::new(&pipe_name, &options.table, options.stage_dir.clone());
        pipe.restore_history(&engine)
            .map_err(|e| format!("reading the pipe's load history failed: {e}"))?;
        let shared = Arc::new(Shared {
            engine,
            pipe: Mutex::new(pipe),
            users: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            results: Mutex::new(BTreeMap::new()),
        });
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

    /// `ALTER USER <user> SET RSA_PUBLIC_KEY = '<public_key_base64>'`.
    pub fn register_user(
        &self,
        account: &str,
        user: &str,
        public_key_base64: &str,
    ) -> Result<(), String> {
        let registered = RegisteredUser::new(account, user, public_key_base64)?;
        self.shared
            .users
            .lock()
            .expect("not poisoned")
            .push(registered);
        Ok(())
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

    /// Loads every queued file (blocking: call from a blocking context or `spawn_blocking`).
    pub fn load_pending(&self, now: DateTime<Utc>) -> Vec<LoadRecord> {
        self.shared
            .pipe
            .lock()
            .expect("not poisoned")
            .load_queued(&self.shared.engine, now)
    }

    /// One scheduled run of the task graph (blocking).
    pub fn run_tasks(&self, scheduled: DateTime<Utc>) -> Vec<TaskRun> {
        self.shared.engine.run_task_graph(scheduled)
    }

    pub fn pending_files(&self) -> usize {
        self.shared.pipe.lock().expect("not poisoned").pending()
    }

    /// Whether any stream has changes not yet consumed (blocking).
    pub fn streams_have_data(&self) -> Result<bool, SqlError> {
        for stream in self.shared.engine.streams() {
            if self.shared.engine.stream_has_data(&stream.name)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A statement as the SQL API would run it (blocking), for local summaries.
    pub fn query(&self, sql: &str) -> Result<ResultTable, SqlError> {
        self.shared.refresh_catalog()?;
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
