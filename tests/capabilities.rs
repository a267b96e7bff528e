//! Capabilities through a real `riff up`: key-value (Spin and WASI interfaces), SQLite (both
//! interface versions), variables, environment and files, outbound HTTP — and every denial.

use crate::common::*;
use serde_json::json;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "capabilities"

[variables]
greeting = { default = "hello" }
from_riff_env = { required = true }
from_spin_env = { default = "unset" }
secret_token = { required = true, secret = true }

[[trigger.http]]
route = "/probe/..."
component = "probe"

[[trigger.http]]
route = "/plain/..."
component = "plain"

[[trigger.http]]
route = "/bare/..."
component = "bare"

[[trigger.http]]
route = "/front/..."
component = "front"

[[trigger.http]]
route = { private = true }
component = "back"

[component.probe]
source = "{wasm}/probe.wasm"
key_value_stores = ["default", "cache"]
sqlite_databases = ["default"]
files = ["assets/*.txt", { source = "static", destination = "/static" }]
environment = { MODE = "test" }
allowed_outbound_hosts = ["http://127.0.0.1:*"]
[component.probe.variables]
message = "{{ greeting }}, world"
riff_env = "{{ from_riff_env }}"
spin_env = "{{ from_spin_env }}"
token = "{{ secret_token }}"

[component.plain]
source = "{wasm}/plain.wasm"
key_value_stores = ["default"]
variables = { colour = "blue" }

# Same code as probe, granted nothing.
[component.bare]
source = "{wasm}/probe.wasm"

[component.front]
source = "{wasm}/probe.wasm"
allowed_outbound_hosts = ["http://back.spin.internal", "http://self"]

[component.back]
source = "{wasm}/probe.wasm"
key_value_stores = ["private"]
"#;

fn start() -> Riff {
    let dir = app_dir(APP);
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/readme.txt"), "mounted by glob").unwrap();
    std::fs::create_dir_all(dir.path().join("static/css")).unwrap();
    std::fs::write(dir.path().join("static/css/site.css"), "body {}").unwrap();
    Riff::start_in(
        dir,
        &[],
        &[
            ("RIFF_VARIABLE_FROM_RIFF_ENV", "from-riff"),
            ("SPIN_VARIABLE_FROM_SPIN_ENV", "from-spin"),
            ("RIFF_VARIABLE_SECRET_TOKEN", "s3cr3t-value"),
        ],
    )
}

fn kv(riff: &Riff, component: &str, query: &str) -> (u16, serde_json::Value) {
    get_json(&riff.url(&format!("/{component}/kv?{query}")))
}

/// A key-value operation that must succeed: its `result` (a missing field fails, it is not null).
fn kv_result(riff: &Riff, component: &str, query: &str) -> serde_json::Value {
    let (status, body) = kv(riff, component, query);
    assert_eq!(status, 200, "{query}: {body}");
    assert!(body.get("result").is_some(), "{query}: no result in {body}");
    body["result"].clone()
}

#[test]
fn key_value_operations_persist_across_requests_and_restarts() {
    let riff = start();
    assert_eq!(kv_result(&riff, "probe", "op=get&key=a"), serde_json::Value::Null);
    assert_eq!(kv_result(&riff, "probe", "op=exists&key=a"), false);
    assert_eq!(kv(&riff, "probe", "op=set&key=a&value=one").0, 200);
    assert_eq!(kv(&riff, "probe", "op=set&key=b&value=two").0, 200);
    assert_eq!(kv_result(&riff, "probe", "op=get&key=a"), "one");
    assert_eq!(kv_result(&riff, "probe", "op=exists&key=a"), true);
    assert_eq!(kv_result(&riff, "probe", "op=keys"), json!(["a", "b"]));
    assert_eq!(kv(&riff, "probe", "op=delete&key=b").0, 200);
    assert_eq!(kv_result(&riff, "probe", "op=keys"), json!(["a"]));
    // Stores are separate.
    assert_eq!(kv_result(&riff, "probe", "store=cache&op=get&key=a"), serde_json::Value::Null);

    let dir = riff.stop();
    let riff = Riff::start_in(
        dir,
        &[],
        &[("RIFF_VARIABLE_FROM_RIFF_ENV", "x"), ("RIFF_VARIABLE_SECRET_TOKEN", "y")],
    );
    assert_eq!(kv_result(&riff, "probe", "op=get&key=a"), "one", "value survives a restart");
}

#[test]
fn key_value_denials() {
    let riff = start();
    // Not granted is `access-denied`, whether the store exists elsewhere (`private`, which back
    // has) or nowhere (`nowhere`): a component learns nothing about others' stores.
    let (status, body) = kv(&riff, "probe", "store=private&op=get&key=a");
    assert_eq!(
        (status, body["error"].as_str().unwrap().trim_start_matches("Error::")),
        (403, "AccessDenied")
    );
    let (status, body) = kv(&riff, "probe", "store=nowhere&op=get&key=a");
    assert_eq!(
        (status, body["error"].as_str().unwrap().trim_start_matches("Error::")),
        (403, "AccessDenied")
    );
    let (status, body) = kv(&riff, "bare", "op=get&key=a");
    assert_eq!(
        (status, body["error"].as_str().unwrap().trim_start_matches("Error::")),
        (403, "AccessDenied")
    );
    // The same through wasi:keyvalue.
    assert_eq!(get(&riff.url("/plain/open/private")), (403, "Error::AccessDenied".into()));
    assert_eq!(get(&riff.url("/plain/open/nowhere")), (403, "Error::AccessDenied".into()));
}

#[test]
fn wasi_keyvalue_atomics_cas_and_batch() {
    let riff = start();
    // 40 concurrent increments from 4 threads: no update is lost.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = riff.url("/plain/count/hits");
            std::thread::spawn(move || {
                for _ in 0..10 {
                    assert_eq!(get(&url).0, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(get(&riff.url("/plain/count/hits")), (200, "41".into()));

    assert_eq!(get(&riff.url("/plain/cas/k/first")), (200, "swapped from None".into()));
    assert_eq!(get(&riff.url("/plain/cas/k/second")), (200, "swapped from Some(\"first\")".into()));
    assert_eq!(get(&riff.url("/plain/batch")), (200, "b1=one,b2=two,b3=-".into()));
    // The spin interface sees what the WASI one wrote: it is one store.
    assert_eq!(kv_result(&riff, "probe", "op=get&key=k"), "second");
}

fn sql(riff: &Riff, route: &str, statement: &str, params: serde_json::Value) -> (u16, serde_json::Value) {
    post_json(&riff.url(&format!("/probe/{route}")), &json!({ "statement": statement, "params": params }))
}

#[test]
fn sqlite_every_value_type_both_interface_versions() {
    let riff = start();
    let (status, _) =
        sql(&riff, "sql", "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)", json!([]));
    assert_eq!(status, 200);
    let row = json!([{"integer": -42}, {"real": 3.25}, {"text": "héllo"}, {"blob": [0, 1, 255]}, null]);
    assert_eq!(sql(&riff, "sql", "INSERT INTO t VALUES (?, ?, ?, ?, ?)", row.clone()).0, 200);
    assert_eq!(sql(&riff, "sql2", "INSERT INTO t VALUES (?, ?, ?, ?, ?)", row.clone()).0, 200);
    for route in ["sql", "sql2"] {
        let (status, out) =
            sql(&riff, route, "SELECT i, r, s, b, n FROM t WHERE i = ?", json!([{"integer": -42}]));
        assert_eq!(status, 200);
        assert_eq!(out["columns"], json!(["i", "r", "s", "b", "n"]));
        assert_eq!(out["rows"], json!([row.clone(), row.clone()]), "{route}");
    }
    let (status, out) = sql(&riff, "sql", "SELECT s FROM t WHERE i = 0", json!([]));
    assert_eq!((status, out["columns"].clone(), out["rows"].clone()), (200, json!(["s"]), json!([])));
    let (status, out) = sql(&riff, "sql", "SELECT * FROM missing", json!([]));
    assert_eq!(status, 500);
    assert!(out["error"].as_str().unwrap().contains("no such table"), "{out}");
}

#[test]
fn sqlite_parameters_cannot_inject() {
    let riff = start();
    assert_eq!(sql(&riff, "sql", "CREATE TABLE users (name TEXT)", json!([])).0, 200);
    let evil = "x'); DROP TABLE users; --";
    assert_eq!(sql(&riff, "sql", "INSERT INTO users (name) VALUES (?)", json!([{"text": evil}])).0, 200);
    let (status, out) =
        sql(&riff, "sql", "SELECT name FROM users WHERE name = ?", json!([{"text": "' OR '1'='1"}]));
    assert_eq!((status, &out["rows"]), (200, &json!([])), "a quoted OR is data, not SQL: {out}");
    let (status, out) = sql(&riff, "sql", "SELECT name FROM users", json!([]));
    assert_eq!(status, 200, "table still exists");
    assert_eq!(out["rows"], json!([[{"text": evil}]]));
}

#[test]
fn sqlite_denials() {
    let riff = start();
    let (status, out) = post_json(&riff.url("/bare/sql"), &json!({ "statement": "SELECT 1" }));
    assert_eq!((status, out["error"].as_str().unwrap().trim_start_matches("Error::")), (403, "AccessDenied"));
    let (status, out) =
        post_json(&riff.url("/probe/sql"), &json!({ "statement": "SELECT 1", "database": "other" }));
    assert_eq!((status, out["error"].as_str().unwrap().trim_start_matches("Error::")), (403, "AccessDenied"));
}

#[test]
fn variables_from_manifest_and_environment() {
    let riff = start();
    assert_eq!(get(&riff.url("/probe/var/message")), (200, "hello, world".into()));
    assert_eq!(get(&riff.url("/probe/var/riff_env")), (200, "from-riff".into()));
    assert_eq!(get(&riff.url("/probe/var/spin_env")), (200, "from-spin".into()));
    assert_eq!(get(&riff.url("/probe/var/token")), (200, "s3cr3t-value".into()));
    let (status, body) = get(&riff.url("/probe/var/greeting"));
    assert_eq!(status, 404, "app variables are not visible unless the component maps them");
    assert!(body.contains("Undefined"), "{body}");
    assert!(get(&riff.url("/probe/var/BAD-name")).1.contains("InvalidName"));
    assert_eq!(get(&riff.url("/plain/config/colour")), (200, "blue".into()));
    assert_eq!(get(&riff.url("/plain/config/message")).0, 404);
    assert!(!riff.log().contains("s3cr3t-value"), "secret leaked into the log");
}

#[test]
fn environment_and_read_only_files() {
    let riff = start();
    assert_eq!(get(&riff.url("/probe/env/MODE")), (200, "test".into()));
    assert_eq!(get(&riff.url("/bare/env/MODE")).0, 404);
    assert_eq!(get(&riff.url("/probe/file/assets/readme.txt")), (200, "mounted by glob".into()));
    assert_eq!(get(&riff.url("/probe/file/static/css/site.css")), (200, "body {}".into()));
    assert_eq!(get(&riff.url("/bare/file/assets/readme.txt")).0, 404, "no files without a grant");
    assert_eq!(get(&riff.url("/probe/write-file")).0, 403, "files are read-only");
}

#[test]
fn outbound_http_allowed_denied_and_chained() {
    let riff = start();
    let health = riff.url("/.well-known/spin/health");
    let (status, out) = get_json(&riff.url(&format!("/probe/outbound?url={health}")));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out, json!({ "status": 200, "body": "OK" }));

    let (status, out) = get_json(&riff.url(&format!("/bare/outbound?url={health}")));
    assert_eq!(status, 502);
    assert!(out["error"].as_str().unwrap().contains("HttpRequestDenied"), "{out}");
    assert!(riff.wait_for_log("denied: not in allowed_outbound_hosts"));

    // In-process chaining to a private component, and to the app itself through `self`.
    let (status, out) = get_json(&riff.url("/front/outbound?url=http://back.spin.internal/hello"));
    assert_eq!((status, out), (200, json!({ "status": 200, "body": "hello from probe" })));
    let (status, out) = get_json(&riff.url("/front/outbound?url=http://self/probe/env/MODE"));
    assert_eq!((status, out), (200, json!({ "status": 200, "body": "test" })));
    // A relative URL is the app itself, under the same `http://self` grant (as in Spin).
    let (status, out) = get_json(&riff.url("/front/outbound?url=%2Fprobe%2Fenv%2FMODE"));
    assert_eq!((status, out), (200, json!({ "status": 200, "body": "test" })));
    let (status, out) = get_json(&riff.url("/bare/outbound?url=%2Fprobe%2Fenv%2FMODE"));
    assert_eq!(status, 502, "no grant, no self request: {out}");
    // front may not reach other components, nor the network.
    let (status, out) = get_json(&riff.url("/front/outbound?url=http://probe.spin.internal/hello"));
    assert_eq!(status, 502, "{out}");
    let (status, _) = get_json(&riff.url(&format!("/front/outbound?url={health}")));
    assert_eq!(status, 502);
    // The callee runs under its own grants: back can use its private store, front cannot.
    let (status, out) = get_json(&riff.url(
        "/front/outbound?url=http://back.spin.internal/kv%3Fstore%3Dprivate%26op%3Dset%26key%3Dk%26value%3Dv",
    ));
    assert_eq!((status, &out["status"]), (200, &json!(200)), "{out}");
    let (status, _) = kv(&riff, "front", "store=private&op=get&key=k");
    assert_eq!(status, 403);
}

/// `wasi:sockets` TCP under `allowed_outbound_hosts`, as Spin grants it: an exact address, a
/// range, nothing.
#[test]
fn tcp_sockets_reach_only_granted_addresses() {
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in echo.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 64];
            use std::io::{Read, Write};
            if let Ok(n) = stream.read(&mut buf) {
                let _ = stream.write_all(&[b"echo:", &buf[..n]].concat());
            }
        }
    });
    let riff = Riff::start(&format!(
        r#"
spin_manifest_version = 2
[application]
name = "sockets"

[[trigger.http]]
route = "/exact/..."
component = "exact"

[[trigger.http]]
route = "/range/..."
component = "range"

[[trigger.http]]
route = "/other-port/..."
component = "other-port"

[[trigger.http]]
route = "/none/..."
component = "none"

[component.exact]
source = "{{wasm}}/probe.wasm"
allowed_outbound_hosts = ["tcp://127.0.0.1:{port}"]

[component.range]
source = "{{wasm}}/probe.wasm"
allowed_outbound_hosts = ["tcp://127.0.0.0/24:*"]

[component.other-port]
source = "{{wasm}}/probe.wasm"
allowed_outbound_hosts = ["tcp://127.0.0.1:{other}", "http://127.0.0.1:{port}"]

[component.none]
source = "{{wasm}}/probe.wasm"
"#,
        other = port.wrapping_add(1).max(1),
    ));
    let exchange =
        |prefix: &str| get_json(&riff.url(&format!("/{prefix}/tcp?addr=127.0.0.1:{port}&send=ping")));
    assert_eq!(exchange("exact"), (200, json!({ "reply": "echo:ping" })));
    assert_eq!(exchange("range"), (200, json!({ "reply": "echo:ping" })));
    for denied in ["other-port", "none"] {
        let (status, out) = exchange(denied);
        assert_eq!(status, 502, "{denied}: {out}");
        assert!(
            out["kind"] == "PermissionDenied" || out["error"].as_str().unwrap().contains("denied"),
            "{denied}: {out}"
        );
    }
    assert!(riff.wait_for_log("denied: not in allowed_outbound_hosts"));
}

/// `allowed_outbound_hosts` entries with `{{ variable }}` parts — here the port, as Spin allows —
/// are resolved at start from the app's variables.
#[test]
fn outbound_grants_take_their_port_from_a_variable() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in server.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    let manifest = r#"
spin_manifest_version = 2
[application]
name = "variable-port"

[variables]
backend_port = { required = true }

[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.probe]
source = "{wasm}/probe.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:{{ backend_port }}"]
"#;
    let riff = Riff::start_with(manifest, &[], &[("RIFF_VARIABLE_BACKEND_PORT", &port.to_string())]);
    let (status, out) = get_json(&riff.url(&format!("/probe/outbound?url=http://127.0.0.1:{port}/")));
    assert_eq!((status, out), (200, json!({ "status": 200, "body": "ok" })));
    let other = port.wrapping_add(1).max(1);
    let (status, out) = get_json(&riff.url(&format!("/probe/outbound?url=http://127.0.0.1:{other}/")));
    assert_eq!(status, 502, "another port is not granted: {out}");
}
