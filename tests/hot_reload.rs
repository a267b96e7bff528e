//! Hot reload through the admin API: swapping one component under load, a long request
//! finishing on the old version, refusal of bad artifacts, rollback, typed calls following a
//! swap, manifest reloads, the admin token, and the `riff deploy` client.

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::Method;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "swap"

[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "{wasm}/hello.wasm"

[[trigger.http]]
route = "/swap/..."
component = "svc"
[component.svc]
source = "{wasm}/swap_v1.wasm"
key_value_stores = ["default"]

[[trigger.http]]
route = "/warm/..."
component = "warm"
[component.warm]
source = "{wasm}/swap_v1.wasm"
[component.warm.tool.riff]
instance_reuse = { max_requests = 1000, idle_timeout = "1m" }

[[trigger.http]]
route = "/probe/..."
component = "probe"
[component.probe]
source = "{wasm}/probe.wasm"
key_value_stores = ["default"]

[[trigger.http]]
route = "/verify/..."
component = "caller"
[component.caller]
source = "{wasm}/auth_caller.wasm"
[component.caller.dependencies]
"riff:music/auth" = { component = "authsvc" }

[component.authsvc]
source = "{wasm}/auth_stub.wasm"
key_value_stores = ["auth"]
"#;

fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(wasm_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The auth stub answering `name` (three letters) instead of "ada": the same code with the bytes
/// after its `riff-stub-name=` marker patched, so a distinct version that answers differently.
fn stub_named(name: &str) -> Vec<u8> {
    assert_eq!(name.len(), 3);
    let mut bytes = wasm("auth_stub.wasm");
    let marker = b"riff-stub-name=ada";
    let at: Vec<usize> =
        bytes.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the name marker appears once in auth_stub.wasm");
    bytes[at[0] + 15..at[0] + 18].copy_from_slice(name.as_bytes());
    bytes
}

/// Put both swap versions of `component` through the compiled cache, leaving v1 serving.
fn warm_cache_of(riff: &Riff, component: &str) {
    for name in ["swap_v2.wasm", "swap_v1.wasm"] {
        let (status, body) = riff.deploy(component, &wasm(name));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["swapped"], true, "{body}");
    }
}

fn warm_cache(riff: &Riff) {
    warm_cache_of(riff, "svc");
}

/// Set `key` in the `default` key-value store (through the probe).
fn kv_set(riff: &Riff, key: &str) {
    let (status, body) = get_json(&riff.url(&format!("/probe/kv?op=set&key={key}&value=1")));
    assert_eq!((status, body["result"].as_str()), (200, Some("ok")), "{body}");
}

/// `key`'s value in the `default` key-value store, `None` when unset.
fn kv_get(riff: &Riff, key: &str) -> Option<String> {
    let (status, body) = get_json(&riff.url(&format!("/probe/kv?op=get&key={key}")));
    assert_eq!(status, 200, "{body}");
    assert!(body.get("result").is_some(), "{body}");
    body["result"].as_str().map(str::to_string)
}

/// One request of the load harness, as its client saw it.
struct Sample {
    path: &'static str,
    started: Duration,
    ended: Duration,
    status: u16,
    body: String,
    /// `x-served` (the swap components' count of requests served by the answering instance).
    served: u32,
}

/// One swap: when it was issued and returned, and the answer the swapped path gives after it.
struct Swap {
    issued: Duration,
    returned: Duration,
    answer: String,
}

/// Load around swaps: `clients` threads send paced requests (about 100/s each) round-robin over
/// `paths`, recording every status and answer, while the test swaps the component behind the
/// paths starting with `watched`. Before each swap (and at the end) the harness waits until
/// `per_window` requests to `watched` have started after the previous swap returned and
/// finished, so every swap is observed.
struct Load<'a> {
    riff: &'a Riff,
    paths: &'static [&'static str],
    clients: usize,
    watched: &'static str,
    per_window: usize,
}

struct LoadRun {
    watched: &'static str,
    per_window: usize,
    samples: Vec<Sample>,
    /// The first entry is the version serving when the load started (issued and returned at 0).
    swaps: Vec<Swap>,
    elapsed: Duration,
}

/// Sets the flag on drop, so client threads stop even when a swap's assertion panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Load<'_> {
    /// Run `rounds` swaps under load; `swap(round)` performs one (checking its result) and
    /// returns the answer the watched paths give from then on. `initial` is the answer before.
    fn run(&self, initial: &str, rounds: usize, mut swap: impl FnMut(usize) -> String) -> LoadRun {
        let epoch = Instant::now();
        let stop = AtomicBool::new(false);
        let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
        let swaps = std::thread::scope(|s| {
            let _stop = StopOnDrop(&stop);
            for worker in 0..self.clients {
                let (stop, samples, base, paths) = (&stop, &samples, self.riff.base.clone(), self.paths);
                s.spawn(move || {
                    let client = client();
                    let mut next = Instant::now();
                    let mut i = worker;
                    while !stop.load(Ordering::Relaxed) {
                        let path = paths[i % paths.len()];
                        i += 1;
                        let started = epoch.elapsed();
                        let (status, served, body) = match client.get(format!("{base}{path}")).send() {
                            Ok(r) => {
                                let served = r
                                    .headers()
                                    .get("x-served")
                                    .and_then(|v| v.to_str().ok()?.parse().ok())
                                    .unwrap_or(0);
                                (r.status().as_u16(), served, r.text().unwrap_or_default())
                            }
                            Err(e) => (0, 0, e.to_string()),
                        };
                        let ended = epoch.elapsed();
                        samples.lock().unwrap().push(Sample { path, started, ended, status, body, served });
                        next += Duration::from_millis(10);
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                });
            }
            let observed = |after: Duration, what: &str| {
                eventually(
                    what,
                    Duration::from_secs(60),
                    || self.riff.log(),
                    || {
                        let samples = samples.lock().unwrap();
                        let seen =
                            samples.iter().filter(|s| s.path.starts_with(self.watched) && s.started > after);
                        seen.count() >= self.per_window
                    },
                )
            };
            let mut swaps =
                vec![Swap { issued: Duration::ZERO, returned: Duration::ZERO, answer: initial.into() }];
            observed(Duration::ZERO, "requests before the first swap");
            for round in 0..rounds {
                let issued = epoch.elapsed();
                let answer = swap(round);
                let returned = epoch.elapsed();
                swaps.push(Swap { issued, returned, answer });
                observed(returned, &format!("requests after swap {round}"));
            }
            swaps
        });
        LoadRun {
            watched: self.watched,
            per_window: self.per_window,
            samples: samples.into_inner().unwrap(),
            swaps,
            elapsed: epoch.elapsed(),
        }
    }
}

impl LoadRun {
    /// No request failed; every other path gave its one answer (`others`); every request to the
    /// watched paths gave one of the swapped answers, and the one the latest swap installed when
    /// it ran wholly between that swap's return and the next swap; every answer was served.
    fn check(&self, others: &[(&str, &str)]) {
        let failed: Vec<&Sample> = self.samples.iter().filter(|s| s.status != 200).collect();
        assert!(
            failed.is_empty(),
            "{} of {} requests failed, e.g. {} {}: {}",
            failed.len(),
            self.samples.len(),
            failed[0].path,
            failed[0].status,
            failed[0].body
        );
        let answers: HashSet<&str> = self.swaps.iter().map(|s| s.answer.as_str()).collect();
        for s in &self.samples {
            if s.path.starts_with(self.watched) {
                assert!(answers.contains(s.body.as_str()), "{} answered {:?}", s.path, s.body);
            } else {
                let expected = others.iter().find(|(p, _)| *p == s.path).map(|(_, b)| *b);
                assert_eq!(Some(s.body.as_str()), expected, "{} answered", s.path);
            }
        }
        // The switch is immediate, not eventual. (A request that started in a window but
        // finished after the next swap began may fairly get either answer.)
        let mut checked = 0;
        for (k, swap) in self.swaps.iter().enumerate() {
            let until = self.swaps.get(k + 1).map(|s| s.issued).unwrap_or(Duration::MAX);
            let window: Vec<&Sample> = self
                .samples
                .iter()
                .filter(|s| s.path.starts_with(self.watched) && s.started > swap.returned && s.ended < until)
                .collect();
            assert!(window.len() >= self.per_window, "swap {k}: {} requests between swaps", window.len());
            for s in &window {
                assert_eq!(
                    s.body,
                    swap.answer,
                    "a request started {:?} after swap {k} returned got another version",
                    s.started - swap.returned
                );
            }
            checked += window.len();
        }
        let served: HashSet<&str> = self
            .samples
            .iter()
            .filter(|s| s.path.starts_with(self.watched))
            .map(|s| s.body.as_str())
            .collect();
        assert_eq!(served, answers, "every version served");
        let overlapping = self
            .samples
            .iter()
            .filter(|s| self.swaps[1..].iter().any(|w| s.started < w.returned && s.ended > w.issued))
            .count();
        let swap_ms: Vec<f64> =
            self.swaps[1..].iter().map(|s| (s.returned - s.issued).as_secs_f64() * 1000.0).collect();
        eprintln!(
            "{} swaps, {} requests in {:.1} s ({overlapping} in flight during a swap call), {checked} \
             checked against the version serving; swap call median {:.1} ms, max {:.1} ms",
            self.swaps.len() - 1,
            self.samples.len(),
            self.elapsed.as_secs_f64(),
            median(&swap_ms),
            swap_ms.iter().cloned().fold(0.0, f64::max),
        );
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

const OTHERS: &[(&str, &str)] = &[("/hello", "hello from riff\n"), ("/verify/good", "user=u1 name=ada")];

#[test]
fn fifty_swaps_under_load_drop_nothing_and_switch_at_once() {
    let riff = Riff::start(APP);
    warm_cache(&riff);
    let versions = [("swap-v2", wasm("swap_v2.wasm")), ("swap-v1", wasm("swap_v1.wasm"))];
    // Across the swapped component, another component, and a typed call.
    let load = Load {
        riff: &riff,
        paths: &["/swap/a", "/hello", "/swap/b", "/verify/good"],
        clients: 4,
        watched: "/swap/",
        per_window: 1,
    };
    let run = load.run("swap-v1", 50, |round| {
        let (name, bytes) = &versions[round % 2];
        let (status, report) = riff.deploy("svc", bytes);
        assert_eq!(status, 200, "swap {round}: {report}");
        assert_eq!(report["swapped"], true, "swap {round}: {report}");
        assert_eq!(report["from_cache"], true, "swap {round} should reuse the compiled artifact: {report}");
        name.to_string()
    });
    run.check(OTHERS);
}

#[test]
fn manifest_reloads_under_load_drop_nothing_and_switch_at_once() {
    let riff = Riff::start(APP);
    warm_cache(&riff); // both versions compiled, v1 (uploaded) serving
    let manifest_path = riff.dir.path().join("spin.toml");
    let original = std::fs::read_to_string(&manifest_path).unwrap();
    let source = |v: u8| format!("[component.svc]\nsource = \"{}/swap_v{v}.wasm\"", wasm_dir().display());
    assert!(original.contains(&source(1)), "{original}");
    let load = Load {
        riff: &riff,
        paths: &["/swap/a", "/hello", "/swap/b", "/verify/good"],
        clients: 4,
        watched: "/swap/",
        per_window: 1,
    };
    let run = load.run("swap-v1", 20, |round| {
        let v = if round % 2 == 0 { 2 } else { 1 };
        std::fs::write(&manifest_path, original.replace(&source(1), &source(v))).unwrap();
        let (status, change) = riff.admin_call(Method::POST, "/v1/reload", None);
        assert_eq!(status, 200, "reload {round}: {change}");
        assert_eq!(change["changed"], serde_json::json!(["svc"]), "reload {round}: {change}");
        assert_eq!(change["added"], serde_json::json!([]), "reload {round}: {change}");
        assert_eq!(change["removed"], serde_json::json!([]), "reload {round}: {change}");
        format!("swap-v{v}")
    });
    run.check(OTHERS);
}

/// Swap `round`: upload the next of two `(answer, wasm)` versions of `component` through the
/// admin API; returns the answer the new version gives.
fn deploy_in_turn(riff: &Riff, component: &str, versions: &[(&str, Vec<u8>); 2], round: usize) -> String {
    let (answer, bytes) = &versions[round % 2];
    let (status, report) = riff.deploy(component, bytes);
    assert_eq!(status, 200, "swap {round}: {report}");
    assert_eq!(report["swapped"], true, "swap {round}: {report}");
    answer.to_string()
}

#[test]
fn swaps_of_a_component_with_warm_instances_drop_nothing_and_switch_at_once() {
    let riff = Riff::start(APP);
    warm_cache_of(&riff, "warm");
    let versions = [("swap-v2", wasm("swap_v2.wasm")), ("swap-v1", wasm("swap_v1.wasm"))];
    // Four requests per version, from three clients: warm instances serve again between swaps.
    let load = Load {
        riff: &riff,
        paths: &["/warm/a", "/warm/b", "/hello"],
        clients: 3,
        watched: "/warm/",
        per_window: 4,
    };
    let run = load.run("swap-v1", 20, |round| deploy_in_turn(&riff, "warm", &versions, round));
    run.check(OTHERS);
    // Instances really were reused, in both versions.
    for version in ["swap-v1", "swap-v2"] {
        let reused = run
            .samples
            .iter()
            .filter(|s| s.path.starts_with("/warm/") && s.body == version)
            .map(|s| s.served);
        let most = reused.max().unwrap_or(0);
        assert!(most >= 2, "{version}: no warm instance served twice (most {most})");
    }
}

#[test]
fn swaps_of_a_callee_under_typed_calls_in_flight_drop_nothing_and_switch_at_once() {
    let riff = Riff::start(APP);
    let versions = [("user=u1 name=bob", stub_named("bob")), ("user=u1 name=ada", wasm("auth_stub.wasm"))];
    let load = Load {
        riff: &riff,
        paths: &["/verify/good", "/hello", "/verify/good"],
        clients: 4,
        watched: "/verify/",
        per_window: 1,
    };
    let run = load.run("user=u1 name=ada", 20, |round| deploy_in_turn(&riff, "authsvc", &versions, round));
    run.check(&OTHERS[..1]);
}

#[test]
fn a_long_request_started_before_a_swap_finishes_on_the_old_version() {
    let riff = Riff::start(APP);
    warm_cache(&riff);
    let url = riff.url("/swap/wait?key=long");
    let slow = std::thread::spawn(move || get(&url));
    // v1's code is running that request, waiting for the key.
    eventually(
        "the long request to start",
        Duration::from_secs(60),
        || riff.log(),
        || kv_get(&riff, "long.started").as_deref() == Some("swap-v1"),
    );
    let (status, report) = riff.deploy("svc", &wasm("swap_v2.wasm"));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["swapped"], true, "{report}");
    assert_eq!(get(&riff.url("/swap/now")), (200, "swap-v2".into()));
    assert!(!slow.is_finished(), "the long request waits for the key");
    kv_set(&riff, "long");
    assert_eq!(slow.join().unwrap(), (200, "swap-v1".into()));
}

#[test]
fn bad_artifacts_are_refused_and_the_old_version_keeps_serving() {
    let riff = Riff::start(APP);
    let svc_version = riff.component_status("svc")["version"].as_str().expect("version").to_string();
    let v1 = wasm("swap_v1.wasm");
    let mut truncated = v1[..v1.len() / 2].to_vec();
    truncated.extend_from_slice(&[0xff; 16]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("svc", b"this is not wasm".to_vec(), "not a WebAssembly file"),
        ("svc", b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module without a WIT world"),
        ("svc", truncated, "refused new version of \"svc\""),
        ("svc", wasm("unsupported.wasm"), "does not instantiate against riff"),
        ("svc", wasm("auth_stub.wasm"), "wasi:http/incoming-handler"),
        ("authsvc", wasm("hello.wasm"), "\"caller\" depends on it"),
        ("authsvc", wasm("auth_mismatch.wasm"), "the result types differ"),
    ];
    for (component, bytes, reason) in cases {
        let (status, body) = riff.deploy(component, &bytes);
        assert_eq!(status, 422, "{component} {reason}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {body}"));
        assert!(message.contains(reason), "expected {reason:?} in {message:?}");
        assert_eq!(get(&riff.url("/swap/x")), (200, "swap-v1".into()), "after {reason}");
        assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()), "after {reason}");
    }
    assert_eq!(riff.component_status("svc")["version"].as_str(), Some(svc_version.as_str()));
    let authsvc = riff.component_status("authsvc");
    assert_eq!(
        authsvc.get("previous_version"),
        Some(&serde_json::Value::Null),
        "nothing was swapped in: {authsvc}"
    );

    let (status, body) = riff.deploy("nope", &v1);
    assert_eq!(status, 404, "{body}");
    let (status, body) = riff.deploy("svc", &[]);
    assert_eq!(status, 400, "{body}");
}

#[test]
fn rollback_is_one_call_and_a_second_rolls_forward() {
    let riff = Riff::start(APP);
    let (status, body) = riff.admin_call(Method::POST, "/v1/components/svc/rollback", None);
    assert_eq!(status, 409, "nothing to roll back to yet: {body}");

    let v1_version = riff.component_status("svc")["version"].as_str().expect("version").to_string();
    let (status, report) = riff.deploy("svc", &wasm("swap_v2.wasm"));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["previous_version"], v1_version.as_str());
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v2");
    let status_now = riff.component_status("svc");
    assert_eq!(status_now["origin"], "upload");
    assert_eq!(status_now["previous_version"], v1_version.as_str());

    let (status, report) = riff.admin_call(Method::POST, "/v1/components/svc/rollback", None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["version"], v1_version.as_str());
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v1");
    let (status, report) = riff.admin_call(Method::POST, "/v1/components/svc/rollback", None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v2");
}

#[test]
fn typed_calls_follow_a_swap_of_the_callee() {
    let riff = Riff::start(APP);
    // The stub accepts the token "good"; the real auth service does not.
    assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()));
    let requests = || riff.component_status("authsvc")["requests"].as_u64().expect("requests");
    assert_eq!(requests(), 1, "one call so far");
    let (status, report) = riff.deploy("authsvc", &wasm("auth.wasm"));
    assert_eq!(status, 200, "{report}");
    assert_eq!(requests(), 0, "the new version has served nothing yet");
    let (status, body) = get(&riff.url("/verify/good"));
    assert_eq!(status, 401, "the real auth service now answers: {body}");
    assert_eq!(requests(), 1, "the call went to the new version");
    let (status, report) = riff.admin_call(Method::POST, "/v1/components/authsvc/rollback", None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()));
    // The stub's version, back in service, has now served its second call.
    assert_eq!(requests(), 2);
}

#[test]
fn the_admin_api_needs_the_token() {
    let riff = Riff::start(APP);
    for auth in [None, Some("Bearer wrong"), Some(ADMIN_TOKEN)] {
        let mut req = client().get(format!("{}/v1/components", riff.admin));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{auth:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    let resp =
        client().put(format!("{}/v1/components/svc", riff.admin)).body(wasm("swap_v2.wasm")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v1", "an unauthorised upload changed nothing");

    let (status, listing) = riff.admin_call(Method::GET, "/v1/components", None);
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        listing["components"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["authsvc", "caller", "hello", "probe", "svc", "warm"]);
}

#[test]
fn a_public_admin_listener_without_a_token_is_refused() {
    let (code, err) = riff_fails(APP, &["--admin-listen", "0.0.0.0:0"], &[("RIFF_ADMIN_TOKEN", "")]);
    assert_ne!(code, 0);
    assert!(err.contains("not a loopback address") && err.contains("RIFF_ADMIN_TOKEN"), "{err}");
}

#[test]
fn a_loopback_admin_listener_without_a_token_writes_a_private_one() {
    let riff = Riff::start_with(APP, &[], &[("RIFF_ADMIN_TOKEN", "")]);
    let token = std::fs::read_to_string(riff.dir.path().join(".riff/admin-token")).unwrap();
    assert_eq!(token.len(), 64);
    let resp = client().get(format!("{}/v1/components", riff.admin)).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = client().get(format!("{}/v1/components", riff.admin)).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

fn riff_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riff"))
        .args(args)
        .env("RIFF_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("running riff");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn riff_deploy_swaps_and_exits_non_zero_with_the_reason_when_refused() {
    let riff = Riff::start(APP);
    let v2 = wasm_dir().join("swap_v2.wasm");
    let (code, out, err) = riff_cli(&["deploy", "svc", v2.to_str().unwrap(), "--admin", &riff.admin]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("svc: now serving version"), "{out}");
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v2");

    let core = riff.dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (code, out, err) = riff_cli(&["deploy", "svc", core.to_str().unwrap(), "--admin", &riff.admin]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("core WebAssembly module"), "{err}");
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v2");

    let (code, out, err) = riff_cli(&["rollback", "svc", "--admin", &riff.admin]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v1");

    let (code, out, err) = riff_cli(&["components", "--admin", &riff.admin]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("svc ") && l.contains("file")), "{out}");

    let (code, _, err) = riff_cli(&["deploy", "nope", v2.to_str().unwrap(), "--admin", &riff.admin]);
    assert_ne!(code, 0);
    assert!(err.contains("no component named \"nope\""), "{err}");
}

#[test]
fn a_manifest_reload_applies_only_the_difference() {
    let riff = Riff::start(APP);
    let loaded_at =
        |id: &str| riff.component_status(id)["loaded_at"].as_str().expect("loaded_at").to_string();
    let (hello_before, svc_before) = (loaded_at("hello"), loaded_at("svc"));
    let manifest_path = riff.dir.path().join("spin.toml");
    let original = std::fs::read_to_string(&manifest_path).unwrap();

    // A broken edit is refused and nothing changes.
    std::fs::write(
        &manifest_path,
        format!("{original}\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"missing\"\n"),
    )
    .unwrap();
    let (status, body) = riff.admin_call(Method::POST, "/v1/reload", None);
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().expect("message").contains("missing"), "{body}");

    // Add a component and a route, and change svc's environment.
    let svc_source = format!("[component.svc]\nsource = \"{}/swap_v1.wasm\"", wasm_dir().display());
    assert!(original.contains(&svc_source), "{original}");
    let edited = original.replace(&svc_source, &format!("{svc_source}\nenvironment = {{ EXTRA = \"1\" }}"))
        + &format!(
        "\n[[trigger.http]]\nroute = \"/hello2\"\ncomponent = \"hello2\"\n[component.hello2]\nsource = \"{}/hello.wasm\"\n",
        wasm_dir().display()
    );
    assert_ne!(edited, original);
    std::fs::write(&manifest_path, edited).unwrap();
    let (status, change) = riff.admin_call(Method::POST, "/v1/reload", None);
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["added"], serde_json::json!(["hello2"]));
    assert_eq!(change["changed"], serde_json::json!(["svc"]));
    assert_eq!(change["routes_changed"], true);
    assert_eq!(get(&riff.url("/hello2")), (200, "hello from riff\n".into()));
    assert_eq!(loaded_at("hello"), hello_before, "hello was untouched");
    assert_ne!(loaded_at("svc"), svc_before, "svc was reloaded");

    // Removing it again takes the route away.
    std::fs::write(&manifest_path, &original).unwrap();
    let (status, change) = riff.admin_call(Method::POST, "/v1/reload", None);
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["removed"], serde_json::json!(["hello2"]));
    assert_eq!(change["changed"], serde_json::json!(["svc"]));
    assert_eq!(get(&riff.url("/hello2")).0, 404);
    assert_eq!(get(&riff.url("/hello")).0, 200);
}
