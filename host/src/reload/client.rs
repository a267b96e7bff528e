//! The client side of the admin API, for `riff deploy`, `riff rollback` and `riff components`.
//!
//! The token comes from `RIFF_ADMIN_TOKEN`, or else from the token file a loopback `riff up`
//! writes into its state directory (`.riff/admin-token` beside the manifest by default).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::admin::{TOKEN_ENV, TOKEN_FILE};

/// Where the admin API is and how to authenticate to it.
pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl AdminClient {
    /// `admin`: the API's base URL. `state_dir`: where to look for a generated token.
    pub fn new(admin: &str, state_dir: &Path) -> Result<Self> {
        let token = match std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty()) {
            Some(token) => token.trim().to_string(),
            None => {
                let file: PathBuf = state_dir.join(TOKEN_FILE);
                std::fs::read_to_string(&file).map(|t| t.trim().to_string()).map_err(|_| {
                    anyhow!(
                        "no admin token: set {TOKEN_ENV}, or run this beside the app so {} can be read",
                        file.display()
                    )
                })?
            }
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .context("creating the HTTP client")?;
        Ok(Self { base: admin.trim_end_matches('/').to_string(), token, http })
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<Value> {
        let response = request.bearer_auth(&self.token).send().map_err(|e| {
            anyhow!("cannot reach the admin API at {}: {e} (is `riff up` running?)", self.base)
        })?;
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message =
            body["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| status.to_string());
        bail!("{message}")
    }

    /// Upload `file` as the new version of `component`; returns the server's report and the
    /// round-trip time (upload to new version serving).
    pub fn deploy(&self, component: &str, file: &Path) -> Result<(Value, Duration)> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let started = Instant::now();
        let report = self.send(
            self.http
                .put(format!("{}/v1/components/{component}", self.base))
                .header("content-type", "application/wasm")
                .body(bytes),
        )?;
        Ok((report, started.elapsed()))
    }

    pub fn rollback(&self, component: &str) -> Result<Value> {
        self.send(self.http.post(format!("{}/v1/components/{component}/rollback", self.base)))
    }

    pub fn components(&self) -> Result<Value> {
        self.send(self.http.get(format!("{}/v1/components", self.base)))
    }
}

/// `abc123def456…`: a version as people read it.
pub fn short_version(report: &Value, key: &str) -> String {
    report[key].as_str().map(|v| super::short(v).to_string()).unwrap_or_else(|| "?".into())
}
