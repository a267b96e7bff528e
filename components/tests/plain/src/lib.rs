//! Test component with no SDK: `wasi:http` from the `wasi` crate and the draft
//! `wasi:keyvalue` / `wasi:config` interfaces from riff's vendored WIT through wit-bindgen.
//!
//! | path | does |
//! | --- | --- |
//! | `/plain/count/<key>` | `atomics.increment` by one, answers the new value |
//! | `/plain/cas/<key>/<value>` | compare-and-swap from the current value |
//! | `/plain/batch` | `set-many` then `get-many` of three keys |
//! | `/plain/open/<store>` | opens a store, answers the error variant if refused |
//! | `/plain/config/<key>` | `wasi:config/store.get` |

mod bindings {
    wit_bindgen::generate!({
    path: [
        "../../../wit/deps/keyvalue-2024-10-17",
        "../../../wit/deps/wasi-runtime-config-2024-09-27",
    ],
    inline: "
        package riff:plain-test;
        world plain {
            import wasi:keyvalue/store@0.2.0-draft2;
            import wasi:keyvalue/atomics@0.2.0-draft2;
            import wasi:keyvalue/batch@0.2.0-draft2;
            import wasi:config/store@0.2.0-draft-2024-09-27;
        }
    ",
    world: "riff:plain-test/plain",
    generate_all,
    });
}

use ::wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use bindings::wasi::keyvalue::{atomics, batch, store};

struct Plain;

::wasi::http::proxy::export!(Plain);

impl ::wasi::exports::http::incoming_handler::Guest for Plain {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (status, body) = match segments.as_slice() {
            ["plain", "count", key] => with_bucket("default", |b| match atomics::increment(b, key, 1) {
                Ok(n) => (200, n.to_string()),
                Err(e) => (500, format!("{e:?}")),
            }),
            ["plain", "cas", key, value] => with_bucket("default", |b| {
                let cas = match atomics::Cas::new(b, key) {
                    Ok(c) => c,
                    Err(e) => return (500, format!("{e:?}")),
                };
                let before = cas.current().ok().flatten().map(|v| String::from_utf8_lossy(&v).into_owned());
                match atomics::swap(cas, value.as_bytes()) {
                    Ok(()) => (200, format!("swapped from {before:?}")),
                    Err(atomics::CasError::CasFailed(_)) => (409, "cas failed".to_string()),
                    Err(atomics::CasError::StoreError(e)) => (500, format!("{e:?}")),
                }
            }),
            ["plain", "batch"] => with_bucket("default", |b| {
                let pairs = vec![
                    ("b1".to_string(), b"one".to_vec()),
                    ("b2".to_string(), b"two".to_vec()),
                    ("b3".to_string(), b"three".to_vec()),
                ];
                if let Err(e) = batch::set_many(b, &pairs) {
                    return (500, format!("{e:?}"));
                }
                let _ = batch::delete_many(b, &["b3".to_string()]);
                let keys = ["b1", "b2", "b3"].map(String::from).to_vec();
                match batch::get_many(b, &keys) {
                    Ok(values) => (
                        200,
                        values
                            .into_iter()
                            .map(|(k, v)| {
                                format!(
                                    "{k}={}",
                                    v.map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or("-".into())
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    Err(e) => (500, format!("{e:?}")),
                }
            }),
            ["plain", "open", name] => match store::open(name) {
                Ok(_) => (200, "opened".to_string()),
                Err(e) => (403, format!("{e:?}")),
            },
            ["plain", "config", key] => match bindings::wasi::config::store::get(key) {
                Ok(Some(v)) => (200, v),
                Ok(None) => (404, "none".to_string()),
                Err(e) => (500, format!("{e:?}")),
            },
            _ => (404, format!("plain has nothing at {path}")),
        };
        respond(out, status, body.as_bytes());
    }
}

fn with_bucket(name: &str, f: impl FnOnce(&store::Bucket) -> (u16, String)) -> (u16, String) {
    match store::open(name) {
        Ok(bucket) => f(&bucket),
        Err(e) => (403, format!("{e:?}")),
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())]).unwrap();
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).unwrap();
    let outgoing = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().unwrap();
    stream.blocking_write_and_flush(body).unwrap();
    drop(stream);
    OutgoingBody::finish(outgoing, None).unwrap();
}
