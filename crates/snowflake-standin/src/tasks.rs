//! Scheduled runs of the task graph. "Tasks run using the task owner's privileges", and the
//! owner needs EXECUTE TASK: "Revoking the EXECUTE TASK privilege on a role prevents all
//! subsequent task runs from starting under that role"
//! (https://docs.snowflake.com/en/sql-reference/sql/create-task). A root whose WHEN is false is
//! SKIPPED, and so are its children; otherwise its body runs, then each started child after it.

use chrono::{DateTime, Utc};

use crate::access;
use crate::catalog::{Kind, TaskSpec, TaskState};
use crate::ddl::short;
use crate::engine::Engine;
use crate::error::SqlError;
use crate::scripting::{self, Block, Step};
use crate::session::Session;

/// The state of a run, as TASK_HISTORY's STATE column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Succeeded,
    Failed,
    /// The failed run that made SUSPEND_TASK_AFTER_NUM_FAILURES suspend the task: "check the
    /// STATE column for FAILED_AND_AUTO_SUSPENDED tasks in the TASK_HISTORY"
    /// (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_08/bcr-1412).
    FailedAndAutoSuspended,
    Skipped,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Succeeded => "SUCCEEDED",
            RunState::Failed => "FAILED",
            RunState::FailedAndAutoSuspended => "FAILED_AND_AUTO_SUSPENDED",
            RunState::Skipped => "SKIPPED",
        }
    }

    /// A run that failed, whether or not it suspended its task.
    pub fn failed(self) -> bool {
        matches!(self, RunState::Failed | RunState::FailedAndAutoSuspended)
    }
}

/// The outcome of one task run, as TASK_HISTORY records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    /// The unqualified name, as TASK_HISTORY's NAME holds it.
    pub task: String,
    pub state: RunState,
    pub rows_affected: u64,
    pub error: Option<(String, String)>,
}

struct Scheduled {
    name: String,
    owner: String,
    spec: TaskSpec,
}

impl Engine {
    /// The next run of `task` (short or full name) fails with `message` (fault injection).
    pub fn fail_next_run(&self, task: &str, message: &str) {
        self.failures.lock().expect("not poisoned").insert(
            short(&task.to_ascii_uppercase()).to_owned(),
            message.to_owned(),
        );
    }

    /// During the next task run, after its body's statement `after` (0-based, BEGIN
    /// TRANSACTION included), another session commits `sql`: a load landing between the run's
    /// statements.
    pub fn commit_during_next_run(&self, after: usize, sql: &str) {
        *self.between.lock().expect("not poisoned") = Some((after, sql.to_owned()));
    }

    /// Runs the graph once, as a scheduled run of each started root does.
    pub fn run_task_graph(&self, scheduled: DateTime<Utc>) -> Vec<TaskRun> {
        let tasks: Vec<Scheduled> = self
            .catalog()
            .of_kind(Kind::Task)
            .filter_map(|o| {
                o.task().map(|spec| Scheduled {
                    name: o.name.clone(),
                    owner: o.owner.clone(),
                    spec: spec.clone(),
                })
            })
            .collect();
        let mut runs = Vec::new();
        let mut ready: Vec<&Scheduled> = tasks
            .iter()
            .filter(|t| t.spec.after.is_empty() && t.spec.state == TaskState::Started)
            .collect();
        while let Some(task) = ready.pop() {
            let run = self.run_task(task, scheduled);
            let succeeded = run.state == RunState::Succeeded;
            runs.push(run);
            if succeeded {
                ready.extend(tasks.iter().filter(|child| {
                    child.spec.after.contains(&task.name) && child.spec.state == TaskState::Started
                }));
            }
        }
        runs
    }

    fn run_task(&self, task: &Scheduled, scheduled: DateTime<Utc>) -> TaskRun {
        let short = crate::ddl::short(&task.name).to_owned();
        let outcome = match &task.spec.when_stream {
            // "prevents it from becoming stale, provided the stream is empty and the
            // SYSTEM$STREAM_HAS_DATA function returns FALSE"
            // (https://docs.snowflake.com/en/user-guide/streams-intro).
            Some(stream) if !self.stream_has_data(stream).unwrap_or(false) => {
                self.keep_stream_fresh(stream);
                Ok(None)
            }
            _ => self.execute_task_body(task).map(Some),
        };
        let mut run = match outcome {
            Ok(None) => TaskRun {
                task: short,
                state: RunState::Skipped,
                rows_affected: 0,
                error: None,
            },
            Ok(Some(rows)) => TaskRun {
                task: short,
                state: RunState::Succeeded,
                rows_affected: rows,
                error: None,
            },
            Err(err) => TaskRun {
                task: short,
                state: RunState::Failed,
                rows_affected: 0,
                error: Some((err.code.to_owned(), err.message)),
            },
        };
        if self.count_failure(task, run.state) {
            run.state = RunState::FailedAndAutoSuspended;
        }
        self.record(task, &run, scheduled);
        run
    }

    /// Counts a run against the graph root's SUSPEND_TASK_AFTER_NUM_FAILURES: "The root task is
    /// automatically suspended after the run of any single task in a task graph fails or times
    /// out the specified number of times in consecutive runs"
    /// (https://docs.snowflake.com/en/sql-reference/sql/create-task). A success resets the
    /// count; a skipped run is indeterminate and leaves it. Whether the root suspended now.
    fn count_failure(&self, task: &Scheduled, state: RunState) -> bool {
        let mut catalog = self.catalog();
        let root = catalog.root_of(&task.name);
        let Some(spec) = catalog
            .get_mut(Kind::Task, &root)
            .and_then(|o| match &mut o.detail {
                crate::catalog::Detail::Task(spec) => Some(spec),
                _ => None,
            })
        else {
            return false;
        };
        let policy = &mut spec.failures;
        let before = policy.consecutive;
        match state {
            RunState::Succeeded => policy.consecutive = 0,
            RunState::Skipped | RunState::FailedAndAutoSuspended => {}
            RunState::Failed => policy.consecutive += 1,
        }
        // Most runs are skipped or succeed after a success: nothing to save then (the catalog
        // is written whole, and runs come every second under `pipectl dev`).
        if policy.consecutive == before {
            return false;
        }
        let suspend = state == RunState::Failed
            && policy.suspend_after > 0
            && policy.consecutive >= policy.suspend_after
            && spec.state == TaskState::Started;
        if suspend {
            spec.state = TaskState::Suspended;
            spec.failures.last_suspended_reason = Some("SUSPENDED_DUE_TO_ERRORS".into());
        }
        if let Err(error) = self.save_catalog(&catalog) {
            tracing::error!(error = %error, "saving the task's failure count failed");
        }
        suspend
    }

    fn record(&self, task: &Scheduled, run: &TaskRun, scheduled: DateTime<Utc>) {
        let (code, message) = run.error.clone().unzip();
        let mut parts = task.name.splitn(3, '.');
        let (database, schema) = (parts.next(), parts.next());
        let recorded = self.with_connection(|conn| {
            conn.execute(
                "INSERT INTO __standin_task_history VALUES (?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP), CAST(sysdate() AS TIMESTAMP), ?)",
                duckdb::params![
                    run.task,
                    database,
                    schema,
                    run.state.as_str(),
                    uuid::Uuid::new_v4().to_string(),
                    code,
                    message,
                    scheduled.naive_utc().to_string(),
                    run.rows_affected as i64,
                ],
            )
        });
        if let Err(err) = recorded {
            tracing::error!(error = %err, "recording a task run failed");
        }
    }

    /// The body: a CALL of a procedure (its block, with the procedure owner's rights), one
    /// statement as the task's owner (committed with the offsets of the streams it reads), or a
    /// Snowflake Scripting block run as [`Engine::run_block`] runs it; within the task's
    /// USER_TASK_TIMEOUT_MS.
    fn execute_task_body(&self, task: &Scheduled) -> Result<u64, SqlError> {
        let short = crate::ddl::short(&task.name).to_owned();
        let failure = self.failures.lock().expect("not poisoned").remove(&short);
        if !access::has_account(&self.catalog(), &task.owner, "EXECUTE TASK") {
            return Err(SqlError::insufficient_privileges(format!(
                "TASK '{}': its owner {} has no EXECUTE TASK on the account",
                task.name, task.owner
            )));
        }
        let mut parts = task.name.splitn(3, '.');
        let task_session = Session {
            user: "SYSTEM".into(),
            role: task.owner.clone(),
            secondary: Vec::new(),
            warehouse: task.spec.warehouse.clone(),
            database: parts.next().map(str::to_owned),
            schema: parts.next().map(str::to_owned),
        };
        // The body is "Single SQL statement; Call to a stored procedure; Procedural logic using
        // Snowflake Scripting" (https://docs.snowflake.com/en/sql-reference/sql/create-task).
        let (block, session) = match (
            crate::procedures::resolve(self, &task_session, &task.spec.body),
            scripting::execute_immediate(&task.spec.body),
        ) {
            (Some(call), _) => {
                let call = call?;
                (call.block, call.session)
            }
            (None, Some(block)) => (block?, task_session),
            (None, None) => (
                Block {
                    body: vec![Step::Sql(task.spec.body.clone())],
                    handler: None,
                },
                task_session,
            ),
        };
        let options = crate::scripting::BlockRun {
            failure,
            timeout: Some(std::time::Duration::from_millis(
                task.spec.failures.timeout_ms,
            )),
            between: self.between.lock().expect("not poisoned").take(),
        };
        self.run_block_with(&session, &block, options)
            .map_err(|error| match error.code {
                crate::error::TIMED_OUT => SqlError::execution(format!(
                    "Task {} timed out after USER_TASK_TIMEOUT_MS = {} and was rolled back",
                    task.name, task.spec.failures.timeout_ms
                )),
                _ => error,
            })
    }
}
