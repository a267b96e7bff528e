//! Fault containment: a trap, a panic, an infinite loop or a memory bomb fails only its own
//! request (500, or 504 for the loop) while a parallel client keeps getting 200s; the memory
//! limit is the component's own (named in the log when reached); a request runs as long as its
//! own component's timeout allows.

use crate::common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "faults"

[[trigger.http]]
route = "/bad/..."
component = "bad"

[[trigger.http]]
route = "/good/..."
component = "good"

[component.bad]
source = "{wasm}/probe.wasm"
[component.bad.tool.riff]
memory_limit = "32MiB"
timeout = "1s"

[component.good]
source = "{wasm}/hello.wasm"

[[trigger.http]]
route = "/roomy/..."
component = "roomy"

[component.roomy]
source = "{wasm}/probe.wasm"
key_value_stores = ["default"]
"#;

/// `bad`'s memory_limit in bytes (32 MiB, as APP sets it).
const BAD_LIMIT: u64 = 32 * 1024 * 1024;

/// The log entry riff wrote for the request whose `x-request-id` is `id` and that contains every
/// one of `needles` (an entry runs from its timestamped line to the next: error chains and wasm
/// backtraces span several lines, and are read from riff's stderr as it writes them, so the
/// entry is waited for until all of it is there).
fn log_entry(riff: &Riff, id: &str, needles: &[&str]) -> String {
    let find = || {
        let log = riff.log();
        let mut entries: Vec<String> = Vec::new();
        for line in log.lines() {
            let b = line.as_bytes();
            let timestamped = b.len() > 20 && b[4] == b'-' && b[10] == b'T';
            match entries.last_mut() {
                Some(entry) if !timestamped => {
                    entry.push('\n');
                    entry.push_str(line);
                }
                _ => entries.push(line.to_string()),
            }
        }
        entries
            .into_iter()
            .find(|e| e.contains(&format!("{{id={id}}}")) && needles.iter().all(|needle| e.contains(needle)))
    };
    eventually(
        &format!("a log entry for request {id} with {needles:?}"),
        Duration::from_secs(30),
        || riff.log(),
        || find().is_some(),
    );
    find().unwrap()
}

#[test]
fn misbehaving_requests_are_contained() {
    let riff = Riff::start(APP);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let background: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), riff.url("/good/"));
            std::thread::spawn(move || {
                let client = client();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send() {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    for (fault, status, needle) in [
        ("trap", 500, "wasm trap"),
        ("panic", 500, "wasm trap"),
        ("oom", 500, "internal error (the host log has the details"),
        ("loop", 504, "did not answer within 1s"),
    ] {
        let before = ok.load(Ordering::Relaxed);
        let resp = client().get(riff.url(&format!("/bad/fault/{fault}"))).send().unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let (got, body) = json_reply(resp);
        assert_eq!(got, status, "{fault}: {body}");
        assert_eq!(body["error"]["status"], status);
        let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("{fault}: {body}"));
        assert!(message.contains(needle) && message.contains("\"bad\""), "{fault}: {message}");
        if fault == "oom" {
            // The bomb stopped at bad's own limit, not at the host's pool size.
            let limit = format!("memory_limit is {BAD_LIMIT} bytes (32 MiB)");
            log_entry(&riff, &id, &["memory_limit reached", &limit]);
        }
        // The other component kept serving while this one misbehaved.
        eventually(
            &format!("a successful request during {fault}"),
            Duration::from_secs(30),
            || riff.log(),
            || ok.load(Ordering::Relaxed) > before,
        );
        // And the faulty component itself still serves well-behaved requests.
        assert_eq!(get(&riff.url("/bad/hello")), (200, "hello from probe".into()), "after {fault}");
    }

    // Several bombs at once do not take the host down either.
    let bombs: Vec<_> = (0..6)
        .map(|i| {
            let url = riff.url(if i % 2 == 0 { "/bad/fault/oom" } else { "/bad/fault/trap" });
            std::thread::spawn(move || get(&url).0)
        })
        .collect();
    for b in bombs {
        assert_eq!(b.join().unwrap(), 500);
    }

    stop.store(true, Ordering::Relaxed);
    for t in background {
        t.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "the well-behaved component saw failures");
    assert_eq!(get(&riff.url("/.well-known/spin/health")).0, 200);
    // The guest's stderr (its panic message) reached the host log, tagged with the component.
    assert!(riff.wait_for_log("probe panicked on request"), "{}", riff.log());
    let line = riff.log().lines().find(|l| l.contains("probe panicked on request")).unwrap().to_string();
    assert!(line.contains("component=bad"), "{line}");
}

#[test]
fn the_memory_limit_is_the_components_own() {
    let riff = Riff::start(APP);
    // Under bad's 32 MiB, 16 MiB fits.
    assert_eq!(get(&riff.url("/bad/alloc?mib=16")), (200, "allocated 16 MiB (4096 pages)".into()));
    // 48 MiB is within the default limit (another probe allocates it)...
    assert_eq!(get(&riff.url("/roomy/alloc?mib=48")), (200, "allocated 48 MiB (12288 pages)".into()));
    // ...but not within bad's: the request fails, and the log names the limit.
    let resp = client().get(riff.url("/bad/alloc?mib=48")).send().unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = json_reply(resp);
    assert_eq!(status, 500, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(message.starts_with("component \"bad\" failed: internal error"), "{message}");
    let limit = format!("memory_limit is {BAD_LIMIT} bytes (32 MiB)");
    log_entry(&riff, &id, &["memory_limit reached", &limit, "component=bad"]);
    // The component itself is unharmed.
    assert_eq!(get(&riff.url("/bad/alloc?mib=16")), (200, "allocated 16 MiB (4096 pages)".into()));
}

#[test]
fn a_request_lasts_as_long_as_its_own_timeout_allows() {
    let riff = Riff::start(APP);
    // roomy (default 30 s timeout) holds a request open until the test sets the key.
    let url = riff.url("/roomy/wait?key=go");
    let waiting = std::thread::spawn(move || get(&url));
    let started = || {
        let (status, body) = get_json(&riff.url("/roomy/kv?op=get&key=go.started"));
        assert_eq!(status, 200, "{body}");
        body["result"].as_str() == Some("1")
    };
    eventually("the waiting request to start", Duration::from_secs(60), || riff.log(), started);
    // Meanwhile a request to bad that would take a minute is cut off at bad's 1 s timeout: 504.
    let (status, body) = get_json(&riff.url("/bad/fault/sleep?ms=60000"));
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["message"].as_str(), Some("component \"bad\" did not answer within 1s"));
    // The waiting request has now run longer than bad's whole timeout, and still completes.
    assert!(!waiting.is_finished(), "the waiting request waits for the key");
    let (status, body) = get_json(&riff.url("/roomy/kv?op=set&key=go&value=1"));
    assert_eq!((status, body["result"].as_str()), (200, Some("ok")), "{body}");
    assert_eq!(waiting.join().unwrap(), (200, "released".into()));
}
