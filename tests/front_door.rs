//! The host's front door, tried as an attacker and a careless client would: oversized, broken
//! and slow bodies, slow headers, long targets, a component that loops while others serve,
//! CORS preflights, request ids, and shutdown on SIGTERM with a request in flight.

use crate::common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The repository's app, plus the probe (loops, sleeps) and CORS for one origin.
fn app() -> String {
    repo_manifest(
        r#"
[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.probe]
source = "{wasm}/probe.wasm"
[component.probe.tool.riff]
timeout = "2s"

[application.tool.riff]
cors = { allowed_origins = ["https://player.example.com"] }
"#,
    )
}

fn addr(riff: &Riff) -> String {
    riff.base.trim_start_matches("http://").to_string()
}

/// Send `head` and then `body` on a fresh connection (the body from a second thread, so a reply
/// that comes before the body is sent is still read), optionally half-closing after; return the
/// raw reply text.
fn exchange(riff: &Riff, head: String, body: Vec<u8>, half_close: bool) -> String {
    let mut stream = TcpStream::connect(addr(riff)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        for chunk in body.chunks(64 * 1024) {
            if writer.write_all(chunk).is_err() {
                return; // the host stopped reading: expected for refused bodies
            }
        }
        if half_close {
            let _ = writer.shutdown(std::net::Shutdown::Write);
        }
    });
    let mut reply = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if complete_reply(&reply) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    drop(stream);
    let _ = sender.join();
    String::from_utf8_lossy(&reply).into_owned()
}

/// A reply whose Content-Length worth of body has arrived.
fn complete_reply(reply: &[u8]) -> bool {
    let text = String::from_utf8_lossy(reply);
    let Some(end) = text.find("\r\n\r\n") else { return false };
    let length = text[..end]
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse::<usize>().ok());
    length.is_some_and(|n| reply.len() >= end + 4 + n)
}

fn status_of(reply: &str) -> u16 {
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn json_of(reply: &str) -> serde_json::Value {
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {reply}"))
}

/// The host's resident memory, in bytes.
fn rss(riff: &Riff) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", riff.pid())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}

const BIG: usize = 20 * 1024 * 1024;

/// Ten concurrent `size`-byte bodies to `route`, half with a Content-Length, half chunked:
/// (chunked, raw reply) each.
fn ten_bodies(riff: &Riff, route: &str, size: usize) -> Vec<(bool, String)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                scope.spawn(move || {
                    let chunked = i % 2 == 1;
                    let a = addr(riff);
                    let head = if chunked {
                        format!("POST {route} HTTP/1.1\r\nhost: {a}\r\ntransfer-encoding: chunked\r\n\r\n")
                    } else {
                        format!("POST {route} HTTP/1.1\r\nhost: {a}\r\ncontent-length: {size}\r\n\r\n")
                    };
                    let body = vec![b'x'; size];
                    let body = if chunked { chunk(&body) } else { body };
                    (chunked, exchange(riff, head, body, false))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn oversized_bodies_are_refused_while_they_stream_and_memory_stays_bounded() {
    let riff = Riff::start(&app());
    let route = "/v1/auth/register";
    // Warm up with the same ten-way concurrency and bodies just over the limit: the instance pool
    // keeps each slot's first pages resident once used (`linear_memory_keep_resident`), which is
    // the cost of concurrency, not of body size. What is measured after is what 20 MB bodies add.
    for (chunked, reply) in ten_bodies(&riff, route, 100 * 1024) {
        assert_eq!(status_of(&reply), 413, "warm-up, chunked={chunked}: {reply}");
    }
    let before = rss(&riff);
    for (chunked, reply) in ten_bodies(&riff, route, BIG) {
        assert_eq!(status_of(&reply), 413, "chunked={chunked}: {reply}");
        assert_eq!(json_of(&reply)["error"]["status"], 413);
    }
    // The host is still fine, and its memory did not grow with what the clients sent.
    let (status, _) = get(&riff.url("/hello"));
    assert_eq!(status, 200);
    let after = rss(&riff);
    eprintln!("host RSS before {} KiB, after 10 concurrent 20 MB bodies {} KiB", before / 1024, after / 1024);
    assert!(after < before + 50 * 1024 * 1024, "RSS grew from {before} to {after} bytes");
}

/// `body` in chunked transfer encoding, 64 KiB a chunk.
fn chunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 1024);
    for piece in body.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn broken_bodies_are_400_json_without_internals() {
    let riff = Riff::start_with(&app(), &[], &[("RUST_BACKTRACE", "1")]);
    let a = addr(&riff);
    let route = "/v1/auth/register";
    let chunked = format!("POST {route} HTTP/1.1\r\nhost: {a}\r\ntransfer-encoding: chunked\r\n\r\n");
    let cases = [
        ("malformed chunked", chunked.clone(), b"5\r\n{\"a\":\r\nzz-not-hex\r\n".to_vec(), false),
        ("truncated chunked", chunked, b"40\r\n{\"username\":".to_vec(), true),
        (
            "short body",
            format!("POST {route} HTTP/1.1\r\nhost: {a}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"),
            b"{\"username\":\"x\"".to_vec(),
            true,
        ),
    ];
    for (name, head, body, half_close) in cases {
        let reply = exchange(&riff, head, body, half_close);
        assert_eq!(status_of(&reply), 400, "{name}: {reply}");
        let json = json_of(&reply);
        assert_eq!(json["error"]["status"], 400, "{name}");
        let lower = reply.to_ascii_lowercase();
        for leak in ["backtrace", "panicked", "stack backtrace", "src/", ".rs:", "caused by"] {
            assert!(!lower.contains(leak), "{name} leaks {leak:?}: {reply}");
        }
        assert!(reply.len() < 2048, "{name}: a {} byte reply", reply.len());
        assert!(lower.contains("x-request-id:"), "{name}: no request id: {reply}");
    }
}

#[test]
fn head_limits_answer_in_json() {
    let riff = Riff::start(&app());
    let long = riff.url(&format!("/hello?q={}", "a".repeat(10 * 1024)));
    let resp = client().get(&long).send().unwrap();
    assert_eq!(resp.status().as_u16(), 414);
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["error"]["status"], 414);

    // Over the host's 64 fields: its JSON answer; over hyper's 100: hyper's bare 431.
    let with_headers = |n: usize| {
        let mut req = client().get(riff.url("/hello"));
        for i in 0..n {
            req = req.header(format!("x-h{i}"), "v");
        }
        req.send().unwrap()
    };
    assert_eq!(with_headers(60).status().as_u16(), 200);
    let resp = with_headers(70);
    assert_eq!(resp.status().as_u16(), 431);
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["error"]["status"], 431);
    assert_eq!(with_headers(120).status().as_u16(), 431);

    let resp = client().get(riff.url("/hello")).header("x-big", "v".repeat(40 * 1024)).send().unwrap();
    assert_eq!(resp.status().as_u16(), 431);
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["error"]["status"], 431);

    // A declared length over the route's limit is refused before the component runs.
    let resp = client()
        .post(riff.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; 65 * 1024])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["error"]["status"], 413);
}

#[test]
fn a_half_sent_header_is_cut_off_at_the_header_timeout() {
    let riff = Riff::start_with(&app(), &["--header-timeout", "1s"], &[]);
    let mut stream = TcpStream::connect(addr(&riff)).unwrap();
    stream.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nx-slow: ").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The host closes the connection (with or without a 408 first); it never waits 30 s.
    let result = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(result.is_ok() || waited < Duration::from_secs(29), "{result:?} after {waited:?}");
    assert!(waited < Duration::from_secs(29), "the connection stayed open {waited:?}");
    eprintln!("half a header: closed after {waited:?} (--header-timeout 1s)");
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(addr(&riff)).unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let _ = idle.read_to_end(&mut all);
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(29), "idle keep-alive stayed open");
}

#[test]
fn a_looping_component_does_not_starve_its_neighbours() {
    let riff = Riff::start(&app());
    assert_eq!(get(&riff.url("/hello")).0, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (stop, url) = (stop.clone(), riff.url("/probe/fault/loop"));
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    statuses.push(client().get(&url).send().unwrap().status().as_u16());
                }
                statuses
            })
        })
        .collect();
    // Measure once all four loops are running in the guest.
    let probe_requests = || riff.component_status("probe")["requests"].as_u64().expect("requests");
    eventually("four looping requests", Duration::from_secs(30), || riff.log(), || probe_requests() >= 4);
    let neighbour = client();
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let resp = neighbour.get(riff.url("/hello")).send().unwrap();
        latencies.push(started.elapsed());
        assert_eq!(resp.status().as_u16(), 200);
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        let statuses = l.join().unwrap();
        assert!(!statuses.is_empty());
        assert!(statuses.iter().all(|&s| s == 504), "loop answers: {statuses:?}");
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    eprintln!(
        "neighbour under 4 loops: p50 {:?}, p99 {:?}, max {:?} over {} requests",
        p(0.5),
        p(0.99),
        latencies.last().unwrap(),
        latencies.len()
    );
}

#[test]
fn cors_preflight_and_request_ids() {
    let riff = Riff::start(&app());
    let resp = client()
        .request(reqwest::Method::OPTIONS, riff.url("/v1/auth/login"))
        .header("origin", "https://player.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, authorization")
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://player.example.com");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("authorization"));

    // Another origin gets no grant.
    let resp = client()
        .request(reqwest::Method::OPTIONS, riff.url("/v1/auth/login"))
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    // Simple requests from the allowed origin carry the grant; every response a request id.
    let resp =
        client().get(riff.url("/hello")).header("origin", "https://player.example.com").send().unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://player.example.com");
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let other = client().get(riff.url("/hello")).send().unwrap().headers()["x-request-id"].clone();
    assert!(!id.is_empty() && id != other.to_str().unwrap(), "{id} / {other:?}");
    let resp = client().get(riff.url("/nowhere")).header("x-request-id", "client-abc-1").send().unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(resp.headers()["x-request-id"], "client-abc-1");
    let resp = client().get(riff.url("/nowhere")).header("x-request-id", "bad id;").send().unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id;");
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_and_exits_zero() {
    let mut riff = Riff::start(&app());
    let url = riff.url("/probe/fault/sleep?ms=1500");
    let slow = std::thread::spawn(move || {
        let resp = client().get(&url).send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    });
    // SIGTERM once the request has reached the component.
    let in_flight = || riff.component_status("probe")["requests"].as_u64() == Some(1);
    eventually("the slow request reaching the probe", Duration::from_secs(30), || riff.log(), in_flight);
    riff.terminate();
    // New connections are refused while the request in flight finishes.
    let code = riff.wait_exit(Duration::from_secs(30)).expect("riff did not exit after SIGTERM");
    let (status, body) = slow.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(code, Some(0), "exit status; log:\n{}", riff.log());
    assert!(riff.log().contains("SIGTERM"), "{}", riff.log());
}
