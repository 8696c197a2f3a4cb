//! DDL and DCL as Snowflake runs them: CREATE, ALTER, DROP, GRANT, REVOKE, USE and SHOW, each
//! checked against the session role's privileges (the rules live in [`crate::access`]). Tables
//! and views are also created in DuckDB; everything else lives in the [`Catalog`]. A statement
//! or clause the stand-in does not model fails with an error that names it.
//!
//! Privileges each command needs are taken from the "Access control requirements" table of
//! its page under https://docs.snowflake.com/en/sql-reference/sql/ (create-task, alter-task,
//! create-stream, create-pipe, create-stage, create-file-format, create-view, grant-privilege,
//! grant-role, drop-table, alter-user).

mod change;
mod create;
mod definitions;
mod grant;

use crate::access;
use crate::catalog::{Catalog, Kind, Object, TaskState};
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::{Cursor, Token};
use crate::session::Session;
use crate::statements::ResultTable;
use change::{alter, drop};
use create::create;
use grant::grant;

/// Runs one DDL or DCL statement; `Ok(None)` means it is not one (a query or DML).
pub fn execute(
    engine: &Engine,
    session: &mut Session,
    statement: &str,
) -> Result<Option<ResultTable>, SqlError> {
    let mut c = Cursor::new(statement)?;
    let Some(Token::Word(first)) = c.peek().cloned() else {
        return Ok(None);
    };
    let done = |what: String| Ok(Some(ResultTable::status(what)));
    match first.as_str() {
        "CREATE" => {
            c.word()?;
            done(create(engine, session, &mut c)?)
        }
        "ALTER" => {
            c.word()?;
            done(alter(engine, session, &mut c)?)
        }
        "DROP" => {
            c.word()?;
            done(drop(engine, session, &mut c)?)
        }
        "GRANT" | "REVOKE" => {
            c.word()?;
            done(grant(engine, session, &mut c, first == "GRANT")?)
        }
        "USE" => {
            c.word()?;
            done(use_(engine, session, &mut c)?)
        }
        "SHOW" => {
            c.word()?;
            crate::show::show(engine, session, &mut c).map(Some)
        }
        "EXECUTE" if c.eat(&["EXECUTE", "IMMEDIATE"]) => {
            let block = crate::scripting::execute_immediate(statement)
                .expect("starts with EXECUTE IMMEDIATE")?;
            let rows = engine.run_block(session, &block, None)?;
            done(format!("Anonymous block executed ({rows} rows changed)."))
        }
        "CALL" => crate::procedures::call(engine, session, statement).map(Some),
        "DESC" | "DESCRIBE" | "UNDROP" | "COMMENT" | "EXECUTE" | "COPY" | "PUT" | "GET"
        | "LIST" | "REMOVE" | "BEGIN" | "COMMIT" | "ROLLBACK" | "SET" | "UNSET" | "PRAGMA"
        | "ATTACH" | "DETACH" | "EXPORT" | "IMPORT" | "INSTALL" | "LOAD" | "CHECKPOINT"
        | "VACUUM" | "SUMMARIZE" | "EXPLAIN" | "PIVOT" | "UNPIVOT" => {
            Err(SqlError::not_modelled(format!("the {first} statement")))
        }
        _ => Ok(None),
    }
}

/// `USE ROLE|WAREHOUSE|DATABASE|SCHEMA <name>` (and `USE <database>`).
fn use_(engine: &Engine, session: &mut Session, c: &mut Cursor) -> Result<String, SqlError> {
    let catalog = engine.catalog();
    if c.eat(&["SECONDARY", "ROLES"]) {
        session.secondary = secondary_roles(&catalog, session, c)?;
        return Ok("Statement executed successfully.".into());
    }
    let what = c.word()?;
    let (what, name) = match what.as_str() {
        "ROLE" | "WAREHOUSE" | "DATABASE" | "SCHEMA" => (what.clone(), c.word()?),
        _ => ("DATABASE".to_owned(), what),
    };
    c.finish()?;
    match what.as_str() {
        "ROLE" => session.role = access::session_role(&catalog, &session.user, Some(&name))?,
        "WAREHOUSE" => {
            let found = catalog.get(Kind::Warehouse, &name);
            if !found.is_some_and(|w| access::has_any(&catalog, &session.role, w)) {
                return Err(SqlError::not_authorized("Warehouse", &name));
            }
            session.warehouse = Some(name);
        }
        "DATABASE" => {
            let found = catalog.get(Kind::Database, &name);
            if !found.is_some_and(|d| access::has(&catalog, &session.role, d, "USAGE")) {
                return Err(SqlError::not_authorized("Database", &name));
            }
            session.database = Some(name);
            session.schema = None;
        }
        _ => {
            let full = session.qualify_schema(&name)?;
            let (database, schema) = full.split_once('.').expect("qualified");
            let db_ok = catalog
                .get(Kind::Database, database)
                .is_some_and(|d| access::has(&catalog, &session.role, d, "USAGE"));
            let schema_ok = catalog
                .get(Kind::Schema, &full)
                .is_some_and(|s| access::has(&catalog, &session.role, s, "USAGE"));
            if !db_ok || !schema_ok {
                return Err(SqlError::not_authorized("Schema", &full));
            }
            session.database = Some(database.to_owned());
            session.schema = Some(schema.to_owned());
        }
    }
    Ok("Statement executed successfully.".into())
}

/// `USE SECONDARY ROLES ALL | NONE | <role>, …`: "ALL: All roles that have been granted to the
/// user in addition to the current active primary role"; a named role "must have been granted
/// to the current user" (https://docs.snowflake.com/en/sql-reference/sql/use-secondary-roles).
fn secondary_roles(
    catalog: &Catalog,
    session: &Session,
    c: &mut Cursor,
) -> Result<Vec<String>, SqlError> {
    let granted: Vec<String> = catalog
        .users
        .get(&session.user)
        .map(|u| u.roles.iter().cloned().collect())
        .unwrap_or_default();
    let chosen = if c.eat(&["ALL"]) {
        granted.clone()
    } else if c.eat(&["NONE"]) {
        Vec::new()
    } else {
        c.word_list()?
    };
    c.finish()?;
    if let Some(role) = chosen.iter().find(|r| !granted.contains(r)) {
        return Err(SqlError::role_not_granted(role));
    }
    Ok(chosen.into_iter().filter(|r| *r != session.role).collect())
}

/// The kind a statement names after `word` (reading the second word of `STORAGE INTEGRATION`
/// and `FILE FORMAT`); `statement` names the statement in the error for any other word.
fn object_kind(c: &mut Cursor, word: &str, statement: &str) -> Result<Kind, SqlError> {
    Ok(match word {
        "WAREHOUSE" => Kind::Warehouse,
        "DATABASE" => Kind::Database,
        "SCHEMA" => Kind::Schema,
        "INTEGRATION" => Kind::Integration,
        "STORAGE" => {
            c.expect(&["INTEGRATION"])?;
            Kind::Integration
        }
        "TABLE" => Kind::Table,
        "VIEW" => Kind::View,
        "FILE" => {
            c.expect(&["FORMAT"])?;
            Kind::FileFormat
        }
        "STAGE" => Kind::Stage,
        "PIPE" => Kind::Pipe,
        "STREAM" => Kind::Stream,
        "TASK" => Kind::Task,
        "PROCEDURE" => Kind::Procedure,
        other => return Err(SqlError::not_modelled(format!("{statement} {other}"))),
    })
}

/// An object's full name as the catalog keys it: DB.SCHEMA.NAME, DB.SCHEMA, or NAME.
fn full_name(session: &Session, kind: Kind, name: &str) -> Result<String, SqlError> {
    match kind {
        Kind::Schema => session.qualify_schema(name),
        k if k.in_schema() => session.qualify(name),
        _ => Ok(name.to_owned()),
    }
}

fn task_state(catalog: &Catalog, task: &str) -> Option<TaskState> {
    catalog
        .get(Kind::Task, task)
        .and_then(Object::task)
        .map(|t| t.state)
}

fn title(kind: Kind) -> &'static str {
    match kind {
        Kind::Warehouse => "Warehouse",
        Kind::Database => "Database",
        Kind::Schema => "Schema",
        Kind::Integration => "Integration",
        Kind::Table => "Table",
        Kind::View => "View",
        Kind::FileFormat => "File format",
        Kind::Stage => "Stage",
        Kind::Pipe => "Pipe",
        Kind::Stream => "Stream",
        Kind::Task => "Task",
        Kind::Procedure => "Procedure",
    }
}

/// The last part of a dotted name.
pub fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}
