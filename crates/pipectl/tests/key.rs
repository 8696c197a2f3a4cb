//! `pipectl key` as a user runs it.

use std::process::{Command, Output};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../snowflake/tests/data");

fn key(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .env_clear()
        .arg("key")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn prints_the_fingerprint_and_the_statement_that_registers_the_key() {
    let out = key(&[
        "--private-key-path",
        &format!("{DATA}/test-only-rsa.p8"),
        "--user",
        "CUSTOMER_PIPELINE_INGEST_USER",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let fingerprint = std::fs::read_to_string(format!("{DATA}/test-only-rsa.fingerprint")).unwrap();
    assert!(
        stdout.contains(&format!("fingerprint:     {}", fingerprint.trim())),
        "{stdout}"
    );
    let public: String = std::fs::read_to_string(format!("{DATA}/test-only-rsa.pub"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(stdout.contains(&format!(
        "ALTER USER CUSTOMER_PIPELINE_INGEST_USER SET RSA_PUBLIC_KEY = '{public}';"
    )));
    assert!(
        !stdout.contains("PRIVATE"),
        "the private key is never printed"
    );
}

#[test]
fn a_pkcs1_key_exits_two_with_the_conversion_command() {
    let out = key(&[
        "--private-key-path",
        &format!("{DATA}/test-only-rsa-pkcs1.pem"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("openssl pkcs8 -topk8")
    );
}
