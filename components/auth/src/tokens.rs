//! Access tokens: compact JWTs signed with HMAC-SHA256 (`alg: HS256`).
//!
//! Plain Rust with no host calls, so it is unit-tested natively. Verification checks the
//! signature in constant time (the `hmac` crate's `verify_slice`) before reading any claim.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECONDS: u64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenClaims {
    /// User id.
    pub sub: String,
    /// Username.
    pub name: String,
    pub iat: u64,
    pub exp: u64,
    /// Token id, for revocation.
    pub jti: String,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn sign(claims: &TokenClaims, key: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialize");
    let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(mac.finalize().into_bytes()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadSignature => "invalid token signature",
            TokenError::Expired => "token expired",
        })
    }
}

/// Check signature and expiry (`now` in seconds since the epoch).
pub fn verify(token: &str, key: &[u8], now: u64) -> Result<TokenClaims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
    if B64.decode(header).ok().as_deref() != Some(HEADER.as_bytes()) {
        return Err(TokenError::Malformed);
    }
    let claims: TokenClaims =
        serde_json::from_slice(&B64.decode(payload).map_err(|_| TokenError::Malformed)?)
            .map_err(|_| TokenError::Malformed)?;
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> TokenClaims {
        TokenClaims { sub: "u1".into(), name: "ada".into(), iat: 100, exp, jti: "j1".into() }
    }

    #[test]
    fn round_trip() {
        let t = sign(&claims(200), b"key");
        assert_eq!(verify(&t, b"key", 150).unwrap(), claims(200));
    }

    #[test]
    fn refuses_expired_forged_and_malformed() {
        let t = sign(&claims(200), b"key");
        assert_eq!(verify(&t, b"key", 200), Err(TokenError::Expired));
        assert_eq!(verify(&t, b"other", 150), Err(TokenError::BadSignature));
        // Changing the payload breaks the signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(serde_json::to_vec(&claims(9_999_999_999)).unwrap());
        parts[1] = &forged;
        assert_eq!(verify(&parts.join("."), b"key", 150), Err(TokenError::BadSignature));
        assert_eq!(verify("a.b", b"key", 0), Err(TokenError::Malformed));
        assert_eq!(verify("a.b.c.d", b"key", 0), Err(TokenError::Malformed));
        assert_eq!(verify("", b"key", 0), Err(TokenError::Malformed));
    }
}
