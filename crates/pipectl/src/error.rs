//! The one error type of pipectl's commands, and the one place its exit status is decided:
//! 0 done, 1 the command ran and the answer is no, 2 it could not run as asked.

use std::process::ExitCode;

/// What every fallible step inside a command returns, so a command's errors need no mapping.
pub type CliResult<T> = Result<T, CliError>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit status 1: a check, a guarantee or a statement failed, a file is invalid, Snowflake
    /// or S3 failed.
    #[error("{0}")]
    Failed(String),
    /// Exit status 2, like clap's own usage errors: bad arguments, incomplete settings, a key
    /// or file that cannot be read, a local stack that did not start or could not go on.
    #[error("{0}")]
    Usage(String),
    /// The command printed what went wrong itself (its report, its FAIL lines): only the exit
    /// status is left to give, 2 with `usage`, else 1.
    #[error("reported above")]
    Reported { usage: bool },
}

impl CliError {
    /// Exit status 1, with `message` (a text or any error) as what went wrong.
    pub fn failed(message: impl std::fmt::Display) -> CliError {
        CliError::Failed(message.to_string())
    }

    /// Exit status 2, with `message` (a text or any error) as what went wrong.
    pub fn usage(message: impl std::fmt::Display) -> CliError {
        CliError::Usage(message.to_string())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Failed(_) | CliError::Reported { usage: false } => ExitCode::from(1),
            CliError::Usage(_) | CliError::Reported { usage: true } => ExitCode::from(2),
        }
    }
}

/// A command's result as the process ends: the message on stderr, and its exit status.
pub fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !matches!(err, CliError::Reported { .. }) {
                eprintln!("error: {err}");
            }
            err.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_exits_1_and_a_usage_problem_exits_2() {
        assert_eq!(CliError::failed("no").exit_code(), ExitCode::from(1));
        assert_eq!(CliError::usage("bad --rows").exit_code(), ExitCode::from(2));
        assert_eq!(
            CliError::Reported { usage: false }.exit_code(),
            ExitCode::from(1)
        );
        assert_eq!(
            CliError::Reported { usage: true }.exit_code(),
            ExitCode::from(2)
        );
    }
}
