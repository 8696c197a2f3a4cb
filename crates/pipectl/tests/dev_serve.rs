//! `pipectl dev --serve` as a user runs it: the variables it prints point other programs at the
//! live stand-ins, shown here by `pipectl doctor` passing every check with only those
//! variables, and by the operator commands (`backfill`, `quarantine`) working against them.

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

/// The `export NAME='value'` lines printed before the server waits for Ctrl-C. The rest of its
/// output is drained on a thread, so its later lines never meet a closed pipe.
fn exported_variables(server: &mut Running) -> BTreeMap<String, String> {
    let stdout = BufReader::new(server.0.stdout.take().expect("piped"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut variables = BTreeMap::new();
        let mut sender = Some(sender);
        for line in stdout.lines().map_while(Result::ok) {
            if let Some((name, value)) =
                line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                variables.insert(name.to_owned(), value.trim_matches('\'').to_owned());
            }
            if line.contains("Ctrl-C stops")
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(std::mem::take(&mut variables));
            }
        }
        if let Some(sender) = sender {
            let _ = sender.send(variables);
        }
    });
    receiver.recv().unwrap_or_default()
}

/// `export NAME='value'` lines of an env file `--serve` wrote.
fn env_file(path: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
        .collect()
}

/// `pipectl dev --serve` on a fresh state folder, and the monitor user's variables it wrote
/// to `monitor.env` (the user `doctor` checks here).
fn serve(dir: &std::path::Path) -> (Running, BTreeMap<String, String>) {
    let mut server = Running(
        Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .args(["dev", "--serve", "--sql", SQL_DIR, "--state"])
            .arg(dir.join("state"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let printed = exported_variables(&mut server);
    let env = env_file(&dir.join("state").join("monitor.env"));
    assert_eq!(printed, env, "the last printed block is monitor.env");
    (server, env)
}

/// Runs `pipectl ARGS` with only the printed variables; returns the exit code and stdout.
fn pipectl(env: &BTreeMap<String, String>, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .env_clear()
        .envs(env)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

/// Writes an object to the stand-in's bucket as any producer would (nothing ingests it:
/// `--serve` delivers no notifications).
fn put(env: &BTreeMap<String, String>, key: &str, body: Vec<u8>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = pipeline::aws::S3Store::new(
            pipeline::aws::s3_client_for_endpoint(
                &env["AWS_ENDPOINT_URL"],
                &env["AWS_ACCESS_KEY_ID"],
                &env["AWS_SECRET_ACCESS_KEY"],
            ),
            &env["BUCKET"],
        );
        store
            .put_if_absent(key, body.into(), "text/csv")
            .await
            .unwrap();
    });
}

/// `pipectl backfill` over the last hour, no grace, against `endpoint`.
fn backfill_last_hour(endpoint: &str) -> [&str; 7] {
    [
        "backfill",
        "--since",
        "1h",
        "--grace-minutes",
        "0",
        "--s3-endpoint",
        endpoint,
    ]
}

fn valid_csv(rows: u64) -> Vec<u8> {
    let settings = pipeline::generator::GeneratorSettings {
        rows,
        ..Default::default()
    };
    let file = pipeline::generator::FileId::new(chrono::Utc::now(), 7);
    pipeline::generator::generate_bytes(&settings, &file, false)
}

#[test]
fn serve_prints_variables_that_point_doctor_at_the_live_stand_ins() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, env) = serve(dir.path());
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
    for check in [
        "key",
        "auth",
        "warehouse",
        "grants",
        "pipe",
        "tasks",
        "bucket",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "no passing {check} check in:\n{report}"
        );
    }
}

#[test]
fn serve_writes_one_env_file_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, _) = serve(dir.path());
    for (file, user) in [
        ("admin.env", "ADMIN"),
        ("ingest.env", "CUSTOMER_PIPELINE_INGEST_USER"),
        ("monitor.env", "CUSTOMER_PIPELINE_MONITOR_USER"),
    ] {
        let env = env_file(&dir.path().join("state").join(file));
        assert_eq!(env["SNOWFLAKE_USER"], user, "{file}");
        assert!(
            std::path::Path::new(&env["SNOWFLAKE_PRIVATE_KEY_PATH"]).is_file(),
            "{file}"
        );
    }
}

#[test]
fn serve_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _) = serve(dir.path());
    let interrupted = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn backfill_submits_a_file_nobody_announced_and_then_reports_it_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, _) = serve(dir.path());
    // An operator runs these, with the admin's settings (the monitor user cannot load files).
    let env = env_file(&dir.path().join("state").join("admin.env"));
    let key = "stream_data/customer_unannounced.csv";
    put(&env, key, valid_csv(12));
    let endpoint = env["AWS_ENDPOINT_URL"].clone();
    let args = backfill_last_hour(&endpoint);

    let (code, out) = pipectl(&env, &args);

    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("not loaded") && l.contains("submitted") && l.ends_with(key)),
        "{out}"
    );
    // The server's pipe loads it; a dry run then finds nothing to do.
    let mut dry: Vec<&str> = args.to_vec();
    dry.push("--dry-run");
    let loaded = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (_, out) = pipectl(&env, &dry);
        out.lines()
            .any(|l| l.contains("loaded") && !l.contains("not loaded") && l.ends_with(key))
    });
    assert!(loaded, "never reported loaded");
    let (_, out) = pipectl(&env, &dry);
    assert!(out.contains("1 file(s) between"), "{out}");
    assert!(out.contains(": 0 not loaded"), "{out}");
}

#[test]
fn quarantine_lists_a_bad_file_refuses_it_unchanged_and_replays_it_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, _) = serve(dir.path());
    // An operator runs these, with the admin's settings (the monitor user cannot load files).
    let env = env_file(&dir.path().join("state").join("admin.env"));
    let key = "stream_data/customer_bad.csv";
    let bad = String::from_utf8(valid_csv(4))
        .unwrap()
        .replacen('@', "#", 1);
    put(&env, key, bad.into_bytes());
    let endpoint = env["AWS_ENDPOINT_URL"].clone();
    // Backfill puts it through the ingest path, which quarantines it.
    let (code, out) = pipectl(&env, &backfill_last_hour(&endpoint));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("quarantined now"), "{out}");

    let (code, out) = pipectl(&env, &["quarantine", "list", "--s3-endpoint", &endpoint]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("quarantine/stream_data/customer_bad.csv"),
        "{out}"
    );
    assert!(out.contains("has no @"), "{out}");

    let (code, out) = pipectl(
        &env,
        &["quarantine", "replay", key, "--s3-endpoint", &endpoint],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("email_no_at") && out.contains("refused"),
        "{out}"
    );

    let fixed = dir.path().join("fixed.csv");
    std::fs::write(&fixed, valid_csv(4)).unwrap();
    let fixed = fixed.display().to_string();
    let (code, out) = pipectl(
        &env,
        &[
            "quarantine",
            "replay",
            key,
            "--fixed",
            &fixed,
            "--s3-endpoint",
            &endpoint,
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("written s3://landing/stream_data/customer_bad.replay-"),
        "{out}"
    );
}
