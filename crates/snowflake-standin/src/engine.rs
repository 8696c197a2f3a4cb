//! The warehouse: embedded DuckDB holding the table data, and the catalog of roles, users and
//! objects, set up by running every script of `sql/` as the role it names. One connection
//! behind a mutex, so a task run, a load and a query never interleave (Snowflake isolates them
//! with transactions; here they are simply serialised). Locks are taken catalog first, then the
//! connection, never the other way round.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use duckdb::Connection;

use crate::catalog::{Catalog, Kind, Object, StreamSpec};
use crate::ddl::short;
use crate::error::SqlError;
use crate::session::Session;
use crate::translate::{PRELUDE, fill_placeholders, split_statements};

pub use crate::tasks::TaskRun;

/// Tables the stand-in keeps for itself; names start with `__standin_`.
const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS __standin_catalog (json VARCHAR);
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
        }
        let engine = Engine {
            conn: Mutex::new(conn),
            catalog: Mutex::new(catalog),
            data_schema: data_schema.to_ascii_uppercase(),
            failures: Mutex::new(BTreeMap::new()),
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

    /// Runs a script as its documented command would: placeholders filled from `variables`,
    /// every statement in order, as `user` with the role named by the script's `--role` in its
    /// header comment. The first failing statement stops it, named in the error.
    pub fn run_script(
        &self,
        name: &str,
        text: &str,
        user: &str,
        variables: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let role = script_role(text).ok_or_else(|| {
            format!("{name}: the header names no role (`--role NAME` in the snow sql command)")
        })?;
        let values: Vec<(&str, &str)> = variables
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let text = fill_placeholders(text, &values).map_err(|e| format!("{name}: {e}"))?;
        let mut session = {
            let catalog = self.catalog();
            Session::open(
                &catalog,
                &user.to_ascii_uppercase(),
                Some(&role),
                None,
                None,
                None,
            )
            .map_err(|e| format!("{name}: --role {role}: {}", e.message))?
        };
        for (number, statement) in split_statements(&text).iter().enumerate() {
            let head: String = statement
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            let role = session.role.clone();
            let failed = |e: SqlError| {
                format!(
                    "{name}, statement {} ({head} …), as role {role}: {} {}",
                    number + 1,
                    e.code,
                    e.message
                )
            };
            match crate::ddl::execute(self, &mut session, statement) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    crate::statements::execute_as(
                        self,
                        statement,
                        &serde_json::Value::Null,
                        &session,
                    )
                    .map_err(failed)?;
                }
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
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

    /// An append-only stream reads rows past an offset in the table (DuckDB's rowid grows with
    /// appends, and RAW is never updated or deleted from), from 0 with SHOW_INITIAL_ROWS; a
    /// standard stream is the difference between the table and a snapshot taken at the last
    /// consuming commit. A replaced stream starts afresh.
    pub(crate) fn create_stream(&self, name: &str, stream: &StreamSpec) -> Result<(), SqlError> {
        let table = short(&stream.table);
        let sql = if stream.append_only {
            let start = if stream.initial_rows {
                "SELECT 0".to_owned()
            } else {
                format!("SELECT coalesce(max(rowid) + 1, 0) FROM {table}")
            };
            format!(
                "INSERT OR REPLACE INTO __standin_stream_offsets SELECT '{name}', ({start});
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
                "CREATE OR REPLACE TABLE {snapshot} AS SELECT * FROM {table};
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
        self.execute_ddl(&sql)
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

    /// `SYSTEM$STREAM_HAS_DATA` for a stream's full or short name.
    pub fn stream_has_data(&self, stream: &str) -> Result<bool, SqlError> {
        let conn = self.conn.lock().expect("not poisoned");
        let count: i64 = conn.query_row(
            &format!("SELECT count(*) FROM {}", short(stream)),
            [],
            |r| r.get(0),
        )?;
        Ok(count > 0)
    }

    /// Every stream: full name and definition.
    pub fn streams(&self) -> Vec<(String, StreamSpec)> {
        self.catalog()
            .of_kind(Kind::Stream)
            .filter_map(|o| o.stream().map(|s| (o.name.clone(), s.clone())))
            .collect()
    }

    /// The next run of `task` (short or full name) fails with `message` (fault injection).
    pub fn fail_next_run(&self, task: &str, message: &str) {
        self.failures.lock().expect("not poisoned").insert(
            short(&task.to_ascii_uppercase()).to_owned(),
            message.to_owned(),
        );
    }

    /// Runs `f` with the connection (queries, loads).
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.conn.lock().expect("not poisoned"))
    }
}

/// The role of `snow sql … --role NAME` in the script's header comment.
pub fn script_role(script: &str) -> Option<String> {
    script
        .lines()
        .take_while(|l| l.trim_start().starts_with("--") || l.trim().is_empty())
        .find_map(|l| {
            let at = l.find("--role ")?;
            l[at + "--role ".len()..]
                .split_whitespace()
                .next()
                .map(|r| r.to_ascii_uppercase())
        })
}

/// What a committing transaction runs to consume `stream` (full name): an append-only stream's
/// offset moves past the table's last row; a standard stream's snapshot becomes the table.
pub(crate) fn consume_stream_sql(name: &str, stream: &StreamSpec) -> String {
    let name = short(name);
    let table = short(&stream.table);
    if stream.append_only {
        format!(
            "UPDATE __standin_stream_offsets SET row_offset = (SELECT coalesce(max(rowid) + 1, 0) FROM {table}) WHERE name = '{name}'"
        )
    } else {
        format!(
            "DELETE FROM __standin_snapshot_{name}; INSERT INTO __standin_snapshot_{name} SELECT * FROM {table}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_comes_from_the_scripts_snow_sql_command() {
        let script = "-- 06: grants\n--   snow sql -f sql/06.sql --role CUSTOMER_PIPELINE_ADMIN -D a=b\n\nGRANT X;";
        assert_eq!(
            script_role(script).as_deref(),
            Some("CUSTOMER_PIPELINE_ADMIN")
        );
        assert_eq!(script_role("-- no role\nSELECT 1;"), None);
    }
}
