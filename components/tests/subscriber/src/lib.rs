//! Test component for the queue trigger and warm instances.
//!
//! Messages are JSON `{"mode": ..., "key": ...}`; every delivery is counted in the key-value
//! store under `attempts:<key>`, and a handled message under `handled:<key>`; each delivery
//! also appends what the handler saw — `{"id", "attempt", "version"}` — to `seen:<key>`:
//!
//! | mode             | handler                                                   |
//! |------------------|-----------------------------------------------------------|
//! | `ok`             | handles it                                                |
//! | `fail-twice`     | answers `err` on attempts 1 and 2, then handles it        |
//! | `fail`           | answers `err` ("always failing (attempt n)"), every time  |
//! | `trap`           | traps, every time                                         |
//! | `hang`           | sleeps for an hour (past any timeout), every time         |
//! | `fail-on-v1`     | answers `err` while this is version `v1`, handles it on any other |
//! | `until-released` | answers `err` until `POST /sub/release/<key>`, then handles it |
//!
//! The version is the last two bytes of [`VERSION`], read from linear memory at run time: the
//! tests make a second version of this component by patching `v1` to `v2` in the built wasm.
//!
//! HTTP: `POST /sub/publish/<topic>` publishes the body; `GET /sub/state/<key>` answers
//! `{"attempts": n, "handled": n, "seen": [...]}`; `POST /sub/release/<key>` releases an
//! `until-released` message; `GET /sub/counter` answers how many requests this instance has
//! served (1 without instance reuse); `GET /sub/trap` traps; `GET /sub/version` answers the
//! version.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/platform",
        inline: "
            package riff:test-subscriber;
            world subscriber {
                import riff:platform/messaging@0.1.0;
                export riff:platform/queue-handler@0.1.0;
            }
        ",
        world: "riff:test-subscriber/subscriber",
        generate_all,
    });
}

use std::sync::atomic::{AtomicU32, Ordering};

use bindings::exports::riff::platform::queue_handler::{Guest, Message};
use bindings::riff::platform::messaging;
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::key_value::Store;

static SERVED: AtomicU32 = AtomicU32::new(0);

/// This build's version marker; `tests/queue.rs` finds it in the wasm and rewrites `v1`.
static VERSION: [u8; 26] = *b"riff-subscriber-version:v1";

/// `v1`, or whatever the marker's last two bytes were patched to. A volatile read, so the
/// compiler cannot fold the constant into the code and the bytes in the data segment decide.
fn version() -> String {
    // SAFETY: reading a plain byte array from a static, which is always initialized.
    let bytes: [u8; 26] = unsafe { std::ptr::read_volatile(&VERSION) };
    String::from_utf8_lossy(&bytes[24..]).into_owned()
}

fn bump(store: &Store, key: &str) -> u32 {
    let n = store
        .get(key)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    store.set(key, n.to_string().as_bytes()).expect("key-value write");
    n
}

fn count(store: &Store, key: &str) -> u32 {
    store
        .get(key)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The deliveries recorded under `seen:<key>`.
fn seen(store: &Store, key: &str) -> Vec<serde_json::Value> {
    store
        .get(&format!("seen:{key}"))
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default()
}

struct Handler;

impl Guest for Handler {
    fn handle(message: Message) -> Result<(), String> {
        let body: serde_json::Value = serde_json::from_slice(&message.payload).map_err(|e| e.to_string())?;
        let key = body["key"].as_str().unwrap_or("none").to_string();
        let store = Store::open_default().map_err(|e| e.to_string())?;
        bump(&store, &format!("attempts:{key}"));
        let mut deliveries = seen(&store, &key);
        deliveries.push(serde_json::json!({
            "id": message.id,
            "attempt": message.attempt,
            "version": version(),
        }));
        let deliveries = serde_json::to_vec(&deliveries).map_err(|e| e.to_string())?;
        store.set(&format!("seen:{key}"), &deliveries).map_err(|e| e.to_string())?;
        match body["mode"].as_str() {
            Some("fail-twice") if message.attempt <= 2 => Err(format!("failing attempt {}", message.attempt)),
            Some("fail") => Err(format!("always failing (attempt {})", message.attempt)),
            Some("trap") => panic!("told to trap"),
            Some("hang") => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(())
            }
            Some("fail-on-v1") if version() == "v1" => Err("failing on v1".to_string()),
            Some("until-released") if count(&store, &format!("released:{key}")) == 0 => {
                Err("not released yet".to_string())
            }
            _ => {
                bump(&store, &format!("handled:{key}"));
                Ok(())
            }
        }
    }
}

bindings::export!(Handler with_types_in bindings);

#[spin_sdk::http_component]
fn http(req: Request) -> anyhow::Result<impl IntoResponse> {
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    let path = req.path().to_string();
    let (status, body) = if let Some(topic) = path.strip_prefix("/sub/publish/") {
        if *req.method() != Method::Post {
            (405, "POST only".to_string())
        } else {
            match messaging::publish(topic, req.body()) {
                Ok(id) => (200, id),
                Err(messaging::Error::AccessDenied(m)) => (403, m),
                Err(messaging::Error::Invalid(m)) => (400, m),
                Err(messaging::Error::Unavailable(m)) => (503, m),
            }
        }
    } else if let Some(key) = path.strip_prefix("/sub/state/") {
        let store = Store::open_default()?;
        let state = serde_json::json!({
            "attempts": count(&store, &format!("attempts:{key}")),
            "handled": count(&store, &format!("handled:{key}")),
            "seen": seen(&store, key),
        });
        (200, state.to_string())
    } else if let Some(key) = path.strip_prefix("/sub/release/") {
        if *req.method() != Method::Post {
            (405, "POST only".to_string())
        } else {
            let store = Store::open_default()?;
            store.set(&format!("released:{key}"), b"1")?;
            (200, "released".to_string())
        }
    } else if path == "/sub/version" {
        (200, version())
    } else if path == "/sub/counter" {
        (200, served.to_string())
    } else if path == "/sub/trap" {
        panic!("told to trap")
    } else {
        (404, "no such route".to_string())
    };
    Ok(Response::builder().status(status).header("content-type", "text/plain").body(body).build())
}
