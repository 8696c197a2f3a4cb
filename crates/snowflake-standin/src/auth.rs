//! Key-pair JWT checks as Snowflake makes them (reference §1): RS256 signed by the user's
//! registered key, `iss = ACCOUNT.USER.SHA256:<fingerprint of that key>`, `sub = ACCOUNT.USER`,
//! not expired and living at most one hour. Any failure is Snowflake's 401 with code 390144.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A user whose public key is registered (`ALTER USER … SET RSA_PUBLIC_KEY`).
#[derive(Clone)]
pub struct RegisteredUser {
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

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    iat: i64,
    exp: i64,
}

/// Why a token was refused (for the stand-in's log; the client only sees 390144).
pub fn verify(
    authorization: Option<&str>,
    users: &[RegisteredUser],
    now: i64,
) -> Result<String, String> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or("no Bearer token")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("bad JWT header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("algorithm {:?}, not RS256", header.alg));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    // Expiry and lifetime are checked below, exactly as documented, without leeway.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    for user in users {
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &user.key, &validation) else {
            continue;
        };
        let claims = data.claims;
        let subject = format!("{}.{}", user.account, user.user);
        if claims.sub != subject {
            return Err(format!("sub is {}, expected {subject}", claims.sub));
        }
        let issuer = format!("{subject}.{}", user.fingerprint);
        if claims.iss != issuer {
            return Err(format!("iss is {}, expected {issuer}", claims.iss));
        }
        // iat may be in seconds or milliseconds.
        let iat = if claims.iat > 100_000_000_000 {
            claims.iat / 1000
        } else {
            claims.iat
        };
        let exp = if claims.exp > 100_000_000_000 {
            claims.exp / 1000
        } else {
            claims.exp
        };
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
        return Ok(subject);
    }
    Err("the signature matches no registered public key".into())
}

/// Snowflake's answer to a refused token.
pub fn refused_body() -> String {
    format!(
        r#"{{"code":"390144","message":"JWT token is invalid. [{}]","success":false,"data":null,"headers":null}}"#,
        uuid::Uuid::new_v4()
    )
}
