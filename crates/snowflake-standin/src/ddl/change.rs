//! ALTER TASK, ALTER USER, ALTER FILE FORMAT, ALTER TABLE … ADD COLUMN and DROP.

use crate::access;
use crate::catalog::{Catalog, Detail, Kind, Object, TaskState};
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::Cursor;
use crate::session::Session;

use super::create::set_user_properties;
use super::{full_name, object_kind, short, task_state, title};

/// `ALTER TASK … SUSPEND|RESUME`, `ALTER USER … SET …` and `ALTER FILE FORMAT … SET …`.
pub(super) fn alter(
    engine: &Engine,
    session: &Session,
    c: &mut Cursor,
) -> Result<String, SqlError> {
    let mut kind = c.word()?;
    if kind == "FILE" {
        c.expect(&["FORMAT"])?;
        kind = "FILE FORMAT".into();
    }
    let if_exists = c.eat(&["IF", "EXISTS"]);
    let raw_name = c.word()?;
    let mut catalog = engine.catalog();
    let role = session.role.as_str();
    let message = match kind.as_str() {
        "TASK" => {
            let name = session.qualify(&raw_name)?;
            let Some(task) = catalog.get(Kind::Task, &name) else {
                return absent(if_exists, "Task", &name);
            };
            let task = task.clone();
            let action = c.word()?;
            c.finish()?;
            alter_task(&mut catalog, role, &name, task, &action)?
        }
        "USER" => {
            let Some(user) = catalog.users.get(&raw_name).cloned() else {
                return absent(if_exists, "User", &raw_name);
            };
            // OWNERSHIP of the user (https://docs.snowflake.com/en/sql-reference/sql/alter-user;
            // the MODIFY PROGRAMMATIC AUTHENTICATION METHODS alternative is not modelled).
            if !access::hierarchy(&catalog, role).contains(&user.owner) {
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
        "FILE FORMAT" => {
            let name = session.qualify(&raw_name)?;
            if catalog.get(Kind::FileFormat, &name).is_none() {
                return absent(if_exists, "File format", &name);
            }
            c.expect(&["SET"])?;
            let properties = c.properties()?;
            c.finish()?;
            alter_file_format(&mut catalog, role, &name, properties)?
        }
        "TABLE" => {
            let name = session.qualify(&raw_name)?;
            if catalog.get(Kind::Table, &name).is_none() {
                return absent(if_exists, "Table", &name);
            }
            add_column(engine, &mut catalog, role, &name, c)?
        }
        other => return Err(SqlError::not_modelled(format!("ALTER {other}"))),
    };
    engine.save_catalog(&catalog)?;
    Ok(message)
}

/// What ALTER answers for an object that does not exist (or that the role may not see): success
/// with IF EXISTS, 002003 without.
fn absent(if_exists: bool, what: &str, name: &str) -> Result<String, SqlError> {
    if if_exists {
        Ok("Statement executed successfully.".into())
    } else {
        Err(SqlError::not_authorized(what, name))
    }
}

/// `ALTER TABLE … ADD [COLUMN] [IF NOT EXISTS] <name> <type>` by the owner
/// (https://docs.snowflake.com/en/sql-reference/sql/alter-table: "ADD [ COLUMN ] [ IF NOT EXISTS ]
/// <col_name> <col_type>"). The column is added last and is NULL in the rows the table holds;
/// NOT NULL, defaults and other actions are not modelled.
fn add_column(
    engine: &Engine,
    catalog: &mut Catalog,
    role: &str,
    name: &str,
    c: &mut Cursor,
) -> Result<String, SqlError> {
    let table = catalog
        .get(Kind::Table, name)
        .expect("checked by the caller");
    if !access::owns(catalog, role, table) {
        return Err(SqlError::insufficient_privileges(format!("TABLE '{name}'")));
    }
    c.expect(&["ADD"])?;
    c.eat(&["COLUMN"]);
    let if_not_exists = c.eat(&["IF", "NOT", "EXISTS"]);
    let column = c.word()?;
    let data_type = c.rest().trim().to_owned();
    if data_type.is_empty() || data_type.contains("NOT NULL") || data_type.contains("DEFAULT") {
        return Err(SqlError::not_modelled(format!(
            "ADD COLUMN {column} {data_type} (only a nullable column without a default)"
        )));
    }
    let Detail::Table { columns, .. } = &table.detail else {
        return Err(SqlError::not_modelled("a table without columns"));
    };
    if columns.iter().any(|c| c.name == column) {
        return if if_not_exists {
            Ok("Statement executed successfully.".into())
        } else {
            Err(SqlError::compilation(format!(
                "column '{column}' already exists"
            )))
        };
    }
    let translated = crate::translate::translate(&data_type).sql;
    engine.execute_ddl(&format!(
        "ALTER TABLE {} ADD COLUMN {column} {}",
        short(name),
        translated.trim()
    ))?;
    if let Some(Detail::Table { columns, .. }) =
        catalog.get_mut(Kind::Table, name).map(|t| &mut t.detail)
    {
        columns.push(crate::translate::Column {
            name: column,
            data_type,
            nullable: true,
        });
    }
    Ok("Statement executed successfully.".into())
}

/// `SET` options on a file format: the owner only ("OWNERSHIP … on the file format",
/// https://docs.snowflake.com/en/sql-reference/sql/alter-file-format). The options merge into
/// the ones it has and are checked as CREATE FILE FORMAT checks them; a pipe reads its format
/// at each load, so the change applies to the next file.
fn alter_file_format(
    catalog: &mut Catalog,
    role: &str,
    name: &str,
    properties: Vec<(String, crate::parse::Value)>,
) -> Result<String, SqlError> {
    let format = catalog
        .get(Kind::FileFormat, name)
        .expect("checked by the caller");
    if !access::owns(catalog, role, format) {
        return Err(SqlError::insufficient_privileges(format!(
            "FILE FORMAT '{name}'"
        )));
    }
    let Detail::FileFormat { options } = &format.detail else {
        return Err(SqlError::not_modelled("a file format without options"));
    };
    let mut options = options.clone();
    for (key, value) in properties {
        options.insert(key, value.text().to_owned());
    }
    crate::copy::CsvFormat::from_options(&options)?;
    if let Some(object) = catalog.get_mut(Kind::FileFormat, name) {
        object.detail = Detail::FileFormat { options };
    }
    Ok("Statement executed successfully.".into())
}

/// RESUME or SUSPEND: "requires either the OWNERSHIP or OPERATE privilege on the task"; on
/// resume "Snowflake verifies that the role with the OWNERSHIP privilege on the task also has
/// the USAGE privilege on the warehouse assigned to the task, as well as the global EXECUTE TASK
/// privilege"; and "The root task in a task graph must be suspended before … a child task is
/// suspended or resumed" (https://docs.snowflake.com/en/sql-reference/sql/alter-task).
pub(super) fn alter_task(
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
        // "USER_SUSPENDED: The user suspended the task by running the alter task <name> suspend
        // command" (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_08/bcr-1385-1414).
        // A resumed task counts its failures afresh (not documented, docs/not-verified.md).
        match state {
            TaskState::Suspended => {
                spec.failures.last_suspended_reason = Some("USER_SUSPENDED".into());
            }
            TaskState::Started => spec.failures.consecutive = 0,
        }
    }
    Ok("Statement executed successfully.".into())
}

/// `DROP <kind> [IF EXISTS] <name> [CASCADE | RESTRICT]`: needs OWNERSHIP
/// (https://docs.snowflake.com/en/sql-reference/sql/drop-table). DROP SCHEMA drops "the schema
/// and all objects in the schema" (https://docs.snowflake.com/en/sql-reference/sql/drop-schema).
pub(super) fn drop(engine: &Engine, session: &Session, c: &mut Cursor) -> Result<String, SqlError> {
    let word = c.word()?;
    let kind = match word.as_str() {
        "ROLE" | "USER" => None,
        other => Some(object_kind(c, other, "DROP")?),
    };
    let if_exists = c.eat(&["IF", "EXISTS"]);
    let raw_name = c.word()?;
    // DROP PROCEDURE names the argument types: "DROP PROCEDURE [ IF EXISTS ] <procedure_name> (
    // [ <arg_data_type> , ... ] )" (https://docs.snowflake.com/en/sql-reference/sql/drop-procedure).
    if kind == Some(crate::catalog::Kind::Procedure) && !c.parenthesized()?.trim().is_empty() {
        return Err(SqlError::not_modelled("procedure arguments"));
    }
    c.eat(&["CASCADE"]);
    if c.eat(&["RESTRICT"]) {
        return Err(SqlError::not_modelled("DROP … RESTRICT"));
    }
    c.finish()?;
    let mut catalog = engine.catalog();
    let role = session.role.as_str();
    let Some(kind) = kind else {
        drop_principal(&mut catalog, role, &word, &raw_name, if_exists)?;
        engine.save_catalog(&catalog)?;
        return Ok(format!("{raw_name} successfully dropped."));
    };
    let name = full_name(session, kind, &raw_name)?;
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
    // "The root task in a task graph must be suspended before any task in the task graph is
    // dropped" (https://docs.snowflake.com/en/sql-reference/sql/drop-task): a child, or a root
    // with children; a standalone task may go.
    if let Some(spec) = object.task() {
        let has_children = catalog
            .of_kind(Kind::Task)
            .any(|t| t.task().is_some_and(|t| t.after.contains(&name)));
        let root = catalog.root_of(&name);
        let in_graph = !spec.after.is_empty() || has_children;
        if in_graph && task_state(&catalog, &root) == Some(TaskState::Started) {
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
pub(super) fn drop_principal(
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
