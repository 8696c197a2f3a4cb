//! SQL API v2 answers shaped like Snowflake's for the monitor's six checks, in the order they
//! run (task history, copy history, pipe status, SHOW TASKS, SHOW STREAMS, merge lag), for
//! scripting a
//! [`SnowflakeFake`](crate::SnowflakeFake).

use serde_json::{Value, json};

use crate::snowflake_fake::Reply;

/// A one-partition result with the given `(name, type)` columns and rows of cells as text.
pub fn result(columns: &[(&str, &str)], rows: Value) -> Reply {
    let row_type: Vec<_> = columns
        .iter()
        .map(|(name, kind)| json!({"name": name, "type": kind, "scale": 0}))
        .collect();
    let count = rows.as_array().map_or(0, Vec::len);
    let body = json!({
        "statementHandle": "h",
        "resultSetMetaData": {"format": "jsonv2", "rowType": row_type, "partitionInfo": [{"rowCount": count}]},
        "data": rows,
    });
    Reply::status(200, &body.to_string())
}

/// Rows of NAME, STATE, QUERY_ID, ERROR_CODE, ERROR_MESSAGE, SCHEDULED_TIME.
pub fn task_failures(rows: Value) -> Reply {
    let text = |name| (name, "text");
    result(
        &[
            text("NAME"),
            text("STATE"),
            text("QUERY_ID"),
            text("ERROR_CODE"),
            text("ERROR_MESSAGE"),
            text("SCHEDULED_TIME"),
        ],
        rows,
    )
}

/// Rows of FILE_NAME, STATUS, FIRST_ERROR_MESSAGE, ROW_COUNT, ERROR_COUNT, LAST_LOAD_TIME.
pub fn load_failures(rows: Value) -> Reply {
    result(
        &[
            ("FILE_NAME", "text"),
            ("STATUS", "text"),
            ("FIRST_ERROR_MESSAGE", "text"),
            ("ROW_COUNT", "fixed"),
            ("ERROR_COUNT", "fixed"),
            ("LAST_LOAD_TIME", "text"),
        ],
        rows,
    )
}

/// SYSTEM$PIPE_STATUS's JSON document in a STATUS column.
pub fn pipe_status(status: Value) -> Reply {
    result(&[("STATUS", "text")], json!([[status.to_string()]]))
}

/// SHOW TASKS (`column` = "state") or SHOW STREAMS (`column` = "stale") rows of name and value.
pub fn shown(column: &str, rows: Value) -> Reply {
    result(&[("name", "text"), (column, "text")], rows)
}

/// SHOW TASKS rows of name, state and last_suspended_reason (null when none).
pub fn shown_tasks(rows: Value) -> Reply {
    result(
        &[
            ("name", "text"),
            ("state", "text"),
            ("last_suspended_reason", "text"),
        ],
        rows,
    )
}

/// The merge-lag view: `rows` unmerged, the oldest loaded at `oldest` (epoch seconds as the SQL
/// API sends a TIMESTAMP_LTZ, or null).
pub fn merge_lag(rows: u64, oldest: Option<&str>) -> Reply {
    result(
        &[
            ("UNMERGED_ROWS", "fixed"),
            ("OLDEST_UNMERGED_LOADED_AT", "timestamp_ltz"),
        ],
        json!([[rows.to_string(), oldest]]),
    )
}

/// One round in which nothing is wrong with the pipeline's default objects.
pub fn healthy_round() -> Vec<Reply> {
    vec![
        task_failures(json!([])),
        load_failures(json!([])),
        pipe_status(json!({"executionState": "RUNNING", "pendingFileCount": 0})),
        shown("state", json!([["TSK_SCD_RAW", "started"]])),
        shown("stale", json!([["CUSTOMER_RAW_CHANGES", "false"]])),
        merge_lag(0, None),
    ]
}
