//! The auth service on the repository's spin.toml: accounts, tokens, logout, refresh, the
//! failed-login limit, input validation, and `verify-token` through a typed call.

mod common;
use common::*;
use serde_json::{json, Value};

/// The app plus a test caller of `riff:music/auth#verify-token` at `/verify/<token>`.
fn start() -> Riff {
    Riff::start(&repo_manifest(
        r#"
[[trigger.http]]
route = "/verify/..."
component = "verifier"

[component.verifier]
source = "{wasm}/auth_caller.wasm"
[component.verifier.dependencies]
"riff:music/auth" = { component = "auth" }
"#,
    ))
}

fn post(riff: &Riff, path: &str, body: &Value) -> (u16, Value) {
    post_json(&riff.url(path), body)
}

fn post_raw(riff: &Riff, path: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, Value) {
    let resp =
        client().post(riff.url(path)).header("content-type", "application/json").body(body).send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn assert_error(result: (u16, Value), status: u16, needle: &str) {
    let (got, body) = result;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{body}");
}

fn login(riff: &Riff, user: &str, password: &str) -> (u16, Value) {
    post(riff, "/v1/auth/login", &json!({ "username": user, "password": password }))
}

#[test]
fn register_login_verify_refresh_logout() {
    let riff = start();
    let password = "correct horse battery";
    let (status, account) =
        post(&riff, "/v1/auth/register", &json!({ "username": "ada", "password": password }));
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["username"], "ada");
    assert_eq!(account["type"], "user");
    assert!(account.get("password").is_none() && account.get("password_hash").is_none());

    let (status, tokens) = login(&riff, "ada", password);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let text = tokens.to_string();
    assert!(!text.contains(password) && !text.contains("argon2"), "{text}");

    // Other services check tokens through the typed interface.
    let (status, body) = get(&riff.url(&format!("/verify/{access}")));
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("user=") && body.ends_with("name=ada"), "{body}");
    let forged = format!("{}x", &access[..access.len() - 1]);
    assert_eq!(get(&riff.url(&format!("/verify/{forged}"))).0, 401);

    // Refresh rotates: the new pair works, the old refresh token does not.
    let (status, renewed) = post(&riff, "/v1/auth/refresh", &json!({ "refresh_token": refresh }));
    assert_eq!(status, 200, "{renewed}");
    assert_error(post(&riff, "/v1/auth/refresh", &json!({ "refresh_token": refresh })), 401, "refresh token");
    let access2 = renewed["access_token"].as_str().unwrap().to_string();

    // Logout revokes the token it is called with.
    let resp = client().post(riff.url("/v1/auth/logout")).bearer_auth(&access2).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (status, body) = get(&riff.url(&format!("/verify/{access2}")));
    assert_eq!((status, body.as_str()), (401, "token revoked"));
    assert_eq!(get(&riff.url(&format!("/verify/{access}"))).0, 200, "other sessions stay valid");
    let resp = client().post(riff.url("/v1/auth/logout")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401, "logout needs a token");

    assert!(!riff.log().contains(password), "the password reached the log");
}

#[test]
fn registration_input_is_validated_and_nothing_is_written() {
    let riff = start();
    let register = |body: &Value| post(&riff, "/v1/auth/register", body);
    assert_error(register(&json!({ "username": "Bad Name", "password": "long enough" })), 400, "username");
    assert_error(register(&json!({ "username": "bob", "password": "short" })), 400, "at least 8");
    assert_error(register(&json!({ "username": "bob" })), 400, "password");
    assert_error(register(&json!({ "username": 7, "password": "long enough" })), 400, "invalid");
    assert_error(
        register(&json!({ "username": "bob", "password": "long enough", "admin": true })),
        400,
        "admin",
    );
    assert_error(post_raw(&riff, "/v1/auth/register", "{not json"), 400, "invalid JSON");
    assert_error(post_raw(&riff, "/v1/auth/register", vec![b' '; 70 * 1024]), 413, "larger than");
    let get_resp = client().get(riff.url("/v1/auth/register")).send().unwrap();
    assert_eq!(get_resp.status().as_u16(), 405);
    // None of the refused attempts created "bob".
    assert_eq!(register(&json!({ "username": "bob", "password": "long enough" })).0, 201);
    assert_error(register(&json!({ "username": "bob", "password": "another one" })), 409, "taken");
}

#[test]
fn failed_logins_are_rate_limited_per_username() {
    let riff = start();
    assert_eq!(
        post(&riff, "/v1/auth/register", &json!({ "username": "eve", "password": "right password" })).0,
        201
    );
    assert_eq!(
        post(&riff, "/v1/auth/register", &json!({ "username": "sam", "password": "right password" })).0,
        201
    );
    assert_error(login(&riff, "nobody", "whatever1"), 401, "invalid username or password");
    for _ in 0..5 {
        assert_error(login(&riff, "eve", "wrong password"), 401, "invalid username or password");
    }
    // Locked now, even with the right password; other users are unaffected.
    assert_error(login(&riff, "eve", "right password"), 429, "too many failed logins");
    assert_eq!(login(&riff, "sam", "right password").0, 200);
}
