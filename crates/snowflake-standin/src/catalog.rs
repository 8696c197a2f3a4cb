//! What the account holds besides table data: roles and their grants, users and their keys,
//! and every object the scripts create (warehouses, databases, schemas, integrations, tables,
//! views, file formats, stages, pipes, streams, tasks) with its owner and the privileges granted
//! on it. Kept as JSON in the warehouse file, so a reopened state folder remembers it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The kinds of object the scripts create, as GRANT and SHOW name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Warehouse,
    Database,
    Schema,
    Integration,
    Table,
    View,
    FileFormat,
    Stage,
    Pipe,
    Stream,
    Task,
    Procedure,
}

impl Kind {
    /// The keyword(s) after `GRANT … ON`, `DROP` and `SHOW`.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Warehouse => "WAREHOUSE",
            Kind::Database => "DATABASE",
            Kind::Schema => "SCHEMA",
            Kind::Integration => "INTEGRATION",
            Kind::Table => "TABLE",
            Kind::View => "VIEW",
            Kind::FileFormat => "FILE FORMAT",
            Kind::Stage => "STAGE",
            Kind::Pipe => "PIPE",
            Kind::Stream => "STREAM",
            Kind::Task => "TASK",
            Kind::Procedure => "PROCEDURE",
        }
    }

    /// Whether objects of this kind live in a schema (and are named DB.SCHEMA.NAME).
    pub fn in_schema(self) -> bool {
        !matches!(
            self,
            Kind::Warehouse | Kind::Database | Kind::Schema | Kind::Integration
        )
    }

    /// What `GRANT ALL ON <kind>` grants: every privilege of the kind except OWNERSHIP
    /// (https://docs.snowflake.com/en/sql-reference/sql/grant-privilege, "ALL [ PRIVILEGES ]").
    pub fn all_privileges(self) -> &'static [&'static str] {
        match self {
            Kind::Warehouse => &["USAGE", "OPERATE", "MONITOR", "MODIFY"],
            Kind::Database => &["USAGE", "MONITOR", "MODIFY", "CREATE SCHEMA"],
            Kind::Schema => &[
                "USAGE",
                "MONITOR",
                "MODIFY",
                "CREATE TABLE",
                "CREATE VIEW",
                "CREATE FILE FORMAT",
                "CREATE STAGE",
                "CREATE PIPE",
                "CREATE STREAM",
                "CREATE TASK",
                "CREATE PROCEDURE",
            ],
            Kind::Integration => &["USAGE"],
            Kind::Table => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
            ],
            Kind::View => &["SELECT", "REFERENCES"],
            Kind::FileFormat | Kind::Stage => &["USAGE"],
            Kind::Pipe => &["MONITOR", "OPERATE"],
            Kind::Stream => &["SELECT"],
            Kind::Task => &["MONITOR", "OPERATE"],
            Kind::Procedure => &["USAGE"],
        }
    }
}

/// Whether a task runs on its schedule: the client's type, so what the stand-in shows and what
/// the monitor and `pipectl doctor` read are one vocabulary.
pub use snowflake::TaskState;

/// A task as `CREATE TASK` defined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub warehouse: Option<String>,
    pub schedule: Option<String>,
    /// Predecessors (full names).
    pub after: Vec<String>,
    /// The WHEN condition as written.
    pub condition: Option<String>,
    /// The stream of `WHEN SYSTEM$STREAM_HAS_DATA('…')` (full name).
    pub when_stream: Option<String>,
    /// The SQL after AS, translated for DuckDB.
    pub body: String,
    pub state: TaskState,
    /// The task's failure parameters and what they have counted.
    #[serde(default)]
    pub failures: FailurePolicy,
}

/// SUSPEND_TASK_AFTER_NUM_FAILURES and USER_TASK_TIMEOUT_MS as a task sets them, with the
/// documented defaults (https://docs.snowflake.com/en/sql-reference/sql/create-task): "the number
/// of consecutive failed task runs after which the current task is suspended automatically …
/// Failed task runs include runs in which the SQL code in the task body either produces a user
/// error or times out. Task runs that are skipped, canceled, or that fail due to a system error
/// are considered indeterminate and aren't included in the count" (0: no limit; default 10), and
/// "the time limit on a single run of the task before it times out (in milliseconds)" (default
/// 3600000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailurePolicy {
    pub suspend_after: u32,
    pub timeout_ms: u64,
    /// Failed runs since the last one that succeeded.
    pub consecutive: u32,
    /// SHOW TASKS' last_suspended_reason: USER_SUSPENDED for ALTER TASK … SUSPEND,
    /// SUSPENDED_DUE_TO_ERRORS for the suspension above
    /// (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_08/bcr-1385-1414).
    pub last_suspended_reason: Option<String>,
}

impl Default for FailurePolicy {
    fn default() -> FailurePolicy {
        FailurePolicy {
            suspend_after: 10,
            timeout_ms: 3_600_000,
            consecutive: 0,
            last_suspended_reason: None,
        }
    }
}

/// A stream as `CREATE STREAM … ON TABLE` defined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// The table (full name).
    pub table: String,
    pub append_only: bool,
    /// SHOW_INITIAL_ROWS = TRUE: the first consumption returns the rows the table held at
    /// creation too.
    #[serde(default)]
    pub initial_rows: bool,
    /// The table's declared key, to pair a delete and an insert as an update.
    pub key: Vec<String>,
}

/// A pipe's COPY statement, read into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeSpec {
    /// When CREATE PIPE ran: a recreated pipe starts with an empty load history.
    pub created: chrono::DateTime<chrono::Utc>,
    /// The target table (full name) and its listed columns.
    pub table: String,
    pub columns: Vec<String>,
    /// The SELECT list: `$n`, `METADATA$…`, one per column.
    pub expressions: Vec<String>,
    /// The stage (full name).
    pub stage: String,
    /// The file format (full name).
    pub file_format: String,
    /// ON_ERROR; Snowpipe's default is SKIP_FILE.
    pub on_error: String,
    pub auto_ingest: bool,
}

/// What an object is, beyond its name, owner and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detail {
    Plain,
    Table {
        key: Vec<String>,
        columns: Vec<crate::translate::Column>,
        /// `CREATE TRANSIENT TABLE`: no Fail-safe, and a retention of 0 or 1 day
        /// (https://docs.snowflake.com/en/user-guide/tables-temp-transient).
        #[serde(default)]
        transient: bool,
        /// DATA_RETENTION_TIME_IN_DAYS when the table sets it (else the account's default).
        #[serde(default)]
        retention_days: Option<u32>,
    },
    View {
        /// The translated query, to see which streams a task reads through the view.
        sql: String,
    },
    FileFormat {
        options: BTreeMap<String, String>,
    },
    Stage {
        url: String,
        integration: Option<String>,
        file_format: Option<String>,
    },
    Pipe(PipeSpec),
    Stream(StreamSpec),
    Task(TaskSpec),
    /// A Snowflake Scripting procedure without arguments, owner's rights: its block's text.
    Procedure {
        block: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub kind: Kind,
    /// DB.SCHEMA.NAME for schema objects, DB.SCHEMA for schemas, NAME otherwise.
    pub name: String,
    /// The role holding OWNERSHIP.
    pub owner: String,
    /// Role → privileges granted on this object.
    pub grants: BTreeMap<String, BTreeSet<String>>,
    pub detail: Detail,
}

impl Object {
    /// The last part of the name.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    pub fn task(&self) -> Option<&TaskSpec> {
        match &self.detail {
            Detail::Task(task) => Some(task),
            _ => None,
        }
    }

    pub fn stream(&self) -> Option<&StreamSpec> {
        match &self.detail {
            Detail::Stream(stream) => Some(stream),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub owner: String,
    /// Roles granted to this role: their privileges are this role's too.
    pub granted: BTreeSet<String>,
    /// Account-level privileges (CREATE DATABASE, EXECUTE TASK, MANAGE GRANTS, …).
    pub account_privileges: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub owner: String,
    pub default_role: Option<String>,
    pub default_warehouse: Option<String>,
    /// RSA_PUBLIC_KEY and RSA_PUBLIC_KEY_2: the body of each PEM public key.
    pub rsa_public_key: Option<String>,
    pub rsa_public_key_2: Option<String>,
    /// Roles granted to the user.
    pub roles: BTreeSet<String>,
    /// DEFAULT_SECONDARY_ROLES: `None` when unset, which means ('ALL').
    #[serde(default)]
    pub default_secondary_roles: Option<Vec<String>>,
}

/// The account's roles, users and objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub roles: BTreeMap<String, Role>,
    pub users: BTreeMap<String, User>,
    /// By [`key`]: kind and full name.
    pub objects: BTreeMap<String, Object>,
}

/// An object's key in [`Catalog::objects`] (a string, so the catalog saves as JSON).
fn key(kind: Kind, name: &str) -> String {
    format!("{kind:?}:{name}")
}

impl Catalog {
    /// A new account: the system roles in their documented hierarchy, and one user holding
    /// ACCOUNTADMIN, as a new account's first user does, and SYSADMIN, which
    /// `sql/01_account.sql` switches to and its header asks the installer to hold (whether a role
    /// reachable only through ACCOUNTADMIN may be used is not documented; docs/stand-ins.md)
    /// (https://docs.snowflake.com/en/user-guide/security-access-control-overview, "System-defined
    /// roles": ACCOUNTADMIN encapsulates SYSADMIN and SECURITYADMIN, SECURITYADMIN inherits
    /// USERADMIN's privileges, and PUBLIC is granted to every user and role).
    pub fn new_account(admin_user: &str, admin_public_key: &str) -> Catalog {
        let role = |granted: &[&str], privileges: &[&str]| Role {
            owner: "ACCOUNTADMIN".into(),
            granted: granted.iter().map(|r| r.to_string()).collect(),
            account_privileges: privileges.iter().map(|p| p.to_string()).collect(),
        };
        let roles = BTreeMap::from([
            (
                "ACCOUNTADMIN".to_owned(),
                role(
                    &["SYSADMIN", "SECURITYADMIN"],
                    &["CREATE INTEGRATION", "EXECUTE TASK", "MONITOR USAGE"],
                ),
            ),
            (
                "SYSADMIN".to_owned(),
                role(&[], &["CREATE WAREHOUSE", "CREATE DATABASE"]),
            ),
            (
                "SECURITYADMIN".to_owned(),
                role(&["USERADMIN"], &["MANAGE GRANTS"]),
            ),
            (
                "USERADMIN".to_owned(),
                role(&[], &["CREATE USER", "CREATE ROLE"]),
            ),
            ("PUBLIC".to_owned(), role(&[], &[])),
        ]);
        let admin = User {
            owner: "ACCOUNTADMIN".into(),
            default_role: Some("ACCOUNTADMIN".into()),
            default_warehouse: None,
            rsa_public_key: Some(admin_public_key.to_owned()),
            rsa_public_key_2: None,
            roles: BTreeSet::from(["ACCOUNTADMIN".to_owned(), "SYSADMIN".to_owned()]),
            default_secondary_roles: None,
        };
        Catalog {
            roles,
            users: BTreeMap::from([(admin_user.to_ascii_uppercase(), admin)]),
            objects: BTreeMap::new(),
        }
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&Object> {
        self.objects.get(&key(kind, name))
    }

    pub fn get_mut(&mut self, kind: Kind, name: &str) -> Option<&mut Object> {
        self.objects.get_mut(&key(kind, name))
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.objects.values().filter(move |o| o.kind == kind)
    }

    /// The object a name means in a statement: views, tables and streams share a namespace.
    pub fn relation(&self, name: &str) -> Option<&Object> {
        [Kind::Table, Kind::View, Kind::Stream]
            .into_iter()
            .find_map(|kind| self.get(kind, name))
    }

    /// The root of the task graph `task` belongs to.
    pub fn root_of(&self, task: &str) -> String {
        let mut current = task.to_owned();
        for _ in 0..1000 {
            match self
                .get(Kind::Task, &current)
                .and_then(Object::task)
                .and_then(|t| t.after.first())
            {
                Some(parent) => current = parent.clone(),
                None => break,
            }
        }
        current
    }

    pub fn insert(&mut self, object: Object) {
        self.objects.insert(key(object.kind, &object.name), object);
    }

    pub fn remove(&mut self, kind: Kind, name: &str) -> Option<Object> {
        self.objects.remove(&key(kind, name))
    }
}
