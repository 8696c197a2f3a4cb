//! CREATE: who may create what, and the catalog entries of roles and users.

use std::collections::{BTreeMap, BTreeSet};

use crate::access;
use crate::catalog::{Catalog, Detail, Kind, Object, Role, User};
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::{Cursor, Token, Value};
use crate::session::Session;
use crate::translate::translate;

use super::definitions::{pipe, procedure, stage, stream, task};
use super::{full_name, object_kind, short, title};

/// `CREATE [OR REPLACE] <kind> [IF NOT EXISTS] <name> …`.
pub(super) fn create(
    engine: &Engine,
    session: &Session,
    c: &mut Cursor,
) -> Result<String, SqlError> {
    let or_replace = c.eat(&["OR", "REPLACE"]);
    let or_alter = !or_replace && c.eat(&["OR", "ALTER"]);
    let transient = c.eat(&["TRANSIENT"]);
    let kind_word = c.word()?;
    if transient && kind_word != "TABLE" {
        return Err(SqlError::not_modelled(format!(
            "CREATE TRANSIENT {kind_word}"
        )));
    }
    let kind = match kind_word.as_str() {
        "ROLE" | "USER" => None,
        word => Some(object_kind(c, word, "CREATE")?),
    };
    if or_alter && kind != Some(Kind::Task) {
        return Err(SqlError::not_modelled(format!(
            "CREATE OR ALTER {kind_word}"
        )));
    }
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
    let name = full_name(session, kind, &raw_name)?;
    if or_alter && catalog.get(kind, &name).is_some() {
        return alter_task_definition(engine, &mut catalog, session, c, &name);
    }
    let created = format!("{} {} successfully created.", title(kind), short(&name));
    // CREATE OR REPLACE VIEW … COPY GRANTS: "Retains the access permissions from the original
    // view when a new view is created using the OR REPLACE clause"
    // (https://docs.snowflake.com/en/sql-reference/sql/create-view). Streams document the clause
    // with a note that it "is not supported currently", so it is modelled for views only.
    let copy_grants = kind == Kind::View && c.eat(&["COPY", "GRANTS"]);
    let kept_grants = match catalog.get(kind, &name) {
        Some(existing) if copy_grants => existing.grants.clone(),
        _ => BTreeMap::new(),
    };
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
            let retention_days = translated.retention_days;
            // "Transient tables can have a Time Travel retention period of either 0 or 1 day"
            // (https://docs.snowflake.com/en/user-guide/tables-temp-transient).
            if transient && retention_days.is_some_and(|d| d > 1) {
                return Err(SqlError::compilation(format!(
                    "DATA_RETENTION_TIME_IN_DAYS = {} on a transient table (0 or 1)",
                    retention_days.unwrap_or_default()
                )));
            }
            engine.execute_ddl(&translated.sql)?;
            c.rest();
            Detail::Table {
                key: translated.primary_key,
                columns: crate::translate::column_definitions(c.sql),
                transient,
                retention_days,
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
        Kind::Procedure => procedure(c)?,
    };
    c.finish()?;
    // A replaced object is a new object: grants on the old one are gone unless COPY GRANTS kept
    // them ("A CREATE OR REPLACE statement that didn't specify COPY GRANTS dropped the privileges
    // that had been granted on the replaced object",
    // https://docs.snowflake.com/en/release-notes/bcr-bundles/2026_08/bcr-2433, a pending
    // bundle that will make copying the default). CREATE TASK has no COPY GRANTS clause
    // (https://docs.snowflake.com/en/sql-reference/sql/create-task).
    catalog.insert(Object {
        kind,
        name,
        owner: role,
        grants: kept_grants,
        detail,
    });
    engine.save_catalog(&catalog)?;
    Ok(created)
}

/// `CREATE OR ALTER TASK` of a task that exists: "transforms an existing task" to the
/// definition, "has the same limitations as an ALTER TASK statement" (so the task, or its graph's
/// root, must be suspended), needs OWNERSHIP of the task, and "A task cannot be resumed or
/// suspended using the CREATE OR ALTER TASK command"
/// (https://docs.snowflake.com/en/sql-reference/sql/create-task); "privilege grants on the object
/// are preserved" (https://docs.snowflake.com/en/sql-reference/sql/create-or-alter).
fn alter_task_definition(
    engine: &Engine,
    catalog: &mut Catalog,
    session: &Session,
    c: &mut Cursor,
    name: &str,
) -> Result<String, SqlError> {
    let role = session.role.clone();
    let existing = catalog.get(Kind::Task, name).expect("exists").clone();
    if !access::owns(catalog, &role, &existing) {
        return Err(SqlError::insufficient_privileges(format!("TASK '{name}'")));
    }
    let mut spec = task(catalog, &role, session, c, name)?;
    c.finish()?;
    let old = existing.task().expect("a task");
    spec.state = old.state;
    spec.failures.consecutive = old.failures.consecutive;
    spec.failures.last_suspended_reason = old.failures.last_suspended_reason.clone();
    if let Some(object) = catalog.get_mut(Kind::Task, name) {
        object.detail = Detail::Task(spec);
    }
    engine.save_catalog(catalog)?;
    Ok(format!("Task {} successfully altered.", short(name)))
}

/// The privilege creating `kind` needs: an account privilege for account objects, CREATE
/// SCHEMA on the database for a schema, and USAGE on the database plus CREATE <kind> on the
/// schema for a schema object (ownership implies both).
pub(super) fn authorize_create(
    catalog: &Catalog,
    role: &str,
    kind: Kind,
    name: &str,
) -> Result<(), SqlError> {
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

/// What CREATE answers for a principal that exists: IF NOT EXISTS succeeds without change, OR
/// REPLACE goes on (`None`), anything else is 002002.
fn existing(
    exists: bool,
    if_not_exists: bool,
    or_replace: bool,
    what: &str,
    name: &str,
) -> Result<Option<String>, SqlError> {
    match (exists, if_not_exists, or_replace) {
        (false, ..) | (true, false, true) => Ok(None),
        (true, true, _) => Ok(Some(format!("{name} already exists, statement succeeded."))),
        (true, false, false) => Err(SqlError::already_exists(what, name)),
    }
}

pub(super) fn create_role(
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
    let exists = catalog.roles.contains_key(name);
    if let Some(answer) = existing(exists, if_not_exists, or_replace, "Role", name)? {
        return Ok(answer);
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

pub(super) fn create_user(
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
    let exists = catalog.users.contains_key(name);
    if let Some(answer) = existing(exists, if_not_exists, or_replace, "User", name)? {
        return Ok(answer);
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
pub(super) fn set_user_properties(
    user: &mut User,
    properties: Vec<(String, Value)>,
) -> Result<(), SqlError> {
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
