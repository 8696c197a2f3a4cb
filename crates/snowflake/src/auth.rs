//! Key-pair JWT authentication, exactly as Snowflake's own clients do it (reference §1):
//! RS256; `iss = ACCOUNT.USER.SHA256:<fingerprint>`, `sub = ACCOUNT.USER`, upper-cased; the
//! fingerprint is SHA-256 over the DER SubjectPublicKeyInfo in padded standard base64; tokens
//! live 59 minutes and are re-signed after 54.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::SnowflakeError;

/// Lifetime of a token (Snowflake caps it at one hour).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(59 * 60);
/// Age after which a cached token is replaced.
pub const TOKEN_RENEW_AFTER: Duration = Duration::from_secs(54 * 60);

const CONVERT_HINT: &str = "convert it with: openssl pkcs8 -topk8 -inform PEM -in rsa_key.pem -out rsa_key.p8 -nocrypt \
     (or -v2 aes-256-cbc instead of -nocrypt to keep a passphrase)";

/// An RSA private key in PKCS#8, with its public key fingerprint. Its `Debug` shows only the
/// fingerprint, so the key never reaches a log line.
pub struct KeyPair {
    signing_key: EncodingKey,
    fingerprint: String,
    public_key_base64: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Reads a PKCS#8 PEM key, encrypted (`BEGIN ENCRYPTED PRIVATE KEY`, needs `passphrase`) or
    /// not. A PKCS#1 or other key gets an error saying how to convert it.
    pub fn from_pem(pem: &str, passphrase: Option<&str>) -> Result<KeyPair, SnowflakeError> {
        let key_error = |message: String| SnowflakeError::Key(message);
        let pem = pem.trim();
        let key = if pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let passphrase = passphrase.filter(|p| !p.is_empty()).ok_or_else(|| {
                key_error("the private key is encrypted but no passphrase was given".into())
            })?;
            RsaPrivateKey::from_pkcs8_encrypted_pem(pem, passphrase.as_bytes()).map_err(|_| {
                key_error("the private key could not be decrypted: wrong passphrase?".into())
            })?
        } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
                key_error(format!(
                    "the PKCS#8 key is not an RSA key Snowflake accepts ({e})"
                ))
            })?
        } else if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            return Err(key_error(format!(
                "the private key is in PKCS#1 format; {CONVERT_HINT}"
            )));
        } else {
            return Err(key_error(format!(
                "the private key is not a PEM PKCS#8 key ('-----BEGIN PRIVATE KEY-----'); {CONVERT_HINT}"
            )));
        };
        if key.size() < 256 {
            return Err(key_error(
                "the RSA key is shorter than the 2048 bits Snowflake requires".into(),
            ));
        }
        let public_der = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| key_error(format!("cannot encode the public key: {e}")))?;
        let fingerprint = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(public_der.as_bytes()))
        );
        let public_key_base64 =
            base64::engine::general_purpose::STANDARD.encode(public_der.as_bytes());
        // The `rsa` crate only parses and re-encodes the key here; signing is aws-lc-rs's (the
        // jsonwebtoken backend), away from rsa's non-constant-time private-key operations
        // (RUSTSEC-2023-0071, docs/security.md). aws-lc-rs reads PKCS#1 DER.
        let pkcs1 = key
            .to_pkcs1_der()
            .map_err(|e| key_error(format!("cannot encode the private key: {e}")))?;
        Ok(KeyPair {
            signing_key: EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            fingerprint,
            public_key_base64,
        })
    }

    /// The public key as `ALTER USER … SET RSA_PUBLIC_KEY` takes it: the base64 of its DER
    /// SubjectPublicKeyInfo (a PEM public key's body without lines).
    pub fn public_key_base64(&self) -> &str {
        &self.public_key_base64
    }

    /// `SHA256:<base64>`, as `DESCRIBE USER` shows in RSA_PUBLIC_KEY_FP.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// The account part of the JWT claims, normalised as Snowflake's clients do: upper-case; for a
/// `.global` identifier cut at the first `-`, otherwise at the first `.` (a locator's region and
/// cloud segments, `.privatelink`, are not part of the claims, though the host keeps them).
pub fn jwt_account(identifier: &str) -> String {
    let upper = identifier.trim().to_ascii_uppercase();
    let cut = if upper.contains(".GLOBAL") { '-' } else { '.' };
    upper.split(cut).next().unwrap_or_default().to_owned()
}

/// `https://<identifier>.snowflakecomputing.com`; host names use `-` where the account has `_`.
pub fn default_base_url(identifier: &str) -> String {
    format!(
        "https://{}.snowflakecomputing.com",
        identifier.trim().to_ascii_lowercase().replace('_', "-")
    )
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
}

/// Signs tokens for one user and caches the current one.
pub struct JwtSigner {
    key: KeyPair,
    /// `ACCOUNT.USER`
    subject: String,
    /// `ACCOUNT.USER.SHA256:<fingerprint>`
    issuer: String,
    cached: Mutex<Option<(String, SystemTime)>>,
}

/// Never prints the cached token (a bearer credential for up to an hour) or the key.
impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigner")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// `account` is the claims' account (see [`jwt_account`]); `user` the Snowflake user.
    pub fn new(key: KeyPair, account: &str, user: &str) -> JwtSigner {
        let subject = format!(
            "{}.{}",
            account.to_ascii_uppercase(),
            user.trim().to_ascii_uppercase()
        );
        let issuer = format!("{subject}.{}", key.fingerprint());
        JwtSigner {
            key,
            subject,
            issuer,
            cached: Mutex::new(None),
        }
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn fingerprint(&self) -> &str {
        self.key.fingerprint()
    }

    /// A token valid at `now`: the cached one while younger than 54 minutes, else a new one.
    pub fn token_at(&self, now: SystemTime) -> Result<String, SnowflakeError> {
        let mut cached = self.cached.lock().expect("not poisoned");
        if let Some((token, issued)) = cached.as_ref()
            && now
                .duration_since(*issued)
                .is_ok_and(|age| age < TOKEN_RENEW_AFTER)
        {
            return Ok(token.clone());
        }
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = Claims {
            iss: &self.issuer,
            sub: &self.subject,
            iat,
            exp: iat + TOKEN_LIFETIME.as_secs(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &self.key.signing_key,
        )
        .map_err(|e| SnowflakeError::Key(format!("signing the JWT failed: {e}")))?;
        *cached = Some((token.clone(), now));
        Ok(token)
    }

    pub fn token(&self) -> Result<String, SnowflakeError> {
        self.token_at(SystemTime::now())
    }

    /// Forgets the cached token (after a 401), so the next request signs a new one.
    pub fn invalidate(&self) {
        *self.cached.lock().expect("not poisoned") = None;
    }
}
