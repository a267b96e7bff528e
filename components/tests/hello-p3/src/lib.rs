//! A component the way spin-sdk 6 (Spin 4) writes them: `#[http_service]`, async all the way.
//! Each route exercises one thing riff must do for WASIp3 guests:
//!
//! * `/hello` — a plain answer;
//! * `/echo` — streams the request body back as it arrives;
//! * `/count?n=N` — a response body written by a task spawned after the head was returned;
//! * `/fan-out?url=A&url=B` — outbound requests sent concurrently, answers joined;
//! * `/spin` — the guest's `spin-*` headers (routing as for p2 components);
//! * `/variable?name=X` — `spin:variables@3.0.0`;
//! * `/kv?[store=S&]key=K[&value=V]` (no key: list the keys) — `spin:key-value@3.0.0`;
//! * `/served` — how many requests this instance has served (warm reuse shows as > 1);
//! * `/spin-loop` — computes forever (the timeout must stop it).

use futures::SinkExt;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;

/// The response as the `wasi:http` handler returns it.
type Answer = spin_sdk::wasip3::http::types::Response;

static SERVED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[http_service]
async fn handle(req: Request) -> anyhow::Result<Answer> {
    let served = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    // The path below the component's route, as Spin passes it.
    let path = match req.headers().get("spin-path-info").and_then(|v| v.to_str().ok()) {
        Some(info) => info.to_string(),
        None => req.uri().path().to_string(),
    };
    let query = req.uri().query().unwrap_or("").to_string();
    let param = |name: &str| -> Vec<String> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.replace("%3A", ":").replace("%2F", "/"))
            .collect()
    };
    let answer = match path.as_str() {
        "/hello" => text(StatusCode::OK, "Hello from a WASIp3 component".into()),
        "/echo" => {
            let body = req.into_body().bytes().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(http::Response::new(FullBody::new(body)).into_response()?)
        }
        "/count" => {
            let n: u32 = param("n").first().and_then(|n| n.parse().ok()).unwrap_or(3);
            let (mut tx, body) = spin_sdk::http::body::stream::<String>();
            spin_sdk::wasip3::spawn(async move {
                for i in 0..n {
                    if tx.send(format!("line {i}\n")).await.is_err() {
                        break;
                    }
                }
            });
            Ok(http::Response::new(body).into_response()?)
        }
        "/fan-out" => {
            let calls = param("url").into_iter().map(|url| async move {
                match spin_sdk::http::get(&url).await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.into_body().bytes().await.unwrap_or_default();
                        // One line per call.
                        format!("{status} {}", String::from_utf8_lossy(&body).replace('\n', " "))
                    }
                    Err(e) => format!("error {e}"),
                }
            });
            let answers = futures::future::join_all(calls).await;
            text(StatusCode::OK, answers.join("\n"))
        }
        "/spin" => {
            let mut lines: Vec<String> = req
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("spin-"))
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
                .collect();
            lines.sort();
            text(StatusCode::OK, lines.join("\n"))
        }
        "/variable" => {
            let name = param("name").pop().unwrap_or_default();
            match spin_sdk::variables::get(&name).await {
                Ok(value) => text(StatusCode::OK, value),
                Err(e) => text(StatusCode::NOT_FOUND, format!("{e:?}")),
            }
        }
        "/kv" => {
            let label = param("store").pop().unwrap_or_else(|| "default".into());
            let key = param("key").pop().unwrap_or_default();
            match spin_sdk::key_value::Store::open(&label).await {
                Err(e) => text(StatusCode::FORBIDDEN, format!("{e:?}")),
                Ok(store) => match param("value").pop() {
                    Some(value) => match store.set(&key, value.as_bytes()).await {
                        Ok(()) => text(StatusCode::OK, "stored".into()),
                        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")),
                    },
                    None if key.is_empty() => match store.get_keys().await.collect().await {
                        Ok(mut keys) => {
                            keys.sort();
                            text(StatusCode::OK, keys.join(","))
                        }
                        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")),
                    },
                    None => match store.get(&key).await {
                        Ok(Some(value)) => text(StatusCode::OK, String::from_utf8_lossy(&value).into_owned()),
                        Ok(None) => text(StatusCode::NOT_FOUND, "no such key".into()),
                        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")),
                    },
                },
            }
        }
        "/served" => text(StatusCode::OK, served.to_string()),
        "/spin-loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        _ => text(StatusCode::NOT_FOUND, format!("no route {path}")),
    };
    answer
}

fn text(status: StatusCode, body: String) -> anyhow::Result<Answer> {
    let response =
        http::Response::builder().status(status).header("content-type", "text/plain").body(body)?;
    Ok(response.into_response()?)
}
