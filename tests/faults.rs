//! Fault containment: a trap, a panic, an infinite loop or a memory bomb fails only its own
//! request (500, or 504 for the loop) while a parallel client keeps getting 200s.

use crate::common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

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
"#;

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
        ("oom", 500, "failed"),
        ("loop", 504, "did not answer within 1s"),
    ] {
        let before = ok.load(Ordering::Relaxed);
        let (got, body) = get_json(&riff.url(&format!("/bad/fault/{fault}")));
        assert_eq!(got, status, "{fault}: {body}");
        assert_eq!(body["error"]["status"], status);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle) && message.contains("\"bad\""), "{fault}: {message}");
        // The other component kept serving while this one misbehaved.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ok.load(Ordering::Relaxed) == before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(ok.load(Ordering::Relaxed) > before, "no successful request during {fault}");
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
    assert!(ok.load(Ordering::Relaxed) > 10);
    assert_eq!(get(&riff.url("/.well-known/spin/health")).0, 200);
    // The guest's stderr (its panic message) reached the host log, tagged with the component.
    assert!(riff.wait_for_log("probe panicked on request"), "{}", riff.log());
    let line = riff.log().lines().find(|l| l.contains("probe panicked on request")).unwrap().to_string();
    assert!(line.contains("component=bad"), "{line}");
}

#[test]
fn a_slow_request_within_its_timeout_completes() {
    let riff = Riff::start(APP);
    assert_eq!(get(&riff.url("/bad/fault/sleep?ms=300")), (200, "slept".into()));
    let (status, _) = get_json(&riff.url("/bad/fault/sleep?ms=3000"));
    assert_eq!(status, 504);
}
