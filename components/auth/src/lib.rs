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
//! revoked token ids and login-attempt counters. Passwords, hashes and tokens are never logged
//! or returned.
//!
//! Concurrency: every check-then-write is one atomic key-value operation (`wasi:keyvalue`
//! atomics, through `riff_guest::kv`), so parallel requests cannot slip in between the check and
//! the write: an account is created by insert-if-absent (one of N parallel registrations wins),
//! a refresh token is taken once (one of N parallel refreshes gets new tokens), and a login
//! attempt reserves its number in the client's attempt counter before its password is checked.
//!
//! Login throttling, per existing username: each client address (an IPv6 client by its /64,
//! from the `spin-client-addr` header the host sets from the connection) gets
//! [`rules::MAX_CLIENT_ATTEMPTS`] checks per 15-minute window, then 429 with `Retry-After`; a
//! successful login clears its count. Past [`rules::BACKOFF_AFTER_FAILURES`] failures from all
//! addresses together, clients that have been failing take turns with an exponential backoff (up
//! to a minute), while a client's first attempt in a window is always checked: a stranger's
//! guessing cannot lock the owner out. Unknown usernames are answered 401 and store nothing.

pub mod rules;
pub mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use riff_guest::kv::{self, Bucket, Change};
use riff_guest::model::href;
use riff_guest::router::{Route, Router};
use riff_guest::{json_body, json_response, new_id, no_content, respond, ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use spin_sdk::http::{Request, Response};
#[cfg(target_arch = "wasm32")]
use spin_sdk::http_component;
use spin_sdk::variables;

use rules::UserFailures;
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

/// The account a registration created: `{href, id, type, username}`.
#[derive(Serialize)]
struct Registered {
    href: String,
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    username: String,
}

/// A login's or refresh's answer (RFC 6749's token response).
#[derive(Serialize)]
struct Tokens {
    access_token: String,
    expires_in: u64,
    refresh_token: String,
    token_type: &'static str,
}

// The component's exports only link for wasm32; natively the crate builds for its unit tests.
#[cfg_attr(target_arch = "wasm32", http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn handle(req: Request) -> Response {
    respond(route(&req))
}

type Handler = fn(&Bucket, &Request) -> ApiResult;

// Paths match exactly as sent (`/v1/auth/login/` is a 404), as they always have here. The first
// route names its type so that every closure below becomes a `Handler` function pointer.
static ROUTER: Router<Handler> = Router::new(&[
    Route::<Handler>::new(&["POST"], "/v1/auth/register", |store, req| register(store, json_body(req)?)),
    Route::new(&["POST"], "/v1/auth/login", |store, req| {
        let client = riff_guest::client_ip(req).map_or_else(|| "unknown".into(), |ip| rules::client_key(&ip));
        login(store, json_body(req)?, &client)
    }),
    Route::new(&["POST"], "/v1/auth/refresh", |store, req| refresh(store, json_body(req)?)),
    Route::new(&["POST"], "/v1/auth/logout", logout),
])
.strict_trailing_slash();

fn route(req: &Request) -> ApiResult {
    let found = ROUTER.resolve(req.method(), req.path())?;
    let store = kv::open(STORE)?;
    (found.handler)(&store, req)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn random_bytes<const N: usize>() -> ApiResult<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// The signing key: the `signing_key` variable when set, else a random key kept in the store
/// (the first request that needs one stores it; parallel first requests all end up with that one).
fn signing_key(store: &Bucket) -> ApiResult<Vec<u8>> {
    if let Ok(key) = variables::get("signing_key") {
        if !key.is_empty() {
            return Ok(key.into_bytes());
        }
    }
    const KEY: &str = "config:signing-key";
    if let Some(key) = store.get(KEY)? {
        return Ok(key);
    }
    store.insert_if_absent(KEY, &random_bytes::<32>()?)?;
    store.get(KEY)?.ok_or_else(|| ApiError::internal("signing key lost"))
}

fn register(store: &Bucket, creds: Credentials) -> ApiResult {
    rules::check_username(&creds.username).map_err(ApiError::bad_request)?;
    rules::check_password(&creds.password).map_err(ApiError::bad_request)?;
    let key = format!("user:{}", creds.username);
    let taken = || ApiError::conflict(format!("username {:?} is taken", creds.username));
    // A cheap early answer; the insert below is what decides.
    if store.exists(&key)? {
        return Err(taken());
    }
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| ApiError::internal(e.to_string()))?;
    let password_hash = Argon2::default()
        .hash_password(creds.password.as_bytes(), &salt)
        .map_err(|e| ApiError::internal(format!("hashing failed: {e}")))?
        .to_string();
    let account =
        Account { id: new_id()?, username: creds.username.clone(), password_hash, created_at: now() };
    if !store.insert_if_absent(&key, &kv::encode(&account)?)? {
        return Err(taken());
    }
    Ok(json_response(
        201,
        &Registered {
            href: href("user", &account.id),
            id: account.id,
            kind: "user",
            username: account.username,
        },
    ))
}

/// A fixed argon2id hash checked for unknown usernames, so they take as long as wrong passwords.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3rD0f8QiV9Jd2hTgTq5zmG2o0tq2pFq2m1p4iCk6bF8";

fn login(store: &Bucket, creds: Credentials, client: &str) -> ApiResult {
    let invalid = || ApiError::unauthorized("invalid username or password");
    let account: Option<Account> = match rules::check_username(&creds.username) {
        Ok(()) => store.get_json(&format!("user:{}", creds.username))?,
        Err(_) => None,
    };
    let Some(account) = account else {
        // Nothing to guess: take as long as a wrong password, and store nothing (made-up names
        // must not grow the store; registration tells which names exist anyway).
        check_password(None, &creds.password);
        return Err(invalid());
    };
    let now = now();
    let (window, window_left) = rules::attempt_window(now);
    let attempts_key = |window: u64| format!("attempts:{}:{client}:{window}", creds.username);
    // Reserve this attempt before anything is checked: of N parallel attempts, only the first
    // MAX_CLIENT_ATTEMPTS get a number that lets their password be checked.
    let attempt = store.increment(&attempts_key(window), 1)?;
    if attempt == 1 && window > 0 {
        let _ = store.delete(&attempts_key(window - 1));
    }
    if !rules::client_may_attempt(attempt) {
        return Err(ApiError::too_many_requests(
            format!("too many failed logins from this address; try again in {window_left} s"),
            window_left,
        ));
    }
    let failures_key = format!("failures:{}", creds.username);
    if attempt > 1 {
        // This client has been trying already: it waits its turn while the username is backed off.
        let turn = store.update_json(&failures_key, |f: Option<UserFailures>| {
            Ok(match f.unwrap_or_default().take_turn(now) {
                Err(wait) => Change::Keep(Err(wait)),
                Ok(None) => Change::Keep(Ok(())),
                Ok(Some(taken)) => Change::Write(kv::encode(&taken)?, Ok(())),
            })
        })?;
        if let Err(wait) = turn {
            return Err(ApiError::too_many_requests(
                format!("too many failed logins for this account; try again in {wait} s"),
                wait,
            ));
        }
    }
    if check_password(Some(&account), &creds.password) {
        let _ = store.delete(&attempts_key(window));
        return issue_tokens(store, &account.id, &account.username);
    }
    store.update_json(&failures_key, |f: Option<UserFailures>| {
        Ok(Change::Write(kv::encode(&f.unwrap_or_default().record(now))?, ()))
    })?;
    Err(invalid())
}

/// Check `password` against the account's hash; without an account, against a dummy hash, so
/// unknown usernames take as long as wrong passwords (and never pass).
fn check_password(account: Option<&Account>, password: &str) -> bool {
    let hash = account.map_or(DUMMY_HASH, |a| a.password_hash.as_str());
    let verified = PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false);
    verified && account.is_some()
}

fn refresh_key(token: &str) -> String {
    format!("refresh:{}", hex(&sha2::Sha256::digest(token.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn issue_tokens(store: &Bucket, user_id: &str, username: &str) -> ApiResult {
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
    store.set_json(&refresh_key(&refresh_token), &grant)?;
    Ok(json_response(
        200,
        &Tokens {
            access_token,
            expires_in: tokens::ACCESS_TOKEN_SECONDS,
            refresh_token,
            token_type: "Bearer",
        },
    ))
}

fn refresh(store: &Bucket, body: RefreshRequest) -> ApiResult {
    // Rotation: a refresh token works once, however many requests present it at the same time.
    let grant = store
        .take_once(&refresh_key(&body.refresh_token))?
        .ok_or_else(|| ApiError::invalid_token("invalid or used refresh token"))?;
    let grant: RefreshGrant = serde_json::from_slice(&grant)
        .map_err(|e| ApiError::internal(format!("unreadable refresh grant: {e}")))?;
    if grant.expires_at <= now() {
        return Err(ApiError::invalid_token("refresh token expired"));
    }
    issue_tokens(store, &grant.user_id, &grant.username)
}

fn logout(store: &Bucket, req: &Request) -> ApiResult {
    let token = riff_guest::bearer_token(req)?;
    let claims = verify(store, &token).map_err(ApiError::invalid_token)?;
    let body: LogoutRequest = if req.body().is_empty() { LogoutRequest::default() } else { json_body(req)? };
    store.set_json(&format!("revoked:{}", claims.jti), &claims.exp)?;
    if let Some(refresh) = body.refresh_token {
        store.delete(&refresh_key(&refresh))?;
    }
    Ok(no_content())
}

/// Signature, expiry and revocation.
fn verify(store: &Bucket, token: &str) -> Result<TokenClaims, String> {
    let key = signing_key(store).map_err(|e| e.message)?;
    let claims = tokens::verify(token, &key, now()).map_err(|e| e.to_string())?;
    if store.exists(&format!("revoked:{}", claims.jti)).map_err(|e| e.message)? {
        return Err("token revoked".into());
    }
    Ok(claims)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct AuthService;

impl Guest for AuthService {
    fn verify_token(token: String) -> Result<Claims, ServiceError> {
        let store = kv::open(STORE).map_err(|e| ServiceError::Internal(e.message))?;
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
