//! `pipectl validate` as a user runs it.

use std::process::{Command, Output};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipeline/tests/data");

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn valid_file_exits_zero() {
    let out = validate(&[&format!("{DATA}/valid.csv")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("valid.csv: valid, 3 rows"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn invalid_file_exits_one_and_explains() {
    let out = validate(&[
        &format!("{DATA}/valid.csv"),
        &format!("{DATA}/malformed/bad_email.csv"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("bad_email.csv: INVALID, 2 rows (1 invalid), 1 problems"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  line 3, column email: 'bob.example.com' has no @"),
        "{stdout}"
    );
    assert!(
        stdout.contains("problems by kind: email_no_at 1"),
        "{stdout}"
    );
}

#[test]
fn json_prints_one_report_per_line() {
    let out = validate(&[
        "--json",
        &format!("{DATA}/valid.csv"),
        &format!("{DATA}/malformed/bad_op.csv"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let reports: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["valid"], true);
    assert!(reports[1]["file"].as_str().unwrap().ends_with("bad_op.csv"));
    assert_eq!(reports[1]["problems"][0]["kind"], "unknown_op");
}

#[test]
fn unreadable_file_exits_two_after_checking_the_others() {
    let out = validate(&["/no/such/file.csv", &format!("{DATA}/valid.csv")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("error: /no/such/file.csv:"));
    assert!(text(&out.stdout).contains("valid.csv: valid"));
}

#[test]
fn no_file_is_a_usage_error() {
    assert_eq!(validate(&[]).status.code(), Some(2));
}

#[test]
fn reads_stdin_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = std::fs::read(format!("{DATA}/valid.csv")).unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &input).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}
