//! Several `riff up` replicas over the shared backends (PostgreSQL, Redis, NATS JetStream)
//! answering as one: the music journey with each step on another replica, and a deploy to one
//! replica that every replica — and one started later — serves.
//!
//! These tests need the three servers on loopback; without them they skip (and fail under
//! `CI=true`).

use std::time::{Duration, Instant};

use crate::common::backends::{self, AppBackends};
use crate::common::*;
use reqwest::Method;
use serde_json::json;

/// Replicas of one app on one set of shared backends.
struct Cluster {
    replicas: Vec<Riff>,
    manifest: String,
    config: String,
    env: Vec<(String, String)>,
}

impl Cluster {
    /// `n` replicas of `manifest`, or `None` (skipped) when the servers are not running.
    fn start(test: &str, manifest: &str, n: usize, env: &[(&str, &str)]) -> Option<Cluster> {
        let backends = AppBackends::create(backends::servers(test)?);
        let config = format!(
            "{}\n[deployments]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"{}:deployments:\"\n",
            backends.runtime_config(manifest),
            backends.servers.redis,
            backends.name
        );
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut cluster = Cluster { replicas: Vec::new(), manifest: manifest.to_string(), config, env };
        for _ in 0..n {
            cluster.add();
        }
        Some(cluster)
    }

    /// Start one more replica.
    fn add(&mut self) -> &Riff {
        let dir = app_dir(&self.manifest);
        let config = dir.path().join("runtime-config.toml");
        std::fs::write(&config, &self.config).unwrap();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let riff = Riff::start_in(dir, &["--runtime-config-file", config.to_str().unwrap()], &env);
        self.replicas.push(riff);
        self.replicas.last().unwrap()
    }
}

/// A listener logged in on one replica, sending to another.
fn on(riff: &Riff, token: &str) -> Listener {
    Listener::with_token(riff, token)
}

#[test]
fn the_journey_with_every_step_on_another_replica() {
    let env = [("RIFF_VARIABLE_CATALOG_ADMIN_TOKEN", "admin-secret"), ("RIFF_VARIABLE_AUTH_SIGNING_KEY", "")];
    let Some(cluster) = Cluster::start("cluster::journey", &repo_manifest(""), 3, &env) else { return };
    let [one, two, three] = [&cluster.replicas[0], &cluster.replicas[1], &cluster.replicas[2]];

    // Register on 1, log in on 2: the account and the signing key are shared.
    let creds = json!({ "username": "roaming", "password": PASSWORD });
    let (status, body) = post_json(&one.url("/v1/auth/register"), &creds);
    assert_eq!(status, 201, "{body}");
    let (status, tokens) = post_json(&two.url("/v1/auth/login"), &creds);
    assert_eq!(status, 200, "a user registered on replica 1 logs in on replica 2: {tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_string();

    // Failed logins spread over the three replicas add up: the lockout holds on all of them.
    let (wrong, right) = crate::auth::within_one_attempt_window(|run| {
        let name = format!("guessed{run}");
        let creds = json!({ "username": name, "password": PASSWORD });
        assert_eq!(post_json(&one.url("/v1/auth/register"), &creds).0, 201);
        let guess = json!({ "username": name, "password": "wrong password" });
        let wrong: Vec<u16> =
            (0..5).map(|n| post_json(&cluster.replicas[n % 3].url("/v1/auth/login"), &guess).0).collect();
        (wrong, post_json(&two.url("/v1/auth/login"), &creds).0)
    });
    assert_eq!(wrong, [401; 5]);
    assert_eq!(right, 429, "five failed logins over three replicas hold the sixth back on any of them");

    // A playlist made on 3, read on 1.
    let (status, playlist) =
        on(three, &token).send("POST", "/v1/me/playlists", Some(json!({ "name": "Everywhere" })));
    assert_eq!(status, 201, "a token from replica 2 works on replica 3: {playlist}");
    let pid = playlist["id"].as_str().unwrap();
    let (status, read) = on(one, &token).send("GET", &format!("/v1/playlists/{pid}"), None);
    assert_eq!((status, read["name"].as_str()), (200, Some("Everywhere")), "{read}");

    // Stream on 1.
    let (status, tracks) = get_json(&one.url("/v1/artists/ar02/top-tracks"));
    assert_eq!(status, 200, "{tracks}");
    let track = tracks["tracks"][0]["id"].as_str().expect("a top track").to_string();
    let part = on(one, &token)
        .request("GET", &format!("/v1/tracks/{track}/stream"))
        .header("range", "bytes=0-99")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);

    // Subscribe on 2 with an Idempotency-Key, retried on 3: one subscription, one answer.
    let premium = json!({ "plan": "premium", "payment_method": "pm_card_visa" });
    let first = on(two, &token).send_keyed("POST", "/v1/me/subscription", Some(premium.clone()), Some("k1"));
    let retry = on(three, &token).send_keyed("POST", "/v1/me/subscription", Some(premium), Some("k1"));
    assert_eq!(first.0, 201, "{first:?}");
    assert_eq!(first, retry, "the retry on another replica gets the first answer");
    let (status, invoices) = on(one, &token).send("GET", "/v1/me/invoices", None);
    assert_eq!(status, 200, "{invoices}");
    let paid = invoices["items"].as_array().unwrap().iter().filter(|i| i["amount_paid"] != 0).count();
    assert_eq!(paid, 1, "exactly one charge: {invoices}");

    // An artist imported through 1 is found on every replica within a second of each other.
    let new = json!({
        "genres": ["rock"],
        "artists": [{ "id": "arCLU", "name": "Cumulus Choir", "genres": ["rock"] }],
        "albums": [{ "id": "alCLU", "name": "Nimbus", "artist_id": "arCLU", "release_year": 2025 }],
        "tracks": [{ "id": "trCLU", "name": "Stratus", "album_id": "alCLU", "artist_id": "arCLU",
                     "genre": "rock", "track_number": 1, "duration_ms": 1000 }]
    });
    let imported = client()
        .post(one.url("/v1/admin/catalog/import"))
        .bearer_auth("admin-secret")
        .json(&new)
        .send()
        .unwrap();
    assert_eq!(imported.status().as_u16(), 200, "{}", imported.text().unwrap());
    let imported_at = Instant::now();
    for (n, replica) in cluster.replicas.iter().enumerate() {
        eventually(
            &format!("replica {} to find the imported artist", n + 1),
            Duration::from_secs(20),
            String::new,
            || {
                let (status, body) = get_json(&replica.url("/v1/search?q=cumulus%20choir&type=artist"));
                status == 200 && body["artists"]["items"][0]["id"] == "arCLU"
            },
        );
        // Printed, not asserted (shared machines are noisy); the issue's bound is 1 s.
        eprintln!(
            "replica {} found the artist imported through replica 1 {:?} after the import",
            n + 1,
            imported_at.elapsed()
        );
    }

    // Recommendations on 3 (after plays on 1 and 2).
    for (replica, t) in [(one, &track), (two, &track)] {
        assert_eq!(
            on(replica, &token).send("POST", "/v1/me/player/played", Some(json!({ "track_id": t }))).0,
            204
        );
    }
    let (status, recs) = on(three, &token).send("GET", "/v1/me/recommendations?limit=5", None);
    assert_eq!(status, 200, "{recs}");
    assert!(!recs["tracks"].as_array().unwrap().is_empty(), "{recs}");
    let (status, recent) = on(three, &token).send("GET", "/v1/me/player/recently-played", None);
    assert_eq!(
        (status, recent["items"].as_array().map(Vec::len)),
        (200, Some(2)),
        "plays on 1 and 2 seen on 3: {recent}"
    );

    // Log out on 1: refused on 2 and 3 at once.
    let out = client().post(one.url("/v1/auth/logout")).bearer_auth(&token).send().unwrap();
    assert_eq!(out.status().as_u16(), 204);
    for replica in [two, three] {
        let (status, body) = on(replica, &token).send("GET", "/v1/me", None);
        assert_eq!(status, 401, "a token revoked on replica 1: {body}");
    }
}

const SWAP_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "cluster-swap"

[[trigger.http]]
route = "/swap/..."
component = "svc"
[component.svc]
source = "{wasm}/swap_v1.wasm"
key_value_stores = ["default"]
"#;

fn text_of(riff: &Riff, path: &str) -> String {
    client().get(riff.url(path)).send().map(|r| r.text().unwrap_or_default()).unwrap_or_default()
}

/// Wait (up to 5 s, the issue's bound) until every replica answers `want`; how long it took.
fn all_serve(replicas: &[Riff], want: &str) -> Duration {
    let started = Instant::now();
    for (n, replica) in replicas.iter().enumerate() {
        eventually(
            &format!("replica {} to serve {want}", n + 1),
            Duration::from_secs(5),
            || text_of(replica, "/swap/x"),
            || text_of(replica, "/swap/x") == want,
        );
    }
    started.elapsed()
}

#[test]
fn a_deploy_to_one_replica_is_served_by_all_and_by_later_ones() {
    let Some(mut cluster) = Cluster::start("cluster::deploy", SWAP_APP, 3, &[]) else { return };
    let wasm = |name: &str| std::fs::read(wasm_dir().join(name)).unwrap();
    all_serve(&cluster.replicas, "swap-v1");

    // A refused artifact changes no replica.
    let (status, refusal) = cluster.replicas[0].deploy("svc", b"not a component");
    assert_eq!(status, 422, "{refusal}");
    std::thread::sleep(backends_follow_period() * 2);
    all_serve(&cluster.replicas, "swap-v1");

    let (status, report) = cluster.replicas[0].deploy("svc", &wasm("swap_v2.wasm"));
    assert_eq!(status, 200, "{report}");
    let took = all_serve(&cluster.replicas, "swap-v2");
    eprintln!("every replica served the deployed version {took:?} after the deploy returned");

    // A replica started now serves the deployed version, not its manifest's file.
    let late = cluster.add();
    assert_eq!(text_of(late, "/swap/x"), "swap-v2", "a later replica serves the deployed version");
    assert_eq!(late.component_status("svc")["version"], report["version"]);

    // Rollback on replica 2 is followed everywhere, the late replica included.
    let (status, rolled) = cluster.replicas[1].admin_call(Method::POST, "/v1/components/svc/rollback", None);
    assert_eq!(status, 200, "{rolled}");
    all_serve(&cluster.replicas, "swap-v1");
}

/// How often replicas read the deployment record.
fn backends_follow_period() -> Duration {
    riff::reload::cluster::FOLLOW_EVERY
}

/// haproxy in front of replicas: round robin, health checks on riff's health endpoint, and a
/// failed connection retried on another replica (what any load balancer in front of riff does).
struct Haproxy {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(test: &str, replicas: &[Riff]) -> Option<Haproxy> {
        let Ok(path) = which("haproxy") else {
            riff_core::servers::skip(test, "haproxy is not installed (scripts/services.sh installs it)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let servers: String = replicas
            .iter()
            .enumerate()
            .map(|(n, r)| format!("  server r{n} {} check\n", r.base.trim_start_matches("http://")))
            .collect();
        let config = format!(
            "global\n  maxconn 2000\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
             \x20 retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response response-timeout\n\
             \x20 option http-server-close\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend riff\n\
             backend riff\n  balance roundrobin\n  option httpchk GET /.well-known/spin/health\n\
             \x20 default-server inter 200ms fall 1 rise 2\n{servers}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let child = std::process::Command::new(path)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting haproxy");
        let base = format!("http://127.0.0.1:{port}");
        eventually("haproxy to serve", Duration::from_secs(10), String::new, || {
            client().get(format!("{base}/v1/genres")).send().is_ok_and(|r| r.status().is_success())
        });
        Some(Haproxy { child, base, _dir: dir })
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
        .or_else(|| ["/usr/sbin", "/sbin"].iter().map(|d| Path::new(d).join(program)).find(|p| p.is_file()))
        .ok_or(())
}

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// What a steady load saw: failed requests, and the playlists whose creation was acknowledged.
#[derive(Default)]
struct Seen {
    ok: usize,
    failures: Vec<String>,
    acknowledged: Vec<String>,
}

/// Run `workers` clients against `base` (a read, then a write, every 20 ms each) while `during`
/// runs; what they saw.
fn under_load(base: &str, token: &str, workers: usize, during: impl FnOnce()) -> Seen {
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());
    std::thread::scope(|s| {
        for w in 0..workers {
            let (stop, seen) = (&stop, &seen);
            s.spawn(move || {
                let http = client();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let read = http.get(format!("{base}/v1/artists/ar02")).send();
                    let name = format!("w{w}-{n}");
                    let write = http
                        .post(format!("{base}/v1/me/playlists"))
                        .bearer_auth(token)
                        .json(&json!({ "name": name }))
                        .send();
                    let mut seen = seen.lock().unwrap();
                    match read {
                        Ok(r) if r.status().is_success() => seen.ok += 1,
                        Ok(r) => seen.failures.push(format!("GET {}", r.status())),
                        Err(e) => seen.failures.push(format!("GET {e}")),
                    }
                    match write {
                        Ok(r) if r.status().as_u16() == 201 => {
                            seen.ok += 1;
                            let body: serde_json::Value = r.json().unwrap_or_default();
                            seen.acknowledged.push(body["id"].as_str().unwrap_or_default().to_string());
                        }
                        Ok(r) => seen.failures.push(format!("POST {}", r.status())),
                        Err(e) => seen.failures.push(format!("POST {e}")),
                    }
                    drop(seen);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        std::thread::sleep(Duration::from_secs(1));
        during();
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
    });
    seen.into_inner().unwrap()
}

/// Every playlist id the listener owns, read through `riff`.
fn playlists(riff: &Riff, token: &str) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    let mut offset = 0;
    loop {
        let (status, page) =
            on(riff, token).send("GET", &format!("/v1/me/playlists?limit=50&offset={offset}"), None);
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        ids.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_string()));
        offset += items.len();
        if items.is_empty() || offset as u64 >= page["total"].as_u64().unwrap() {
            return ids;
        }
    }
}

#[test]
fn replicas_leave_a_load_balancer_without_losing_requests_or_writes() {
    const WORKERS: usize = 4;
    let Some(mut cluster) = Cluster::start("cluster::failover", &repo_manifest(""), 3, &[]) else { return };
    let Some(proxy) = Haproxy::start("cluster::failover", &cluster.replicas) else { return };
    let creds = json!({ "username": "steady", "password": PASSWORD });
    assert_eq!(post_json(&format!("{}/v1/auth/register", proxy.base), &creds).0, 201);
    let (status, tokens) = post_json(&format!("{}/v1/auth/login", proxy.base), &creds);
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_string();

    // SIGTERM: the replica stops accepting and finishes what it has; nothing fails.
    let terminated = under_load(&proxy.base, &token, WORKERS, || cluster.replicas[2].terminate());
    assert!(terminated.ok > 0, "the load ran");
    assert_eq!(
        terminated.failures,
        Vec::<String>::new(),
        "no request fails when a replica is stopped with SIGTERM"
    );
    assert!(
        cluster.replicas[2].wait_exit(Duration::from_secs(30)).is_some(),
        "the terminated replica exited"
    );

    // SIGKILL: at most the requests that replica had in flight fail (each worker has one).
    let pid = cluster.replicas[1].pid().to_string();
    let killed = under_load(&proxy.base, &token, WORKERS, || {
        assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    });
    assert!(killed.ok > 0, "the load ran");
    assert!(
        killed.failures.len() <= WORKERS,
        "only requests in flight on the killed replica may fail: {:?}",
        killed.failures
    );
    eprintln!(
        "SIGTERM: {} ok, {} failed; SIGKILL: {} ok, {} failed",
        terminated.ok,
        terminated.failures.len(),
        killed.ok,
        killed.failures.len()
    );

    // Every acknowledged write is there, read from the surviving replica.
    let stored = playlists(&cluster.replicas[0], &token);
    for id in terminated.acknowledged.iter().chain(&killed.acknowledged) {
        assert!(stored.contains(id), "acknowledged playlist {id} is stored");
    }
    cluster.replicas.truncate(1);
}

/// `[[trigger.cron]]` on two replicas: every tick is claimed in the shared `[deployments]` store
/// and runs on one replica only.
#[test]
fn a_cron_tick_runs_once_across_replicas() {
    let Some(cluster) = Cluster::start("cluster cron", crate::cron::APP, 2, &[]) else { return };
    let first = &cluster.replicas[0];
    eventually(
        "four ticks",
        Duration::from_secs(30),
        || format!("{:?}", crate::cron::ticks(first)),
        || crate::cron::ticks(first).len() >= 4,
    );
    let seen = crate::cron::ticks(first);
    assert!(seen.iter().all(|(_, runs)| runs == "1"), "no tick ran twice: {seen:?}");
    assert_eq!(seen, crate::cron::ticks(&cluster.replicas[1]), "one store, one record");
    let runs: Vec<usize> = cluster.replicas.iter().map(|r| r.log().matches("(run ").count()).collect();
    eprintln!("ticks run per replica: {runs:?}");
}
