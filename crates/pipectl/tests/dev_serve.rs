//! `pipectl dev --serve` as a user runs it: the variables it prints point other programs at the
//! live stand-ins, shown here by `pipectl doctor` passing every check with only those variables.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const SQL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql");

/// Stops the server even when an assertion fails first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `export NAME='value'` lines printed before the server waits for Ctrl-C.
fn exported_variables(server: &mut Running) -> BTreeMap<String, String> {
    let stdout = BufReader::new(server.0.stdout.take().expect("piped"));
    let mut variables = BTreeMap::new();
    for line in stdout.lines() {
        let line = line.expect("utf-8 output");
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            variables.insert(name.to_owned(), value.trim_matches('\'').to_owned());
        }
        if line.contains("Ctrl-C stops") {
            break;
        }
    }
    variables
}

#[test]
fn serve_prints_variables_that_point_doctor_at_the_live_stand_ins() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running(
        Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .args(["dev", "--serve", "--sql", SQL_DIR, "--state"])
            .arg(dir.path().join("state"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let env = exported_variables(&mut server);
    for name in [
        "AWS_ENDPOINT_URL",
        "BUCKET",
        "SNOWFLAKE_BASE_URL",
        "SNOWFLAKE_PRIVATE_KEY_PATH",
        "SNOWFLAKE_PIPE",
    ] {
        assert!(env.contains_key(name), "{name} missing from {env:?}");
    }

    let doctor = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .env_clear()
        .envs(&env)
        .args(["doctor", "--s3-endpoint", &env["AWS_ENDPOINT_URL"]])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "{report}{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
    for check in ["key", "auth", "warehouse", "pipe", "tasks", "bucket"] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "no passing {check} check in:\n{report}"
        );
    }
}

#[test]
fn serve_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running(
        Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .args(["dev", "--serve", "--sql", SQL_DIR, "--state"])
            .arg(dir.path().join("state"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    exported_variables(&mut server);
    let interrupted = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
