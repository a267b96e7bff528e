//! `Idempotency-Key`, as Stripe defines it: a client-chosen key (at most 255 characters) that
//! makes retrying a mutating request safe. The first answer is kept for [`KEEP_MS`] and replayed
//! for the same key; the same key with different parameters is an error.

use riff_guest::{ApiError, ApiResult};
use sha2::{Digest, Sha256};
use spin_sdk::http::Request;

/// How long an answer is kept: 24 hours.
pub const KEEP_MS: u64 = 24 * 60 * 60 * 1000;

pub const MISMATCH: &str =
    "idempotency_error: keys for idempotent requests can only be used with the same parameters they were first used with";

/// The request's key, if it has one; a malformed key is a 400.
pub fn key(req: &Request) -> ApiResult<Option<String>> {
    let Some(value) = req.header("idempotency-key") else { return Ok(None) };
    let key = value.as_str().ok_or_else(|| ApiError::bad_request("Idempotency-Key must be text"))?;
    check(key).map(|k| Some(k.to_string()))
}

pub fn check(key: &str) -> ApiResult<&str> {
    let key = key.trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_request("Idempotency-Key must be 1 to 255 printable characters"));
    }
    Ok(key)
}

/// What must match for a replay: method, path and body.
pub fn request_hash(req: &Request) -> String {
    hash_parts(&req.method().to_string(), req.path(), req.body())
}

pub fn hash_parts(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hashes() {
        assert_eq!(check(" abc ").unwrap(), "abc");
        assert!(check("").is_err());
        assert!(check(&"k".repeat(256)).is_err());
        assert!(check("has space").is_err());
        let a = hash_parts("POST", "/v1/me/subscription", br#"{"plan":"premium"}"#);
        assert_eq!(a, hash_parts("POST", "/v1/me/subscription", br#"{"plan":"premium"}"#));
        assert_ne!(a, hash_parts("POST", "/v1/me/subscription", br#"{"plan":"free"}"#));
        assert_ne!(a, hash_parts("DELETE", "/v1/me/subscription", br#"{"plan":"premium"}"#));
    }
}
