//! The warehouse: embedded DuckDB holding the table data, and the catalog of roles, users and
//! objects, set up by running every script of `sql/` as the role it names (`scripts.rs`).
//! Streams are in `streams.rs`, task runs and their injected failures in `tasks.rs`. One connection
//! behind a mutex, so a task run, a load and a query never interleave (Snowflake isolates them
//! with transactions; here they are simply serialised). Locks are taken catalog first, then the
//! connection, never the other way round.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use duckdb::Connection;

use crate::catalog::{Catalog, Kind, Object};
use crate::error::SqlError;
use crate::translate::PRELUDE;

pub use crate::tasks::TaskRun;

/// Tables the stand-in keeps for itself; names start with `__standin_`.
const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS __standin_catalog (json VARCHAR);
CREATE TABLE IF NOT EXISTS __standin_stream_offsets (name VARCHAR PRIMARY KEY, row_offset BIGINT NOT NULL);
ALTER TABLE __standin_stream_offsets ADD COLUMN IF NOT EXISTS version_offset BIGINT;
ALTER TABLE __standin_stream_offsets ADD COLUMN IF NOT EXISTS consumed_at TIMESTAMP;
CREATE TABLE IF NOT EXISTS __standin_task_history (
    NAME VARCHAR, DATABASE_NAME VARCHAR, SCHEMA_NAME VARCHAR, STATE VARCHAR, QUERY_ID VARCHAR,
    ERROR_CODE VARCHAR, ERROR_MESSAGE VARCHAR, SCHEDULED_TIME TIMESTAMP, COMPLETED_TIME TIMESTAMP,
    ROWS_AFFECTED BIGINT);
CREATE TABLE IF NOT EXISTS __standin_copy_history (
    FILE_NAME VARCHAR, TABLE_NAME VARCHAR, STATUS VARCHAR, ROW_COUNT BIGINT, ROW_PARSED BIGINT,
    ERROR_COUNT BIGINT, FIRST_ERROR_MESSAGE VARCHAR, FIRST_ERROR_LINE_NUMBER BIGINT,
    FILE_SIZE BIGINT, LAST_LOAD_TIME TIMESTAMP, PIPE_NAME VARCHAR);
CREATE TABLE IF NOT EXISTS __standin_pipes (name VARCHAR, status VARCHAR);
CREATE TABLE IF NOT EXISTS __standin_visible_pipes (name VARCHAR);
CREATE OR REPLACE MACRO __standin_pipe_status(p) AS (
    CASE WHEN EXISTS (SELECT 1 FROM __standin_pipes WHERE name = upper(p) AND name IN (SELECT name FROM __standin_visible_pipes))
         THEN (SELECT status FROM __standin_pipes WHERE name = upper(p))
         ELSE error('SQL compilation error:' || chr(10) || 'Pipe ''' || upper(p) || ''' does not exist or not authorized.')
    END);
";

/// The account the stand-in plays: its name in JWTs, and the first user, who holds
/// ACCOUNTADMIN and runs the setup scripts.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub admin_user: String,
    /// The body of the admin user's PEM public key.
    pub admin_public_key: String,
}

pub struct Engine {
    conn: Mutex<Connection>,
    catalog: Mutex<Catalog>,
    /// DB.SCHEMA: the schema whose tables, views and streams live in DuckDB (the stand-in
    /// keeps data objects in one schema).
    data_schema: String,
    /// Tasks whose next run fails (fault injection), with the error to raise.
    pub(crate) failures: Mutex<BTreeMap<String, String>>,
    /// SQL another session commits during the next task run (see
    /// [`Engine::commit_during_next_run`]).
    pub(crate) between: Mutex<Option<(usize, String)>>,
}

impl Engine {
    /// Opens (or reopens: state survives) the database at `path` (`None`: in memory).
    pub fn open(
        path: Option<&Path>,
        account: &Account,
        data_schema: &str,
    ) -> Result<Engine, String> {
        let conn = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| format!("opening DuckDB failed: {e}"))?;
        conn.execute_batch(PRELUDE)
            .and_then(|_| conn.execute_batch(BOOKKEEPING))
            .map_err(|e| format!("preparing DuckDB failed: {e}"))?;
        let saved: Option<String> = conn
            .query_row("SELECT json FROM __standin_catalog", [], |r| r.get(0))
            .ok();
        let mut catalog = match saved {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| format!("the saved catalog does not read: {e}"))?,
            None => Catalog::new_account(&account.admin_user, &account.admin_public_key),
        };
        // The admin's key is the one given now (a state folder may outlive a key file).
        if let Some(admin) = catalog
            .users
            .get_mut(&account.admin_user.to_ascii_uppercase())
        {
            admin.rsa_public_key = Some(account.admin_public_key.clone());
            // A state folder from before 01 switched to SYSADMIN (see Catalog::new_account).
            admin.roles.insert("SYSADMIN".to_owned());
        }
        let engine = Engine {
            conn: Mutex::new(conn),
            catalog: Mutex::new(catalog),
            data_schema: data_schema.to_ascii_uppercase(),
            failures: Mutex::new(BTreeMap::new()),
            between: Mutex::new(None),
        };
        let catalog = engine.catalog();
        engine.save_catalog(&catalog).map_err(|e| e.message)?;
        drop(catalog);
        Ok(engine)
    }

    pub fn data_schema(&self) -> &str {
        &self.data_schema
    }

    /// The catalog, locked.
    pub fn catalog(&self) -> MutexGuard<'_, Catalog> {
        self.catalog.lock().expect("not poisoned")
    }

    pub(crate) fn save_catalog(&self, catalog: &Catalog) -> Result<(), SqlError> {
        let json = serde_json::to_string(catalog)
            .map_err(|e| SqlError::execution(format!("saving the catalog: {e}")))?;
        self.with_connection(|conn| {
            conn.execute_batch("DELETE FROM __standin_catalog")?;
            conn.execute("INSERT INTO __standin_catalog VALUES (?)", [json])?;
            Ok(())
        })
    }

    /// Refuses a schema object outside the one schema the stand-in keeps data in.
    pub(crate) fn check_data_schema(&self, name: &str) -> Result<(), SqlError> {
        let schema = if name.matches('.').count() == 2 {
            name.rsplit_once('.').map_or("", |(s, _)| s)
        } else {
            name
        };
        if schema == self.data_schema {
            Ok(())
        } else {
            Err(SqlError::not_modelled(format!(
                "objects outside {} (this one is {name})",
                self.data_schema
            )))
        }
    }

    /// A translated CREATE TABLE or CREATE VIEW.
    pub(crate) fn execute_ddl(&self, sql: &str) -> Result<(), SqlError> {
        self.with_connection(|conn| conn.execute_batch(sql).map_err(SqlError::from))
    }

    /// Removes what DuckDB holds for a dropped object.
    pub(crate) fn drop_data(&self, object: &Object) -> Result<(), SqlError> {
        let name = object.short_name();
        let sql = match object.kind {
            Kind::Table => format!("DROP TABLE IF EXISTS {name};"),
            Kind::View => format!("DROP VIEW IF EXISTS {name};"),
            Kind::Stream => format!(
                "DROP VIEW IF EXISTS {name}; DROP TABLE IF EXISTS __standin_snapshot_{name}; DELETE FROM __standin_stream_offsets WHERE name = '{name}';"
            ),
            _ => return Ok(()),
        };
        self.execute_ddl(&sql)
    }

    /// Runs `f` with the connection (queries, loads).
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.conn.lock().expect("not poisoned"))
    }
}
