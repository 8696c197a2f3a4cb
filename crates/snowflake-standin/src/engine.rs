//! The warehouse: embedded DuckDB holding the tables created from `sql/`, the streams, the task
//! graph and the history the monitor reads. One connection behind a mutex, so a task run, a
//! load and a query never interleave (Snowflake isolates them with transactions; here they are
//! simply serialised).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use duckdb::Connection;

use crate::translate::{PRELUDE, Translated, fill_placeholders, split_statements, translate};

/// Tables the stand-in keeps for itself; names start with `__standin_`.
const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS __standin_stream_offsets (name VARCHAR PRIMARY KEY, row_offset BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS __standin_task_history (
    NAME VARCHAR, DATABASE_NAME VARCHAR, SCHEMA_NAME VARCHAR, STATE VARCHAR, QUERY_ID VARCHAR,
    ERROR_CODE VARCHAR, ERROR_MESSAGE VARCHAR, SCHEDULED_TIME TIMESTAMP, COMPLETED_TIME TIMESTAMP,
    ROWS_AFFECTED BIGINT);
CREATE TABLE IF NOT EXISTS __standin_copy_history (
    FILE_NAME VARCHAR, TABLE_NAME VARCHAR, STATUS VARCHAR, ROW_COUNT BIGINT, ROW_PARSED BIGINT,
    ERROR_COUNT BIGINT, FIRST_ERROR_MESSAGE VARCHAR, FIRST_ERROR_LINE_NUMBER BIGINT,
    FILE_SIZE BIGINT, LAST_LOAD_TIME TIMESTAMP, PIPE_NAME VARCHAR);
CREATE TABLE IF NOT EXISTS __standin_pipes (name VARCHAR, status VARCHAR);
CREATE TABLE IF NOT EXISTS __standin_show_tasks (
    name VARCHAR, database_name VARCHAR, schema_name VARCHAR, state VARCHAR, schedule VARCHAR,
    predecessors VARCHAR, \"condition\" VARCHAR);
CREATE TABLE IF NOT EXISTS __standin_show_streams (
    name VARCHAR, database_name VARCHAR, schema_name VARCHAR, table_name VARCHAR, mode VARCHAR,
    stale VARCHAR);
CREATE OR REPLACE MACRO __standin_pipe_status(p) AS (SELECT status FROM __standin_pipes WHERE name = upper(p));
";

/// A stream as created by `CREATE STREAM … ON TABLE … [APPEND_ONLY = TRUE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub name: String,
    pub table: String,
    pub append_only: bool,
    /// The table's declared key: a change to a row with the same key is an update
    /// (METADATA$ISUPDATE) rather than an unrelated delete and insert.
    pub key: Vec<String>,
}

/// A task as created by `CREATE TASK`: its body is the marked statement in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub name: String,
    pub schedule: Option<String>,
    pub after: Option<String>,
    /// The stream of `WHEN SYSTEM$STREAM_HAS_DATA('…')`.
    pub when_stream: Option<String>,
    pub body: String,
    pub started: bool,
}

/// The outcome of one task run, as TASK_HISTORY records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    pub task: String,
    pub state: &'static str,
    pub rows_affected: u64,
    pub error: Option<(String, String)>,
}

pub struct Engine {
    conn: Mutex<Connection>,
    pub database: String,
    pub schema: String,
    streams: Vec<Stream>,
    tasks: Mutex<Vec<Task>>,
    /// View name → its SQL, to find the streams a task reads through a view.
    views: BTreeMap<String, String>,
    /// Tasks whose next run fails (fault injection), with the error to raise.
    failures: Mutex<BTreeMap<String, String>>,
}

/// A statement the stand-in cannot run; answered as Snowflake's 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub code: &'static str,
    pub sql_state: &'static str,
    pub message: String,
}

impl SqlError {
    pub fn compilation(message: impl Into<String>) -> SqlError {
        SqlError {
            code: "001003",
            sql_state: "42000",
            message: message.into(),
        }
    }

    pub fn execution(message: impl Into<String>) -> SqlError {
        SqlError {
            code: "100038",
            sql_state: "22018",
            message: message.into(),
        }
    }
}

impl From<duckdb::Error> for SqlError {
    fn from(err: duckdb::Error) -> SqlError {
        SqlError::execution(err.to_string())
    }
}

impl Engine {
    /// Opens (or reopens: state survives) the database at `path` (`None`: in memory) and applies
    /// the scripts of `sql_dir` that define data objects: 02_tables and 04_scd.
    pub fn open(
        path: Option<&Path>,
        sql_dir: &Path,
        database: &str,
        schema: &str,
    ) -> Result<Engine, String> {
        let conn = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| format!("opening DuckDB failed: {e}"))?;
        conn.execute_batch(PRELUDE)
            .and_then(|_| conn.execute_batch(BOOKKEEPING))
            .map_err(|e| format!("preparing DuckDB failed: {e}"))?;
        let mut engine = Engine {
            conn: Mutex::new(conn),
            database: database.to_ascii_uppercase(),
            schema: schema.to_ascii_uppercase(),
            streams: Vec::new(),
            tasks: Mutex::new(Vec::new()),
            views: BTreeMap::new(),
            failures: Mutex::new(BTreeMap::new()),
        };
        let placeholders = [
            ("database", database),
            ("schema", schema),
            ("warehouse", "STANDIN_WH"),
            ("schedule", "1 MINUTE"),
        ];
        for script in ["02_tables.sql", "04_scd.sql"] {
            let path = sql_dir.join(script);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let text = fill_placeholders(&text, &placeholders)?;
            engine
                .apply_script(&text)
                .map_err(|e| format!("{script}: {e}"))?;
        }
        Ok(engine)
    }

    fn apply_script(&mut self, script: &str) -> Result<(), String> {
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for statement in split_statements(script) {
            let head: String = statement
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            if head.starts_with("USE ") || head.starts_with("ALTER TASK") {
                // One schema, and every task starts resumed.
                continue;
            }
            if head.starts_with("CREATE STREAM") {
                let stream = parse_stream(&statement, &keys)?;
                self.create_stream(&stream)?;
                self.streams.push(stream);
            } else if head.starts_with("CREATE OR REPLACE TASK") {
                let task = parse_task(&statement, script)?;
                self.tasks.lock().expect("not poisoned").push(task);
            } else if head.starts_with("CREATE TABLE") || head.contains(" VIEW ") {
                let Translated { sql, primary_key } = translate(&statement);
                let name = object_name(&statement)?;
                if head.contains(" VIEW ") {
                    self.views.insert(name.clone(), sql.clone());
                } else {
                    keys.insert(name.clone(), primary_key);
                }
                self.conn
                    .lock()
                    .expect("not poisoned")
                    .execute_batch(&sql)
                    .map_err(|e| format!("creating {name} failed: {e}\n{sql}"))?;
            } else {
                return Err(format!("the stand-in does not know how to apply: {}", head));
            }
        }
        Ok(())
    }

    /// An append-only stream reads rows past an offset in the table (DuckDB's rowid grows with
    /// appends, and RAW is never updated or deleted from); a standard stream is the difference
    /// between the table and a snapshot taken at the last consuming commit.
    fn create_stream(&self, stream: &Stream) -> Result<(), String> {
        let conn = self.conn.lock().expect("not poisoned");
        let (name, table) = (&stream.name, &stream.table);
        let sql = if stream.append_only {
            format!(
                "INSERT INTO __standin_stream_offsets SELECT '{name}', coalesce(max(rowid) + 1, 0) FROM {table} ON CONFLICT DO NOTHING;
                 CREATE OR REPLACE VIEW {name} AS
                 SELECT *, 'INSERT' AS \"METADATA$ACTION\", FALSE AS \"METADATA$ISUPDATE\", CAST(rowid AS VARCHAR) AS \"METADATA$ROW_ID\"
                 FROM {table}
                 WHERE rowid >= (SELECT row_offset FROM __standin_stream_offsets WHERE name = '{name}');"
            )
        } else {
            let snapshot = format!("__standin_snapshot_{name}");
            let same_key = if stream.key.is_empty() {
                "FALSE".to_owned()
            } else {
                stream
                    .key
                    .iter()
                    .map(|k| format!("o.{k} = n.{k}"))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            format!(
                "CREATE TABLE IF NOT EXISTS {snapshot} AS SELECT * FROM {table};
                 CREATE OR REPLACE VIEW {name} AS
                 WITH n AS (SELECT * FROM {table} EXCEPT ALL SELECT * FROM {snapshot}),
                      o AS (SELECT * FROM {snapshot} EXCEPT ALL SELECT * FROM {table})
                 SELECT n.*, 'INSERT' AS \"METADATA$ACTION\",
                        EXISTS (SELECT 1 FROM o WHERE {same_key}) AS \"METADATA$ISUPDATE\",
                        CAST(md5(CAST(n AS VARCHAR)) AS VARCHAR) AS \"METADATA$ROW_ID\"
                 FROM n
                 UNION ALL
                 SELECT o.*, 'DELETE', EXISTS (SELECT 1 FROM n WHERE {same_key}), CAST(md5(CAST(o AS VARCHAR)) AS VARCHAR)
                 FROM o;"
            )
        };
        conn.execute_batch(&sql)
            .map_err(|e| format!("creating stream {name} failed: {e}"))
    }

    /// `SYSTEM$STREAM_HAS_DATA`.
    pub fn stream_has_data(&self, stream: &str) -> Result<bool, SqlError> {
        let conn = self.conn.lock().expect("not poisoned");
        let count: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {stream}"), [], |r| r.get(0))?;
        Ok(count > 0)
    }

    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.tasks.lock().expect("not poisoned").clone()
    }

    pub fn set_task_started(&self, task: &str, started: bool) -> bool {
        let mut tasks = self.tasks.lock().expect("not poisoned");
        match tasks.iter_mut().find(|t| t.name.eq_ignore_ascii_case(task)) {
            Some(t) => {
                t.started = started;
                true
            }
            None => false,
        }
    }

    /// The next run of `task` fails with `message` (fault injection).
    pub fn fail_next_run(&self, task: &str, message: &str) {
        self.failures
            .lock()
            .expect("not poisoned")
            .insert(task.to_ascii_uppercase(), message.to_owned());
    }

    /// Runs the graph once, as a scheduled run of each started root does: a root whose WHEN is
    /// false is SKIPPED (and so are its children); otherwise its body runs, then each child
    /// after it (with its own WHEN). Every run is recorded for TASK_HISTORY.
    pub fn run_task_graph(&self, scheduled: DateTime<Utc>) -> Vec<TaskRun> {
        let tasks = self.tasks();
        let mut runs = Vec::new();
        for root in tasks.iter().filter(|t| t.after.is_none() && t.started) {
            let run = self.run_task(root, scheduled);
            let succeeded = run.state == "SUCCEEDED";
            runs.push(run);
            if !succeeded {
                continue;
            }
            for child in tasks
                .iter()
                .filter(|t| t.after.as_deref() == Some(root.name.as_str()) && t.started)
            {
                runs.push(self.run_task(child, scheduled));
            }
        }
        runs
    }

    fn run_task(&self, task: &Task, scheduled: DateTime<Utc>) -> TaskRun {
        let run = match &task.when_stream {
            Some(stream) if !self.stream_has_data(stream).unwrap_or(false) => TaskRun {
                task: task.name.clone(),
                state: "SKIPPED",
                rows_affected: 0,
                error: None,
            },
            _ => self.execute_task_body(task),
        };
        let (code, message) = run.error.clone().unzip();
        let conn = self.conn.lock().expect("not poisoned");
        let recorded = conn.execute(
            "INSERT INTO __standin_task_history VALUES (?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP), CAST(sysdate() AS TIMESTAMP), ?)",
            duckdb::params![
                task.name,
                self.database,
                self.schema,
                run.state,
                uuid::Uuid::new_v4().to_string(),
                code,
                message,
                scheduled.naive_utc().to_string(),
                run.rows_affected as i64,
            ],
        );
        if let Err(err) = recorded {
            tracing::error!(error = %err, "recording a task run failed");
        }
        run
    }

    /// The body and the offsets of the streams it reads, in one transaction: the offsets move
    /// only if the DML commits.
    fn execute_task_body(&self, task: &Task) -> TaskRun {
        let failure = self
            .failures
            .lock()
            .expect("not poisoned")
            .remove(&task.name);
        let consumed: Vec<&Stream> = self
            .streams
            .iter()
            .filter(|s| self.reads(&task.body, &s.name))
            .collect();
        let mut conn = self.conn.lock().expect("not poisoned");
        let result = (|| -> Result<u64, SqlError> {
            let tx = conn.transaction()?;
            if let Some(message) = failure {
                return Err(SqlError::execution(message));
            }
            let rows = tx.execute(task.body.trim_end_matches(';'), [])? as u64;
            for stream in consumed {
                let sql = if stream.append_only {
                    format!(
                        "UPDATE __standin_stream_offsets SET row_offset = (SELECT coalesce(max(rowid) + 1, 0) FROM {}) WHERE name = '{}'",
                        stream.table, stream.name
                    )
                } else {
                    format!(
                        "DELETE FROM __standin_snapshot_{name}; INSERT INTO __standin_snapshot_{name} SELECT * FROM {table}",
                        name = stream.name,
                        table = stream.table
                    )
                };
                tx.execute_batch(&sql)?;
            }
            tx.commit()?;
            Ok(rows)
        })();
        match result {
            Ok(rows) => TaskRun {
                task: task.name.clone(),
                state: "SUCCEEDED",
                rows_affected: rows,
                error: None,
            },
            Err(err) => TaskRun {
                task: task.name.clone(),
                state: "FAILED",
                rows_affected: 0,
                error: Some((err.code.to_owned(), err.message)),
            },
        }
    }

    /// Whether `sql` reads `object`, directly or through one of the schema's views.
    fn reads(&self, sql: &str, object: &str) -> bool {
        mentions(sql, object)
            || self
                .views
                .iter()
                .any(|(view, definition)| mentions(sql, view) && mentions(definition, object))
    }

    /// Runs `f` with the connection (queries, loads).
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.conn.lock().expect("not poisoned"))
    }
}

fn mentions(sql: &str, name: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    let name = name.to_ascii_uppercase();
    upper.match_indices(&name).any(|(at, _)| {
        let before = upper[..at].chars().next_back();
        let after = upper[at + name.len()..].chars().next();
        let word =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        !word(before) && !word(after)
    })
}

/// `CREATE [OR REPLACE] (TABLE|VIEW|STREAM|TASK) [IF NOT EXISTS] NAME …` → NAME.
fn object_name(statement: &str) -> Result<String, String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let kind = words
        .iter()
        .position(|w| matches!(*w, "TABLE" | "VIEW" | "STREAM" | "TASK"))
        .ok_or_else(|| format!("no object in: {}", &statement[..statement.len().min(60)]))?;
    let mut name = words.get(kind + 1).copied().unwrap_or_default();
    if name == "IF" {
        name = words.get(kind + 4).copied().unwrap_or_default();
    }
    Ok(name.trim_end_matches('(').to_ascii_uppercase())
}

fn parse_stream(statement: &str, keys: &BTreeMap<String, Vec<String>>) -> Result<Stream, String> {
    let name = object_name(statement)?;
    let words: Vec<&str> = statement.split_whitespace().collect();
    let table = words
        .windows(3)
        .find(|w| w[0] == "ON" && w[1] == "TABLE")
        .map(|w| w[2].to_ascii_uppercase())
        .ok_or_else(|| format!("stream {name}: no ON TABLE"))?;
    let compact: String = statement.split_whitespace().collect();
    Ok(Stream {
        key: keys.get(&table).cloned().unwrap_or_default(),
        append_only: compact.contains("APPEND_ONLY=TRUE"),
        name,
        table,
    })
}

fn parse_task(statement: &str, script: &str) -> Result<Task, String> {
    let name = object_name(statement)?;
    let clause = |keyword: &str| -> Option<String> {
        let at = statement.find(keyword)? + keyword.len();
        let rest = statement[at..]
            .trim_start()
            .trim_start_matches('=')
            .trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            quoted.split('\'').next()?.to_owned()
        } else {
            rest.split_whitespace().next()?.to_owned()
        };
        Some(value)
    };
    let when_stream = statement
        .find("SYSTEM$STREAM_HAS_DATA('")
        .map(|at| &statement[at + "SYSTEM$STREAM_HAS_DATA('".len()..])
        .and_then(|rest| rest.split('\'').next())
        .map(str::to_ascii_uppercase);
    let body = pipeline::sql::task_body(script, &name)
        .map(|body| translate(body).sql)
        .ok_or_else(|| format!("task {name}: no `-- task:{name} begin/end` markers"))?;
    Ok(Task {
        schedule: clause("SCHEDULE"),
        after: clause("AFTER").map(|a| a.to_ascii_uppercase()),
        when_stream,
        body,
        started: true,
        name,
    })
}
