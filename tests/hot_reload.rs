//! Hot reload through the admin API: swapping one component under load, a long request
//! finishing on the old version, refusal of bad artifacts, rollback, typed calls following a
//! swap, manifest reloads, the admin token, and the `riff deploy` client.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// Put both swap versions through the compiled cache, leaving v1 serving.
fn warm_cache(riff: &Riff) {
    for name in ["swap_v2.wasm", "swap_v1.wasm"] {
        let (status, body) = riff.deploy("svc", &wasm(name));
        assert_eq!(status, 200, "{body}");
    }
}

struct Sample {
    path: &'static str,
    started: Duration,
    ended: Duration,
    status: u16,
    body: String,
}

#[test]
fn fifty_swaps_under_load_drop_nothing_and_switch_at_once() {
    let riff = Riff::start(APP);
    warm_cache(&riff);
    let versions = [("swap-v2", wasm("swap_v2.wasm")), ("swap-v1", wasm("swap_v1.wasm"))];

    // Four paced clients, about 100 requests/s each, across the swapped component, another
    // component, and a typed call.
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let paths: [&'static str; 4] = ["/swap/a", "/hello", "/swap/b", "/verify/good"];
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let stop = stop.clone();
            let base = riff.base.clone();
            std::thread::spawn(move || {
                let client = client();
                let mut samples = Vec::new();
                let mut next = Instant::now();
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let path = paths[i % paths.len()];
                    i += 1;
                    let started = epoch.elapsed();
                    let (status, body) = match client.get(format!("{base}{path}")).send() {
                        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
                        Err(e) => (0, e.to_string()),
                    };
                    samples.push(Sample { path, started, ended: epoch.elapsed(), status, body });
                    next += Duration::from_millis(10);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                samples
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    // (issued, returned, version now serving)
    let mut swaps: Vec<(Duration, Duration, &str)> = Vec::new();
    for round in 0..50 {
        let (name, bytes) = &versions[round % 2];
        let issued = epoch.elapsed();
        let (status, report) = riff.deploy("svc", bytes);
        let returned = epoch.elapsed();
        assert_eq!(status, 200, "swap {round}: {report}");
        assert_eq!(report["swapped"], true, "swap {round}: {report}");
        assert_eq!(report["from_cache"], true, "swap {round} should reuse the compiled artifact: {report}");
        swaps.push((issued, returned, *name));
        std::thread::sleep(Duration::from_millis(40));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let samples: Vec<Sample> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let elapsed = epoch.elapsed().as_secs_f64();

    let failed: Vec<_> = samples.iter().filter(|s| s.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, e.g. {} {}: {}",
        failed.len(),
        samples.len(),
        failed[0].path,
        failed[0].status,
        failed[0].body
    );
    for s in &samples {
        let expected_one_of: &[&str] = match s.path {
            "/hello" => &["hello from riff\n"],
            "/verify/good" => &["user=u1 name=ada"],
            _ => &["swap-v1", "swap-v2"],
        };
        assert!(expected_one_of.contains(&s.body.as_str()), "{} answered {:?}", s.path, s.body);
    }

    // Every request that ran wholly between a swap's return and the next swap's start was
    // answered by the version that swap installed: the switch is immediate, not eventual.
    // (One that started in that window but finished after the next swap may fairly get the
    // next version.)
    let mut checked = 0;
    let mut first_new: Vec<Duration> = Vec::new();
    for (k, (_, returned, version)) in swaps.iter().enumerate() {
        let until = swaps.get(k + 1).map(|s| s.0).unwrap_or(Duration::MAX);
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.path.starts_with("/swap/") && s.started > *returned && s.ended < until)
            .collect();
        for s in &window {
            assert_eq!(s.body, *version, "a request started after swap {k} returned got the old version");
            checked += 1;
        }
        if let Some(first) = window.iter().map(|s| s.started).min() {
            first_new.push(first - *returned);
        }
    }
    assert!(checked > 0, "no request fell between swaps");
    first_new.sort();
    let swap_ms: Vec<f64> = swaps.iter().map(|(i, r, _)| (*r - *i).as_secs_f64() * 1000.0).collect();
    eprintln!(
        "{} requests in {elapsed:.1} s ({:.0}/s), {checked} checked against the version serving; \
         swap call median {:.1} ms, max {:.1} ms; first new-version request started {:?} after the \
         call returned (median)",
        samples.len(),
        samples.len() as f64 / elapsed,
        median(&swap_ms),
        swap_ms.iter().cloned().fold(0.0, f64::max),
        first_new.get(first_new.len() / 2)
    );
    // Both versions really served between swaps.
    let served: std::collections::HashSet<&str> =
        samples.iter().filter(|s| s.path.starts_with("/swap/")).map(|s| s.body.as_str()).collect();
    assert_eq!(served.len(), 2, "{served:?}");
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn a_long_request_started_before_a_swap_finishes_on_the_old_version() {
    let riff = Riff::start(APP);
    warm_cache(&riff);
    let before = riff.component_status("svc")["requests"].as_u64().unwrap();
    let url = riff.url("/swap/slow?ms=3000");
    let slow = std::thread::spawn(move || get(&url));
    // The version's request counter moves when the host has taken the request.
    let waiting = Instant::now();
    while riff.component_status("svc")["requests"].as_u64().unwrap() == before {
        assert!(waiting.elapsed() < Duration::from_secs(30), "the slow request never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, report) = riff.deploy("svc", &wasm("swap_v2.wasm"));
    assert_eq!(status, 200, "{report}");
    assert!(!slow.is_finished(), "the slow request should still be running during the swap");
    assert_eq!(get(&riff.url("/swap/now")), (200, "swap-v2".into()));
    assert_eq!(slow.join().unwrap(), (200, "swap-v1".into()));
}

#[test]
fn bad_artifacts_are_refused_and_the_old_version_keeps_serving() {
    let riff = Riff::start(APP);
    let svc_version = riff.component_status("svc")["version"].clone();
    let v1 = wasm("swap_v1.wasm");
    let mut truncated = v1[..v1.len() / 2].to_vec();
    truncated.extend_from_slice(&[0xff; 16]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("svc", b"this is not wasm".to_vec(), "not a WebAssembly file"),
        ("svc", b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module, not a component"),
        ("svc", truncated, "refused new version of \"svc\""),
        ("svc", wasm("unsupported.wasm"), "does not instantiate against riff"),
        ("svc", wasm("auth_stub.wasm"), "wasi:http/incoming-handler"),
        ("authsvc", wasm("hello.wasm"), "\"caller\" depends on it"),
        ("authsvc", wasm("auth_mismatch.wasm"), "the result types differ"),
    ];
    for (component, bytes, reason) in cases {
        let (status, body) = riff.deploy(component, &bytes);
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        assert_eq!(status, 422, "{component} {reason}: {body}");
        assert!(message.contains(reason), "expected {reason:?} in {message:?}");
        assert_eq!(get(&riff.url("/swap/x")), (200, "swap-v1".into()), "after {reason}");
        assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()), "after {reason}");
    }
    assert_eq!(riff.component_status("svc")["version"], svc_version);
    assert!(riff.component_status("authsvc")["previous_version"].is_null(), "nothing was swapped in");

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

    let v1_version = riff.component_status("svc")["version"].as_str().unwrap().to_string();
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
    let (status, _) = riff.admin_call(Method::POST, "/v1/components/svc/rollback", None);
    assert_eq!(status, 200);
    assert_eq!(get(&riff.url("/swap/x")).1, "swap-v2");
}

#[test]
fn typed_calls_follow_a_swap_of_the_callee() {
    let riff = Riff::start(APP);
    // The stub accepts the token "good"; the real auth service does not.
    assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()));
    let (status, report) = riff.deploy("authsvc", &wasm("auth.wasm"));
    assert_eq!(status, 200, "{report}");
    let (status, body) = get(&riff.url("/verify/good"));
    assert_eq!(status, 401, "the real auth service now answers: {body}");
    let (status, _) = riff.admin_call(Method::POST, "/v1/components/authsvc/rollback", None);
    assert_eq!(status, 200);
    assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()));
    // Calls were counted on the callee's versions.
    assert!(riff.component_status("authsvc")["requests"].as_u64().unwrap() >= 1);
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
    assert_eq!(ids, ["authsvc", "caller", "hello", "svc"]);
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
    let hello_before = riff.component_status("hello");
    let svc_before = riff.component_status("svc");
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
    assert!(body["error"]["message"].as_str().unwrap().contains("missing"), "{body}");

    // Add a component and a route, and change svc's environment.
    let edited = original.replace(
        "source = \"{wasm}/swap_v1.wasm\"".replace("{wasm}", &wasm_dir().to_string_lossy()).as_str(),
        &format!("source = \"{}/swap_v1.wasm\"\nenvironment = {{ EXTRA = \"1\" }}", wasm_dir().display()),
    ) + &format!(
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
    assert_eq!(riff.component_status("hello")["loaded_at"], hello_before["loaded_at"], "hello was untouched");
    assert_ne!(riff.component_status("svc")["loaded_at"], svc_before["loaded_at"], "svc was reloaded");

    // Removing it again takes the route away.
    std::fs::write(&manifest_path, &original).unwrap();
    let (status, change) = riff.admin_call(Method::POST, "/v1/reload", None);
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["removed"], serde_json::json!(["hello2"]));
    assert_eq!(get(&riff.url("/hello2")).0, 404);
    assert_eq!(get(&riff.url("/hello")).0, 200);
}
