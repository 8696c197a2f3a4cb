//! GRANT and REVOKE of privileges and roles.

use std::collections::BTreeSet;

use crate::access;
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::{Cursor, Token};
use crate::session::Session;

use super::{full_name, object_kind, title};

/// GRANT and REVOKE: privileges on an object or on the account, or a role to a role or user.
/// Granting needs OWNERSHIP of the object (or role), or MANAGE GRANTS
/// (https://docs.snowflake.com/en/sql-reference/sql/grant-privilege,
/// https://docs.snowflake.com/en/sql-reference/sql/grant-role).
pub(super) fn grant(
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
        (Some(object_kind(c, &on, "GRANT … ON")?), c.word()?)
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
        // Account privileges: MANAGE GRANTS holders grant them, and "Only account
        // administrators (users with the ACCOUNTADMIN role) can grant the EXECUTE TASK privilege"
        // (https://docs.snowflake.com/en/sql-reference/sql/alter-task).
        let account_admin = access::hierarchy(&catalog, role).contains("ACCOUNTADMIN");
        let execute_task = privileges.iter().any(|p| p == "EXECUTE TASK");
        if !manages || (execute_task && !account_admin) {
            return Err(SqlError::insufficient_privileges("ACCOUNT"));
        }
        let target = catalog.roles.get_mut(&grantee).expect("checked above");
        for privilege in &privileges {
            edit(&mut target.account_privileges, privilege, granting);
        }
        engine.save_catalog(&catalog)?;
        return Ok(done);
    };
    let name = full_name(session, kind, &raw_name)?;
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
pub(super) fn privilege_list(c: &mut Cursor) -> Result<Vec<String>, SqlError> {
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

pub(super) fn edit(set: &mut BTreeSet<String>, item: &str, insert: bool) {
    if insert {
        set.insert(item.to_owned());
    } else {
        set.remove(item);
    }
}
