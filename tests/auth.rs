//! The auth service on the repository's spin.toml: accounts, tokens, logout, refresh, the
//! failed-login limits, input validation, and `verify-token` through a typed call; what holds
//! under concurrent requests (one account per name, one use per refresh token, at most five
//! password checks per client and window); and the HTTP basics every service shares (405 with
//! `Allow`, 401 with `WWW-Authenticate`).

use crate::common::*;
use reqwest::blocking::Client;
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
        post(&riff, "/v1/auth/register", &json!({ "username": "sam", "password": "right password" })).0,
        201
    );
    // An unknown name has nothing to guess: always 401, and nothing is stored for it.
    for _ in 0..6 {
        assert_error(login(&riff, "nobody", "whatever1"), 401, "invalid username or password");
    }
    let (wrong, right) = within_one_attempt_window(|run| {
        let eve = format!("eve{run}");
        let creds = json!({ "username": eve, "password": "right password" });
        assert_eq!(post(&riff, "/v1/auth/register", &creds).0, 201);
        let wrong: Vec<_> = (0..5).map(|_| login(&riff, &eve, "wrong password")).collect();
        (wrong, login(&riff, &eve, "right password"))
    });
    for result in wrong {
        assert_error(result, 401, "invalid username or password");
    }
    // This client is held back now, even with the right password; other users are unaffected.
    assert_error(right, 429, "too many failed logins");
    assert_eq!(login(&riff, "sam", "right password").0, 200);
}

/// A POST from `client`: status, response headers, JSON body (null when not JSON).
fn send(client: &Client, url: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = client.post(url).json(body).send().unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().unwrap_or(Value::Null))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn parallel_registrations_of_one_name_create_one_account() {
    let riff = start();
    let url = riff.url("/v1/auth/register");
    let results = all_at_once(20, |i| {
        let body = json!({ "username": "ann", "password": format!("password number {i}") });
        let (status, _, body) = send(&client(), &url, &body);
        (status, body)
    });
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert_eq!(count(&statuses, 201), 1, "{results:?}");
    assert_eq!(count(&statuses, 409), 19, "{results:?}");
    // Every loser is told plainly that the name is taken.
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_error((*status, body.clone()), 409, "taken");
    }
    // The account is the winner's: its password logs in, a loser's does not.
    let winner = statuses.iter().position(|s| *s == 201).unwrap();
    assert_eq!(login(&riff, "ann", &format!("password number {winner}")).0, 200);
    let loser = (winner + 1) % 20;
    assert_eq!(login(&riff, "ann", &format!("password number {loser}")).0, 401);
}

#[test]
fn a_refresh_token_works_once_even_when_presented_in_parallel() {
    let riff = start();
    assert_eq!(
        post(&riff, "/v1/auth/register", &json!({ "username": "rita", "password": "rita's password" })).0,
        201
    );
    let (status, tokens) = login(&riff, "rita", "rita's password");
    assert_eq!(status, 200, "{tokens}");
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let url = riff.url("/v1/auth/refresh");
    for round in 0..5 {
        let results = all_at_once(8, |_| send(&client(), &url, &json!({ "refresh_token": refresh })));
        let statuses: Vec<u16> = results.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(count(&statuses, 200), 1, "round {round}: {statuses:?}");
        assert_eq!(count(&statuses, 401), 7, "round {round}: {statuses:?}");
        for (status, headers, body) in results.iter().filter(|(s, _, _)| *s == 401) {
            assert_error((*status, body.clone()), 401, "refresh token");
            assert_eq!(header(headers, "www-authenticate"), Some(r#"Bearer error="invalid_token""#));
        }
        // The one new pair works (its refresh token is the next round's).
        let (_, _, renewed) = results.iter().find(|(s, _, _)| *s == 200).unwrap();
        let access = renewed["access_token"].as_str().expect("access_token");
        let me = client().get(riff.url("/v1/me")).bearer_auth(access).send().unwrap();
        assert_eq!(me.status().as_u16(), 200);
        let next = renewed["refresh_token"].as_str().expect("refresh_token").to_string();
        assert_ne!(next, refresh, "round {round}: the refresh token was not rotated");
        refresh = next;
    }
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Run `run` (given the run's number, to name a fresh account) until one run starts and ends in
/// the same attempt window, and return what that run saw. Login attempts are counted per
/// 15-minute window aligned to the clock (README), so a run that crosses a boundary has its
/// counts start over half-way and cannot be judged; riff reads the same clock, so a run whose
/// first and last reading fall in one window had every attempt counted in it. A run takes
/// seconds and a window 15 minutes: at most one run in a row crosses a boundary.
pub(crate) fn within_one_attempt_window<T>(mut run: impl FnMut(usize) -> T) -> T {
    const WINDOW_SECONDS: u64 = 15 * 60;
    for n in 0..3 {
        let window = unix_now() / WINDOW_SECONDS;
        let seen = run(n);
        if unix_now() / WINDOW_SECONDS == window {
            return seen;
        }
        eprintln!("run {n} crossed an attempt window's boundary: running it again on a fresh account");
    }
    panic!("three runs in a row crossed an attempt window's boundary");
}

#[test]
fn parallel_wrong_logins_check_five_passwords_and_the_owner_still_gets_in() {
    let riff = start();
    let url = riff.url("/v1/auth/login");
    let (results, guesser_right, owner) = within_one_attempt_window(|run| {
        let olga = format!("olga{run}");
        let right = json!({ "username": olga, "password": "olga's password" });
        assert_eq!(post(&riff, "/v1/auth/register", &right).0, 201);
        let results = all_at_once(20, |_| {
            send(&client(), &url, &json!({ "username": olga, "password": "not her password" }))
        });
        // The guessing client, now with the right password; then the owner on another address.
        let guesser_right = send(&client(), &url, &right);
        let owner = send(&client_from("127.0.0.2"), &url, &right);
        (results, guesser_right, owner)
    });
    let statuses: Vec<u16> = results.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(count(&statuses, 401), 5, "exactly five passwords checked: {statuses:?}");
    assert_eq!(count(&statuses, 429), 15, "{statuses:?}");
    for (status, headers, body) in &results {
        assert_eq!(body["error"]["status"], *status, "{body}");
        if *status == 429 {
            let wait: u64 = header(headers, "retry-after").expect("Retry-After").parse().unwrap();
            assert!((1..=900).contains(&wait), "Retry-After {wait}");
            assert!(body["error"]["message"].as_str().unwrap().contains("too many failed logins"), "{body}");
        } else {
            assert_eq!(header(headers, "www-authenticate"), Some("Bearer"));
        }
    }
    // The guessing client stays held back, right password or not...
    assert_eq!(guesser_right.0, 429, "{:?}", guesser_right.2);
    // ...but the owner, on another address, is not locked out.
    let (status, _, tokens) = owner;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(!riff.log().contains("not her password"), "a password reached the log");
}

#[test]
fn many_failing_addresses_back_the_account_off_but_a_clean_client_gets_in() {
    let riff = start();
    let url = riff.url("/v1/auth/login");
    let (guesses, backed_off, clean) = within_one_attempt_window(|run| {
        let paul = format!("paul{run}");
        let right = json!({ "username": paul, "password": "paul's password" });
        let wrong = json!({ "username": paul, "password": "a wrong guess" });
        assert_eq!(post(&riff, "/v1/auth/register", &right).0, 201);
        // 25 addresses guess once each: every first attempt of a client is checked.
        let guesses: Vec<_> =
            (1..=25).map(|i| send(&client_from(&format!("127.0.1.{i}")), &url, &wrong)).collect();
        // A client that has been failing tries the right password; then one that has not.
        let backed_off = send(&client_from("127.0.1.1"), &url, &right);
        let clean = send(&client_from("127.0.2.1"), &url, &right);
        (guesses, backed_off, clean)
    });
    assert_eq!(guesses.len(), 25);
    for (i, (status, _, body)) in guesses.iter().enumerate() {
        assert_eq!(*status, 401, "guess {}: {body}", i + 1);
    }
    // 25 failures: clients that have been failing now wait their turn (32 s here), even with
    // the right password.
    let (status, headers, body) = backed_off;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("this account"), "{body}");
    let wait: u64 = header(&headers, "retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // A client that has not been failing is checked, and the owner logs in.
    let (status, _, tokens) = clean;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string(), "{tokens}");
}

#[test]
fn logout_revokes_and_refused_tokens_are_told_why() {
    let riff = start();
    assert_eq!(
        post(&riff, "/v1/auth/register", &json!({ "username": "lena", "password": "lena's password" })).0,
        201
    );
    let (status, tokens) = login(&riff, "lena", "lena's password");
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access_token").to_string();
    let me = |token: Option<&str>, path: &str| {
        let mut req = client().get(riff.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let challenge = header(resp.headers(), "www-authenticate").map(str::to_string);
        (status, challenge, resp.json::<Value>().unwrap_or(Value::Null))
    };
    assert_eq!(me(Some(&access), "/v1/me").0, 200);

    let resp = client().post(riff.url("/v1/auth/logout")).bearer_auth(&access).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let invalid = Some(r#"Bearer error="invalid_token""#.to_string());
    let protected = [
        "/v1/me",
        "/v1/me/playlists",
        "/v1/me/tracks",
        "/v1/me/subscription",
        "/v1/me/recommendations",
        "/v1/tracks/tr01/stream",
    ];
    for path in protected {
        let (status, challenge, body) = me(Some(&access), path);
        assert_eq!((status, &challenge), (401, &invalid), "{path} with a revoked token: {body}");
        assert_eq!(body["error"]["status"], 401, "{path}: {body}");
        let (status, challenge, _) = me(Some("not-a-token"), path);
        assert_eq!((status, &challenge), (401, &invalid), "{path} with garbage");
        let (status, challenge, body) = me(None, path);
        assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")), "{path} without a token: {body}");
    }
    // A revoked token cannot log out again.
    let resp = client().post(riff.url("/v1/auth/logout")).bearer_auth(&access).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(header(resp.headers(), "www-authenticate"), invalid.as_deref());
}

#[test]
fn logout_with_a_refresh_token_revokes_both_and_only_that_session() {
    let riff = start();
    let lena = Listener::register(&riff, "lena");
    // A second session of the same account, which the logout must leave alone.
    let (status, other) = login(&riff, "lena", PASSWORD);
    assert_eq!(status, 200, "{other}");
    let other_refresh = other["refresh_token"].as_str().expect("refresh_token");

    let resp = client()
        .post(riff.url("/v1/auth/logout"))
        .bearer_auth(&lena.token)
        .json(&json!({ "refresh_token": lena.refresh }))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);

    // The refresh token named in the body no longer refreshes...
    assert_error(
        post(&riff, "/v1/auth/refresh", &json!({ "refresh_token": lena.refresh })),
        401,
        "refresh token",
    );
    // ...and the access token is refused by every service, not only the profile.
    for path in ["/v1/me", "/v1/tracks/tr01/stream", "/v1/me/subscription", "/v1/me/recommendations"] {
        let (status, body) = lena.send("GET", path, None);
        assert_eq!(status, 401, "{path} with a logged-out token: {body}");
        assert_eq!(body["error"]["status"], 401, "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("revoked")), "{path}: {body}");
    }
    let (status, body) = get(&riff.url(&format!("/verify/{}", lena.token)));
    assert_eq!((status, body.as_str()), (401, "token revoked"));

    // The other session still refreshes, and its new token works.
    let (status, renewed) = post(&riff, "/v1/auth/refresh", &json!({ "refresh_token": other_refresh }));
    assert_eq!(status, 200, "{renewed}");
    let again = Listener::with_token(&riff, renewed["access_token"].as_str().expect("access_token"));
    let (status, me) = again.send("GET", "/v1/me", None);
    assert_eq!((status, me["display_name"].as_str()), (200, Some("lena")), "{me}");
}

#[test]
fn wrong_methods_answer_405_with_allow() {
    let riff = start();
    let cases = [
        ("GET", "/v1/auth/login", "POST"),
        ("PUT", "/v1/auth/register", "POST"),
        ("DELETE", "/v1/me", "GET"),
        ("PATCH", "/v1/playlists/somewhere", "GET, PUT, DELETE"),
        ("GET", "/v1/me/player/played", "POST"),
        ("POST", "/v1/artists", "GET, HEAD"),
        ("POST", "/v1/search", "GET, HEAD"),
        ("DELETE", "/v1/recommendations/status", "GET, HEAD"),
        ("GET", "/v1/me/subscription/resume", "POST"),
        ("PATCH", "/v1/me/subscription", "GET, POST, DELETE"),
    ];
    for (method, path, allow) in cases {
        // No token: the method is wrong whoever asks.
        let resp = client().request(method.parse().unwrap(), riff.url(path)).send().unwrap();
        let status = resp.status().as_u16();
        let allowed = header(resp.headers(), "allow").map(str::to_string);
        let body: Value = resp.json().unwrap_or(Value::Null);
        assert_eq!((status, allowed.as_deref()), (405, Some(allow)), "{method} {path}: {body}");
        assert_eq!(body["error"]["status"], 405, "{method} {path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(allow.split(',').next().unwrap()),
            "{body}"
        );
    }
    // A path that is no route is still 404.
    assert_eq!(client().get(riff.url("/v1/me/nothing-here")).send().unwrap().status().as_u16(), 404);
    assert_eq!(client().get(riff.url("/v1/auth/nothing-here")).send().unwrap().status().as_u16(), 404);
}
