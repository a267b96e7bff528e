//! A listener of the music app (the repository's spin.toml): registered, logged in, and sending
//! requests with its bearer token.

use serde_json::{json, Value};

use super::{client, post_json, Riff};

/// The password every test listener registers with (auth wants at least 8 characters).
pub const PASSWORD: &str = "a long password";

pub struct Listener {
    base: String,
    pub name: String,
    /// The access token sent as `Authorization: Bearer`.
    pub token: String,
    /// The refresh token from login (empty for [`Listener::with_token`]).
    pub refresh: String,
}

impl Listener {
    /// Register `name` (201) and log in (200).
    pub fn register(riff: &Riff, name: &str) -> Listener {
        let creds = json!({ "username": name, "password": PASSWORD });
        let (status, body) = post_json(&riff.url("/v1/auth/register"), &creds);
        assert_eq!(status, 201, "registering {name}: {body}");
        let (status, tokens) = post_json(&riff.url("/v1/auth/login"), &creds);
        assert_eq!(status, 200, "logging in {name}: {tokens}");
        Listener {
            base: riff.base.clone(),
            name: name.to_string(),
            token: tokens["access_token"].as_str().expect("access_token").to_string(),
            refresh: tokens["refresh_token"].as_str().expect("refresh_token").to_string(),
        }
    }

    /// Someone presenting `token` (forged, expired, revoked...) without logging in.
    pub fn with_token(riff: &Riff, token: &str) -> Listener {
        Listener {
            base: riff.base.clone(),
            name: String::new(),
            token: token.to_string(),
            refresh: String::new(),
        }
    }

    /// A request to `path` carrying the bearer token.
    pub fn request(&self, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        client()
            .request(method.parse().expect("an HTTP method"), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Send with an optional JSON body: (status, JSON body or null).
    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send_keyed(method, path, body, None)
    }

    /// [`Listener::send`] with an optional `Idempotency-Key`.
    pub fn send_keyed(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        json_reply(req.send().unwrap_or_else(|e| panic!("{method} {path}: {e}")))
    }
}

/// (status, JSON body), the body `null` when it is not JSON.
pub fn json_reply(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
