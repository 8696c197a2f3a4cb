//! Where the signed token may go: the base URL and account from a secret are checked before a
//! client exists, and the errors never echo them.

use snowflake::{Connection, KeyPair, RetryPolicy, SnowflakeClient, SnowflakeError};

const KEY: &str = include_str!("data/test-only-rsa.p8");

fn connect(account: &str, base_url: Option<&str>) -> Result<SnowflakeClient, SnowflakeError> {
    let connection = Connection {
        account: account.into(),
        user: "INGEST".into(),
        jwt_account: None,
        base_url: base_url.map(str::to_owned),
    };
    SnowflakeClient::connect(
        &connection,
        KeyPair::from_pem(KEY, None).unwrap(),
        RetryPolicy::default(),
    )
}

fn refusal(result: Result<SnowflakeClient, SnowflakeError>) -> String {
    match result {
        Err(SnowflakeError::InvalidRequest(message)) => message,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got a client"),
    }
}

#[test]
fn a_plain_http_base_url_to_a_remote_host_is_refused_without_echoing_it() {
    let message = refusal(connect("xy12345", Some("http://secret-host.example")));
    assert!(message.contains("must be https"), "{message}");
    assert!(!message.contains("secret-host"), "{message}");
}

#[test]
fn a_base_url_that_is_not_a_url_is_refused() {
    let message = refusal(connect("xy12345", Some("xy12345.snowflakecomputing.com")));
    assert!(message.contains("not a URL"), "{message}");
}

#[test]
fn https_and_loopback_http_base_urls_are_accepted() {
    for url in [
        "https://xy12345.snowflakecomputing.com/",
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
        "http://localhost:8080",
    ] {
        assert!(connect("xy12345", Some(url)).is_ok(), "{url}");
    }
}

#[test]
fn an_account_that_would_change_the_host_is_refused() {
    for account in [
        "evil.example/x",
        "a@evil.example",
        "a#b",
        "a:1",
        "",
        "my org",
    ] {
        let message = refusal(connect(account, None));
        assert!(
            message.contains("account identifier"),
            "{account}: {message}"
        );
        assert!(
            account.is_empty() || !message.contains(account),
            "{message}"
        );
    }
}

#[test]
fn organisation_account_and_legacy_locator_identifiers_are_accepted() {
    for account in [
        "myorg-account123",
        "MYORG-MY_ACCOUNT",
        "xy12345.us-east-2.aws",
    ] {
        assert!(connect(account, None).is_ok(), "{account}");
    }
}
