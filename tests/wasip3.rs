//! WASIp3 components (spin-sdk 6, `wasi:http/handler@0.3`) beside WASIp2 ones: the same routes,
//! Spin headers, outbound grants, timeouts, warm instances and hot swaps.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::*;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "wasip3"

[[trigger.http]]
route = "/p3/:who/..."
component = "modern"

[[trigger.http]]
route = "/warm/..."
component = "warm"

[[trigger.http]]
route = "/p2/..."
component = "classic"

[[trigger.http]]
route = "/probe/..."
component = "probe"

[variables]
greeting = { default = "hej" }

[component.modern]
source = "{wasm}/hello_p3.wasm"
allowed_outbound_hosts = ["http://self", "http://classic.spin.internal"]
key_value_stores = ["default"]
[component.modern.variables]
salutation = "{{ greeting }} from the manifest"
[component.modern.tool.riff]
timeout = "2s"

[component.probe]
source = "{wasm}/probe.wasm"
key_value_stores = ["default"]

[component.warm]
source = "{wasm}/hello_p3.wasm"
[component.warm.tool.riff]
instance_reuse = { max_requests = 100, idle_timeout = "1m" }

[component.classic]
source = "{wasm}/hello.wasm"
"#;

#[test]
fn a_spin_sdk_6_component_answers_and_streams() {
    let riff = Riff::start(APP);
    let (status, body) = get(&riff.url("/p3/ann/hello"));
    assert_eq!((status, body.as_str()), (200, "Hello from a WASIp3 component"));

    // The request body streams in, the same bytes stream back.
    let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let echoed = client().post(riff.url("/p3/ann/echo")).body(sent.clone()).send().unwrap();
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.bytes().unwrap().as_ref(), sent.as_slice(), "echoed byte for byte");

    // A body written by a task the guest spawned after returning the head.
    let (status, body) = get(&riff.url("/p3/ann/count?n=2000"));
    assert_eq!(status, 200);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2000, "every line arrived");
    assert_eq!((lines[0], lines[1999]), ("line 0", "line 1999"));

    // Routing gives WASIp3 guests the same spin-* headers as WASIp2 ones.
    let (status, headers) = get(&riff.url("/p3/ann/spin"));
    assert_eq!(status, 200);
    for expected in ["spin-component-route: /p3/:who", "spin-path-info: /spin", "spin-path-match-who: ann"] {
        assert!(headers.lines().any(|l| l == expected), "{expected:?} in\n{headers}");
    }
}

#[test]
fn outbound_calls_run_concurrently_under_the_components_grants() {
    let riff = Riff::start(APP);
    let granted = [
        "http://self/p3/x/hello",
        "http://classic.spin.internal/p2/hello",
        // Not granted: the guest gets an error, the request still succeeds.
        "http://127.0.0.1:9/nowhere",
    ];
    let query: Vec<String> = granted.iter().map(|u| format!("url={u}")).collect();
    let (status, body) = get(&riff.url(&format!("/p3/x/fan-out?{}", query.join("&"))));
    assert_eq!(status, 200, "{body}");
    let answers: Vec<&str> = body.lines().collect();
    assert_eq!(answers.len(), 3, "{body}");
    assert_eq!(answers[0], "200 Hello from a WASIp3 component", "{body}");
    assert!(answers[1].starts_with("200 "), "the WASIp2 component answered: {body}");
    assert!(answers[2].starts_with("error"), "an ungranted host is refused: {body}");
    assert!(!answers[2].contains("200"), "{body}");
}

#[test]
fn a_looping_wasip3_guest_is_stopped_at_its_timeout_and_others_keep_serving() {
    let riff = Riff::start(APP);
    let (status, body) = get(&riff.url("/p3/x/spin-loop"));
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("did not answer within 2s"), "{body}");
    let (status, body) = get(&riff.url("/p3/x/hello"));
    assert_eq!((status, body.as_str()), (200, "Hello from a WASIp3 component"));
}

#[test]
fn warm_wasip3_instances_serve_request_after_request() {
    let riff = Riff::start(APP);
    for i in 0..20 {
        let (status, body) = get(&riff.url("/warm/hello"));
        assert_eq!((status, body.as_str()), (200, "Hello from a WASIp3 component"), "request {i}");
    }
    let sent = "x".repeat(10_000);
    for _ in 0..5 {
        let echoed = client().post(riff.url("/warm/echo")).body(sent.clone()).send().unwrap();
        assert_eq!(echoed.text().unwrap(), sent);
    }
    // An instance goes back to the pool just after its response body ended, so a request sent
    // at once may still get a fresh one; with a pause between requests each finds it back.
    let mut asked = 0;
    let mut most = 0;
    while most <= 1 && asked < 50 {
        std::thread::sleep(Duration::from_millis(20));
        let (_, served) = get(&riff.url("/warm/served"));
        most = most.max(served.parse::<u32>().unwrap());
        asked += 1;
    }
    assert!(most > 1, "one instance served several requests (asked {asked} times)");
    let (_, served) = get(&riff.url("/p3/x/served"));
    assert_eq!(served, "1", "without instance_reuse every request gets a fresh instance");
    let status = riff.component_status("warm");
    assert_eq!(status["requests"], 25 + asked, "{status}");
    assert_eq!(status["failures"], 0, "{status}");
}

#[test]
fn a_wasip2_component_is_swapped_for_a_wasip3_one_and_back() {
    let riff = Riff::start(APP);
    let p3 = std::fs::read(wasm_dir().join("hello_p3.wasm")).unwrap();
    let p2 = std::fs::read(wasm_dir().join("hello.wasm")).unwrap();
    let (status, before) = get(&riff.url("/p2/hello"));
    assert_eq!(status, 200);
    assert_ne!(before, "Hello from a WASIp3 component");

    let (status, report) = riff.deploy("classic", &p3);
    assert_eq!(status, 200, "{report}");
    let (status, body) = get(&riff.url("/p2/hello"));
    assert_eq!((status, body.as_str()), (200, "Hello from a WASIp3 component"));

    let (status, report) = riff.deploy("classic", &p2);
    assert_eq!(status, 200, "{report}");
    let (status, body) = get(&riff.url("/p2/hello"));
    assert_eq!((status, body), (200, before));
}

/// A client that sends its body slowly still gets its echo: the guest reads as bytes arrive.
#[test]
fn a_slow_request_body_streams_through_a_wasip3_guest() {
    let riff = Riff::start(APP);
    let addr = riff.url("/").trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut socket = std::net::TcpStream::connect(&addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(socket, "POST /p3/s/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\nconnection: close\r\n\r\n")
        .unwrap();
    for part in ["ab", "cd", "ef"] {
        socket.write_all(part.as_bytes()).unwrap();
        socket.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    let bytes: String = if answer.contains("transfer-encoding: chunked") {
        // Chunks as they came: `<hex size>\r\n<data>\r\n`, ending with a zero-size chunk.
        body.split("\r\n").skip(1).step_by(2).collect()
    } else {
        body.to_string()
    };
    assert_eq!(bytes, "abcdef", "{answer}");
}

#[test]
fn spin_sdk_6_variables_and_key_value_under_the_same_grants() {
    let riff = Riff::start(APP);
    let (status, body) = get(&riff.url("/p3/x/variable?name=salutation"));
    assert_eq!((status, body.as_str()), (200, "hej from the manifest"));
    let (status, body) = get(&riff.url("/p3/x/variable?name=unknown"));
    assert_eq!(status, 404);
    assert!(body.contains("Undefined"), "{body}");
    let (status, body) = get(&riff.url("/p3/x/variable?name=Bad-Name"));
    assert!(status == 404 && body.contains("InvalidName"), "{status} {body}");

    for (key, value) in [("b", "2"), ("a", "1")] {
        let (status, body) = get(&riff.url(&format!("/p3/x/kv?key={key}&value={value}")));
        assert_eq!((status, body.as_str()), (200, "stored"));
    }
    let (status, body) = get(&riff.url("/p3/x/kv?key=a"));
    assert_eq!((status, body.as_str()), (200, "1"));
    let (status, _) = get(&riff.url("/p3/x/kv?key=zzz"));
    assert_eq!(status, 404);
    let (status, body) = get(&riff.url("/p3/x/kv"));
    assert_eq!((status, body.as_str()), (200, "a,b"), "keys streamed back");
    // The same store a WASIp2 component sees.
    let (status, seen) = get_json(&riff.url("/probe/kv?op=get&key=b"));
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["result"], "2", "{seen}");
    // A label the component was not granted: access-denied, as in Spin.
    let (status, body) = get(&riff.url("/p3/x/kv?store=other&key=a"));
    assert_eq!(status, 403);
    assert!(body.contains("AccessDenied"), "{body}");
    let (status, body) = get(&riff.url("/warm/kv?key=a"));
    assert!(
        status == 403 && body.contains("AccessDenied"),
        "no grant for the warm component: {status} {body}"
    );
}
