//! Key loading, fingerprint and JWT claims against a fixed test key whose fingerprint was
//! computed independently with openssl (tests/data/README.md).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use snowflake::auth::{TOKEN_LIFETIME, default_base_url, jwt_account};
use snowflake::{JwtSigner, KeyPair, SnowflakeError};

#[test]
fn debug_output_holds_neither_the_token_nor_the_key() {
    let signer = JwtSigner::new(KeyPair::from_pem(KEY, None).unwrap(), "ACCT", "USER");
    let token = signer.token().unwrap();
    let shown = format!("{signer:?}");
    let key_body = KEY.lines().nth(1).unwrap();
    assert!(
        !shown.contains(&token) && !shown.contains(key_body),
        "{shown}"
    );
    assert!(shown.contains("ACCT.USER"), "{shown}");
}

const KEY: &str = include_str!("data/test-only-rsa.p8");
const ENCRYPTED_KEY: &str = include_str!("data/test-only-rsa-encrypted.p8");
const PKCS1_KEY: &str = include_str!("data/test-only-rsa-pkcs1.pem");
const PUBLIC_KEY: &str = include_str!("data/test-only-rsa.pub");
const FINGERPRINT: &str = include_str!("data/test-only-rsa.fingerprint");

#[derive(serde::Deserialize, Debug)]
struct Claims {
    iss: String,
    sub: String,
    iat: u64,
    exp: u64,
}

fn key_error(result: Result<KeyPair, SnowflakeError>) -> String {
    match result {
        Err(SnowflakeError::Key(message)) => message,
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn fingerprint_matches_openssl() {
    let key = KeyPair::from_pem(KEY, None).unwrap();
    assert_eq!(key.fingerprint(), FINGERPRINT.trim());
}

#[test]
fn encrypted_key_with_passphrase_is_the_same_key() {
    let key = KeyPair::from_pem(ENCRYPTED_KEY, Some("test-passphrase")).unwrap();
    assert_eq!(key.fingerprint(), FINGERPRINT.trim());
}

#[test]
fn encrypted_key_without_or_with_wrong_passphrase_is_refused_plainly() {
    assert!(key_error(KeyPair::from_pem(ENCRYPTED_KEY, None)).contains("no passphrase was given"));
    assert!(
        key_error(KeyPair::from_pem(ENCRYPTED_KEY, Some(""))).contains("no passphrase was given")
    );
    assert!(
        key_error(KeyPair::from_pem(ENCRYPTED_KEY, Some("wrong"))).contains("wrong passphrase")
    );
}

#[test]
fn pkcs1_key_is_refused_with_the_command_that_converts_it() {
    let message = key_error(KeyPair::from_pem(PKCS1_KEY, None));
    assert!(message.contains("PKCS#1"), "{message}");
    assert!(message.contains("openssl pkcs8 -topk8"), "{message}");
}

#[test]
fn garbage_is_refused_and_errors_never_echo_the_key() {
    let message = key_error(KeyPair::from_pem("not a key", None));
    assert!(message.contains("not a PEM PKCS#8 key"), "{message}");
    let broken = KEY.replace("MII", "XII");
    let message = key_error(KeyPair::from_pem(&broken, None));
    assert!(!message.contains("XII"), "{message}");
}

#[test]
fn debug_output_shows_only_the_fingerprint() {
    let key = KeyPair::from_pem(KEY, None).unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains(FINGERPRINT.trim()));
    assert!(
        !shown.contains("PRIVATE") && !shown.contains("MII"),
        "{shown}"
    );
}

#[test]
fn token_carries_the_claims_snowflake_expects() {
    let signer = JwtSigner::new(
        KeyPair::from_pem(KEY, None).unwrap(),
        &jwt_account("xy12345.us-east-2.aws"),
        "ingest_user",
    );
    let now = SystemTime::now();
    let token = signer.token_at(now).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(
        &token,
        &DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.sub, "XY12345.INGEST_USER");
    assert_eq!(
        claims.iss,
        format!("XY12345.INGEST_USER.{}", FINGERPRINT.trim())
    );
    assert_eq!(
        claims.iat,
        now.duration_since(UNIX_EPOCH).unwrap().as_secs()
    );
    assert_eq!(claims.exp - claims.iat, TOKEN_LIFETIME.as_secs());
    assert_eq!(TOKEN_LIFETIME, Duration::from_secs(59 * 60));
}

#[test]
fn token_is_reused_for_54_minutes_then_re_signed() {
    let signer = JwtSigner::new(KeyPair::from_pem(KEY, None).unwrap(), "ACCT", "USER");
    let t0 = SystemTime::now();
    let first = signer.token_at(t0).unwrap();
    assert_eq!(
        signer.token_at(t0 + Duration::from_secs(53 * 60)).unwrap(),
        first
    );
    assert_ne!(
        signer.token_at(t0 + Duration::from_secs(55 * 60)).unwrap(),
        first
    );
}

#[test]
fn invalidate_forces_a_new_signature() {
    let signer = JwtSigner::new(KeyPair::from_pem(KEY, None).unwrap(), "ACCT", "USER");
    let t0 = SystemTime::now();
    let first = signer.token_at(t0).unwrap();
    signer.invalidate();
    // Same second, same claims: RS256 is deterministic, so only the issue time tells them apart.
    assert_ne!(signer.token_at(t0 + Duration::from_secs(1)).unwrap(), first);
}

#[test]
fn account_is_normalised_for_the_claims_like_the_official_clients() {
    for (identifier, claims) in [
        ("xy12345", "XY12345"),
        ("xy12345.us-east-2.aws", "XY12345"),
        ("xy12345.eu-central-1", "XY12345"),
        ("acct.privatelink", "ACCT"),
        ("myorg-myaccount", "MYORG-MYACCOUNT"),
        ("myaccount-abc123.global", "MYACCOUNT"),
        (" my_acct ", "MY_ACCT"),
    ] {
        assert_eq!(jwt_account(identifier), claims, "{identifier}");
    }
}

#[test]
fn host_keeps_region_and_uses_dashes() {
    assert_eq!(
        default_base_url("xy12345.us-east-2.aws"),
        "https://xy12345.us-east-2.aws.snowflakecomputing.com"
    );
    assert_eq!(
        default_base_url("MyOrg-My_Account"),
        "https://myorg-my-account.snowflakecomputing.com"
    );
}

#[test]
fn public_key_body_matches_the_pem_public_key() {
    let key = KeyPair::from_pem(KEY, None).unwrap();
    let body: String = PUBLIC_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(key.public_key_base64(), body);
}
