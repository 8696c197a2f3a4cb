//! A task's state as SHOW TASKS prints it in its `state` column: "Current state of the task:
//! started or suspended" (https://docs.snowflake.com/en/sql-reference/account-usage/tasks, the
//! same column in the TASKS view; https://docs.snowflake.com/en/sql-reference/sql/show-tasks).
//! The monitor and `pipectl doctor` read it, the Snowflake stand-in writes it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    Started,
    Suspended,
}

impl TaskState {
    /// As SHOW TASKS prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Started => "started",
            TaskState::Suspended => "suspended",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is neither `started` nor `suspended`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a task state (started or suspended)")]
pub struct UnknownTaskState(pub String);

impl FromStr for TaskState {
    type Err = UnknownTaskState;

    /// Either case: the documentation writes the states in lower case, and nothing promises
    /// the column keeps it.
    fn from_str(text: &str) -> Result<TaskState, UnknownTaskState> {
        match text.trim().to_ascii_lowercase().as_str() {
            "started" => Ok(TaskState::Started),
            "suspended" => Ok(TaskState::Suspended),
            _ => Err(UnknownTaskState(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_states_in_either_case_and_refuses_others() {
        assert_eq!("started".parse(), Ok(TaskState::Started));
        assert_eq!("SUSPENDED".parse(), Ok(TaskState::Suspended));
        assert!("running".parse::<TaskState>().is_err());
        assert_eq!(TaskState::Suspended.to_string(), "suspended");
    }
}
