//! The auth service.
//!
//! | route | does |
//! | --- | --- |
//! | `POST /v1/auth/register` `{username, password}` | creates an account (201) |
//! | `POST /v1/auth/login` `{username, password}` | `{access_token, token_type, expires_in, refresh_token}` |
//! | `POST /v1/auth/refresh` `{refresh_token}` | new tokens; the old refresh token stops working |
//! | `POST /v1/auth/logout` (Bearer) `[{refresh_token}]` | revokes the access (and refresh) token (204) |
//!
//! It exports `riff:music/auth#verify-token`, which every other service calls. State lives in the
//! key-value store `auth`: accounts (argon2id hashes only), refresh tokens (by SHA-256),
//! revoked token ids and failed-login counters. Passwords and hashes are never logged or returned.

pub mod rules;
pub mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use riff_guest::{json_body, json_response, new_id, no_content, respond, ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use spin_sdk::http::{Method, Request, Response};
#[cfg(target_arch = "wasm32")]
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::variables;

use rules::Failures;
use tokens::TokenClaims;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/music",
        world: "riff:music/auth-service",
        generate_all,
    });
}

use bindings::exports::riff::music::auth::{Claims, Guest};
use bindings::riff::music::types::Error as ServiceError;

const STORE: &str = "auth";
const REFRESH_TOKEN_SECONDS: u64 = 30 * 24 * 3600;

#[derive(Serialize, Deserialize)]
struct Account {
    id: String,
    username: String,
    /// PHC string (argon2id).
    password_hash: String,
    created_at: u64,
}

#[derive(Serialize, Deserialize)]
struct RefreshGrant {
    user_id: String,
    username: String,
    expires_at: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogoutRequest {
    refresh_token: Option<String>,
}

// The component's exports only link for wasm32; natively the crate builds for its unit tests.
#[cfg_attr(target_arch = "wasm32", http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn handle(req: Request) -> Response {
    respond(route(&req))
}

fn route(req: &Request) -> ApiResult {
    let store =
        Store::open(STORE).map_err(|e| ApiError::internal(format!("auth store unavailable: {e:?}")))?;
    match (req.method(), req.path()) {
        (Method::Post, "/v1/auth/register") => register(&store, json_body(req)?),
        (Method::Post, "/v1/auth/login") => login(&store, json_body(req)?),
        (Method::Post, "/v1/auth/refresh") => refresh(&store, json_body(req)?),
        (Method::Post, "/v1/auth/logout") => logout(&store, req),
        (_, "/v1/auth/register" | "/v1/auth/login" | "/v1/auth/refresh" | "/v1/auth/logout") => {
            Err(ApiError::new(405, "use POST"))
        }
        (_, path) => Err(ApiError::not_found(format!("no such endpoint: {path}"))),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn random_bytes<const N: usize>() -> ApiResult<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}

fn kv_error(e: impl std::fmt::Debug) -> ApiError {
    ApiError::internal(format!("auth store error: {e:?}"))
}

fn get_json<T: for<'de> Deserialize<'de>>(store: &Store, key: &str) -> ApiResult<Option<T>> {
    match store.get(key).map_err(kv_error)? {
        Some(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| ApiError::internal(e.to_string()))
        }
        None => Ok(None),
    }
}

fn set_json<T: Serialize>(store: &Store, key: &str, value: &T) -> ApiResult<()> {
    store
        .set(key, &serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?)
        .map_err(kv_error)
}

/// The signing key: the `signing_key` variable when set, else a random key kept in the store.
fn signing_key(store: &Store) -> ApiResult<Vec<u8>> {
    if let Ok(key) = variables::get("signing_key") {
        if !key.is_empty() {
            return Ok(key.into_bytes());
        }
    }
    if let Some(key) = store.get("config:signing-key").map_err(kv_error)? {
        return Ok(key);
    }
    store.set("config:signing-key", &random_bytes::<32>()?).map_err(kv_error)?;
    // Read back: if two first requests raced, both use the one that was stored last.
    store.get("config:signing-key").map_err(kv_error)?.ok_or_else(|| ApiError::internal("signing key lost"))
}

fn register(store: &Store, creds: Credentials) -> ApiResult {
    rules::check_username(&creds.username).map_err(ApiError::bad_request)?;
    rules::check_password(&creds.password).map_err(ApiError::bad_request)?;
    let key = format!("user:{}", creds.username);
    if store.exists(&key).map_err(kv_error)? {
        return Err(ApiError::conflict(format!("username {:?} is taken", creds.username)));
    }
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| ApiError::internal(e.to_string()))?;
    let password_hash = Argon2::default()
        .hash_password(creds.password.as_bytes(), &salt)
        .map_err(|e| ApiError::internal(format!("hashing failed: {e}")))?
        .to_string();
    let account = Account { id: new_id()?, username: creds.username, password_hash, created_at: now() };
    set_json(store, &key, &account)?;
    Ok(json_response(
        201,
        &json!({ "id": account.id, "username": account.username, "type": "user", "href": format!("/v1/users/{}", account.id) }),
    ))
}

/// A fixed argon2id hash checked for unknown usernames, so they take as long as wrong passwords.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3rD0f8QiV9Jd2hTgTq5zmG2o0tq2pFq2m1p4iCk6bF8";

fn login(store: &Store, creds: Credentials) -> ApiResult {
    let now = now();
    let failures_key = format!("failures:{}", creds.username);
    let failures: Failures = get_json(store, &failures_key)?.unwrap_or_default();
    if let Some(wait) = failures.locked_for(now) {
        return Err(ApiError::new(429, format!("too many failed logins; try again in {wait} s")));
    }
    let account: Option<Account> = get_json(store, &format!("user:{}", creds.username))?;
    let hash = account.as_ref().map_or(DUMMY_HASH, |a| a.password_hash.as_str());
    let verified = PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(creds.password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false);
    match account {
        Some(account) if verified => {
            let _ = store.delete(&failures_key);
            issue_tokens(store, &account.id, &account.username)
        }
        _ => {
            set_json(store, &failures_key, &failures.record(now))?;
            Err(ApiError::unauthorized("invalid username or password"))
        }
    }
}

fn refresh_key(token: &str) -> String {
    format!("refresh:{}", hex(&sha2::Sha256::digest(token.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn issue_tokens(store: &Store, user_id: &str, username: &str) -> ApiResult {
    let now = now();
    let claims = TokenClaims {
        sub: user_id.to_string(),
        name: username.to_string(),
        iat: now,
        exp: now + tokens::ACCESS_TOKEN_SECONDS,
        jti: new_id()?,
    };
    let access_token = tokens::sign(&claims, &signing_key(store)?);
    let refresh_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let grant = RefreshGrant {
        user_id: user_id.to_string(),
        username: username.to_string(),
        expires_at: now + REFRESH_TOKEN_SECONDS,
    };
    set_json(store, &refresh_key(&refresh_token), &grant)?;
    Ok(json_response(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": tokens::ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh_token,
        }),
    ))
}

fn refresh(store: &Store, body: RefreshRequest) -> ApiResult {
    let key = refresh_key(&body.refresh_token);
    let grant: RefreshGrant =
        get_json(store, &key)?.ok_or_else(|| ApiError::unauthorized("invalid or used refresh token"))?;
    // Rotation: a refresh token works once.
    store.delete(&key).map_err(kv_error)?;
    if grant.expires_at <= now() {
        return Err(ApiError::unauthorized("refresh token expired"));
    }
    issue_tokens(store, &grant.user_id, &grant.username)
}

fn logout(store: &Store, req: &Request) -> ApiResult {
    let token = riff_guest::bearer_token(req)?;
    let claims = verify(store, &token).map_err(ApiError::unauthorized)?;
    let body: LogoutRequest = if req.body().is_empty() { LogoutRequest::default() } else { json_body(req)? };
    set_json(store, &format!("revoked:{}", claims.jti), &claims.exp)?;
    if let Some(refresh) = body.refresh_token {
        store.delete(&refresh_key(&refresh)).map_err(kv_error)?;
    }
    Ok(no_content())
}

/// Signature, expiry and revocation.
fn verify(store: &Store, token: &str) -> Result<TokenClaims, String> {
    let key = signing_key(store).map_err(|e| e.message)?;
    let claims = tokens::verify(token, &key, now()).map_err(|e| e.to_string())?;
    let revoked = store.exists(&format!("revoked:{}", claims.jti)).map_err(|e| format!("{e:?}"))?;
    if revoked {
        return Err("token revoked".into());
    }
    Ok(claims)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct AuthService;

impl Guest for AuthService {
    fn verify_token(token: String) -> Result<Claims, ServiceError> {
        let store = Store::open(STORE).map_err(|e| ServiceError::Internal(format!("auth store: {e:?}")))?;
        let claims = verify(&store, &token).map_err(ServiceError::Unauthorized)?;
        Ok(Claims {
            user_id: claims.sub,
            username: claims.name,
            expires_at: claims.exp,
            scopes: vec!["user".into()],
        })
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(AuthService with_types_in bindings);
