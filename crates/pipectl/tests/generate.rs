//! `pipectl generate` as a user runs it.

use std::process::Command;

use pipeline::generator::{FileId, GeneratorSettings, generate_bytes};

fn pipectl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    // The CLI honours the Lambda's variables; keep the developer's environment out of tests.
    for var in [
        "ROWS_PER_FILE",
        "SEED",
        "ID_SPACE",
        "DELETE_RATE",
        "NEW_RATE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// What the generator Lambda writes for the sample event with ROWS_PER_FILE=500.
fn lambda_bytes(gzip: bool) -> Vec<u8> {
    let settings = GeneratorSettings {
        rows: 500,
        ..GeneratorSettings::default()
    };
    let file = FileId::from_event(
        "2026-11-23T10:15:00Z".parse().unwrap(),
        "5b3a9c1e-7d2f-4c1a-9e8b-2f6d1a0c4b7e",
    )
    .unwrap();
    generate_bytes(&settings, &file, gzip)
}

#[test]
fn writes_the_same_bytes_as_the_lambda_for_the_same_event() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        let out = dir.path().join(if gzip { "f.csv.gz" } else { "f.csv" });
        let mut cmd = pipectl();
        cmd.args(["generate", "--rows", "500", "--at", "2026-11-23T10:15:00Z"]);
        cmd.args(["--id", "5b3a9c1e-7d2f-4c1a-9e8b-2f6d1a0c4b7e", "--out"])
            .arg(&out);
        if gzip {
            cmd.arg("--gzip");
        }
        let status = cmd.status().unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read(&out).unwrap(),
            lambda_bytes(gzip),
            "gzip={gzip}"
        );
    }
}

#[test]
fn writes_to_stdout_with_dash() {
    let output = pipectl()
        .args([
            "generate",
            "--rows",
            "500",
            "--at",
            "2026-11-23T10:15:00Z",
            "--id",
            "5b3a9c1e",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, lambda_bytes(false));
    let summary = String::from_utf8(output.stderr).unwrap();
    assert!(summary.contains("wrote 500 rows"), "{summary}");
    assert!(
        summary.contains("stream_data/customer_20261123T101500Z_5b3a9c1e.csv"),
        "{summary}"
    );
}

#[test]
fn names_the_file_like_the_object_key_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let status = pipectl()
        .current_dir(dir.path())
        .args([
            "generate",
            "--rows",
            "10",
            "--at",
            "2026-11-23T10:15:00Z",
            "--id",
            "5b3a9c1e",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        dir.path()
            .join("customer_20261123T101500Z_5b3a9c1e.csv")
            .is_file()
    );
}

#[test]
fn rejects_more_rows_than_ids_with_usage_status() {
    let output = pipectl()
        .args(["generate", "--rows", "11", "--id-space", "10", "--out", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(
        err.contains("--rows must be between 1 and ID_SPACE (10)"),
        "{err}"
    );
}

#[test]
fn rejects_an_empty_event_id() {
    let output = pipectl()
        .args(["generate", "--id", " ", "--out", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains("--id: the event has an empty id"), "{err}");
}

/// The commands docs/performance.md shows, run as shown: a million rows need a million ids,
/// and the id space grows to fit them (it used to stop at 10,000 and refuse).
#[test]
fn the_performance_tables_generate_and_validate_commands_run_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("million.csv");
    let generated = pipectl()
        .args(["generate", "--rows", "1000000", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&generated.stderr);
    assert!(generated.status.success(), "{stderr}");
    assert!(
        stderr.contains("ids are drawn from 1..=1000000"),
        "{stderr}"
    );
    let validated = pipectl().arg("validate").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&validated.stdout);
    assert!(validated.status.success(), "{stdout}");
    assert!(stdout.contains("valid, 1000000 rows"), "{stdout}");
}
