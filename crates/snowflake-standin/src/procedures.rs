//! `CALL <procedure>()` of a Snowflake Scripting procedure with owner's rights, as a task body or
//! a statement. "An owner's rights stored procedure runs mostly with the privileges of the stored
//! procedure's owner": it runs "with the privileges of the owner, not the privileges of the
//! caller", inherits "the current warehouse of the caller", and uses "the database and schema
//! that the stored procedure is created in"
//! (https://docs.snowflake.com/en/developer-guide/stored-procedure/stored-procedures-rights).
//! Calling needs USAGE on the procedure ("the user's role must have the USAGE privilege for the
//! stored procedure",
//! https://docs.snowflake.com/en/developer-guide/stored-procedure/stored-procedures-calling);
//! the owner holds every privilege on what it owns. Its block may hold a whole transaction
//! ("A transaction can be inside a stored procedure",
//! https://docs.snowflake.com/en/sql-reference/transactions). RETURN is not modelled, so a call
//! answers NULL.

use crate::access;
use crate::catalog::{Detail, Kind};
use crate::ddl::short;
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::Cursor;
use crate::scripting::{Block, parse_block};
use crate::session::Session;
use crate::statements::ResultTable;

/// What a CALL runs: the procedure's block, and the owner's-rights session it runs in.
pub(crate) struct Call {
    pub name: String,
    pub block: Block,
    pub session: Session,
}

/// The call `statement` makes as `caller`; `None` when it is not a CALL.
pub(crate) fn resolve(
    engine: &Engine,
    caller: &Session,
    statement: &str,
) -> Option<Result<Call, SqlError>> {
    let mut c = Cursor::new(statement).ok()?;
    if !c.eat(&["CALL"]) {
        return None;
    }
    Some(resolve_after_call(engine, caller, &mut c))
}

fn resolve_after_call(engine: &Engine, caller: &Session, c: &mut Cursor) -> Result<Call, SqlError> {
    let raw_name = c.word()?;
    if !c.parenthesized()?.trim().is_empty() {
        return Err(SqlError::not_modelled("procedure arguments"));
    }
    c.finish()?;
    let name = caller.qualify(&raw_name)?;
    let catalog = engine.catalog();
    let found = catalog.get(Kind::Procedure, &name).filter(|p| {
        caller
            .roles()
            .iter()
            .any(|r| access::has(&catalog, r, p, "USAGE"))
    });
    let Some(procedure) = found else {
        return Err(SqlError::not_authorized("Procedure", &name));
    };
    let Detail::Procedure { block } = &procedure.detail else {
        unreachable!("a procedure's detail");
    };
    let mut parts = name.splitn(3, '.');
    let session = Session {
        user: caller.user.clone(),
        role: procedure.owner.clone(),
        secondary: Vec::new(),
        warehouse: caller.warehouse.clone(),
        database: parts.next().map(str::to_owned),
        schema: parts.next().map(str::to_owned),
    };
    Ok(Call {
        name,
        block: parse_block(block)?,
        session,
    })
}

/// `CALL` as a statement: runs the block and answers one row named after the procedure.
pub(crate) fn call(
    engine: &Engine,
    caller: &Session,
    statement: &str,
) -> Result<ResultTable, SqlError> {
    let call = resolve(engine, caller, statement).expect("starts with CALL")?;
    if call.session.warehouse.is_none() {
        return Err(SqlError::no_warehouse());
    }
    engine.run_block(&call.session, &call.block, None)?;
    let mut table = ResultTable::text_columns(&[short(&call.name)]);
    table.rows.push(vec![None]);
    Ok(table)
}
