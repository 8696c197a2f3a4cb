//! Key-pair JWT checks as Snowflake makes them: RS256 signed by one of the user's registered
//! keys (RSA_PUBLIC_KEY or RSA_PUBLIC_KEY_2: "Snowflake verifies the correct active public key
//! for authentication based on the private key submitted",
//! https://docs.snowflake.com/en/user-guide/key-pair-auth), `iss =
//! ACCOUNT.USER.SHA256:<fingerprint of that key>`, `sub = ACCOUNT.USER`, not expired and living
//! at most one hour (https://docs.snowflake.com/en/developer-guide/sql-api/authenticating). Any
//! failure is Snowflake's 401 with code 390144.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey;
use serde::Deserialize;

use crate::catalog::Catalog;
use sha2::{Digest, Sha256};

/// A user's registered public key (`ALTER USER … SET RSA_PUBLIC_KEY`).
#[derive(Clone)]
struct RegisteredUser {
    pub account: String,
    pub user: String,
    fingerprint: String,
    key: DecodingKey,
}

impl RegisteredUser {
    /// `public_key_base64` is the body of the public key PEM (SubjectPublicKeyInfo DER), exactly
    /// what `RSA_PUBLIC_KEY` takes.
    pub fn new(account: &str, user: &str, public_key_base64: &str) -> Result<Self, String> {
        let der = STANDARD
            .decode(public_key_base64.trim())
            .map_err(|e| format!("the public key is not base64: {e}"))?;
        let key = rsa::RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| format!("the public key is not an RSA SubjectPublicKeyInfo: {e}"))?;
        let pkcs1 = key
            .to_pkcs1_der()
            .map_err(|e| format!("the public key cannot be encoded: {e}"))?;
        Ok(RegisteredUser {
            account: account.to_ascii_uppercase(),
            user: user.to_ascii_uppercase(),
            fingerprint: format!("SHA256:{}", STANDARD.encode(Sha256::digest(&der))),
            key: DecodingKey::from_rsa_der(pkcs1.as_bytes()),
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    iat: i64,
    exp: i64,
}

/// The user a token authenticates (upper case), or why it was refused (for the stand-in's log;
/// the client only sees 390144).
pub fn verify(
    authorization: Option<&str>,
    account: &str,
    catalog: &Catalog,
    now: i64,
) -> Result<String, String> {
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("BEARER "))
        })
        .ok_or("no Bearer token")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("bad JWT header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("algorithm {:?}, not RS256", header.alg));
    }
    let subject = unverified_subject(token)?;
    let account = account.to_ascii_uppercase();
    let user = subject
        .strip_prefix(&format!("{account}."))
        .ok_or_else(|| format!("sub {subject} is not of account {account}"))?;
    let found = catalog
        .users
        .get(user)
        .ok_or_else(|| format!("no user {user}"))?;
    let keys: Vec<RegisteredUser> = [&found.rsa_public_key, &found.rsa_public_key_2]
        .into_iter()
        .flatten()
        .filter_map(|key| RegisteredUser::new(&account, user, key).ok())
        .collect();
    if keys.is_empty() {
        return Err(format!("user {user} has no registered public key"));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    // Expiry and lifetime are checked below, exactly as documented, without leeway.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    for key in &keys {
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key.key, &validation) else {
            continue;
        };
        let claims = data.claims;
        let subject = format!("{}.{}", key.account, key.user);
        if claims.sub != subject {
            return Err(format!("sub is {}, expected {subject}", claims.sub));
        }
        let issuer = format!("{subject}.{}", key.fingerprint);
        if claims.iss != issuer {
            return Err(format!("iss is {}, expected {issuer}", claims.iss));
        }
        // iat may be in seconds or milliseconds.
        let seconds = |t: i64| if t > 100_000_000_000 { t / 1000 } else { t };
        let (iat, exp) = (seconds(claims.iat), seconds(claims.exp));
        if exp <= now {
            return Err("the token has expired".into());
        }
        if exp - iat > 3600 {
            return Err(format!(
                "the token lives {} s, more than one hour",
                exp - iat
            ));
        }
        if iat > now + 60 {
            return Err("the token was issued in the future".into());
        }
        return Ok(user.to_owned());
    }
    Err(format!(
        "the signature matches no public key registered for {user}"
    ))
}

/// The `sub` claim, read before the signature is checked, to find the user's keys.
fn unverified_subject(token: &str) -> Result<String, String> {
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the JWT payload is not base64url: {e}"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the JWT payload is not JSON: {e}"))?;
    claims["sub"]
        .as_str()
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| "the JWT has no sub".to_owned())
}

/// Snowflake's answer to a refused token.
pub fn refused_body() -> String {
    format!(
        r#"{{"code":"390144","message":"JWT token is invalid. [{}]","success":false,"data":null,"headers":null}}"#,
        uuid::Uuid::new_v4()
    )
}
