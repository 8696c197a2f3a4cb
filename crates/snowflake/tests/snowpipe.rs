//! The Snowpipe client against a scripted local fake: the requests it sends, and how it meets
//! throttling, server errors, slow answers, resets, 401s and the deadline.

use std::sync::Arc;
use std::time::Duration;

use devstack::SnowflakeFake;
use devstack::snowflake_fake::Reply;
use snowflake::{
    Connection, KeyPair, RetryPolicy, SnowflakeClient, SnowflakeError, Snowpipe, StagedFile,
};
use tokio::time::Instant;

const KEY: &str = include_str!("data/test-only-rsa.p8");
const PIPE: &str = "CUSTOMERS.RAW.CUSTOMER_PIPE";

/// A fake on 127.0.0.1 with `replies` scripted, and the pipe client pointed at it.
async fn start_fake(replies: Vec<Reply>) -> Fake {
    Fake(SnowflakeFake::start(replies).await.unwrap())
}

struct Fake(SnowflakeFake);

impl Fake {
    fn seen(&self) -> Vec<devstack::snowflake_fake::Seen> {
        self.0.seen()
    }

    fn pipe(&self, policy: RetryPolicy) -> Snowpipe {
        let connection = Connection {
            account: "xy12345.us-east-2.aws".into(),
            user: "ingest_user".into(),
            jwt_account: None,
            base_url: Some(self.0.base_url().to_owned()),
        };
        let client =
            SnowflakeClient::connect(&connection, KeyPair::from_pem(KEY, None).unwrap(), policy)
                .unwrap();
        Snowpipe::new(Arc::new(client), PIPE)
    }
}

/// Short delays so tests run fast; the shape of the policy is what is under test.
fn quick() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(80),
        attempt_timeout: Duration::from_millis(500),
    }
}

fn in_secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

fn files(n: usize) -> Vec<StagedFile> {
    (0..n)
        .map(|i| StagedFile {
            path: format!("customer_{i}.csv"),
            size: Some(100 + i as u64),
        })
        .collect()
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

#[tokio::test]
async fn insert_files_sends_the_documented_request() {
    let fake = start_fake(vec![]).await;
    let responses = fake
        .pipe(quick())
        .insert_files(&files(2), in_secs(5))
        .await
        .unwrap();
    assert_eq!(responses.len(), 1);
    let seen = fake.seen();
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/v1/data/pipes/{PIPE}/insertFiles"));
    assert!(
        uuid::Uuid::parse_str(req.query_value("requestId").unwrap()).is_ok(),
        "{}",
        req.query
    );
    assert_eq!(req.query_value("showSkippedFiles"), Some("true"));
    let auth = req.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("Bearer ey"), "{auth}");
    assert_eq!(
        req.headers["x-snowflake-authorization-token-type"],
        "KEYPAIR_JWT"
    );
    assert_eq!(req.headers["accept"], "application/json");
    assert_eq!(req.headers["content-type"], "application/json");
    assert!(
        req.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("customer-pipeline-snowflake/")
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"files": [{"path": "customer_0.csv", "size": 100}, {"path": "customer_1.csv", "size": 101}]})
    );
}

#[tokio::test]
async fn batches_files_5000_to_a_request() {
    let fake = start_fake(vec![]).await;
    let responses = fake
        .pipe(quick())
        .insert_files(&files(12_001), in_secs(10))
        .await
        .unwrap();
    assert_eq!(responses.len(), 3);
    let counts: Vec<usize> = fake
        .seen()
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["files"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(counts, [5000, 5000, 2001]);
}

#[tokio::test]
async fn refuses_a_path_longer_than_1024_bytes_without_sending() {
    let fake = start_fake(vec![]).await;
    let long = vec![StagedFile {
        path: "x".repeat(1025),
        size: None,
    }];
    let err = fake
        .pipe(quick())
        .insert_files(&long, in_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, SnowflakeError::InvalidRequest(_)), "{err}");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn retries_throttling_and_server_errors_with_the_same_request_id() {
    let fake = start_fake(vec![
        Reply::status(429, r#"{"code":"429","message":"Too many requests"}"#),
        Reply::status(500, "oops"),
        Reply::status(503, ""),
        Reply::status(502, ""),
        Reply::status(504, ""),
        Reply::status(408, ""),
    ])
    .await;
    let responses = fake
        .pipe(quick())
        .insert_files(&files(1), in_secs(10))
        .await
        .unwrap();
    assert_eq!(responses[0].attempts, 7);
    let seen = fake.seen();
    assert_eq!(seen.len(), 7);
    let ids: std::collections::HashSet<&str> = seen
        .iter()
        .map(|r| r.query_value("requestId").unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "a retry resends the same requestId");
}

#[tokio::test]
async fn waits_within_the_backoff_ceiling_between_attempts() {
    let fake = start_fake(vec![Reply::status(503, ""); 4]).await;
    let policy = RetryPolicy {
        base: Duration::from_millis(100),
        cap: Duration::from_millis(300),
        ..quick()
    };
    fake.pipe(policy)
        .insert_files(&files(1), in_secs(10))
        .await
        .unwrap();
    let seen = fake.seen();
    for (i, pair) in seen.windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        let ceiling = policy.ceiling(i as u32 + 1);
        assert!(
            gap <= ceiling + Duration::from_millis(60),
            "gap {gap:?} after attempt {} > {ceiling:?}",
            i + 1
        );
    }
}

#[tokio::test]
async fn slow_answer_times_out_and_is_retried() {
    let fake = start_fake(vec![Reply::Slow(Duration::from_secs(3))]).await;
    let responses = fake
        .pipe(quick())
        .insert_files(&files(1), in_secs(10))
        .await
        .unwrap();
    assert_eq!(responses[0].attempts, 2);
}

#[tokio::test]
async fn connection_reset_is_retried() {
    let fake = start_fake(vec![Reply::Reset, Reply::Reset]).await;
    let responses = fake
        .pipe(quick())
        .insert_files(&files(1), in_secs(10))
        .await
        .unwrap();
    assert_eq!(responses[0].attempts, 3);
}

#[tokio::test]
async fn unauthorised_is_re_signed_once_without_waiting() {
    let fake = start_fake(vec![Reply::status(
        401,
        r#"{"code":"390144","message":"JWT token is invalid."}"#,
    )])
    .await;
    let started = Instant::now();
    let responses = fake
        .pipe(RetryPolicy {
            base: Duration::from_secs(5),
            ..quick()
        })
        .insert_files(&files(1), in_secs(10))
        .await
        .unwrap();
    assert_eq!(responses[0].attempts, 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "re-signing does not back off"
    );
}

#[tokio::test]
async fn second_unauthorised_fails_with_snowflakes_code_and_a_hint() {
    let invalid = Reply::status(
        401,
        r#"{"code":"390144","message":"JWT token is invalid. [abc]"}"#,
    );
    let fake = start_fake(vec![invalid.clone(), invalid]).await;
    let err = fake
        .pipe(quick())
        .insert_files(&files(1), in_secs(10))
        .await
        .unwrap_err();
    assert_eq!(fake.seen().len(), 2);
    assert!(!err.retryable());
    match &err {
        SnowflakeError::Http {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!((*status, code.as_deref()), (401, Some("390144")));
            assert!(message.contains("JWT token is invalid"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.configuration_hint()
            .unwrap()
            .contains("RSA_PUBLIC_KEY_FP")
    );
    assert!(!err.to_string().contains("ey"), "no token in errors: {err}");
}

#[tokio::test]
async fn not_found_and_bad_request_are_never_retried() {
    for (status, hint) in [(404, Some("pipe name")), (400, None)] {
        let fake = start_fake(vec![Reply::status(
            status,
            r#"{"code":"x","message":"no"}"#,
        )])
        .await;
        let err = fake
            .pipe(quick())
            .insert_files(&files(1), in_secs(10))
            .await
            .unwrap_err();
        assert_eq!(fake.seen().len(), 1, "status {status}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(
            err.configuration_hint()
                .is_some_and(|h| h.contains("pipe name")),
            hint.is_some()
        );
    }
}

#[tokio::test]
async fn gives_up_when_the_deadline_leaves_no_time() {
    let fake = start_fake(vec![Reply::status(503, ""); 1000]).await;
    let started = Instant::now();
    let deadline = started + Duration::from_millis(400);
    let err = fake
        .pipe(quick())
        .insert_files(&files(1), deadline)
        .await
        .unwrap_err();
    assert!(
        Instant::now() <= deadline + Duration::from_millis(50),
        "overran the deadline by {:?}",
        Instant::now() - deadline
    );
    match err {
        SnowflakeError::DeadlineExceeded { attempts, last, .. } => {
            assert!(attempts >= 2, "{attempts}");
            assert_eq!(last.status(), Some(503));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn reports_already_loaded_files_as_skipped() {
    let body = r#"{"requestId":"r1","responseCode":"SUCCESS","skippedFiles":[{"path":"customer_0.csv"}],"unmatchedPatternFiles":[]}"#;
    let fake = start_fake(vec![Reply::status(200, body)]).await;
    let responses = fake
        .pipe(quick())
        .insert_files(&files(2), in_secs(5))
        .await
        .unwrap();
    let skipped: Vec<&str> = responses[0]
        .skipped_files
        .iter()
        .map(|f| f.path())
        .collect();
    assert_eq!(skipped, ["customer_0.csv"]);
}

#[tokio::test]
async fn accepts_the_documented_success_spelling_and_refuses_others() {
    let fake = start_fake(vec![Reply::status(
        200,
        r#"{"requestId":"r","status":"success"}"#,
    )])
    .await;
    assert!(
        fake.pipe(quick())
            .insert_files(&files(1), in_secs(5))
            .await
            .is_ok()
    );
    let fake = start_fake(vec![Reply::status(
        200,
        r#"{"requestId":"r","responseCode":"ERROR"}"#,
    )])
    .await;
    let err = fake
        .pipe(quick())
        .insert_files(&files(1), in_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SnowflakeError::UnexpectedResponse { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn insert_report_passes_the_begin_mark_and_reads_load_events() {
    let body = r#"{"pipe":"P","completeResult":true,"nextBeginMark":"2_1","files":[
        {"path":"a.csv","fileSize":10,"status":"LOAD_FAILED","rowsParsed":3,"rowsInserted":0,
         "firstError":"Numeric value 'x' is not recognized","firstErrorLineNum":2,"firstErrorColumnName":"\"CUSTOMER_RAW\"[\"CUSTOMER_ID\":1]"}]}"#;
    let fake = start_fake(vec![Reply::status(200, body)]).await;
    let report = fake
        .pipe(quick())
        .insert_report(Some("1_0"), in_secs(5))
        .await
        .unwrap();
    let req = &fake.seen()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        (
            "GET",
            format!("/v1/data/pipes/{PIPE}/insertReport").as_str()
        )
    );
    assert_eq!(req.query_value("beginMark"), Some("1_0"));
    assert_eq!(report.next_begin_mark.as_deref(), Some("2_1"));
    assert_eq!(report.files[0].status.as_deref(), Some("LOAD_FAILED"));
    assert_eq!(report.files[0].first_error_line_num, Some(2));
}

#[tokio::test]
async fn load_history_scan_sends_iso_times() {
    let fake = start_fake(vec![Reply::status(
        200,
        r#"{"completeResult":true,"files":[]}"#,
    )])
    .await;
    let start = "2026-11-23T10:00:00Z".parse().unwrap();
    let end = "2026-11-23T10:10:00Z".parse().unwrap();
    fake.pipe(quick())
        .load_history_scan(start, Some(end), in_secs(5))
        .await
        .unwrap();
    let query = fake.seen()[0].query.clone();
    assert_eq!(
        query_value(&query, "startTimeInclusive"),
        Some("2026-11-23T10%3A00%3A00.000Z")
    );
    assert_eq!(
        query_value(&query, "endTimeExclusive"),
        Some("2026-11-23T10%3A10%3A00.000Z")
    );
}
