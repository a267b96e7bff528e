//! Shared harness for the integration tests: build the test components once, start a real
//! `riff up` on a free port with its own state directory, and stop it when the test ends.

#![allow(dead_code)]

pub mod backends;
mod crypto;
mod listener;
mod wait;

pub use crypto::*;
pub use listener::*;
pub use wait::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"))
}

/// Directory holding the built test components (`probe.wasm`, `plain.wasm`, ...).
pub fn wasm_dir() -> PathBuf {
    build_components();
    target_dir().join("wasm32-wasip2").join("release")
}

/// Build every component crate for wasm32-wasip2, once per test binary.
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(target_dir())
            .current_dir(repo_root().join("components"))
            .status()
            .expect("running cargo to build the test components");
        assert!(status.success(), "building the test components failed");
    });
}

/// Build component crate `package` for wasm32-wasip1 — a core module, as Spin's templates make —
/// and return its `.wasm`; `None` (after saying so) when the target is not installed.
pub fn build_for_wasip1(package: &str) -> Option<PathBuf> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let has_target =
        installed.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "wasm32-wasip1"));
    if !has_target {
        skip(
            &format!("{package} for wasm32-wasip1"),
            "the wasm32-wasip1 target is not installed (scripts/test.sh adds it)",
        );
        return None;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip1", "-p", package, "--target-dir"])
        .arg(target_dir())
        .current_dir(repo_root().join("components"))
        .status()
        .expect("running cargo to build a component for wasm32-wasip1");
    assert!(status.success(), "building {package} for wasm32-wasip1 failed");
    Some(target_dir().join("wasm32-wasip1").join("release").join(format!("{package}.wasm")))
}

/// A running `riff up`.
pub struct Riff {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the admin API.
    pub admin: String,
    log: Arc<Mutex<String>>,
}

/// Write `manifest` (with `{wasm}` replaced by the components' directory) into a fresh
/// directory and return that directory.
pub fn app_dir(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = manifest.replace("{wasm}", &wasm_dir().to_string_lossy());
    std::fs::write(dir.path().join("spin.toml"), text).unwrap();
    dir
}

/// The repository's own spin.toml, with component sources pointing at the built components and
/// `extra` appended (more components or routes for a test).
pub fn repo_manifest(extra: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let text = text
        .replace("\"target/wasm32-wasip2/release/", "\"{wasm}/")
        .replace("source = \"components/", &format!("source = \"{}/components/", repo_root().display()));
    format!("{text}\n{extra}")
}

fn riff_command(dir: &Path, extra: &[&str]) -> Command {
    riff_command_from(&dir.join("spin.toml"), dir, extra)
}

/// `riff up -f FROM` with its state in `dir`.
fn riff_command_from(from: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riff"));
    cmd.arg("up")
        .arg("-f")
        .arg(from)
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join(".riff"))
        .arg("--cache-dir")
        .arg(target_dir().join("riff-test-cache"))
        .args(extra);
    if !extra.contains(&"--admin-listen") {
        cmd.args(["--admin-listen", "127.0.0.1:0"]);
    }
    if backends::shared_mode() && !extra.contains(&"--runtime-config-file") {
        let manifest = std::fs::read_to_string(dir.join("spin.toml")).unwrap_or_default();
        let test = std::thread::current().name().unwrap_or("integration").to_string();
        if let Some(config) = backends::write_runtime_config(dir, &manifest, &test) {
            cmd.arg("--runtime-config-file").arg(config);
        }
    }
    cmd.env("RIFF_LOG", "info").env("RIFF_ADMIN_TOKEN", ADMIN_TOKEN);
    cmd
}

/// The admin token every test riff is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

impl Riff {
    pub fn start(manifest: &str) -> Riff {
        Self::start_with(manifest, &[], &[])
    }

    pub fn start_with(manifest: &str, args: &[&str], env: &[(&str, &str)]) -> Riff {
        Self::start_in(app_dir(manifest), args, env)
    }

    /// Start riff on an app directory prepared by [`app_dir`] (the state directory is kept there).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> Riff {
        let mut cmd = riff_command(dir.path(), args);
        cmd.envs(env.iter().copied());
        Self::spawn(cmd, dir)
    }

    /// `riff up -f FROM` (a manifest, or one `.wasm`), its state in a fresh directory.
    pub fn start_from(from: &Path, args: &[&str]) -> Riff {
        let dir = tempfile::tempdir().unwrap();
        let cmd = riff_command_from(from, dir.path(), args);
        Self::spawn(cmd, dir)
    }

    fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Riff {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting riff");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut admin = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Admin API ") {
                    admin = rest.split_whitespace().next().unwrap_or_default().to_string();
                }
                if let Some(addr) = line.strip_prefix("Serving ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((addr.trim().to_string(), admin.clone()));
                    }
                }
            }
        });
        let (base, admin) = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addrs) => addrs,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("riff did not start; its log:\n{}", log.lock().unwrap());
            }
        };
        Riff { child, base, dir, admin, log }
    }

    /// An admin API request with the test token: (status, JSON body).
    pub fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, serde_json::Value) {
        let mut req = client().request(method, format!("{}{path}", self.admin)).bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("admin {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("admin {path}: {e}: {text}")))
    }

    /// Upload `wasm` as the new version of `component` through the admin API.
    pub fn deploy(&self, component: &str, wasm: &[u8]) -> (u16, serde_json::Value) {
        self.admin_call(reqwest::Method::PUT, &format!("/v1/components/{component}"), Some(wasm.to_vec()))
    }

    /// One component's entry in the admin listing.
    pub fn component_status(&self, component: &str) -> serde_json::Value {
        let (status, body) =
            self.admin_call(reqwest::Method::GET, &format!("/v1/components/{component}"), None);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Wait (up to 60 s) until the log contains `needle`.
    pub fn wait_for_log_long(&self, needle: &str) -> bool {
        self.wait_for_log_within(Duration::from_secs(60), needle)
    }

    /// Wait (up to `limit`) until the log contains `needle`.
    pub fn wait_for_log_within(&self, limit: Duration, needle: &str) -> bool {
        let start = Instant::now();
        while !self.log().contains(needle) {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything riff wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait (up to 10 s) until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        self.wait_for_log_within(Duration::from_secs(10), needle)
    }

    /// The riff process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM, as a service manager would.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Wait up to `limit` for riff to exit: its exit code (`None` when killed by a signal), or
    /// `None` overall when it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stop riff and hand back its app directory (state included) for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }
}

impl Drop for Riff {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `riff up` on a manifest that must be refused: returns (exit code, stderr).
pub fn riff_fails(manifest: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = app_dir(manifest);
    riff_fails_in(dir.path(), args, env)
}

pub fn riff_fails_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = riff_command(dir, args);
    cmd.envs(env.iter().copied());
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Read stderr while riff runs: a pipe holds ~64 KiB, and a riff blocked on a full pipe never exits.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), reader.join().unwrap());
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("riff kept running on a manifest it should refuse:\n{}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Skip the calling test because `reason` (a data set or tool is missing): say so on stderr and
/// in the skip log that `scripts/test.sh` prints in its summary (`RIFF_SKIP_LOG`). Under
/// `CI=true` a skip is a failure.
pub fn skip(test: &str, reason: &str) {
    riff_core::servers::skip(test, reason)
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

pub fn get(url: &str) -> (u16, String) {
    let resp = client().get(url).send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().unwrap())
}

pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    let (status, body) = get(url);
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"));
    (status, json)
}

/// GET a JSON body that must come with 200.
pub fn get_ok(url: &str) -> serde_json::Value {
    let (status, json) = get_json(url);
    assert_eq!(status, 200, "GET {url}: {json}");
    json
}

pub fn post_json(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let resp = client().post(url).json(body).send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: {e}: {text}")))
}

/// A client whose connections come from `local` (any 127.0.0.0/8 address reaches a server on
/// 127.0.0.1 over loopback): to look like several clients, as riff's `spin-client-addr` sees them.
pub fn client_from(local: &str) -> reqwest::blocking::Client {
    let ip: std::net::IpAddr = local.parse().expect("a local IP address");
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).local_address(ip).build().unwrap()
}
