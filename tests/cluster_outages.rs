//! Redis or NATS restarted under load. Two replicas of the repository app share the machine's
//! PostgreSQL and a Redis and a NATS JetStream server of the test's own (free loopback ports,
//! persistence on: Redis's append-only file synced on every write, JetStream's file store), so
//! the test may kill them without disturbing other tests.
//!
//! While listeners register (each a write to auth's key-value store, on Redis) and play tracks
//! (each play announced on the `plays` topic), and a probe publishes plays straight to the queue,
//! the test SIGKILLs one server and starts it again a second later on the same port and data
//! directory. Requests fail meanwhile (counted and printed). What must hold: every kind of
//! request succeeds again within 5 s of the server accepting connections, and nothing
//! acknowledged is lost — every registration answered 201 logs in on the other replica, and
//! every message the queue acknowledged is handled by both `plays` consumers (recommend and
//! search).
//!
//! A play is answered 204 even when its announcement could not be published: the profile keeps
//! the listener's history and logs "play recorded, not announced" (the announcement only feeds
//! recommendations and popularity). So a 204 alone does not say the queue took the message. The
//! probe's publishes do (200 with the message id once the server stored it): each of those must
//! be in both consumers' record of handled messages; and recommend must count at least every
//! play answered 204 that was not logged as unannounced.
//!
//! These tests need the shared servers (PostgreSQL is used) and the `redis-server` and
//! `nats-server` binaries; without them they skip (and fail under `CI=true`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::backends::{self, AppBackends};
use crate::common::*;

/// The requirement: replicas serve again within this long of the server coming back.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// How long the killed server stays down.
const DOWN_FOR: Duration = Duration::from_secs(1);
/// The pause between two requests of one load thread.
const PACE: Duration = Duration::from_millis(50);
/// Generous limit for what must happen eventually (a message leased when the server died is
/// delivered again only when its lease passes).
const EVENTUALLY: Duration = Duration::from_secs(60);

#[test]
fn redis_restarted_under_load_loses_no_acknowledged_write() {
    restarted_under_load("cluster_outages::redis", Target::Redis);
}

#[test]
fn nats_restarted_under_load_loses_no_acknowledged_message() {
    restarted_under_load("cluster_outages::nats", Target::Nats);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Redis,
    Nats,
}

/// A Redis or NATS server of this test's own, on a free loopback port with its data in a
/// temporary directory; killed when dropped.
struct PrivateServer {
    target: Target,
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateServer {
    /// Start one, or `None` (skipped) when its binary is not installed.
    fn start(test: &str, target: Target) -> Option<PrivateServer> {
        let (program, dirs): (&str, &[&str]) = match target {
            Target::Redis => ("redis-server", &["/usr/bin", "/usr/local/bin"]),
            Target::Nats => ("nats-server", &["/usr/sbin", "/usr/local/bin", "/usr/bin"]),
        };
        let Some(binary) = find_program(program, dirs) else {
            riff_core::servers::skip(test, &format!("{program} is not installed"));
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server =
            PrivateServer { target, binary, port, dir: tempfile::tempdir().unwrap(), child: None };
        server.spawn();
        Some(server)
    }

    fn url(&self) -> String {
        match self.target {
            Target::Redis => format!("redis://127.0.0.1:{}", self.port),
            Target::Nats => format!("nats://127.0.0.1:{}", self.port),
        }
    }

    /// Start the server on its port and directory; the moment it accepted a connection.
    fn spawn(&mut self) -> Instant {
        let data = self.dir.path();
        let mut cmd = Command::new(&self.binary);
        match self.target {
            Target::Redis => cmd
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(data),
            Target::Nats => {
                cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"]).arg(data)
            }
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return Instant::now();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{:?} exited ({status}) on port {}:\n{}", self.target, self.port, self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{:?} did not accept connections on {}:\n{}",
                self.target,
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL: no chance to say goodbye to its clients or to save anything more.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_program(program: &str, dirs: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain(dirs.iter().map(PathBuf::from)).map(|d| d.join(program)).find(|p| p.is_file())
}

/// The repository app, with a probe that publishes whatever it is sent on `plays` and answers
/// 200 with the message id only when the queue took it.
fn app() -> String {
    repo_manifest(
        r#"
[[trigger.http]]
route = "/sub/..."
component = "probe"
[component.probe]
source = "{wasm}/subscriber.wasm"
[component.probe.tool.riff]
publish_topics = ["plays"]
"#,
    )
}

/// What the load does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    /// `POST /v1/auth/register`: a write to auth's store on Redis (201).
    Register,
    /// `POST /v1/me/player/played`: the token checked against Redis, the play stored and
    /// announced on the queue (204).
    Play,
    /// The probe's publish on `plays` (200 with the message id).
    Publish,
}

const KINDS: [Kind; 3] = [Kind::Register, Kind::Play, Kind::Publish];

struct Outcome {
    kind: Kind,
    sent: Instant,
    done: Instant,
    ok: bool,
    detail: String,
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    outcomes: Vec<Outcome>,
    /// Usernames whose registration was answered 201, with the replica that answered.
    registered: Vec<(String, usize)>,
    /// Plays answered 204.
    plays: u64,
    /// Message ids the queue acknowledged to the probe.
    published: Vec<String>,
}

/// Sets the flag when dropped, so the load threads stop even when the test panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A request's outcome: whether it got `want`, and what it got.
fn outcome(sent: reqwest::Result<reqwest::blocking::Response>, want: u16) -> (bool, String, String) {
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().unwrap_or_default();
            let short: String = body.chars().take(160).collect();
            (status == want, format!("{status} {short}"), body)
        }
        Err(e) => (false, format!("no answer: {e}"), String::new()),
    }
}

fn restarted_under_load(test: &str, target: Target) {
    let Some(mut redis) = PrivateServer::start(test, Target::Redis) else { return };
    let Some(mut nats) = PrivateServer::start(test, Target::Nats) else { return };
    let Some(servers) = backends::servers(test) else { return };
    let backends = AppBackends::create(servers);
    let manifest = app();
    let config = backends.runtime_config_on(&manifest, &redis.url(), &nats.url());
    let replicas: Vec<Riff> = (0..2)
        .map(|_| {
            let dir = app_dir(&manifest);
            let path = dir.path().join("runtime-config.toml");
            std::fs::write(&path, &config).unwrap();
            Riff::start_in(dir, &["--runtime-config-file", path.to_str().unwrap()], &[])
        })
        .collect();
    let listeners: Vec<Listener> =
        (0..2).map(|n| Listener::register(&replicas[n], &format!("player{n}"))).collect();
    let tag = match target {
        Target::Redis => "r",
        Target::Nats => "n",
    };

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());
    let record = |kind: Kind, sent: Instant, (ok, detail, _): &(bool, String, String)| {
        let outcome = Outcome { kind, sent, done: Instant::now(), ok: *ok, detail: detail.clone() };
        seen.lock().unwrap().outcomes.push(outcome);
    };
    let server = match target {
        Target::Redis => &mut redis,
        Target::Nats => &mut nats,
    };
    let (killed, back) = std::thread::scope(|s| {
        let _stop_on_drop = StopOnDrop(&stop);
        let (stop, seen, record, replicas) = (&stop, &seen, &record, &replicas);
        // Two threads registering new users, alternating replicas.
        for w in 0..2 {
            s.spawn(move || {
                let http = client();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let replica = (w + n) % 2;
                    let name = format!("{tag}{w}u{n}");
                    let creds = json!({ "username": name, "password": PASSWORD });
                    let sent = Instant::now();
                    let got = outcome(
                        http.post(replicas[replica].url("/v1/auth/register")).json(&creds).send(),
                        201,
                    );
                    record(Kind::Register, sent, &got);
                    if got.0 {
                        seen.lock().unwrap().registered.push((name, replica));
                    }
                    std::thread::sleep(PACE);
                }
            });
        }
        // Two listeners playing, alternating replicas.
        for listener in &listeners {
            s.spawn(move || {
                let http = client();
                for n in 0usize.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let track = format!("tr{:02}", n % 12 + 1);
                    let sent = Instant::now();
                    let request = http
                        .post(replicas[n % 2].url("/v1/me/player/played"))
                        .bearer_auth(&listener.token)
                        .json(&json!({ "track_id": track }));
                    let got = outcome(request.send(), 204);
                    record(Kind::Play, sent, &got);
                    if got.0 {
                        seen.lock().unwrap().plays += 1;
                    }
                    std::thread::sleep(PACE);
                }
            });
        }
        // Two probes publishing plays straight to the queue, alternating replicas.
        for p in 0..2 {
            s.spawn(move || {
                let http = client();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let play = json!({
                        "user_id": format!("probe{p}"), "track_id": "tr06", "artist_id": "ar02", "played_at": n
                    });
                    let sent = Instant::now();
                    let url = replicas[(p + n) % 2].url("/sub/publish/plays");
                    let got = outcome(http.post(url).json(&play).send(), 200);
                    record(Kind::Publish, sent, &got);
                    if got.0 {
                        seen.lock().unwrap().published.push(got.2.trim().to_string());
                    }
                    std::thread::sleep(PACE);
                }
            });
        }

        // Every kind works before the outage.
        eventually("every kind of request to succeed before the outage", EVENTUALLY, String::new, || {
            let seen = seen.lock().unwrap();
            KINDS.iter().all(|k| seen.outcomes.iter().any(|o| o.kind == *k && o.ok))
        });
        std::thread::sleep(Duration::from_secs(1));

        let killed = Instant::now();
        server.kill();
        std::thread::sleep(DOWN_FOR);
        let back = server.spawn();

        // Keep the load on until every kind succeeded again (or long past the bound: the
        // assertion below tells), then a little longer.
        let recovered = || {
            let seen = seen.lock().unwrap();
            KINDS.iter().all(|k| recovery(&seen.outcomes, *k, killed, back).is_some())
        };
        let deadline = Instant::now() + EVENTUALLY;
        while !recovered() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        (killed, back)
    });
    let seen = seen.into_inner().unwrap();

    // What failed, by kind and answer.
    let mut failures: BTreeMap<(Kind, String), usize> = BTreeMap::new();
    for o in seen.outcomes.iter().filter(|o| !o.ok) {
        *failures.entry((o.kind, o.detail.clone())).or_default() += 1;
    }
    let counted =
        |kind: Kind, ok: bool| seen.outcomes.iter().filter(|o| o.kind == kind && o.ok == ok).count();
    for kind in KINDS {
        eprintln!(
            "{target:?} outage: {kind:?}: {} succeeded, {} failed",
            counted(kind, true),
            counted(kind, false)
        );
    }
    for ((kind, detail), n) in &failures {
        eprintln!("  {n} × {kind:?}: {detail}");
    }
    for o in seen.outcomes.iter().filter(|o| !o.ok && o.done < killed) {
        eprintln!("  (failed before the kill: {:?} {})", o.kind, o.detail);
    }
    // When requests failed, and which took long, in seconds from the kill.
    let at = |t: Instant| t.saturating_duration_since(killed).as_secs_f64();
    eprintln!("{target:?} outage: killed at +0, accepting connections again at +{:.2}s", at(back));
    for kind in KINDS {
        let of_kind = || seen.outcomes.iter().filter(move |o| o.kind == kind && o.done >= killed);
        let failed: Vec<&Outcome> = of_kind().filter(|o| !o.ok).collect();
        if let (Some(first), Some(last)) =
            (failed.iter().min_by_key(|o| o.sent), failed.iter().max_by_key(|o| o.done))
        {
            eprintln!(
                "  {kind:?}: failures from +{:.2}s (sent) to +{:.2}s (answered)",
                at(first.sent),
                at(last.done)
            );
        }
        for o in of_kind().filter(|o| o.ok && o.done - o.sent > Duration::from_secs(1)) {
            eprintln!("  {kind:?}: sent +{:.2}s, answered ok +{:.2}s", at(o.sent), at(o.done));
        }
    }
    for (n, replica) in replicas.iter().enumerate() {
        let log = replica.log();
        for line in
            log.lines().filter(|l| l.contains("queue: connected") || l.contains("queue: disconnected"))
        {
            eprintln!("  replica {n}: {line}");
        }
    }

    // Recovery: the first request of each kind sent after the kill that succeeded once the
    // server was back.
    let recoveries: Vec<(Kind, Option<Duration>)> =
        KINDS.iter().map(|k| (*k, recovery(&seen.outcomes, *k, killed, back))).collect();
    for (kind, took) in &recoveries {
        eprintln!(
            "{target:?} outage: {kind:?} succeeded again {took:?} after the server accepted connections"
        );
    }
    for (kind, took) in &recoveries {
        let took =
            took.unwrap_or_else(|| panic!("{kind:?} never succeeded again after the {target:?} restart"));
        assert!(
            took <= RECOVERY_BOUND,
            "{kind:?} succeeded again only {took:?} after {target:?} came back (bound {RECOVERY_BOUND:?})"
        );
    }

    // No acknowledged write lost: every 201 logs in on the other replica.
    let checked = Instant::now();
    for (name, replica) in &seen.registered {
        let other = &replicas[1 - replica];
        let creds = json!({ "username": name, "password": PASSWORD });
        let got = outcome(client().post(other.url("/v1/auth/login")).json(&creds).send(), 200);
        assert!(
            got.0,
            "{name}, registered (201) on replica {replica}, cannot log in on the other: {}",
            got.1
        );
    }
    eprintln!("{} registered users log in on the other replica", seen.registered.len());

    // No acknowledged message lost: both consumers handled every message the probe got an id
    // for, and recommend counts every play that was announced.
    let published: HashSet<&str> = seen.published.iter().map(String::as_str).collect();
    assert_eq!(published.len(), seen.published.len(), "message ids are distinct");
    assert!(published.iter().all(|id| id.starts_with("msg_")), "{published:?}");
    let unannounced: usize =
        replicas.iter().map(|r| r.log().matches("play recorded, not announced").count()).sum();
    let announced = seen.plays - unannounced as u64;
    let want = announced + seen.published.len() as u64;
    let database = backends.database_url();
    for consumer in ["recommend", "search"] {
        eventually(
            &format!("{consumer} to handle every acknowledged message"),
            EVENTUALLY,
            || {
                let handled = handled_messages(&database, &backends.schema(consumer));
                let missing: Vec<&&str> = published.iter().filter(|id| !handled.contains(**id)).collect();
                format!("missing {missing:?}\n{}\n{}", replicas[0].log(), replicas[1].log())
            },
            || {
                let handled = handled_messages(&database, &backends.schema(consumer));
                published.iter().all(|id| handled.contains(*id))
            },
        );
    }
    let counted_plays = std::cell::Cell::new(0);
    eventually(
        "recommend to count every announced play",
        EVENTUALLY,
        || format!("{} plays counted, {want} wanted", counted_plays.get()),
        || {
            let (status, body) = get_json(&replicas[0].url("/v1/recommendations/status"));
            assert_eq!(status, 200, "{body}");
            counted_plays.set(body["plays"].as_u64().unwrap_or(0));
            counted_plays.get() >= want
        },
    );
    let counted_plays = counted_plays.get();
    eprintln!(
        "{target:?} outage: {} plays answered 204 ({unannounced} logged as not announced), {} published \
         with an id; recommend counts {counted_plays} plays; every acknowledged message handled by both \
         consumers {:?} after the load stopped",
        seen.plays,
        seen.published.len(),
        checked.elapsed()
    );
    assert!(
        counted_plays
            <= seen.plays + counted(Kind::Publish, true) as u64 + counted(Kind::Publish, false) as u64,
        "no play counted twice"
    );
}

/// How long after `back` the first request of `kind` sent after `killed` succeeded (a request
/// sent after the kill can only have succeeded on the restarted server).
fn recovery(outcomes: &[Outcome], kind: Kind, killed: Instant, back: Instant) -> Option<Duration> {
    outcomes
        .iter()
        .filter(|o| o.kind == kind && o.ok && o.sent >= killed)
        .map(|o| o.done.saturating_duration_since(back))
        .min()
}

/// The message ids `consumer` recorded as handled (its `seen` table, in its PostgreSQL schema).
fn handled_messages(database: &str, schema: &str) -> HashSet<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(database).await.expect("connecting to PostgreSQL");
        let query = format!("SELECT message_id FROM \"{schema}\".seen");
        let ids: Vec<String> = sqlx::query_scalar(&query).fetch_all(&mut db).await.unwrap_or_default();
        ids.into_iter().collect()
    })
}
