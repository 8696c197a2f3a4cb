//! SQL API statements: DDL and DCL through [`crate::ddl`], queries and DML through DuckDB
//! after the access checks, plus the Snowflake system queries the monitor and `pipectl doctor`
//! use, rewritten onto the stand-in's own history tables: the TASK_HISTORY and COPY_HISTORY
//! table functions (filtered by what the role may see) and SYSTEM$PIPE_STATUS. Anything DuckDB
//! cannot run is an error (Snowflake's 422), never a guessed answer.

use duckdb::arrow::datatypes::DataType;
use duckdb::types::{TimeUnit, Value};
use serde_json::Value as Json;

use crate::access;
use crate::catalog::{Catalog, Kind, Object, StreamSpec};
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse;
use crate::session::Session;

/// A result in the SQL API's terms: Snowflake column types and cells as text.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    /// (name, Snowflake type, scale).
    pub columns: Vec<(String, &'static str, i64)>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultTable {
    /// Text columns with no rows yet (SHOW results).
    pub fn text_columns(names: &[&str]) -> ResultTable {
        ResultTable {
            columns: names.iter().map(|n| (n.to_string(), "text", 0)).collect(),
            rows: Vec::new(),
        }
    }

    /// The one-row `status` answer of a DDL statement.
    pub fn status(message: String) -> ResultTable {
        let mut table = ResultTable::text_columns(&["status"]);
        table.rows.push(vec![Some(message)]);
        table
    }
}

/// Runs one SQL API statement for `session`: DDL and DCL, or a query.
pub fn run(
    engine: &Engine,
    session: &mut Session,
    statement: &str,
    bindings: &Json,
) -> Result<ResultTable, SqlError> {
    let statement = statement.trim().trim_end_matches(';');
    if let Some(table) = crate::ddl::execute(engine, session, statement)? {
        return Ok(table);
    }
    if is_dml(statement) && parameters(bindings)?.is_empty() {
        // One statement in AUTOCOMMIT: it commits, with the streams it read, on its own.
        let block = crate::scripting::Block {
            body: vec![crate::scripting::Step::Sql(statement.to_owned())],
            handler: None,
        };
        let rows = engine.run_block(session, &block, None)?;
        return Ok(ResultTable::status(format!("{rows} rows affected.")));
    }
    execute_as(engine, statement, bindings, session)
}

/// INSERT, UPDATE, DELETE, MERGE or TRUNCATE: a statement that consumes the streams it reads.
pub fn is_dml(statement: &str) -> bool {
    matches!(
        parse::words(statement).first().map(String::as_str),
        Some("INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE")
    )
}

/// A query or DML statement checked for `session` ([`authorize`]) and rewritten for DuckDB:
/// context functions filled, the history functions and SYSTEM$PIPE_STATUS onto the stand-in's
/// tables, qualified names unqualified.
pub fn prepare(
    catalog: &Catalog,
    session: &Session,
    statement: &str,
    params: &[Value],
    data_schema: &str,
) -> Result<String, SqlError> {
    let sql = session.fill_context_functions(statement.trim().trim_end_matches(';'));
    authorize(catalog, session, &sql, data_schema)?;
    let sql = unqualify(&rewrite(&sql, params, catalog, session)?, data_schema);
    if sql.to_ascii_uppercase().contains("INFORMATION_SCHEMA") {
        return Err(SqlError::not_modelled(
            "INFORMATION_SCHEMA views (TASK_HISTORY and COPY_HISTORY are modelled)",
        ));
    }
    Ok(sql)
}

/// The local inspector (`pipectl dev`'s report and dumps): DuckDB as it is, with no user and no
/// access control. Never reachable over HTTP.
pub fn execute(engine: &Engine, statement: &str, bindings: &Json) -> Result<ResultTable, SqlError> {
    let params = parameters(bindings)?;
    engine.with_connection(|conn| query(conn, statement.trim().trim_end_matches(';'), &params))
}

/// A query or DML statement as `session`: every table, view and stream it names needs the
/// privilege the statement uses it with, a warehouse the role may use, and the history
/// functions answer only for what the role may see.
pub fn execute_as(
    engine: &Engine,
    statement: &str,
    bindings: &Json,
    session: &Session,
) -> Result<ResultTable, SqlError> {
    let params = parameters(bindings)?;
    let (sql, visible_pipes) = {
        let catalog = engine.catalog();
        let sql = prepare(&catalog, session, statement, &params, engine.data_schema())?;
        // SYSTEM$PIPE_STATUS "returns results only for the pipe owner … or a role with the
        // MONITOR privilege" (https://docs.snowflake.com/en/sql-reference/functions/system_pipe_status).
        let pipes: Vec<String> = catalog
            .of_kind(Kind::Pipe)
            .filter(|p| access::session_has(&catalog, &session.roles(), p, "MONITOR"))
            .map(|p| p.name.clone())
            .collect();
        (sql, pipes)
    };
    engine.with_connection(|conn| {
        conn.execute_batch("DELETE FROM __standin_visible_pipes")?;
        for pipe in &visible_pipes {
            conn.execute("INSERT INTO __standin_visible_pipes VALUES (?)", [pipe])?;
        }
        query(conn, &sql, &params)
    })
}

fn query(
    conn: &mut duckdb::Connection,
    sql: &str,
    params: &[Value],
) -> Result<ResultTable, SqlError> {
    let mut prepared = conn.prepare(sql)?;
    let mut rows = prepared.query(duckdb::params_from_iter(params.iter()))?;
    let mut cells: Vec<Vec<Value>> = Vec::new();
    while let Some(row) = rows.next()? {
        let count = row.as_ref().column_count();
        cells.push(
            (0..count)
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<_, _>>()?,
        );
    }
    drop(rows);
    let names = prepared.column_names();
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (kind, scale) = snowflake_type(&prepared.column_type(i));
            (name.clone(), kind, scale)
        })
        .collect();
    Ok(ResultTable {
        columns,
        rows: cells
            .into_iter()
            .map(|r| r.into_iter().map(cell).collect())
            .collect(),
    })
}

/// The privileges a query or DML statement needs: SELECT on every table, view and stream it
/// reads (and on a stream's table too: querying a stream needs SELECT on the stream and on its
/// source table, https://docs.snowflake.com/en/user-guide/streams-intro), INSERT, UPDATE or
/// DELETE on the table it writes, and USAGE on a current warehouse when it touches data.
pub fn authorize(
    catalog: &Catalog,
    session: &Session,
    sql: &str,
    data_schema: &str,
) -> Result<(), SqlError> {
    let words = parse::words(sql);
    let first = words.first().map(String::as_str).unwrap_or_default();
    if !matches!(
        first,
        "SELECT" | "WITH" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" | "VALUES"
    ) {
        return Err(SqlError::not_modelled(format!("the statement {first}")));
    }
    if let Some(word) = words.iter().find(|w| {
        let first = w.split('.').next().unwrap_or_default().to_ascii_uppercase();
        DUCKDB_ONLY.contains(&first.as_str())
            || DUCKDB_ONLY.contains(&w.to_ascii_uppercase().as_str())
    }) {
        return Err(SqlError::not_modelled(format!(
            "{word} (DuckDB's, not Snowflake's)"
        )));
    }
    let roles = session.roles();
    let target = dml_target(&words);
    let mut needs_warehouse = sql.to_ascii_uppercase().contains("INFORMATION_SCHEMA.");
    for word in &words {
        let Some(object) = resolve(catalog, session, word, data_schema)? else {
            continue;
        };
        needs_warehouse = true;
        let privileges: &[&str] = match &target {
            Some((name, privileges)) if name == word => privileges,
            _ => &["SELECT"],
        };
        for privilege in privileges {
            if !access::session_has(catalog, &roles, object, privilege) {
                return Err(SqlError::not_authorized("Object", &object.name));
            }
        }
        if let Some(stream) = object.stream() {
            let table = catalog.get(Kind::Table, &stream.table);
            if !table.is_some_and(|t| access::session_has(catalog, &roles, t, "SELECT")) {
                return Err(SqlError::not_authorized("Object", &stream.table));
            }
        }
    }
    if needs_warehouse {
        let usable = session
            .warehouse
            .as_deref()
            .and_then(|w| catalog.get(Kind::Warehouse, w))
            .is_some_and(|w| roles.iter().any(|r| access::has(catalog, r, w, "USAGE")));
        if !usable {
            return Err(SqlError::no_warehouse());
        }
    }
    Ok(())
}

/// The table a DML statement writes, and the privileges it needs there.
fn dml_target(words: &[String]) -> Option<(String, &'static [&'static str])> {
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w == keyword)
            .and_then(|at| words.get(at + 1))
            .cloned()
    };
    match words.first()?.as_str() {
        "INSERT" => after("INTO").map(|t| (t, &["INSERT"][..])),
        "UPDATE" => words.get(1).cloned().map(|t| (t, &["UPDATE"][..])),
        "DELETE" => after("FROM").map(|t| (t, &["DELETE"][..])),
        "TRUNCATE" => after("TABLE").map(|t| (t, &["TRUNCATE"][..])),
        "MERGE" => after("INTO").map(|t| (t, &["INSERT", "UPDATE", "DELETE"][..])),
        _ => None,
    }
}

/// The table, view or stream a word names, if any: qualified names as written, others in the
/// session's schema (a task's own schema for task bodies). Fails closed: a word whose last part
/// is one of the data schema's relations (in any case) but that does not resolve to it, is a
/// missing object, as it is on Snowflake; otherwise DuckDB, which has one schema and ignores
/// case, would answer it unchecked.
fn resolve<'c>(
    catalog: &'c Catalog,
    session: &Session,
    word: &str,
    data_schema: &str,
) -> Result<Option<&'c Object>, SqlError> {
    let short = word.rsplit('.').next().unwrap_or(word).to_ascii_uppercase();
    if short.starts_with("__STANDIN") {
        return Err(SqlError::not_authorized("Object", word));
    }
    if catalog
        .relation(&format!("{data_schema}.{short}"))
        .is_none()
    {
        return Ok(None);
    }
    let full = if word.matches('.').count() == 2 {
        word.to_owned()
    } else {
        session.qualify(word)?
    };
    match catalog.relation(&full) {
        Some(object) => Ok(Some(object)),
        None => Err(SqlError::not_authorized("Object", &full)),
    }
}

/// DuckDB's own ways to reach data or files, which Snowflake does not have: refused by name, so
/// no query goes round the access checks.
const DUCKDB_ONLY: &[&str] = &[
    "READ_CSV",
    "READ_CSV_AUTO",
    "READ_PARQUET",
    "PARQUET_SCAN",
    "READ_JSON",
    "READ_JSON_AUTO",
    "READ_NDJSON",
    "READ_TEXT",
    "READ_BLOB",
    "QUERY",
    "QUERY_TABLE",
    "GLOB",
    "SNIFF_CSV",
    "DUCKDB_TABLES",
    "DUCKDB_VIEWS",
    "DUCKDB_COLUMNS",
    "DUCKDB_SETTINGS",
    "DUCKDB_DATABASES",
    "DUCKDB_SCHEMAS",
    "DUCKDB_FUNCTIONS",
    "DUCKDB_EXTENSIONS",
    "PRAGMA_TABLE_INFO",
    "SQLITE_MASTER",
    "PG_CATALOG",
];

/// The streams a task body reads, directly or through a view: a committed run consumes them.
pub fn streams_read(catalog: &Catalog, sql: &str, data_schema: &str) -> Vec<(String, StreamSpec)> {
    let mentions = |text: &str, name: &str| {
        let short = crate::ddl::short(name);
        parse::words(text).iter().any(|w| w == name || w == short)
    };
    catalog
        .of_kind(Kind::Stream)
        .filter(|s| s.name.starts_with(data_schema))
        .filter(|s| {
            mentions(sql, &s.name)
                || catalog.of_kind(Kind::View).any(|v| {
                    mentions(sql, &v.name)
                        && matches!(&v.detail, crate::catalog::Detail::View { sql: view } if mentions(view, &s.name))
                })
        })
        .filter_map(|s| s.stream().map(|spec| (s.name.clone(), spec.clone())))
        .collect()
}

fn parameters(bindings: &Json) -> Result<Vec<Value>, SqlError> {
    let Some(map) = bindings.as_object() else {
        return Ok(Vec::new());
    };
    let mut ordered: Vec<(usize, &Json)> = map
        .iter()
        .map(|(k, v)| {
            k.parse()
                .map(|i| (i, v))
                .map_err(|_| SqlError::compilation(format!("binding name '{k}' is not a number")))
        })
        .collect::<Result<_, _>>()?;
    ordered.sort_by_key(|(i, _)| *i);
    ordered
        .into_iter()
        .map(|(i, binding)| {
            let value = binding["value"].as_str();
            let kind = binding["type"].as_str().unwrap_or("TEXT");
            let bad = || {
                SqlError::compilation(format!("binding {i} of type {kind} has an invalid value"))
            };
            Ok(match (kind, value) {
                (_, None) => Value::Null,
                ("FIXED", Some(v)) => Value::BigInt(v.parse().map_err(|_| bad())?),
                ("REAL", Some(v)) => Value::Double(v.parse().map_err(|_| bad())?),
                ("BOOLEAN", Some(v)) => Value::Boolean(v.eq_ignore_ascii_case("true")),
                (_, Some(v)) => Value::Text(v.to_owned()),
            })
        })
        .collect()
}

/// The SQL API's rowType for a DuckDB column type (https://docs.snowflake.com/en/developer-guide/sql-api/handling-responses).
fn snowflake_type(data_type: &DataType) -> (&'static str, i64) {
    match data_type {
        DataType::Boolean => ("boolean", 0),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => ("fixed", 0),
        DataType::Decimal128(_, scale) | DataType::Decimal256(_, scale) => {
            ("fixed", i64::from(*scale))
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => ("real", 0),
        DataType::Timestamp(_, None) => ("timestamp_ntz", 9),
        DataType::Timestamp(_, Some(_)) => ("timestamp_ltz", 9),
        DataType::Date32 | DataType::Date64 => ("date", 0),
        _ => ("text", 0),
    }
}

/// A cell as the SQL API sends it (jsonv2: everything as a string).
fn cell(value: Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(n) => n.to_string(),
        Value::SmallInt(n) => n.to_string(),
        Value::Int(n) => n.to_string(),
        Value::BigInt(n) => n.to_string(),
        Value::HugeInt(n) => n.to_string(),
        Value::UTinyInt(n) => n.to_string(),
        Value::USmallInt(n) => n.to_string(),
        Value::UInt(n) => n.to_string(),
        Value::UBigInt(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Decimal(d) => {
            let scale = u32::from(d.scale());
            if scale == 0 {
                d.value().to_string()
            } else {
                let divisor = 10i128.pow(scale);
                let sign = if d.value() < 0 { "-" } else { "" };
                let abs = d.value().abs();
                format!(
                    "{sign}{}.{:0width$}",
                    abs / divisor,
                    abs % divisor,
                    width = scale as usize
                )
            }
        }
        Value::Timestamp(unit, v) => {
            let nanos: i128 = match unit {
                TimeUnit::Second => i128::from(v) * 1_000_000_000,
                TimeUnit::Millisecond => i128::from(v) * 1_000_000,
                TimeUnit::Microsecond => i128::from(v) * 1_000,
                TimeUnit::Nanosecond => i128::from(v),
            };
            format!(
                "{}.{:09}",
                nanos.div_euclid(1_000_000_000),
                nanos.rem_euclid(1_000_000_000)
            )
        }
        Value::Date32(days) => days.to_string(),
        Value::Text(s) => s,
        other => format!("{other:?}"),
    })
}

/// Rewrites the Snowflake-only forms onto the stand-in's tables; DuckDB SQL passes unchanged.
pub fn rewrite(
    sql: &str,
    params: &[Value],
    catalog: &Catalog,
    session: &Session,
) -> Result<String, SqlError> {
    let mut sql = sql.to_owned();
    for function in ["TASK_HISTORY", "COPY_HISTORY"] {
        sql = rewrite_table_function(&sql, function, params, catalog, session)?;
    }
    Ok(replace_ignoring_case(
        &sql,
        "SYSTEM$PIPE_STATUS(",
        "__standin_pipe_status(",
    ))
}

/// `DATABASE.SCHEMA.NAME` of the data schema as DuckDB names it, `NAME` (it keeps one schema).
/// Run after [`authorize`], which resolved every qualified name as Snowflake does.
pub fn unqualify(sql: &str, data_schema: &str) -> String {
    let prefix = format!("{data_schema}.");
    let mut out = String::with_capacity(sql.len());
    let mut in_quote = false;
    let mut previous = ' ';
    let mut at = 0;
    while let Some(c) = sql[at..].chars().next() {
        let starts_word =
            !(previous.is_ascii_alphanumeric() || matches!(previous, '_' | '$' | '.' | '"'));
        let here = &sql[at..];
        if !in_quote
            && starts_word
            && here
                .get(..prefix.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(&prefix))
        {
            at += prefix.len();
            previous = '.';
            continue;
        }
        if c == '\'' {
            in_quote = !in_quote;
        }
        out.push(c);
        previous = c;
        at += c.len_utf8();
    }
    out
}

fn replace_ignoring_case(sql: &str, from: &str, to: &str) -> String {
    let mut out = sql.to_owned();
    while let Some(at) = out.to_ascii_uppercase().find(from) {
        out.replace_range(at..at + from.len(), to);
    }
    out
}

/// `TABLE([db.]INFORMATION_SCHEMA.<function>(NAME => expr, …))` → a filtered subquery of the
/// stand-in's history table; arguments keep their order, so `?` bindings still line up.
/// TASK_HISTORY shows only the tasks the role may monitor; COPY_HISTORY of a table the role
/// holds no privilege on is refused ([`access::reads_copy_history`]).
fn rewrite_table_function(
    sql: &str,
    function: &str,
    params: &[Value],
    catalog: &Catalog,
    session: &Session,
) -> Result<String, SqlError> {
    let marker = format!("INFORMATION_SCHEMA.{function}(");
    let Some(at) = sql.to_ascii_uppercase().find(&marker) else {
        return Ok(sql.to_owned());
    };
    let table_start = sql[..at]
        .to_ascii_uppercase()
        .rfind("TABLE(")
        .ok_or_else(|| {
            SqlError::compilation(format!("{function} must be called inside TABLE(…)"))
        })?;
    let args_start = at + marker.len();
    let args_end = matching_paren(sql, args_start - 1)
        .ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
    let table_end = matching_paren(sql, table_start + "TABLE".len())
        .ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
    let mut predicates = Vec::new();
    let mut offset = args_start;
    for argument in split_top_level(&sql[args_start..args_end]) {
        let position = offset;
        offset += argument.len() + 1;
        let Some((name, value)) = argument.split_once("=>") else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_uppercase(), value.trim());
        let predicate = match (function, name.as_str()) {
            ("TASK_HISTORY", "SCHEDULED_TIME_RANGE_START") => format!("SCHEDULED_TIME >= {value}"),
            ("TASK_HISTORY", "SCHEDULED_TIME_RANGE_END") => format!("SCHEDULED_TIME < {value}"),
            ("TASK_HISTORY", "TASK_NAME") => format!("NAME = upper({value})"),
            ("TASK_HISTORY", "ERROR_ONLY") => format!(
                "(NOT {value} OR STATE IN ('FAILED', 'FAILED_AND_AUTO_SUSPENDED', 'CANCELLED'))"
            ),
            ("TASK_HISTORY", "RESULT_LIMIT") => format!("{value} > 0"),
            ("COPY_HISTORY", "TABLE_NAME") => {
                let named = argument_text(sql, position, value, params)?;
                let table = session.qualify(&named.to_ascii_uppercase())?;
                let found = catalog.get(Kind::Table, &table);
                let readable = |t: &Object| {
                    session
                        .roles()
                        .iter()
                        .any(|r| access::reads_copy_history(catalog, r, t))
                };
                if !found.is_some_and(readable) {
                    return Err(SqlError::not_authorized("Table", &table));
                }
                format!("TABLE_NAME = upper({value})")
            }
            ("COPY_HISTORY", "START_TIME") => format!("LAST_LOAD_TIME >= {value}"),
            ("COPY_HISTORY", "END_TIME") => format!("LAST_LOAD_TIME < {value}"),
            _ => {
                return Err(SqlError::not_modelled(format!(
                    "argument {name} of {function}"
                )));
            }
        };
        predicates.push(predicate);
    }
    let table = if function == "TASK_HISTORY" {
        let visible: Vec<String> = catalog
            .of_kind(Kind::Task)
            .filter(|t| {
                session
                    .roles()
                    .iter()
                    .any(|r| access::monitors_task(catalog, r, t))
            })
            .map(|t| format!("'{}'", t.short_name()))
            .collect();
        predicates.push(if visible.is_empty() {
            "FALSE".to_owned()
        } else {
            format!("NAME IN ({})", visible.join(", "))
        });
        "__standin_task_history"
    } else {
        "__standin_copy_history"
    };
    let replaced = format!(
        "{}(SELECT * FROM {table} WHERE {}){}",
        &sql[..table_start],
        predicates.join(" AND "),
        &sql[table_end + 1..]
    );
    Ok(replaced)
}

/// A table function argument's text: a string literal, or the `?` binding it stands for (the
/// how-many-th `?` of the statement).
fn argument_text(
    sql: &str,
    position: usize,
    value: &str,
    params: &[Value],
) -> Result<String, SqlError> {
    if let Some(literal) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return Ok(literal.replace("''", "'"));
    }
    if value == "?" {
        let mut quoted = false;
        let mut index = 0;
        for c in sql[..position].chars() {
            match c {
                '\'' => quoted = !quoted,
                '?' if !quoted => index += 1,
                _ => {}
            }
        }
        return match params.get(index) {
            Some(Value::Text(text)) => Ok(text.clone()),
            _ => Err(SqlError::compilation("the table name binding is not text")),
        };
    }
    Err(SqlError::not_modelled(format!(
        "the table name expression {value}"
    )))
}

/// The index of the `)` closing the `(` at `open`.
fn matching_paren(sql: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quoted = false;
    for (i, c) in sql[open..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top_level(args: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0, false, 0);
    for (i, c) in args.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&args[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn admin() -> (Catalog, Session) {
        let catalog = Catalog::new_account("ADMIN", "key");
        let session = Session {
            user: "ADMIN".into(),
            role: "ACCOUNTADMIN".into(),
            ..Session::default()
        };
        (catalog, session)
    }

    #[test]
    fn rewrites_the_monitors_task_history_call_keeping_binding_order() {
        let (catalog, session) = admin();
        let sql = "SELECT NAME FROM TABLE(CUSTOMERS.INFORMATION_SCHEMA.TASK_HISTORY(SCHEDULED_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?), RESULT_LIMIT => 10000, ERROR_ONLY => TRUE)) WHERE SCHEMA_NAME = ?";
        assert_eq!(
            rewrite(sql, &[], &catalog, &session).unwrap(),
            "SELECT NAME FROM (SELECT * FROM __standin_task_history WHERE SCHEDULED_TIME >= TO_TIMESTAMP_LTZ(?) AND 10000 > 0 AND (NOT TRUE OR STATE IN ('FAILED', 'FAILED_AND_AUTO_SUSPENDED', 'CANCELLED')) AND FALSE) WHERE SCHEMA_NAME = ?"
        );
    }

    #[test]
    fn qualified_names_of_the_data_schema_become_duckdb_names() {
        assert_eq!(
            unqualify(
                "SELECT * FROM customers.raw.V JOIN CUSTOMERS.RAW.T ON 'CUSTOMERS.RAW.' = X.CUSTOMERS.RAW.Y",
                "CUSTOMERS.RAW"
            ),
            "SELECT * FROM V JOIN T ON 'CUSTOMERS.RAW.' = X.CUSTOMERS.RAW.Y"
        );
    }

    #[test]
    fn an_unknown_argument_is_refused_not_ignored() {
        let (catalog, session) = admin();
        let err = rewrite("SELECT * FROM TABLE(INFORMATION_SCHEMA.COPY_HISTORY(START_TIME => ?, PIPE_NAME => 'P'))", &[], &catalog, &session).unwrap_err();
        assert!(err.message.contains("PIPE_NAME"), "{}", err.message);
    }

    #[test]
    fn copy_history_of_a_table_the_role_cannot_see_is_refused() {
        let (catalog, session) = admin();
        let sql = "SELECT * FROM TABLE(INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => ?, START_TIME => ?))";
        let params = [Value::Text("DB.S.T".into()), Value::Text("x".into())];
        let err = rewrite(sql, &params, &catalog, &session).unwrap_err();
        assert_eq!(err.code, "002003", "{}", err.message);
        assert!(err.message.contains("DB.S.T"), "{}", err.message);
    }
}
