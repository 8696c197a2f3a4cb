//! A statement the stand-in refuses, with Snowflake's error code and SQLSTATE, answered as the
//! SQL API's 422 (https://docs.snowflake.com/en/developer-guide/sql-api/handling-errors).

/// [`SqlError::timed_out`]'s code.
pub const TIMED_OUT: &str = "STANDIN_TIMED_OUT";

/// A failed statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub code: &'static str,
    pub sql_state: &'static str,
    pub message: String,
}

impl SqlError {
    fn new(code: &'static str, sql_state: &'static str, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            sql_state,
            message: message.into(),
        }
    }

    /// 001003: the statement does not parse. The code is as Snowflake's clients print it
    /// (`001003 (42000): SQL compilation error: syntax error …`); the SQL API pages show no
    /// example of it (unverified, docs/stand-ins.md).
    pub fn syntax(message: impl Into<String>) -> SqlError {
        SqlError::new(
            "001003",
            "42000",
            format!("SQL compilation error: syntax error: {}", message.into()),
        )
    }

    /// A compilation error that is not a syntax error.
    pub fn compilation(message: impl Into<String>) -> SqlError {
        SqlError::new("001003", "42000", message)
    }

    /// 000904: a column the query names does not exist, as the SQL API reference's 422
    /// example shows (https://docs.snowflake.com/en/developer-guide/sql-api/reference).
    pub fn invalid_identifier(message: impl Into<String>) -> SqlError {
        SqlError::new("000904", "42000", message)
    }

    /// 002003: "SQL compilation error: Object '…' does not exist or not authorized"
    /// (https://docs.snowflake.com/en/developer-guide/stored-procedure/stored-procedures-calling-references):
    /// a missing object and a missing privilege look the same.
    pub fn not_authorized(what: &str, name: &str) -> SqlError {
        SqlError::new(
            "002003",
            "42S02",
            format!("SQL compilation error:\n{what} '{name}' does not exist or not authorized."),
        )
    }

    /// 003001: a DDL or DCL statement whose role lacks the privilege it needs.
    pub fn insufficient_privileges(message: impl Into<String>) -> SqlError {
        SqlError::new(
            "003001",
            "42501",
            format!(
                "SQL access control error:\nInsufficient privileges to operate on {}",
                message.into()
            ),
        )
    }

    /// 002002: CREATE without OR REPLACE or IF NOT EXISTS of an object that exists.
    pub fn already_exists(what: &str, name: &str) -> SqlError {
        SqlError::new(
            "002002",
            "42710",
            format!("SQL compilation error:\n{what} '{name}' already exists."),
        )
    }

    /// 091421: changing a task graph whose root is started. ALTER TASK: "The root task in a task
    /// graph must be suspended before any task in the task graph is modified, a child task is
    /// suspended or resumed, or a child task is added"
    /// (https://docs.snowflake.com/en/sql-reference/sql/alter-task); the code and wording are
    /// as public logs show them (unverified, docs/stand-ins.md).
    pub fn root_not_suspended(root: &str) -> SqlError {
        SqlError::new(
            "091421",
            "22000",
            format!(
                "Unable to update graph with root task {root} since that root task is not suspended."
            ),
        )
    }

    /// A role the user was not granted (unverified code, docs/stand-ins.md).
    pub fn role_not_granted(role: &str) -> SqlError {
        SqlError::new(
            "390189",
            "08004",
            format!(
                "Role '{role}' specified in the connect string is not granted to this user. Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC."
            ),
        )
    }

    /// 000606: a query that needs compute without a usable warehouse.
    pub fn no_warehouse() -> SqlError {
        SqlError::new(
            "000606",
            "57P03",
            "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.",
        )
    }

    /// A statement or clause outside what the stand-in models: an error that names it, never
    /// a silent skip.
    pub fn not_modelled(what: impl Into<String>) -> SqlError {
        SqlError::new(
            "001003",
            "0A000",
            format!("the Snowflake stand-in does not model {}", what.into()),
        )
    }

    /// 100038-class: a value that does not convert (and other execution errors).
    pub fn execution(message: impl Into<String>) -> SqlError {
        SqlError::new("100038", "22018", message)
    }

    /// A block interrupted by its time limit (a task's USER_TASK_TIMEOUT_MS). The code is the
    /// stand-in's own and never leaves it: the task runner records the run as FAILED with an
    /// execution error, because the code Snowflake records for a timed-out run is not
    /// documented (docs/not-verified.md).
    pub fn timed_out() -> SqlError {
        SqlError::new(
            TIMED_OUT,
            "57014",
            "the block ran past its time limit and was interrupted",
        )
    }

    /// 000604: the statement was cancelled
    /// (https://docs.snowflake.com/en/developer-guide/sql-api/reference, the cancel example).
    pub fn cancelled() -> SqlError {
        SqlError::new("000604", "57014", "SQL execution canceled")
    }
}

/// DuckDB's errors in Snowflake's classes: a missing table is 002003, a missing column 000904,
/// a parse error 001003; anything else is an execution error.
impl From<duckdb::Error> for SqlError {
    fn from(err: duckdb::Error) -> SqlError {
        let text = err.to_string();
        if let Some(rest) = text.split("Catalog Error: ").nth(1) {
            let name = rest
                .split(" with name ")
                .nth(1)
                .and_then(|n| n.split_whitespace().next())
                .unwrap_or("?")
                .trim_end_matches(['!', ','])
                .to_ascii_uppercase();
            return SqlError::not_authorized("Object", &name);
        }
        if text.contains("Parser Error") {
            return SqlError::syntax(text);
        }
        if text.contains("Binder Error") {
            return SqlError::invalid_identifier(format!("SQL compilation error: {text}"));
        }
        SqlError::execution(text)
    }
}
