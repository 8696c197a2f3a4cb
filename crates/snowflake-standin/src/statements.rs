//! SQL API statements: DuckDB SQL as is, plus the Snowflake system queries the monitor and
//! `pipectl doctor` use, rewritten onto the stand-in's own history tables: TASK_HISTORY and
//! COPY_HISTORY table functions, SYSTEM$PIPE_STATUS, SHOW TASKS and SHOW STREAMS. Anything
//! DuckDB cannot run is an error (Snowflake's 422), never a guessed answer.

use duckdb::types::{TimeUnit, Value};
use serde_json::Value as Json;

use crate::engine::{Engine, SqlError};

/// A result in the SQL API's terms: Snowflake column types and cells as text.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    /// (name, Snowflake type, scale).
    pub columns: Vec<(String, &'static str, i64)>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Who runs a statement and in which context: the JWT's user and the request's role,
/// warehouse, database and schema, for CURRENT_USER() and the like.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub user: Option<String>,
    pub role: Option<String>,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
}

impl Session {
    /// `CURRENT_USER()` and its siblings replaced by the session's values (NULL when unset).
    fn fill_context_functions(&self, sql: &str) -> String {
        let mut sql = sql.to_owned();
        for (function, value) in [
            ("CURRENT_USER()", &self.user),
            ("CURRENT_ROLE()", &self.role),
            ("CURRENT_WAREHOUSE()", &self.warehouse),
            ("CURRENT_DATABASE()", &self.database),
            ("CURRENT_SCHEMA()", &self.schema),
        ] {
            // Typed: duckdb-rs cannot read a column of DuckDB's untyped NULL.
            let literal = value
                .as_ref()
                .map_or("CAST(NULL AS VARCHAR)".to_owned(), |v| {
                    format!("'{}'", v.replace('\'', "''"))
                });
            while let Some(at) = sql.to_ascii_uppercase().find(function) {
                sql.replace_range(at..at + function.len(), &literal);
            }
        }
        sql
    }
}

/// Runs one statement with the SQL API's bindings (`{"1": {"type": "TEXT", "value": "…"}}`).
pub fn execute(engine: &Engine, statement: &str, bindings: &Json) -> Result<ResultTable, SqlError> {
    execute_as(engine, statement, bindings, &Session::default())
}

/// [`execute`] for a session.
pub fn execute_as(
    engine: &Engine,
    statement: &str,
    bindings: &Json,
    session: &Session,
) -> Result<ResultTable, SqlError> {
    let sql = rewrite(&session.fill_context_functions(statement.trim().trim_end_matches(';')))?;
    let params = parameters(bindings)?;
    engine.with_connection(|conn| {
        let mut prepared = conn
            .prepare(&sql)
            .map_err(|e| SqlError::compilation(format!("SQL compilation error: {e}")))?;
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
                let (kind, scale) = cells
                    .iter()
                    .map(|r| &r[i])
                    .find(|v| !matches!(v, Value::Null))
                    .map_or(("text", 0), snowflake_type);
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
    })
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

fn snowflake_type(value: &Value) -> (&'static str, i64) {
    match value {
        Value::Boolean(_) => ("boolean", 0),
        Value::TinyInt(_)
        | Value::SmallInt(_)
        | Value::Int(_)
        | Value::BigInt(_)
        | Value::HugeInt(_)
        | Value::UTinyInt(_)
        | Value::USmallInt(_)
        | Value::UInt(_)
        | Value::UBigInt(_) => ("fixed", 0),
        Value::Decimal(d) => ("fixed", i64::from(d.scale())),
        Value::Float(_) | Value::Double(_) => ("real", 0),
        Value::Timestamp(..) => ("timestamp_ntz", 9),
        Value::Date32(_) => ("date", 0),
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
pub fn rewrite(sql: &str) -> Result<String, SqlError> {
    let upper = sql.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("SHOW ") {
        let object = rest.split_whitespace().next().unwrap_or_default();
        return match object {
            "TASKS" => Ok("SELECT * FROM __standin_show_tasks ORDER BY name".into()),
            "STREAMS" => Ok("SELECT * FROM __standin_show_streams ORDER BY name".into()),
            other => Err(SqlError::compilation(format!(
                "SHOW {other} is outside the stand-in's scope (SHOW TASKS and SHOW STREAMS are in it)"
            ))),
        };
    }
    let mut sql = sql.to_owned();
    for function in ["TASK_HISTORY", "COPY_HISTORY"] {
        sql = rewrite_table_function(&sql, function)?;
    }
    Ok(sql.replace("SYSTEM$PIPE_STATUS(", "__standin_pipe_status("))
}

/// `TABLE([db.]INFORMATION_SCHEMA.<function>(NAME => expr, …))` → a filtered subquery of the
/// stand-in's history table; arguments keep their order, so `?` bindings still line up.
fn rewrite_table_function(sql: &str, function: &str) -> Result<String, SqlError> {
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
        .ok_or_else(|| SqlError::compilation("unbalanced parentheses"))?;
    let table_end = matching_paren(sql, table_start + "TABLE".len())
        .ok_or_else(|| SqlError::compilation("unbalanced parentheses"))?;
    let mut predicates = Vec::new();
    for argument in split_top_level(&sql[args_start..args_end]) {
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
            ("COPY_HISTORY", "TABLE_NAME") => format!("TABLE_NAME = upper({value})"),
            ("COPY_HISTORY", "START_TIME") => format!("LAST_LOAD_TIME >= {value}"),
            ("COPY_HISTORY", "END_TIME") => format!("LAST_LOAD_TIME < {value}"),
            _ => {
                return Err(SqlError::compilation(format!(
                    "argument {name} of {function} is outside the stand-in's scope"
                )));
            }
        };
        predicates.push(predicate);
    }
    let table = if function == "TASK_HISTORY" {
        "__standin_task_history"
    } else {
        "__standin_copy_history"
    };
    let filter = if predicates.is_empty() {
        "TRUE".to_owned()
    } else {
        predicates.join(" AND ")
    };
    let replaced = format!(
        "{}(SELECT * FROM {table} WHERE {filter}){}",
        &sql[..table_start],
        &sql[table_end + 1..]
    );
    Ok(replaced)
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

    #[test]
    fn session_functions_answer_with_the_requests_user_role_and_warehouse() {
        let session = Session {
            user: Some("PIPELINE".into()),
            warehouse: Some("WH".into()),
            ..Session::default()
        };
        assert_eq!(
            session.fill_context_functions(
                "SELECT current_user() AS U, CURRENT_ROLE() AS R, CURRENT_WAREHOUSE() AS W"
            ),
            "SELECT 'PIPELINE' AS U, CAST(NULL AS VARCHAR) AS R, 'WH' AS W"
        );
    }

    #[test]
    fn rewrites_the_monitors_task_history_call_keeping_binding_order() {
        let sql = "SELECT NAME FROM TABLE(CUSTOMERS.INFORMATION_SCHEMA.TASK_HISTORY(SCHEDULED_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?), RESULT_LIMIT => 10000, ERROR_ONLY => TRUE)) WHERE SCHEMA_NAME = ?";
        assert_eq!(
            rewrite(sql).unwrap(),
            "SELECT NAME FROM (SELECT * FROM __standin_task_history WHERE SCHEDULED_TIME >= TO_TIMESTAMP_LTZ(?) AND 10000 > 0 AND (NOT TRUE OR STATE IN ('FAILED', 'FAILED_AND_AUTO_SUSPENDED', 'CANCELLED'))) WHERE SCHEMA_NAME = ?"
        );
    }

    #[test]
    fn an_unknown_argument_is_refused_not_ignored() {
        let err = rewrite("SELECT * FROM TABLE(INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => 'T', PIPE_NAME => 'P'))").unwrap_err();
        assert!(err.message.contains("PIPE_NAME"), "{}", err.message);
    }

    #[test]
    fn show_outside_the_scope_is_refused() {
        assert!(rewrite("SHOW WAREHOUSES").is_err());
        assert_eq!(
            rewrite("show tasks in schema A.B").unwrap(),
            "SELECT * FROM __standin_show_tasks ORDER BY name"
        );
    }
}
