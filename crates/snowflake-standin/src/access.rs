//! Snowflake's access control, as the documentation states it, in one place. Every request to
//! the stand-in and every statement of every script goes through these rules.
//!
//! Sources (each rule cites its page):
//! - Overview of access control:
//!   https://docs.snowflake.com/en/user-guide/security-access-control-overview
//! - Access control best practices:
//!   https://docs.snowflake.com/en/user-guide/security-access-control-considerations
//! - Access control privileges:
//!   https://docs.snowflake.com/en/user-guide/security-access-control-privileges

use std::collections::BTreeSet;

use crate::catalog::{Catalog, Kind, Object};
use crate::error::SqlError;

/// The roles whose privileges `role` holds: itself, the roles granted to it, recursively, and
/// PUBLIC. "The privileges associated with a role are inherited by any roles above that role in
/// the hierarchy" (overview, "Role hierarchy and privilege inheritance"); "PUBLIC … is
/// automatically granted to every user and every role" (overview, "System-defined roles").
pub fn hierarchy(catalog: &Catalog, role: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![role.to_owned(), "PUBLIC".to_owned()];
    while let Some(next) = pending.pop() {
        if seen.insert(next.clone())
            && let Some(found) = catalog.roles.get(&next)
        {
            pending.extend(found.granted.iter().cloned());
        }
    }
    seen.retain(|r| catalog.roles.contains_key(r));
    seen
}

/// Whether `role` owns `object` itself or through a role below it. ACCOUNTADMIN is no
/// superuser: "By default, not even the ACCOUNTADMIN role can modify or drop objects created by
/// a custom role. The custom role must be granted to the ACCOUNTADMIN role directly or,
/// preferably, to another role in a hierarchy with the SYSADMIN role as the parent" (best
/// practices, "Managing custom roles").
pub fn owns(catalog: &Catalog, role: &str, object: &Object) -> bool {
    hierarchy(catalog, role).contains(&object.owner)
}

/// Whether `role` holds `privilege` on `object`. "In a regular schema, the owner role has all
/// privileges on the object" (overview, "Securable objects").
pub fn has(catalog: &Catalog, role: &str, object: &Object, privilege: &str) -> bool {
    hierarchy(catalog, role).iter().any(|r| {
        r == &object.owner
            || object
                .grants
                .get(r)
                .is_some_and(|granted| granted.contains(privilege))
    })
}

/// Whether `role` holds any privilege on `object` (SHOW's rule: "The command only returns
/// objects for which the current user's current role has been granted at least one access
/// privilege", https://docs.snowflake.com/en/sql-reference/sql/show-tasks).
pub fn has_any(catalog: &Catalog, role: &str, object: &Object) -> bool {
    hierarchy(catalog, role)
        .iter()
        .any(|r| r == &object.owner || object.grants.get(r).is_some_and(|g| !g.is_empty()))
}

/// An account-level privilege (CREATE DATABASE, EXECUTE TASK, MANAGE GRANTS, …).
pub fn has_account(catalog: &Catalog, role: &str, privilege: &str) -> bool {
    hierarchy(catalog, role).iter().any(|r| {
        catalog
            .roles
            .get(r)
            .is_some_and(|found| found.account_privileges.contains(privilege))
    })
}

/// "The MANAGE GRANTS access privilege implicitly allows its holder to see every object in the
/// account" (https://docs.snowflake.com/en/sql-reference/sql/show-tasks, usage notes).
pub fn sees(catalog: &Catalog, role: &str, object: &Object) -> bool {
    has_any(catalog, role, object) || has_account(catalog, role, "MANAGE GRANTS")
}

/// Whether `role` may use its database and schema, for a schema object. SQL names an object
/// only through them: a role without USAGE cannot resolve the name.
pub fn reaches(catalog: &Catalog, role: &str, object: &Object) -> bool {
    if !object.kind.in_schema() {
        return true;
    }
    let mut parts = object.name.splitn(3, '.');
    let (Some(database), Some(schema)) = (parts.next(), parts.next()) else {
        return false;
    };
    let usable = |kind: Kind, name: &str| {
        catalog
            .get(kind, name)
            .is_some_and(|o| has(catalog, role, o, "USAGE"))
    };
    usable(Kind::Database, database) && usable(Kind::Schema, &format!("{database}.{schema}"))
}

/// The role a request runs as: the one asked for, if granted to the user, else the user's
/// default role if granted, else PUBLIC. "If a role was specified as part of the connection and
/// that role is a role that has already been granted to the connecting user, the specified role
/// becomes the current role. If no role was specified and a default role has been set for the
/// connecting user, that role becomes the current role. If no role was specified and a default
/// role has not been set for the connecting user, the system role PUBLIC is used" (overview,
/// "Authorization through primary role and secondary roles"); "To use a role, the role must
/// have been granted to the user" (https://docs.snowflake.com/en/sql-reference/sql/use-role).
/// Granted means granted to the user itself here, not only reachable through another role's
/// hierarchy: the documentation does not settle the latter (unverified, docs/stand-ins.md).
pub fn session_role(
    catalog: &Catalog,
    user: &str,
    requested: Option<&str>,
) -> Result<String, SqlError> {
    let found = catalog
        .users
        .get(user)
        .ok_or_else(|| SqlError::not_authorized("User", user))?;
    let granted = |role: &str| role == "PUBLIC" || found.roles.contains(role);
    match requested {
        Some(role) if granted(role) => Ok(role.to_owned()),
        Some(role) => Err(SqlError::role_not_granted(role)),
        None => Ok(found
            .default_role
            .clone()
            .filter(|r| granted(r))
            .unwrap_or_else(|| "PUBLIC".into())),
    }
}

/// The secondary roles of a new session: DEFAULT_SECONDARY_ROLES, where unset means ('ALL')
/// (https://docs.snowflake.com/en/release-notes/bcr-bundles/2024_08/bcr-1692) and ALL is "All
/// roles that have been granted to the user in addition to the current active primary role"
/// (https://docs.snowflake.com/en/sql-reference/sql/use-secondary-roles).
pub fn secondary_roles(catalog: &Catalog, user: &str, primary: &str) -> Vec<String> {
    let Some(found) = catalog.users.get(user) else {
        return Vec::new();
    };
    let all = found
        .default_secondary_roles
        .as_ref()
        .is_none_or(|roles| roles.iter().any(|r| r == "ALL"));
    let chosen: Vec<String> = if all {
        found.roles.iter().cloned().collect()
    } else {
        found.default_secondary_roles.clone().unwrap_or_default()
    };
    chosen
        .into_iter()
        .filter(|r| r != primary && found.roles.contains(r))
        .collect()
}

/// Whether any of a session's roles holds `privilege` on `object`: "Authorization to perform
/// any SQL action other than creating objects can be provided by secondary roles"
/// (https://docs.snowflake.com/en/sql-reference/sql/use-role).
pub fn session_has(catalog: &Catalog, roles: &[String], object: &Object, privilege: &str) -> bool {
    roles
        .iter()
        .any(|r| reaches(catalog, r, object) && has(catalog, r, object, privilege))
}

/// Checks `privilege` on a schema object as a statement needs it. A missing privilege and a
/// missing object answer alike: "002003 (42S02): SQL compilation error: Object '…' does not
/// exist or not authorized"
/// (https://docs.snowflake.com/en/developer-guide/stored-procedure/stored-procedures-calling-references).
pub fn require(
    catalog: &Catalog,
    role: &str,
    object: Option<&Object>,
    name: &str,
    privilege: &str,
) -> Result<(), SqlError> {
    match object {
        Some(o) if reaches(catalog, role, o) && has(catalog, role, o, privilege) => Ok(()),
        _ => Err(SqlError::not_authorized("Object", name)),
    }
}

/// Which tasks TASK_HISTORY shows: "the invoking role requires at least one of the following
/// privileges: OWNERSHIP privilege on the task (that is, the task owner). MONITOR or OPERATE
/// privileges on the task. The global MONITOR EXECUTION privilege. The ACCOUNTADMIN role"
/// (https://docs.snowflake.com/en/sql-reference/functions/task_history).
pub fn monitors_task(catalog: &Catalog, role: &str, task: &Object) -> bool {
    has(catalog, role, task, "MONITOR")
        || has(catalog, role, task, "OPERATE")
        || has_account(catalog, role, "MONITOR EXECUTION")
        || hierarchy(catalog, role).contains("ACCOUNTADMIN")
}

/// COPY_HISTORY for a table: "a role that has MONITOR privilege on your Snowflake account, or a
/// role with USAGE privilege on schema and database that contains the pipe and any privilege on
/// table" (https://docs.snowflake.com/en/sql-reference/functions/copy_history).
pub fn reads_copy_history(catalog: &Catalog, role: &str, table: &Object) -> bool {
    has_account(catalog, role, "MONITOR")
        || (reaches(catalog, role, table) && has_any(catalog, role, table))
}

/// The privilege each Snowpipe REST endpoint needs on the pipe: "OPERATE (insertFiles
/// endpoint), MONITOR (insertReport, loadHistoryScan endpoints)"; the same table lists, for the
/// calling role, USAGE on the stage, USAGE on a named file format ("only needed if either the
/// stage or the pipe references a named file format") and INSERT, SELECT on the target table
/// (https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-gs, "Grant access
/// privileges"). Without them Snowflake answers 404, "pipeName not recognized. This error code
/// can also be returned if the role used when calling the endpoint does not have sufficient
/// privileges" (https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-apis).
pub fn may_call_snowpipe(
    catalog: &Catalog,
    role: &str,
    pipe: &Object,
    endpoint: &str,
) -> Result<(), String> {
    let privilege = if endpoint == "insertFiles" {
        "OPERATE"
    } else {
        "MONITOR"
    };
    if !reaches(catalog, role, pipe) {
        return Err("no USAGE on the pipe's database and schema".into());
    }
    if !has(catalog, role, pipe, privilege) {
        return Err(format!("no {privilege} on the pipe"));
    }
    let crate::catalog::Detail::Pipe(spec) = &pipe.detail else {
        return Err("not a pipe".into());
    };
    let stage = match catalog.get(Kind::Stage, &spec.stage) {
        Some(stage) if has(catalog, role, stage, "USAGE") => stage,
        _ => return Err(format!("no USAGE on the stage {}", spec.stage)),
    };
    let stage_format = match &stage.detail {
        crate::catalog::Detail::Stage { file_format, .. } => file_format.as_deref(),
        _ => None,
    };
    for format in std::iter::once(spec.file_format.as_str()).chain(stage_format) {
        match catalog.get(Kind::FileFormat, format) {
            Some(named) if has(catalog, role, named, "USAGE") => {}
            _ => return Err(format!("no USAGE on the file format {format}")),
        }
    }
    for table_privilege in ["INSERT", "SELECT"] {
        match catalog.get(Kind::Table, &spec.table) {
            Some(table) if has(catalog, role, table, table_privilege) => {}
            _ => return Err(format!("no {table_privilege} on the table {}", spec.table)),
        }
    }
    Ok(())
}
