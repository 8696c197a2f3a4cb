//! DDL and DCL as Snowflake runs them: CREATE, ALTER, DROP, GRANT, REVOKE, USE and SHOW, each
//! checked against the session role's privileges (the rules live in [`crate::access`]). Tables
//! and views are also created in DuckDB; everything else lives in the [`Catalog`]. A statement
//! or clause the stand-in does not model fails with an error that names it.
//!
//! Privileges each command needs are taken from the "Access control requirements" table of
//! its page under https://docs.snowflake.com/en/sql-reference/sql/ (create-task, alter-task,
//! create-stream, create-pipe, create-stage, create-file-format, create-view, grant-privilege,
//! grant-role, drop-table, alter-user).

use std::collections::{BTreeMap, BTreeSet};

use crate::access;
use crate::catalog::{
    Catalog, Detail, Kind, Object, PipeSpec, Role, StreamSpec, TaskSpec, TaskState, User,
};
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::{Cursor, Token, Value};
use crate::session::Session;
use crate::statements::ResultTable;
use crate::translate::translate;

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
        "DESC" | "DESCRIBE" | "UNDROP" | "COMMENT" | "EXECUTE" | "CALL" | "COPY" | "PUT"
        | "GET" | "LIST" | "REMOVE" | "BEGIN" | "COMMIT" | "ROLLBACK" => {
            Err(SqlError::not_modelled(format!("the {first} statement")))
        }
        _ => Ok(None),
    }
}

/// `CREATE [OR REPLACE] <kind> [IF NOT EXISTS] <name> …`.
fn create(engine: &Engine, session: &Session, c: &mut Cursor) -> Result<String, SqlError> {
    let or_replace = c.eat(&["OR", "REPLACE"]);
    let kind_word = c.word()?;
    let kind = match kind_word.as_str() {
        "ROLE" => None,
        "USER" => None,
        "WAREHOUSE" => Some(Kind::Warehouse),
        "DATABASE" => Some(Kind::Database),
        "SCHEMA" => Some(Kind::Schema),
        "STORAGE" => {
            c.expect(&["INTEGRATION"])?;
            Some(Kind::Integration)
        }
        "TABLE" => Some(Kind::Table),
        "VIEW" => Some(Kind::View),
        "FILE" => {
            c.expect(&["FORMAT"])?;
            Some(Kind::FileFormat)
        }
        "STAGE" => Some(Kind::Stage),
        "PIPE" => Some(Kind::Pipe),
        "STREAM" => Some(Kind::Stream),
        "TASK" => Some(Kind::Task),
        other => return Err(SqlError::not_modelled(format!("CREATE {other}"))),
    };
    let if_not_exists = c.eat(&["IF", "NOT", "EXISTS"]);
    let raw_name = c.word()?;
    let mut catalog = engine.catalog();
    let role = session.role.clone();
    let Some(kind) = kind else {
        return if kind_word == "ROLE" {
            create_role(
                engine,
                &mut catalog,
                &role,
                &raw_name,
                or_replace,
                if_not_exists,
                c,
            )
        } else {
            create_user(
                engine,
                &mut catalog,
                &role,
                &raw_name,
                or_replace,
                if_not_exists,
                c,
            )
        };
    };
    let name = match kind {
        Kind::Schema => session.qualify_schema(&raw_name)?,
        k if k.in_schema() => session.qualify(&raw_name)?,
        _ => raw_name.clone(),
    };
    let created = format!("{} {} successfully created.", title(kind), short(&name));
    if let Some(existing) = catalog.get(kind, &name) {
        if if_not_exists {
            return Ok(format!(
                "{} already exists, statement succeeded.",
                short(&name)
            ));
        }
        if !or_replace {
            return Err(SqlError::already_exists(title(kind), &name));
        }
        if !access::owns(&catalog, &role, existing) {
            return Err(SqlError::insufficient_privileges(format!(
                "{} '{name}'",
                kind.keyword()
            )));
        }
    }
    authorize_create(&catalog, &role, kind, &name)?;
    let detail = match kind {
        Kind::Warehouse | Kind::Database | Kind::Integration => {
            c.properties()?;
            Detail::Plain
        }
        Kind::Schema => {
            engine.check_data_schema(&name)?;
            c.properties()?;
            Detail::Plain
        }
        Kind::Table => {
            engine.check_data_schema(&name)?;
            let translated = translate(c.sql);
            engine.execute_ddl(&translated.sql)?;
            c.rest();
            Detail::Table {
                key: translated.primary_key,
                columns: crate::translate::column_definitions(c.sql),
            }
        }
        Kind::View => {
            engine.check_data_schema(&name)?;
            let translated = translate(c.sql).sql;
            engine.execute_ddl(&translated)?;
            c.rest();
            Detail::View { sql: translated }
        }
        Kind::FileFormat => {
            let options = c
                .properties()?
                .into_iter()
                .map(|(k, v)| (k, v.text().to_owned()))
                .collect::<BTreeMap<_, _>>();
            crate::copy::CsvFormat::from_options(&options)?;
            Detail::FileFormat { options }
        }
        Kind::Stage => stage(&catalog, &role, session, c)?,
        Kind::Pipe => pipe(&catalog, &role, session, c)?,
        Kind::Stream => {
            let spec = stream(&catalog, &role, session, c)?;
            engine.create_stream(short(&name), &spec)?;
            Detail::Stream(spec)
        }
        Kind::Task => {
            let spec = task(&catalog, &role, session, c, &name)?;
            Detail::Task(spec)
        }
    };
    c.finish()?;
    // A replaced object is a new object: grants on the old one are gone. CREATE TASK has no
    // COPY GRANTS clause (https://docs.snowflake.com/en/sql-reference/sql/create-task), and
    // "when an object is replaced, the old object is deleted and the new object is created".
    catalog.insert(Object {
        kind,
        name,
        owner: role,
        grants: BTreeMap::new(),
        detail,
    });
    engine.save_catalog(&catalog)?;
    Ok(created)
}

/// The privilege creating `kind` needs: an account privilege for account objects, CREATE
/// SCHEMA on the database for a schema, and USAGE on the database plus CREATE <kind> on the
/// schema for a schema object (ownership implies both).
fn authorize_create(catalog: &Catalog, role: &str, kind: Kind, name: &str) -> Result<(), SqlError> {
    let denied = || SqlError::insufficient_privileges(format!("{} '{name}'", kind.keyword()));
    let account = |privilege: &str| {
        if access::has_account(catalog, role, privilege) {
            Ok(())
        } else {
            Err(denied())
        }
    };
    match kind {
        Kind::Warehouse => account("CREATE WAREHOUSE"),
        Kind::Database => account("CREATE DATABASE"),
        Kind::Integration => account("CREATE INTEGRATION"),
        Kind::Schema => {
            let database = name.split('.').next().unwrap_or_default();
            match catalog.get(Kind::Database, database) {
                Some(db) if access::has(catalog, role, db, "CREATE SCHEMA") => Ok(()),
                Some(_) => Err(denied()),
                None => Err(SqlError::not_authorized("Database", database)),
            }
        }
        _ => {
            let schema = name.rsplit_once('.').map_or("", |(s, _)| s);
            let database = schema.split('.').next().unwrap_or_default();
            let usable_db = catalog
                .get(Kind::Database, database)
                .is_some_and(|db| access::has(catalog, role, db, "USAGE"));
            let found = catalog.get(Kind::Schema, schema).filter(|_| usable_db);
            let Some(found) = found.filter(|s| access::has_any(catalog, role, s)) else {
                return Err(SqlError::not_authorized("Schema", schema));
            };
            let privilege = format!("CREATE {}", kind.keyword());
            if access::has(catalog, role, found, &privilege) {
                Ok(())
            } else {
                Err(denied())
            }
        }
    }
}

fn create_role(
    engine: &Engine,
    catalog: &mut Catalog,
    role: &str,
    name: &str,
    or_replace: bool,
    if_not_exists: bool,
    c: &mut Cursor,
) -> Result<String, SqlError> {
    if !access::has_account(catalog, role, "CREATE ROLE") {
        return Err(SqlError::insufficient_privileges(format!("ROLE '{name}'")));
    }
    c.properties()?;
    c.finish()?;
    if catalog.roles.contains_key(name) {
        if if_not_exists {
            return Ok(format!("{name} already exists, statement succeeded."));
        }
        if !or_replace {
            return Err(SqlError::already_exists("Role", name));
        }
    }
    catalog.roles.insert(
        name.to_owned(),
        Role {
            owner: role.to_owned(),
            granted: BTreeSet::new(),
            account_privileges: BTreeSet::new(),
        },
    );
    engine.save_catalog(catalog)?;
    Ok(format!("Role {name} successfully created."))
}

fn create_user(
    engine: &Engine,
    catalog: &mut Catalog,
    role: &str,
    name: &str,
    or_replace: bool,
    if_not_exists: bool,
    c: &mut Cursor,
) -> Result<String, SqlError> {
    if !access::has_account(catalog, role, "CREATE USER") {
        return Err(SqlError::insufficient_privileges(format!("USER '{name}'")));
    }
    let properties = c.properties()?;
    c.finish()?;
    if catalog.users.contains_key(name) {
        if if_not_exists {
            return Ok(format!("{name} already exists, statement succeeded."));
        }
        if !or_replace {
            return Err(SqlError::already_exists("User", name));
        }
    }
    let mut user = User {
        owner: role.to_owned(),
        default_role: None,
        default_warehouse: None,
        rsa_public_key: None,
        rsa_public_key_2: None,
        roles: BTreeSet::new(),
        default_secondary_roles: None,
    };
    set_user_properties(&mut user, properties)?;
    catalog.users.insert(name.to_owned(), user);
    engine.save_catalog(catalog)?;
    Ok(format!("User {name} successfully created."))
}

/// The user properties the scripts set. "Note that specifying a default role for a user does
/// not grant the role to the user" (https://docs.snowflake.com/en/sql-reference/sql/create-user):
/// DEFAULT_ROLE is only a name here too.
fn set_user_properties(user: &mut User, properties: Vec<(String, Value)>) -> Result<(), SqlError> {
    for (name, value) in properties {
        let text = value.text().to_owned();
        match name.as_str() {
            "DEFAULT_ROLE" => user.default_role = Some(text),
            "DEFAULT_WAREHOUSE" => user.default_warehouse = Some(text),
            "RSA_PUBLIC_KEY" => user.rsa_public_key = Some(text),
            "RSA_PUBLIC_KEY_2" => user.rsa_public_key_2 = Some(text),
            "DEFAULT_SECONDARY_ROLES" => {
                let roles = crate::parse::tokenize(&text)?
                    .into_iter()
                    .filter_map(|t| match t.token {
                        Token::Str(s) => Some(s.to_ascii_uppercase()),
                        _ => None,
                    })
                    .collect();
                user.default_secondary_roles = Some(roles);
            }
            "TYPE" | "COMMENT" | "DISPLAY_NAME" | "EMAIL" | "DEFAULT_NAMESPACE" => {}
            other => return Err(SqlError::not_modelled(format!("the user property {other}"))),
        }
    }
    Ok(())
}

/// `CREATE STAGE … URL = '…' STORAGE_INTEGRATION = … FILE_FORMAT = …`: the integration needs
/// USAGE (https://docs.snowflake.com/en/sql-reference/sql/create-stage).
fn stage(
    catalog: &Catalog,
    role: &str,
    session: &Session,
    c: &mut Cursor,
) -> Result<Detail, SqlError> {
    let mut url = None;
    let mut integration = None;
    let mut file_format = None;
    for (name, value) in c.properties()? {
        match name.as_str() {
            "URL" => url = Some(value.text().to_owned()),
            "STORAGE_INTEGRATION" => {
                let found = catalog.get(Kind::Integration, value.text());
                access::require(catalog, role, found, value.text(), "USAGE")
                    .map_err(|_| SqlError::not_authorized("Integration", value.text()))?;
                integration = Some(value.text().to_owned());
            }
            "FILE_FORMAT" => {
                let format = match value {
                    Value::Word(w) => w,
                    Value::List(inner) => format_name(&inner)?,
                    Value::Str(s) => s,
                };
                let format = session.qualify(&format)?;
                if catalog.get(Kind::FileFormat, &format).is_none() {
                    return Err(SqlError::not_authorized("File format", &format));
                }
                file_format = Some(format);
            }
            "COMMENT" => {}
            other => {
                return Err(SqlError::not_modelled(format!(
                    "the stage property {other}"
                )));
            }
        }
    }
    let url = url.ok_or_else(|| SqlError::not_modelled("an internal stage (no URL)"))?;
    Ok(Detail::Stage {
        url,
        integration,
        file_format,
    })
}

/// `FORMAT_NAME = 'X'` inside `FILE_FORMAT = ( … )`.
fn format_name(inner: &str) -> Result<String, SqlError> {
    let mut c = Cursor::new(inner)?;
    for (name, value) in c.properties()? {
        if name == "FORMAT_NAME" {
            return Ok(value.text().to_ascii_uppercase());
        }
    }
    Err(SqlError::not_modelled(
        "inline file format options (name a file format with FORMAT_NAME)",
    ))
}

/// `CREATE PIPE … AS COPY INTO <table> (<columns>) FROM (SELECT <expressions> FROM @<stage>
/// [AS alias]) FILE_FORMAT = (FORMAT_NAME = '…') [ON_ERROR = …]`. The pipe's owner needs USAGE
/// on the stage and INSERT, SELECT on the table
/// (https://docs.snowflake.com/en/sql-reference/sql/create-pipe).
fn pipe(
    catalog: &Catalog,
    role: &str,
    session: &Session,
    c: &mut Cursor,
) -> Result<Detail, SqlError> {
    let mut auto_ingest = false;
    for (name, value) in c.properties()? {
        match name.as_str() {
            "AUTO_INGEST" => auto_ingest = value.text() == "TRUE",
            "COMMENT" => {}
            other => return Err(SqlError::not_modelled(format!("the pipe property {other}"))),
        }
    }
    c.expect(&["AS", "COPY", "INTO"])?;
    let table = session.qualify(&c.word()?)?;
    let columns = split_list(c.parenthesized()?);
    c.expect(&["FROM"])?;
    let query = c.parenthesized()?;
    let (expressions, stage) = copy_query(query)?;
    let stage = session.qualify(stage.trim_start_matches('@'))?;
    let mut file_format = None;
    let mut on_error = "SKIP_FILE".to_owned();
    for (name, value) in c.properties()? {
        match (name.as_str(), value) {
            ("FILE_FORMAT", Value::List(inner)) => {
                file_format = Some(session.qualify(&format_name(&inner)?)?)
            }
            ("ON_ERROR", value) => on_error = value.text().to_ascii_uppercase(),
            (other, _) => return Err(SqlError::not_modelled(format!("the COPY option {other}"))),
        }
    }
    access::require(
        catalog,
        role,
        catalog.get(Kind::Stage, &stage),
        &stage,
        "USAGE",
    )?;
    for privilege in ["INSERT", "SELECT"] {
        access::require(
            catalog,
            role,
            catalog.get(Kind::Table, &table),
            &table,
            privilege,
        )?;
    }
    let stage_format = match &catalog.get(Kind::Stage, &stage).map(|s| &s.detail) {
        Some(Detail::Stage { file_format, .. }) => file_format.clone(),
        _ => None,
    };
    let file_format = file_format
        .or(stage_format)
        .ok_or_else(|| SqlError::not_modelled("a pipe without a named file format"))?;
    if catalog.get(Kind::FileFormat, &file_format).is_none() {
        return Err(SqlError::not_authorized("File format", &file_format));
    }
    for expression in &expressions {
        crate::copy::Expression::parse(expression)?;
    }
    if columns.len() != expressions.len() {
        return Err(SqlError::compilation(format!(
            "SQL compilation error: Insert value list does not match column list expecting {} but got {}",
            columns.len(),
            expressions.len()
        )));
    }
    Ok(Detail::Pipe(PipeSpec {
        created: chrono::Utc::now(),
        table,
        columns,
        expressions,
        stage,
        file_format,
        on_error,
        auto_ingest,
    }))
}

/// `SELECT a, b, … FROM @stage [AS alias]` → the expressions (alias prefixes dropped) and the
/// stage.
fn copy_query(query: &str) -> Result<(Vec<String>, String), SqlError> {
    let mut c = Cursor::new(query)?;
    c.expect(&["SELECT"])?;
    let list = c
        .until_word("FROM")
        .ok_or_else(|| SqlError::syntax("the COPY query has no FROM"))?;
    let stage = c.word()?;
    if !stage.starts_with('@') {
        return Err(SqlError::not_modelled(
            "a COPY that does not read a named stage",
        ));
    }
    let alias = if c.eat(&["AS"]) {
        Some(c.word()?)
    } else if let Some(Token::Word(_)) = c.peek() {
        Some(c.word()?)
    } else {
        None
    };
    c.finish()?;
    let expressions = split_list(list)
        .into_iter()
        .map(|e| {
            let upper = e.to_ascii_uppercase();
            match &alias {
                Some(a) => upper
                    .strip_prefix(&format!("{a}."))
                    .map(str::to_owned)
                    .unwrap_or(upper),
                None => upper,
            }
        })
        .collect();
    Ok((expressions, stage))
}

/// `a, b, c` → the trimmed items (no nesting in what the scripts list).
fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(|item| {
            item.lines()
                .map(|l| l.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_owned()
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// `CREATE STREAM … ON TABLE <t> [APPEND_ONLY = TRUE]`: needs SELECT on the table
/// (https://docs.snowflake.com/en/sql-reference/sql/create-stream).
fn stream(
    catalog: &Catalog,
    role: &str,
    session: &Session,
    c: &mut Cursor,
) -> Result<StreamSpec, SqlError> {
    c.expect(&["ON", "TABLE"])?;
    let table = session.qualify(&c.word()?)?;
    let mut append_only = false;
    for (name, value) in c.properties()? {
        match name.as_str() {
            "APPEND_ONLY" => append_only = value.text() == "TRUE",
            "COMMENT" => {}
            other => {
                return Err(SqlError::not_modelled(format!(
                    "the stream property {other}"
                )));
            }
        }
    }
    let found = catalog.get(Kind::Table, &table);
    access::require(catalog, role, found, &table, "SELECT")?;
    let key = match found.map(|t| &t.detail) {
        Some(Detail::Table { key, .. }) => key.clone(),
        _ => Vec::new(),
    };
    Ok(StreamSpec {
        table,
        append_only,
        key,
    })
}

/// `CREATE TASK … [WAREHOUSE = w] [SCHEDULE = '…'] [AFTER t, …] [WHEN cond] AS <sql>`. Needs
/// CREATE TASK on the schema, EXECUTE TASK on the account and USAGE on the warehouse
/// (https://docs.snowflake.com/en/sql-reference/sql/create-task); "Newly created or cloned
/// tasks are created suspended", and "The root task must be suspended before any task is
/// recreated (using the CREATE OR REPLACE TASK syntax) or a child task is added".
fn task(
    catalog: &Catalog,
    role: &str,
    session: &Session,
    c: &mut Cursor,
    name: &str,
) -> Result<TaskSpec, SqlError> {
    let mut warehouse = None;
    let mut schedule = None;
    for (property, value) in c.properties()? {
        match property.as_str() {
            "WAREHOUSE" => warehouse = Some(value.text().to_owned()),
            "SCHEDULE" => schedule = Some(value.text().to_owned()),
            "COMMENT"
            | "SUSPEND_TASK_AFTER_NUM_FAILURES"
            | "TASK_AUTO_RETRY_ATTEMPTS"
            | "USER_TASK_TIMEOUT_MS"
            | "ALLOW_OVERLAPPING_EXECUTION" => {}
            other => return Err(SqlError::not_modelled(format!("the task property {other}"))),
        }
    }
    let after = if c.eat(&["AFTER"]) {
        c.word_list()?
            .iter()
            .map(|t| session.qualify(t))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let condition = if c.eat(&["WHEN"]) {
        let text = c
            .until_word("AS")
            .ok_or_else(|| SqlError::syntax("the task has no AS"))?;
        Some(text.trim().to_owned())
    } else {
        c.expect(&["AS"])?;
        None
    };
    let body = translate(c.rest()).sql;
    let when_stream = match &condition {
        Some(text) => Some(stream_condition(text, session)?),
        None => None,
    };
    if !access::has_account(catalog, role, "EXECUTE TASK") {
        return Err(SqlError::insufficient_privileges(format!(
            "TASK '{name}' (the role has no EXECUTE TASK on the account)"
        )));
    }
    match &warehouse {
        Some(w) => access::require(catalog, role, catalog.get(Kind::Warehouse, w), w, "USAGE")?,
        None => return Err(SqlError::not_modelled("serverless tasks (no WAREHOUSE)")),
    }
    for parent in &after {
        if catalog.get(Kind::Task, parent).is_none() {
            return Err(SqlError::not_authorized("Task", parent));
        }
    }
    // Replacing a task, or adding a child, in a started graph fails.
    let roots: Vec<String> = if catalog.get(Kind::Task, name).is_some() {
        vec![catalog.root_of(name)]
    } else {
        after.iter().map(|p| catalog.root_of(p)).collect()
    };
    for root in roots {
        if task_state(catalog, &root) == Some(TaskState::Started) {
            return Err(SqlError::root_not_suspended(&root));
        }
    }
    Ok(TaskSpec {
        warehouse,
        schedule,
        after,
        condition,
        when_stream,
        body,
        state: TaskState::Suspended,
    })
}

/// The stream of `SYSTEM$STREAM_HAS_DATA('<stream>')`, the only WHEN the stand-in evaluates.
fn stream_condition(condition: &str, session: &Session) -> Result<String, SqlError> {
    let mut c = Cursor::new(condition)?;
    c.expect(&["SYSTEM$STREAM_HAS_DATA"])?;
    let inner = c.parenthesized()?;
    c.finish()?;
    let args = Cursor::new(inner)?;
    match args.peek().cloned() {
        Some(Token::Str(stream)) => session.qualify(&stream.to_ascii_uppercase()),
        _ => Err(SqlError::not_modelled(format!(
            "the task condition {condition}"
        ))),
    }
}

fn task_state(catalog: &Catalog, task: &str) -> Option<TaskState> {
    catalog
        .get(Kind::Task, task)
        .and_then(Object::task)
        .map(|t| t.state)
}

/// `ALTER TASK … SUSPEND|RESUME` and `ALTER USER … SET …`.
fn alter(engine: &Engine, session: &Session, c: &mut Cursor) -> Result<String, SqlError> {
    let kind = c.word()?;
    let if_exists = c.eat(&["IF", "EXISTS"]);
    let raw_name = c.word()?;
    let mut catalog = engine.catalog();
    let role = session.role.as_str();
    let message = match kind.as_str() {
        "TASK" => {
            let name = session.qualify(&raw_name)?;
            let Some(task) = catalog.get(Kind::Task, &name) else {
                return if if_exists {
                    Ok("Statement executed successfully.".into())
                } else {
                    Err(SqlError::not_authorized("Task", &name))
                };
            };
            let task = task.clone();
            let action = c.word()?;
            c.finish()?;
            alter_task(&mut catalog, role, &name, task, &action)?
        }
        "USER" => {
            let Some(user) = catalog.users.get(&raw_name).cloned() else {
                return if if_exists {
                    Ok("Statement executed successfully.".into())
                } else {
                    Err(SqlError::not_authorized("User", &raw_name))
                };
            };
            // OWNERSHIP of the user or MODIFY PROGRAMMATIC AUTHENTICATION METHODS
            // (https://docs.snowflake.com/en/sql-reference/sql/alter-user).
            let owner = access::hierarchy(&catalog, role).contains(&user.owner);
            if !owner && !access::has_account(&catalog, role, "MANAGE GRANTS") {
                return Err(SqlError::insufficient_privileges(format!(
                    "USER '{raw_name}'"
                )));
            }
            c.expect(&["SET"])?;
            let properties = c.properties()?;
            c.finish()?;
            let user = catalog.users.get_mut(&raw_name).expect("checked above");
            set_user_properties(user, properties)?;
            "Statement executed successfully.".into()
        }
        other => return Err(SqlError::not_modelled(format!("ALTER {other}"))),
    };
    engine.save_catalog(&catalog)?;
    Ok(message)
}

/// RESUME or SUSPEND: "requires either the OWNERSHIP or OPERATE privilege on the task"; on
/// resume "Snowflake verifies that the role with the OWNERSHIP privilege on the task also has
/// the USAGE privilege on the warehouse assigned to the task, as well as the global EXECUTE TASK
/// privilege"; and "The root task in a task graph must be suspended before … a child task is
/// suspended or resumed" (https://docs.snowflake.com/en/sql-reference/sql/alter-task).
fn alter_task(
    catalog: &mut Catalog,
    role: &str,
    name: &str,
    task: Object,
    action: &str,
) -> Result<String, SqlError> {
    let state = match action {
        "RESUME" => TaskState::Started,
        "SUSPEND" => TaskState::Suspended,
        other => return Err(SqlError::not_modelled(format!("ALTER TASK {other}"))),
    };
    if !access::owns(catalog, role, &task) && !access::has(catalog, role, &task, "OPERATE") {
        return Err(SqlError::insufficient_privileges(format!("TASK '{name}'")));
    }
    let spec = task.task().expect("a task").clone();
    if !spec.after.is_empty() {
        let root = catalog.root_of(name);
        if task_state(catalog, &root) == Some(TaskState::Started) {
            return Err(SqlError::root_not_suspended(&root));
        }
    }
    if state == TaskState::Started {
        let owner = &task.owner;
        let warehouse = spec.warehouse.as_deref().unwrap_or_default();
        let warehouse_ok = catalog
            .get(Kind::Warehouse, warehouse)
            .is_some_and(|w| access::has(catalog, owner, w, "USAGE"));
        if !warehouse_ok || !access::has_account(catalog, owner, "EXECUTE TASK") {
            return Err(SqlError::insufficient_privileges(format!(
                "TASK '{name}': its owner {owner} needs USAGE on warehouse {warehouse} and EXECUTE TASK on the account"
            )));
        }
    }
    if let Some(Detail::Task(spec)) = catalog.get_mut(Kind::Task, name).map(|t| &mut t.detail) {
        spec.state = state;
    }
    Ok("Statement executed successfully.".into())
}

/// `DROP <kind> [IF EXISTS] <name> [CASCADE | RESTRICT]`: needs OWNERSHIP
/// (https://docs.snowflake.com/en/sql-reference/sql/drop-table). DROP SCHEMA drops "the schema
/// and all objects in the schema" (https://docs.snowflake.com/en/sql-reference/sql/drop-schema).
fn drop(engine: &Engine, session: &Session, c: &mut Cursor) -> Result<String, SqlError> {
    let word = c.word()?;
    let kind = match word.as_str() {
        "ROLE" | "USER" => None,
        "WAREHOUSE" => Some(Kind::Warehouse),
        "DATABASE" => Some(Kind::Database),
        "SCHEMA" => Some(Kind::Schema),
        "INTEGRATION" | "STORAGE" => {
            c.eat(&["INTEGRATION"]);
            Some(Kind::Integration)
        }
        "TABLE" => Some(Kind::Table),
        "VIEW" => Some(Kind::View),
        "FILE" => {
            c.expect(&["FORMAT"])?;
            Some(Kind::FileFormat)
        }
        "STAGE" => Some(Kind::Stage),
        "PIPE" => Some(Kind::Pipe),
        "STREAM" => Some(Kind::Stream),
        "TASK" => Some(Kind::Task),
        other => return Err(SqlError::not_modelled(format!("DROP {other}"))),
    };
    let if_exists = c.eat(&["IF", "EXISTS"]);
    let raw_name = c.word()?;
    c.eat(&["CASCADE"]);
    c.eat(&["RESTRICT"]);
    c.finish()?;
    let mut catalog = engine.catalog();
    let role = session.role.as_str();
    let Some(kind) = kind else {
        drop_principal(&mut catalog, role, &word, &raw_name, if_exists)?;
        engine.save_catalog(&catalog)?;
        return Ok(format!("{raw_name} successfully dropped."));
    };
    let name = match kind {
        Kind::Schema => session.qualify_schema(&raw_name)?,
        k if k.in_schema() => session.qualify(&raw_name)?,
        _ => raw_name.clone(),
    };
    let Some(object) = catalog.get(kind, &name).cloned() else {
        return if if_exists {
            Ok(format!(
                "Drop statement executed successfully ({name} already dropped)."
            ))
        } else {
            Err(SqlError::not_authorized(title(kind), &name))
        };
    };
    if !access::owns(&catalog, role, &object) {
        return Err(SqlError::insufficient_privileges(format!(
            "{} '{name}'",
            kind.keyword()
        )));
    }
    if let Some(spec) = object.task()
        && !spec.after.is_empty()
    {
        let root = catalog.root_of(&name);
        if task_state(&catalog, &root) == Some(TaskState::Started) {
            return Err(SqlError::root_not_suspended(&root));
        }
    }
    let mut dropped = vec![object];
    let prefix = format!("{name}.");
    if matches!(kind, Kind::Schema | Kind::Database) {
        dropped.extend(
            catalog
                .objects
                .values()
                .filter(|o| o.name.starts_with(&prefix))
                .cloned(),
        );
    }
    for object in &dropped {
        engine.drop_data(object)?;
        catalog.remove(object.kind, &object.name);
    }
    engine.save_catalog(&catalog)?;
    Ok(format!("{} successfully dropped.", short(&name)))
}

/// DROP ROLE hands the role's objects to the dropping role ("ownership of the objects owned by
/// the dropped role is transferred to the role that executes the DROP ROLE command",
/// https://docs.snowflake.com/en/sql-reference/sql/drop-role); DROP USER needs its ownership.
fn drop_principal(
    catalog: &mut Catalog,
    role: &str,
    what: &str,
    name: &str,
    if_exists: bool,
) -> Result<(), SqlError> {
    let owner = match what {
        "ROLE" => catalog.roles.get(name).map(|r| r.owner.clone()),
        _ => catalog.users.get(name).map(|u| u.owner.clone()),
    };
    let Some(owner) = owner else {
        return if if_exists {
            Ok(())
        } else {
            Err(SqlError::not_authorized(what, name))
        };
    };
    if !access::hierarchy(catalog, role).contains(&owner) {
        return Err(SqlError::insufficient_privileges(format!(
            "{what} '{name}'"
        )));
    }
    if what == "USER" {
        catalog.users.remove(name);
        return Ok(());
    }
    catalog.roles.remove(name);
    for other in catalog.roles.values_mut() {
        other.granted.remove(name);
    }
    for user in catalog.users.values_mut() {
        user.roles.remove(name);
    }
    for object in catalog.objects.values_mut() {
        object.grants.remove(name);
        if object.owner == name {
            object.owner = role.to_owned();
        }
    }
    Ok(())
}

/// GRANT and REVOKE: privileges on an object or on the account, or a role to a role or user.
/// Granting needs OWNERSHIP of the object (or role), or MANAGE GRANTS
/// (https://docs.snowflake.com/en/sql-reference/sql/grant-privilege,
/// https://docs.snowflake.com/en/sql-reference/sql/grant-role).
fn grant(
    engine: &Engine,
    session: &Session,
    c: &mut Cursor,
    granting: bool,
) -> Result<String, SqlError> {
    let mut catalog = engine.catalog();
    let role = session.role.as_str();
    let manages = access::has_account(&catalog, role, "MANAGE GRANTS");
    let done = "Statement executed successfully.".to_owned();
    if c.eat(&["ROLE"]) {
        let granted = c.word()?;
        c.expect(&[if granting { "TO" } else { "FROM" }])?;
        let grantee_kind = c.word()?;
        let grantee = c.word()?;
        c.finish()?;
        let Some(found) = catalog.roles.get(&granted) else {
            return Err(SqlError::not_authorized("Role", &granted));
        };
        if !manages && !access::hierarchy(&catalog, role).contains(&found.owner) {
            return Err(SqlError::insufficient_privileges(format!(
                "ROLE '{granted}'"
            )));
        }
        match grantee_kind.as_str() {
            "ROLE" => {
                if granting && access::hierarchy(&catalog, &granted).contains(&grantee) {
                    return Err(SqlError::compilation(format!(
                        "Cannot grant role {granted} to {grantee}: it would make a cycle."
                    )));
                }
                let target = catalog
                    .roles
                    .get_mut(&grantee)
                    .ok_or_else(|| SqlError::not_authorized("Role", &grantee))?;
                edit(&mut target.granted, &granted, granting);
            }
            "USER" => {
                let target = catalog
                    .users
                    .get_mut(&grantee)
                    .ok_or_else(|| SqlError::not_authorized("User", &grantee))?;
                edit(&mut target.roles, &granted, granting);
            }
            other => return Err(SqlError::not_modelled(format!("GRANT ROLE … TO {other}"))),
        }
        engine.save_catalog(&catalog)?;
        return Ok(done);
    }
    let privileges = privilege_list(c)?;
    c.expect(&["ON"])?;
    let on = c.word()?;
    let (kind, raw_name) = if on == "ACCOUNT" {
        (None, String::new())
    } else {
        let kind = match on.as_str() {
            "WAREHOUSE" => Kind::Warehouse,
            "DATABASE" => Kind::Database,
            "SCHEMA" => Kind::Schema,
            "INTEGRATION" => Kind::Integration,
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
            other => return Err(SqlError::not_modelled(format!("GRANT … ON {other}"))),
        };
        (Some(kind), c.word()?)
    };
    c.expect(&[if granting { "TO" } else { "FROM" }])?;
    c.expect(&["ROLE"])?;
    let grantee = c.word()?;
    c.eat(&["WITH", "GRANT", "OPTION"]);
    c.finish()?;
    if !catalog.roles.contains_key(&grantee) {
        return Err(SqlError::not_authorized("Role", &grantee));
    }
    let Some(kind) = kind else {
        // Account privileges: only MANAGE GRANTS holders grant them (EXECUTE TASK "can only be
        // granted by a role with the ACCOUNTADMIN role",
        // https://docs.snowflake.com/en/sql-reference/sql/create-task).
        if !manages {
            return Err(SqlError::insufficient_privileges("ACCOUNT"));
        }
        let target = catalog.roles.get_mut(&grantee).expect("checked above");
        for privilege in &privileges {
            edit(&mut target.account_privileges, privilege, granting);
        }
        engine.save_catalog(&catalog)?;
        return Ok(done);
    };
    let name = match kind {
        Kind::Schema => session.qualify_schema(&raw_name)?,
        k if k.in_schema() => session.qualify(&raw_name)?,
        _ => raw_name.clone(),
    };
    let Some(object) = catalog.get(kind, &name) else {
        return Err(SqlError::not_authorized(title(kind), &name));
    };
    if !manages && !access::owns(&catalog, role, object) {
        return Err(SqlError::insufficient_privileges(format!(
            "{} '{name}'",
            kind.keyword()
        )));
    }
    let valid = kind.all_privileges();
    let expanded: Vec<String> = if privileges.iter().any(|p| p == "ALL") {
        valid.iter().map(|p| p.to_string()).collect()
    } else {
        privileges
    };
    if let Some(bad) = expanded.iter().find(|p| !valid.contains(&p.as_str())) {
        return Err(SqlError::compilation(format!(
            "SQL compilation error:\nInvalid privilege {bad} on {}.",
            kind.keyword()
        )));
    }
    let object = catalog.get_mut(kind, &name).expect("checked above");
    let held = object.grants.entry(grantee.clone()).or_default();
    for privilege in &expanded {
        edit(held, privilege, granting);
    }
    if held.is_empty() {
        object.grants.remove(&grantee);
    }
    engine.save_catalog(&catalog)?;
    Ok(done)
}

/// `USAGE, MONITOR` / `CREATE TABLE` / `ALL [PRIVILEGES]` up to ON.
fn privilege_list(c: &mut Cursor) -> Result<Vec<String>, SqlError> {
    let mut privileges = Vec::new();
    let mut current: Vec<String> = Vec::new();
    loop {
        match c.peek().cloned() {
            Some(Token::Word(w)) if w == "ON" => break,
            Some(Token::Word(w)) => {
                c.word()?;
                if w != "PRIVILEGES" {
                    current.push(w);
                }
            }
            Some(Token::Sym(',')) => {
                c.eat_sym(',');
                privileges.push(current.join(" "));
                current.clear();
            }
            _ => return Err(SqlError::syntax("expected privileges then ON")),
        }
    }
    privileges.push(current.join(" "));
    if privileges.iter().any(String::is_empty) {
        return Err(SqlError::syntax("an empty privilege"));
    }
    Ok(privileges)
}

fn edit(set: &mut BTreeSet<String>, item: &str, insert: bool) {
    if insert {
        set.insert(item.to_owned());
    } else {
        set.remove(item);
    }
}

/// `USE ROLE|WAREHOUSE|DATABASE|SCHEMA <name>` (and `USE <database>`).
fn use_(engine: &Engine, session: &mut Session, c: &mut Cursor) -> Result<String, SqlError> {
    let catalog = engine.catalog();
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
    }
}

/// The last part of a dotted name.
pub fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}
