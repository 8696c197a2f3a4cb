//! Every `pipectl` command that README.md and docs/ show in a code block works as shown.
//!
//! Those that need no account (generate, validate, key) are run as shown and must end with the
//! status the docs imply. The others need Snowflake and S3 (sql, doctor, backfill, quarantine)
//! or run for a minute (dev); their behaviour is tested against `pipectl dev --serve` and
//! in-process (dev_serve.rs, doctor.rs, reconcile.rs, dev_scenarios.rs), and here their
//! arguments must parse exactly as shown.

use std::path::{Path, PathBuf};
use std::process::Command;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A command as the docs show it: where, and its arguments after `pipectl`.
#[derive(Debug)]
struct Shown {
    page: String,
    /// `NAME=value` words before the command.
    env: Vec<(String, String)>,
    args: Vec<String>,
}

/// Commands that need no account, run as shown.
const RUN_AS_SHOWN: [&str; 3] = ["generate", "validate", "key"];
/// Commands that need the stand-ins or an account, or run for a minute: parsed only.
const PARSED_ONLY: [&str; 6] = ["dev", "sql", "doctor", "backfill", "quarantine", "bench"];

#[test]
fn every_command_the_docs_show_runs_or_parses_as_shown() {
    let shown = shown_commands();
    // The docs show each account-free command, and a dozen commands in all: fewer means
    // this test stopped finding them.
    for command in RUN_AS_SHOWN {
        assert!(
            shown.iter().any(|c| c.args[0] == command),
            "no `pipectl {command}` found in the docs: {shown:?}"
        );
    }
    assert!(
        shown.len() >= 12,
        "only {} commands found: {shown:?}",
        shown.len()
    );
    let dir = tempfile::tempdir().unwrap();
    // The step before `pipectl key` in the docs makes rsa_key.p8 with openssl.
    std::fs::copy(
        Path::new(WORKSPACE).join("crates/snowflake/tests/data/test-only-rsa.p8"),
        dir.path().join("rsa_key.p8"),
    )
    .unwrap();
    for command in &shown {
        let subcommand = command.args[0].as_str();
        if RUN_AS_SHOWN.contains(&subcommand) {
            run_as_shown(command, dir.path());
        } else {
            assert!(
                PARSED_ONLY.contains(&subcommand),
                "{}: `pipectl {}` is a command this test does not know",
                command.page,
                command.args.join(" ")
            );
            parses_as_shown(command, dir.path());
        }
    }
}

fn run_as_shown(command: &Shown, dir: &Path) {
    let output = pipectl(dir)
        .envs(command.env.iter().cloned())
        .args(resolved(&command.args))
        .output()
        .unwrap();
    // The docs show validate on the malformed fixtures to show what a refusal looks like.
    let refused =
        command.args[0] == "validate" && command.args.iter().any(|a| a.contains("malformed"));
    let expected = if refused { 1 } else { 0 };
    assert_eq!(
        output.status.code(),
        Some(expected),
        "{}: `pipectl {}`\n{}{}",
        command.page,
        command.args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// clap reads every argument before `--help` and refuses a misspelt flag or a bad value.
fn parses_as_shown(command: &Shown, dir: &Path) {
    let output = pipectl(dir)
        .envs(command.env.iter().cloned())
        .args(&command.args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: `pipectl {}` does not parse:\n{}",
        command.page,
        command.args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn pipectl(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    // Nothing of the developer's environment (SNOWFLAKE_*, AWS_*, the generator's variables):
    // the commands run on what the docs show.
    cmd.current_dir(dir).env_clear();
    cmd
}

/// Paths the docs give relative to the repository root, made absolute (the command runs in a
/// scratch folder, so what it writes stays there).
fn resolved(args: &[String]) -> Vec<String> {
    args.iter()
        .map(|arg| {
            let in_repo = Path::new(WORKSPACE).join(arg);
            if arg.contains('/') && in_repo.exists() {
                in_repo.display().to_string()
            } else {
                arg.clone()
            }
        })
        .collect()
}

/// `cargo run -- …`, `cargo run --release -- …` and `pipectl …` lines of the fenced code blocks, continuation
/// lines joined and trailing comments dropped.
fn shown_commands() -> Vec<Shown> {
    let mut pages: Vec<PathBuf> = vec![Path::new(WORKSPACE).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(WORKSPACE).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut shown = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let mut in_block = false;
        let mut line = String::new();
        for raw in text.lines() {
            if raw.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if !in_block {
                continue;
            }
            line.push_str(raw.trim_end().trim_end_matches('\\'));
            line.push(' ');
            if raw.trim_end().ends_with('\\') {
                continue;
            }
            let mut words = shell_words(line.trim().trim_start_matches("$ "));
            line.clear();
            // `NAME=value cargo run …`: the variables are the command's environment.
            let assignments = words.iter().take_while(|w| is_assignment(w)).count();
            let env: Vec<(String, String)> = words
                .drain(..assignments)
                .filter_map(|w| w.split_once('=').map(|(n, v)| (n.to_owned(), v.to_owned())))
                .collect();
            let args = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["cargo", "run", "--", ..] => words[3..].to_vec(),
                ["cargo", "run", "--release", "--", ..] => words[4..].to_vec(),
                ["pipectl", ..] => words[1..].to_vec(),
                _ => continue,
            };
            // `pipectl dev: 66 s` is output, not a command.
            if args.first().is_some_and(|a| !a.ends_with(':')) {
                shown.push(Shown {
                    page: name.clone(),
                    env,
                    args,
                });
            }
        }
    }
    shown
}

/// `NAME=value`, as a shell reads an assignment before a command.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Words as a POSIX shell splits them: quotes group and are removed; `#` starts a comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn shell_words_keep_quoted_text_together_and_drop_comments() {
    assert_eq!(
        shell_words(r#"sql "SELECT 'a b'" --json   # a comment"#),
        ["sql", "SELECT 'a b'", "--json"]
    );
}
