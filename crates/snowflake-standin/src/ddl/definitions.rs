//! The definitions CREATE reads for stages, pipes (their COPY statement), streams and tasks.

use crate::access;
use crate::catalog::{
    Catalog, Detail, FailurePolicy, Kind, PipeSpec, StreamSpec, TaskSpec, TaskState,
};
use crate::error::SqlError;
use crate::parse::{Cursor, Token, Value};
use crate::session::Session;
use crate::translate::translate;

use super::task_state;

/// `CREATE STAGE … URL = '…' STORAGE_INTEGRATION = … FILE_FORMAT = …`: the integration needs
/// USAGE (https://docs.snowflake.com/en/sql-reference/sql/create-stage).
pub(super) fn stage(
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
pub(super) fn format_name(inner: &str) -> Result<String, SqlError> {
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
pub(super) fn pipe(
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
            // Snowpipe's default is SKIP_FILE, and pipes refuse ABORT_STATEMENT
            // (https://docs.snowflake.com/en/sql-reference/sql/create-pipe).
            ("ON_ERROR", value) => {
                on_error = value.text().to_ascii_uppercase();
                match on_error.as_str() {
                    "SKIP_FILE" | "CONTINUE" => {}
                    "ABORT_STATEMENT" => {
                        return Err(SqlError::compilation(
                            "SQL compilation error: ON_ERROR = ABORT_STATEMENT is not supported for pipes",
                        ));
                    }
                    other => {
                        return Err(SqlError::not_modelled(format!("ON_ERROR = {other}")));
                    }
                }
            }
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

/// `SELECT a, b, … FROM @stage [alias]` → the expressions (alias prefixes dropped) and the
/// stage. The documented form is `FROM … [ alias ]`, with no AS
/// (https://docs.snowflake.com/en/sql-reference/sql/copy-into-table), so AS is refused.
pub(super) fn copy_query(query: &str) -> Result<(Vec<String>, String), SqlError> {
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
    if c.eat(&["AS"]) {
        return Err(SqlError::syntax(
            "AS before the stage's alias: COPY documents `FROM @stage [ <alias> ]`",
        ));
    }
    let alias = if let Some(Token::Word(_)) = c.peek() {
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
pub(super) fn split_list(list: &str) -> Vec<String> {
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

/// `CREATE STREAM … ON TABLE <t> [APPEND_ONLY = TRUE] [SHOW_INITIAL_ROWS = TRUE]`: needs SELECT
/// on the table (https://docs.snowflake.com/en/sql-reference/sql/create-stream). With
/// SHOW_INITIAL_ROWS "the first time the stream is consumed, the stream returns all rows that
/// exist in the source table" (same page); modelled for append-only streams only.
pub(super) fn stream(
    catalog: &Catalog,
    role: &str,
    session: &Session,
    c: &mut Cursor,
) -> Result<StreamSpec, SqlError> {
    c.expect(&["ON", "TABLE"])?;
    let table = session.qualify(&c.word()?)?;
    let mut append_only = false;
    let mut initial_rows = false;
    for (name, value) in c.properties()? {
        match name.as_str() {
            "APPEND_ONLY" => append_only = value.text() == "TRUE",
            "SHOW_INITIAL_ROWS" => initial_rows = value.text() == "TRUE",
            "COMMENT" => {}
            other => {
                return Err(SqlError::not_modelled(format!(
                    "the stream property {other}"
                )));
            }
        }
    }
    if initial_rows && !append_only {
        return Err(SqlError::not_modelled(
            "SHOW_INITIAL_ROWS on a standard (not append-only) stream",
        ));
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
        initial_rows,
        key,
    })
}

/// `CREATE TASK … [WAREHOUSE = w] [SCHEDULE = '…'] [AFTER t, …] [WHEN cond] AS <sql>`. Needs
/// CREATE TASK on the schema, EXECUTE TASK on the account and USAGE on the warehouse
/// (https://docs.snowflake.com/en/sql-reference/sql/create-task); "Newly created or cloned
/// tasks are created suspended", and "The root task must be suspended before any task is
/// recreated (using the CREATE OR REPLACE TASK syntax) or a child task is added".
pub(super) fn task(
    catalog: &Catalog,
    role: &str,
    session: &Session,
    c: &mut Cursor,
    name: &str,
) -> Result<TaskSpec, SqlError> {
    let mut warehouse = None;
    let mut schedule = None;
    let mut failures = FailurePolicy::default();
    let number = |property: &str, value: &Value, max: u64| {
        value
            .text()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                SqlError::compilation(format!(
                    "invalid value [{}] for parameter '{property}'",
                    value.text()
                ))
            })
    };
    for (property, value) in c.properties()? {
        match property.as_str() {
            "WAREHOUSE" => warehouse = Some(value.text().to_owned()),
            "SCHEDULE" => schedule = Some(value.text().to_owned()),
            "SUSPEND_TASK_AFTER_NUM_FAILURES" => {
                failures.suspend_after = number(&property, &value, u64::from(u32::MAX))? as u32;
            }
            // "Values: 0 - 604800000 (7 days). A value of 0 specifies that the maximum timeout
            // value is enforced" (create-task).
            "USER_TASK_TIMEOUT_MS" => {
                failures.timeout_ms = match number(&property, &value, 604_800_000)? {
                    0 => 604_800_000,
                    ms => ms,
                };
            }
            "COMMENT" | "TASK_AUTO_RETRY_ATTEMPTS" | "ALLOW_OVERLAPPING_EXECUTION" => {}
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
        failures,
    })
}

/// The stream of `SYSTEM$STREAM_HAS_DATA('<stream>')`, the only WHEN the stand-in evaluates.
pub(super) fn stream_condition(condition: &str, session: &Session) -> Result<String, SqlError> {
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

/// `CREATE PROCEDURE <name>() RETURNS <type> LANGUAGE SQL [EXECUTE AS OWNER] [COMMENT = '…'] AS
/// '<block>'` (https://docs.snowflake.com/en/sql-reference/sql/create-procedure): only
/// procedures without arguments, in Snowflake Scripting, with owner's rights ("If EXECUTE AS
/// ... isn't specified, the procedure runs as an owner's rights stored procedure"). The block
/// must be one the stand-in runs ([`crate::scripting::parse_block`]), checked here.
pub(super) fn procedure(c: &mut Cursor) -> Result<Detail, SqlError> {
    if !c.parenthesized()?.trim().is_empty() {
        return Err(SqlError::not_modelled("procedure arguments"));
    }
    loop {
        if c.eat(&["RETURNS"]) {
            c.word()?;
            if matches!(c.peek(), Some(Token::Sym('('))) {
                c.parenthesized()?;
            }
        } else if c.eat(&["LANGUAGE"]) {
            if c.word()? != "SQL" {
                return Err(SqlError::not_modelled(
                    "procedures in languages other than SQL",
                ));
            }
        } else if c.eat(&["EXECUTE", "AS"]) {
            if c.word()? != "OWNER" {
                return Err(SqlError::not_modelled("caller's rights procedures"));
            }
        } else if c.eat(&["AS"]) {
            break;
        } else if c.properties()?.is_empty() {
            return Err(SqlError::syntax("the procedure has no AS"));
        }
    }
    let Some(Token::Str(block)) = c.peek().cloned() else {
        return Err(SqlError::syntax(
            "the procedure's body is not a quoted block",
        ));
    };
    c.rest();
    crate::scripting::parse_block(&block)?;
    Ok(Detail::Procedure { block })
}
