//! SHOW TASKS, STREAMS, PIPES and GRANTS, answered from the catalog for the session's role.
//! "The command only returns objects for which the current user's current role has been
//! granted at least one access privilege" (https://docs.snowflake.com/en/sql-reference/sql/show-tasks,
//! …/show-pipes); for streams, "SELECT … also allows you to view the stream in the output of
//! the SHOW STREAMS command. To view the table_name and base_tables columns, you need at least
//! one access privilege on the stream's source object"
//! (https://docs.snowflake.com/en/user-guide/security-access-control-privileges).

use chrono::Utc;

use crate::access;
use crate::catalog::{Catalog, Detail, Kind, Object};
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::Cursor;
use crate::session::Session;
use crate::statements::ResultTable;

pub fn show(engine: &Engine, session: &Session, c: &mut Cursor) -> Result<ResultTable, SqlError> {
    let what = c.word()?;
    let catalog = engine.catalog();
    if what == "GRANTS" {
        return grants(&catalog, session, c);
    }
    let kind = match what.as_str() {
        "TASKS" => Kind::Task,
        "STREAMS" => Kind::Stream,
        "PIPES" => Kind::Pipe,
        other => return Err(SqlError::not_modelled(format!("SHOW {other}"))),
    };
    let scope = if c.eat(&["IN", "SCHEMA"]) {
        Some(format!("{}.", session.qualify_schema(&c.word()?)?))
    } else if c.eat(&["IN", "DATABASE"]) {
        Some(format!("{}.", c.word()?))
    } else if c.eat(&["IN", "ACCOUNT"]) || c.at_end() {
        None
    } else {
        return Err(SqlError::not_modelled(
            "SHOW with LIKE, STARTS WITH or LIMIT",
        ));
    };
    c.finish()?;
    let roles = session.roles();
    let visible = catalog
        .of_kind(kind)
        .filter(|o| scope.as_ref().is_none_or(|s| o.name.starts_with(s)))
        .filter(|o| roles.iter().any(|r| access::sees(&catalog, r, o)));
    let mut table = ResultTable::text_columns(match kind {
        Kind::Task => &[
            "name",
            "database_name",
            "schema_name",
            "owner",
            "warehouse",
            "schedule",
            "predecessors",
            "state",
            "definition",
            "condition",
            // "Displays the reason why the task was suspended"
            // (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_08/bcr-1385-1414).
            "last_suspended_reason",
        ][..],
        Kind::Stream => &[
            "name",
            "database_name",
            "schema_name",
            "owner",
            "table_name",
            "type",
            "stale",
            "mode",
            "stale_after",
        ][..],
        _ => &[
            "name",
            "database_name",
            "schema_name",
            "definition",
            "owner",
            "notification_channel",
        ][..],
    });
    for object in visible {
        let mut parts = object.name.splitn(3, '.');
        let database = parts.next().map(str::to_owned);
        let schema = parts.next().map(str::to_owned);
        let name = Some(object.short_name().to_owned());
        let owner = Some(object.owner.clone());
        let stale_after = match &object.detail {
            Detail::Stream(_) => engine.stream_stale_after(&object.name)?,
            _ => None,
        };
        let row = match &object.detail {
            Detail::Task(t) => vec![
                name,
                database,
                schema,
                owner,
                t.warehouse.clone(),
                t.schedule.clone(),
                Some(serde_json::to_string(&t.after).unwrap_or_default()),
                Some(t.state.as_str().to_owned()),
                Some(t.body.clone()),
                t.condition.clone(),
                t.failures.last_suspended_reason.clone(),
            ],
            Detail::Stream(s) => vec![
                name,
                database,
                schema,
                owner,
                source_visible(&catalog, &roles, &s.table).then(|| s.table.clone()),
                Some("DELTA".into()),
                // Staleness is modelled for append-only streams (streams.rs).
                Some(
                    stale_after
                        .is_some_and(|at| at < Utc::now().naive_utc())
                        .to_string(),
                ),
                Some(
                    if s.append_only {
                        "APPEND_ONLY"
                    } else {
                        "DEFAULT"
                    }
                    .into(),
                ),
                stale_after.map(|at| at.and_utc().to_rfc3339()),
            ],
            Detail::Pipe(p) => vec![
                name,
                database,
                schema,
                Some(format!("COPY INTO {} FROM @{}", p.table, p.stage)),
                owner,
                None,
            ],
            _ => continue,
        };
        table.rows.push(row);
    }
    Ok(table)
}

fn source_visible(catalog: &Catalog, roles: &[String], table: &str) -> bool {
    catalog
        .get(Kind::Table, table)
        .is_some_and(|t| roles.iter().any(|r| access::sees(catalog, r, t)))
}

/// `SHOW GRANTS TO ROLE <r>` (for a role in the session's hierarchy, or with MANAGE GRANTS) and
/// `SHOW GRANTS TO USER <u>` (oneself, or with MANAGE GRANTS). Who may run them is not settled
/// by the documentation (unverified, docs/stand-ins.md).
fn grants(catalog: &Catalog, session: &Session, c: &mut Cursor) -> Result<ResultTable, SqlError> {
    c.expect(&["TO"])?;
    let to = c.word()?;
    let name = c.word()?;
    c.finish()?;
    let manages = access::has_account(catalog, &session.role, "MANAGE GRANTS");
    let mut table = ResultTable::text_columns(&[
        "privilege",
        "granted_on",
        "name",
        "granted_to",
        "grantee_name",
    ]);
    let mut push = |privilege: &str, on: &str, object: &str, to: &str, grantee: &str| {
        table.rows.push(
            [privilege, on, object, to, grantee]
                .into_iter()
                .map(|s| Some(s.to_owned()))
                .collect(),
        );
    };
    match to.as_str() {
        "ROLE" => {
            let Some(role) = catalog.roles.get(&name) else {
                return Err(SqlError::not_authorized("Role", &name));
            };
            if !manages && !access::hierarchy(catalog, &session.role).contains(&name) {
                return Err(SqlError::insufficient_privileges(format!("ROLE '{name}'")));
            }
            for privilege in &role.account_privileges {
                push(privilege, "ACCOUNT", "", "ROLE", &name);
            }
            for granted in &role.granted {
                push("USAGE", "ROLE", granted, "ROLE", &name);
            }
            for object in catalog.objects.values() {
                for privilege in privileges_of(object, &name) {
                    push(
                        &privilege,
                        object.kind.keyword(),
                        &object.name,
                        "ROLE",
                        &name,
                    );
                }
            }
        }
        "USER" => {
            let Some(user) = catalog.users.get(&name) else {
                return Err(SqlError::not_authorized("User", &name));
            };
            if !manages && session.user != name {
                return Err(SqlError::insufficient_privileges(format!("USER '{name}'")));
            }
            for role in &user.roles {
                push("USAGE", "ROLE", role, "USER", &name);
            }
        }
        other => return Err(SqlError::not_modelled(format!("SHOW GRANTS TO {other}"))),
    }
    Ok(table)
}

fn privileges_of(object: &Object, role: &str) -> Vec<String> {
    let mut privileges: Vec<String> = object
        .grants
        .get(role)
        .map(|g| g.iter().cloned().collect())
        .unwrap_or_default();
    if object.owner == role {
        privileges.insert(0, "OWNERSHIP".into());
    }
    privileges
}
