//! The behaviour both swap test versions share; each crate answers with its own name.
//!
//! | Path                  | Answer                                                         |
//! |-----------------------|----------------------------------------------------------------|
//! | `.../wait?key=K`      | sets `K.started` (to its version) in the `default` key-value   |
//! |                       | store, waits until `K` exists, then answers its version        |
//! | anything else         | its version                                                    |
//!
//! Every answer carries `x-version` and `x-served`: how many requests this instance has served,
//! this one included (above 1 only on a warm instance).

use std::sync::atomic::{AtomicU32, Ordering};

use spin_sdk::http::{Request, Response};
use spin_sdk::key_value::Store;

static SERVED: AtomicU32 = AtomicU32::new(0);

pub fn answer(version: &str, req: Request) -> Response {
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    let query = req.query();
    let param = |name: &str| {
        query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).unwrap_or("")
    };
    let path = req.path();
    if path.ends_with("/wait") {
        if let Err(e) = wait(param("key"), version) {
            return Response::builder().status(500).header("content-type", "text/plain").body(e).build();
        }
    }
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("x-version", version)
        .header("x-served", served.to_string())
        .body(version)
        .build()
}

/// Mark `key.started` with this version, then wait until the test sets `key`.
fn wait(key: &str, version: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("key missing".into());
    }
    let store = Store::open_default().map_err(|e| format!("{e:?}"))?;
    store.set(&format!("{key}.started"), version.as_bytes()).map_err(|e| format!("{e:?}"))?;
    while !store.exists(key).map_err(|e| format!("{e:?}"))? {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}
