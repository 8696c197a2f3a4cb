//! Snowflake Scripting, as much of it as `sql/` uses: a procedure's block (`procedures.rs`) or
//! `EXECUTE IMMEDIATE $$ <block> $$`
//! (https://docs.snowflake.com/en/sql-reference/sql/execute-immediate: "A block is considered
//! one statement"), where the block is
//!
//! ```text
//! BEGIN
//!     BEGIN TRANSACTION; <DML>; …; COMMIT;
//! EXCEPTION
//!     WHEN OTHER THEN ROLLBACK; RAISE;
//! END;
//! ```
//!
//! Transactions follow https://docs.snowflake.com/en/sql-reference/transactions: a statement
//! outside `BEGIN TRANSACTION … COMMIT` commits on its own (AUTOCOMMIT), and a stream read by
//! DML advances only when that DML's transaction commits
//! (https://docs.snowflake.com/en/user-guide/streams-intro). The whole block holds the
//! warehouse's one connection, so no load interleaves with it unless a test injects one
//! ([`BlockRun::between`]): each statement sees what the statements before it wrote, and a
//! stream returns the same rows to every statement of a transaction until it commits. DECLARE,
//! variables, loops and other handlers are not modelled and are refused by name.

use crate::catalog::StreamSpec;
use crate::engine::Engine;
use crate::error::SqlError;
use crate::parse::{Token, tokenize};
use crate::session::Session;
use crate::statements;
use crate::translate::split_statements;

/// One statement of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    BeginTransaction,
    Commit,
    Rollback,
    /// `RAISE;` in a handler: the error being handled, raised again.
    Raise,
    /// A query or DML statement.
    Sql(String),
}

/// `BEGIN … [EXCEPTION WHEN OTHER THEN …] END`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub body: Vec<Step>,
    /// The `WHEN OTHER` handler's statements, if the block has one.
    pub handler: Option<Vec<Step>>,
}

/// The block of `EXECUTE IMMEDIATE $$ … $$`; `None` when `statement` is not one.
pub fn execute_immediate(statement: &str) -> Option<Result<Block, SqlError>> {
    let tokens = tokenize(statement).ok()?;
    let words: Vec<&Token> = tokens.iter().map(|t| &t.token).take(3).collect();
    match words.as_slice() {
        [Token::Word(e), Token::Word(i), rest @ ..] if e == "EXECUTE" && i == "IMMEDIATE" => {
            Some(match rest.first() {
                Some(Token::Str(text)) if tokens.len() == 3 => parse_block(text),
                _ => Err(SqlError::not_modelled(
                    "EXECUTE IMMEDIATE of anything but one $$-quoted block",
                )),
            })
        }
        _ => None,
    }
}

/// Reads a block's text.
pub fn parse_block(text: &str) -> Result<Block, SqlError> {
    let mut statements = split_statements(text).into_iter();
    let first = statements
        .next()
        .ok_or_else(|| SqlError::syntax("an empty block"))?;
    let Some(first) = strip_word(&first, "BEGIN") else {
        return Err(SqlError::not_modelled(
            "a block that does not start with BEGIN (DECLARE, variables)",
        ));
    };
    let mut pieces: Vec<String> = std::iter::once(first.to_owned())
        .chain(statements)
        .collect();
    let last = pieces.pop().unwrap_or_default();
    if !last.eq_ignore_ascii_case("END") {
        return Err(SqlError::syntax("the block does not end with END"));
    }
    let mut body = Vec::new();
    let mut handler: Option<Vec<Step>> = None;
    for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
        let piece = match strip_word(&piece, "EXCEPTION") {
            Some(rest) => {
                let Some(first) = strip_words(rest, &["WHEN", "OTHER", "THEN"]) else {
                    return Err(SqlError::not_modelled(
                        "an exception handler other than WHEN OTHER THEN",
                    ));
                };
                handler = Some(Vec::new());
                first.to_owned()
            }
            None => piece,
        };
        let step = step(&piece)?;
        match handler.as_mut() {
            Some(steps) => steps.push(step),
            None => body.push(step),
        }
    }
    Ok(Block { body, handler })
}

fn step(statement: &str) -> Result<Step, SqlError> {
    let words: Vec<String> = statement
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match words.as_slice() {
        ["BEGIN", "TRANSACTION"] | ["BEGIN", "WORK"] | ["START", "TRANSACTION"] => {
            Step::BeginTransaction
        }
        ["COMMIT"] | ["COMMIT", "WORK"] => Step::Commit,
        ["ROLLBACK"] | ["ROLLBACK", "WORK"] => Step::Rollback,
        ["RAISE"] => Step::Raise,
        ["BEGIN", ..]
        | ["DECLARE", ..]
        | ["LET", ..]
        | ["IF", ..]
        | ["FOR", ..]
        | ["WHILE", ..]
        | ["LOOP", ..]
        | ["RETURN", ..]
        | ["CASE", ..]
        | ["RAISE", ..] => {
            return Err(SqlError::not_modelled(format!(
                "the Snowflake Scripting statement {}",
                words[0]
            )));
        }
        _ => Step::Sql(statement.to_owned()),
    })
}

/// `text` after its first word, when that word is `word` (any case).
fn strip_word<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let text = text.trim_start();
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && (rest.is_empty() || rest.starts_with(char::is_whitespace)))
        .then(|| rest.trim_start())
}

fn strip_words<'t>(text: &'t str, words: &[&str]) -> Option<&'t str> {
    words
        .iter()
        .try_fold(text, |rest, word| strip_word(rest, word))
}

/// A statement of the block, checked and rewritten before the block starts, with the streams it
/// reads (consumed when its transaction commits).
enum Prepared {
    Control(Step),
    Sql {
        sql: String,
        streams: Vec<(String, StreamSpec)>,
    },
}

impl Engine {
    /// Runs `block` as `session`. Every statement is authorised before the first one runs, so a
    /// missing privilege fails the block before it changes anything. `failure` (fault injection)
    /// fails the block's last DML statement in its place. Returns the rows the DML changed.
    pub fn run_block(
        &self,
        session: &Session,
        block: &Block,
        failure: Option<String>,
    ) -> Result<u64, SqlError> {
        self.run_block_with(
            session,
            block,
            BlockRun {
                failure,
                ..BlockRun::default()
            },
        )
    }

    /// [`Engine::run_block`] with a time limit and injected concurrency ([`BlockRun`]).
    pub(crate) fn run_block_with(
        &self,
        session: &Session,
        block: &Block,
        options: BlockRun,
    ) -> Result<u64, SqlError> {
        let BlockRun {
            failure,
            timeout,
            between,
        } = options;
        let body = self.prepare(session, &block.body)?;
        let handler = match &block.handler {
            Some(steps) => Some(self.prepare(session, steps)?),
            None => None,
        };
        let last_dml = body.iter().rposition(|p| matches!(p, Prepared::Sql { .. }));
        self.with_connection(|conn| {
            let watchdog = timeout.map(|limit| Watchdog::start(conn, limit));
            let mut run = Run {
                conn,
                in_transaction: false,
                pending: Vec::new(),
                rows: 0,
            };
            let outcome = body.iter().enumerate().try_for_each(|(i, step)| {
                match (&failure, Some(i) == last_dml) {
                    (Some(message), true) => Err(SqlError::execution(message.clone())),
                    _ => run.step(step, None),
                }?;
                match &between {
                    Some((after, sql)) if *after == i => run.commit_elsewhere(sql),
                    _ => Ok(()),
                }
            });
            let outcome = match (outcome, &handler) {
                (Ok(()), _) => Ok(()),
                (Err(error), Some(steps)) => {
                    steps.iter().try_for_each(|s| run.step(s, Some(&error)))
                }
                (Err(error), None) => Err(error),
            };
            // "If a transaction is still active when the block ends … it is rolled back"
            // (see run.finish).
            let result = run.finish(outcome);
            match watchdog.map(|w| w.stop(conn)) {
                Some(true) if result.is_err() => Err(SqlError::timed_out()),
                _ => result,
            }
        })
    }

    fn prepare(&self, session: &Session, steps: &[Step]) -> Result<Vec<Prepared>, SqlError> {
        let catalog = self.catalog();
        steps
            .iter()
            .map(|step| match step {
                Step::Sql(statement) => {
                    let sql =
                        statements::prepare(&catalog, session, statement, &[], self.data_schema())?;
                    // Only DML consumes a stream; a query alone never moves its offset.
                    let streams = if statements::is_dml(statement) {
                        statements::streams_read(&catalog, statement, self.data_schema())
                    } else {
                        Vec::new()
                    };
                    Ok(Prepared::Sql { sql, streams })
                }
                other => Ok(Prepared::Control(other.clone())),
            })
            .collect()
    }
}

/// How a block runs beyond its statements.
#[derive(Debug, Default)]
pub(crate) struct BlockRun {
    /// Fails the last DML statement with this message (fault injection).
    pub failure: Option<String>,
    /// A task's USER_TASK_TIMEOUT_MS: past it the running statement is interrupted, fails with
    /// [`crate::error::TIMED_OUT`], the block's handler runs and an open transaction is rolled
    /// back.
    pub timeout: Option<std::time::Duration>,
    /// After the body's statement with this index, another session commits this SQL, as a load
    /// may land between a task's statements.
    pub between: Option<(usize, String)>,
}

/// Interrupts the connection's running statement once a time limit passes, unless stopped first.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(conn: &duckdb::Connection, limit: std::time::Duration) -> Watchdog {
        let handle = conn.interrupt_handle();
        let (done, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || match stopped.recv_timeout(limit) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                handle.interrupt();
                true
            }
            _ => false,
        });
        Watchdog { done, thread }
    }

    /// Whether it fired. A late interrupt that found the block finished is absorbed by one
    /// throwaway statement, so it cannot fail the connection's next statement.
    fn stop(self, conn: &duckdb::Connection) -> bool {
        let _ = self.done.send(());
        let fired = self.thread.join().unwrap_or(false);
        if fired {
            let _ = conn.execute_batch("SELECT 1");
        }
        fired
    }
}

/// A block in progress on the connection.
struct Run<'c> {
    conn: &'c mut duckdb::Connection,
    in_transaction: bool,
    /// Streams read in the open transaction.
    pending: Vec<(String, StreamSpec)>,
    rows: u64,
}

impl Run<'_> {
    fn step(&mut self, step: &Prepared, handling: Option<&SqlError>) -> Result<(), SqlError> {
        match step {
            Prepared::Control(Step::BeginTransaction) => {
                if self.in_transaction {
                    return Err(SqlError::not_modelled(
                        "BEGIN TRANSACTION inside a transaction",
                    ));
                }
                self.conn.execute_batch("BEGIN TRANSACTION")?;
                self.in_transaction = true;
                Ok(())
            }
            Prepared::Control(Step::Commit) => self.commit(),
            Prepared::Control(Step::Rollback) => {
                self.rollback();
                Ok(())
            }
            Prepared::Control(Step::Raise) => match handling {
                Some(error) => Err(error.clone()),
                None => Err(SqlError::not_modelled("RAISE outside an exception handler")),
            },
            Prepared::Control(Step::Sql(_)) => unreachable!("prepared as Prepared::Sql"),
            Prepared::Sql { sql, streams } => {
                let autocommit = !self.in_transaction;
                if autocommit {
                    self.conn.execute_batch("BEGIN TRANSACTION")?;
                    self.in_transaction = true;
                }
                match self.conn.execute(sql.trim_end_matches(';'), []) {
                    Ok(rows) => self.rows += rows as u64,
                    Err(error) => {
                        if autocommit {
                            self.rollback();
                        }
                        return Err(error.into());
                    }
                }
                self.pending.extend(streams.iter().cloned());
                if autocommit { self.commit() } else { Ok(()) }
            }
        }
    }

    /// Commits `sql` on a second connection to the same database, as another session would,
    /// while this block's transaction stays open. DuckDB gives the open transaction a snapshot
    /// from its start, so its later statements and its stream offsets do not see the change:
    /// for a stream that is Snowflake's rule ("The stream position advances to the transaction
    /// start time if the transaction commits", and a stream is read with "repeatable read
    /// isolation", https://docs.snowflake.com/en/user-guide/streams-intro). Tables in Snowflake are
    /// read committed instead (https://docs.snowflake.com/en/sql-reference/transactions): a later
    /// statement would see the change. The merge reads CUSTOMER_RAW in its first statement only,
    /// so the difference cannot change its result (docs/stand-ins.md).
    fn commit_elsewhere(&mut self, sql: &str) -> Result<(), SqlError> {
        let other = self.conn.try_clone()?;
        other.execute_batch(sql)?;
        Ok(())
    }

    /// Moves the offsets of the streams the transaction read, then commits: both or neither.
    fn commit(&mut self) -> Result<(), SqlError> {
        if !self.in_transaction {
            return Ok(());
        }
        for (name, stream) in std::mem::take(&mut self.pending) {
            if let Err(error) = self
                .conn
                .execute_batch(&crate::streams::consume_stream_sql(&name, &stream))
            {
                self.rollback();
                return Err(error.into());
            }
        }
        self.conn.execute_batch("COMMIT")?;
        self.in_transaction = false;
        Ok(())
    }

    fn rollback(&mut self) {
        if self.in_transaction
            && let Err(error) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %error, "rolling back a block's transaction failed");
        }
        self.in_transaction = false;
        self.pending.clear();
    }

    /// The block's result. A transaction still open at the end is rolled back and the block
    /// fails (the shipped SQL always commits or rolls back explicitly).
    fn finish(mut self, outcome: Result<(), SqlError>) -> Result<u64, SqlError> {
        let open = self.in_transaction;
        self.rollback();
        outcome?;
        if open {
            return Err(SqlError::execution(
                "the block ended with its transaction still open; it was rolled back",
            ));
        }
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_transaction_block_with_a_handler() {
        let block = execute_immediate(
            "EXECUTE IMMEDIATE $$\nBEGIN\n  -- don't stop here\n  BEGIN TRANSACTION;\n  DELETE FROM T;\n  COMMIT;\nEXCEPTION\n  WHEN OTHER THEN\n    ROLLBACK;\n    RAISE;\nEND;\n$$",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            block.body,
            vec![
                Step::BeginTransaction,
                Step::Sql("DELETE FROM T".into()),
                Step::Commit
            ]
        );
        assert_eq!(block.handler, Some(vec![Step::Rollback, Step::Raise]));
    }

    #[test]
    fn refuses_what_it_does_not_model_by_name() {
        let error = parse_block("DECLARE x INTEGER; BEGIN RETURN x; END").unwrap_err();
        assert!(error.message.contains("DECLARE"), "{error}");
        let error = parse_block("BEGIN LET x := 1; END").unwrap_err();
        assert!(error.message.contains("LET"), "{error}");
    }

    #[test]
    fn other_statements_are_not_blocks() {
        assert!(execute_immediate("EXECUTE TASK T").is_none());
        assert!(execute_immediate("SELECT 1").is_none());
    }
}
