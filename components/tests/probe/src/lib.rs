//! Test component built with spin-sdk 5.2: each path exercises one host capability, so the
//! integration tests can check the host's behaviour from the outside.
//!
//! | path | does |
//! | --- | --- |
//! | `/headers`, or any path with `?echo=headers` | echoes the `spin-*` headers as JSON |
//! | `/kv?op=get|set|delete|exists|keys&store=&key=&value=` | `fermyon:spin/key-value` |
//! | `/sql`, `/sql2` (POST JSON) | `spin:sqlite@3` / `fermyon:spin/sqlite@2` |
//! | `/var/<name>` | `fermyon:spin/variables` |
//! | `/env/<NAME>`, `/file/<path>` | WASI environment and read-only files |
//! | `/outbound?url=` | `wasi:http/outgoing-handler` |
//! | `/fault/{trap,panic,loop,oom,sleep}` | misbehaviour the host must contain |
//! | `/alloc?mib=N` | allocates N MiB and writes to every page of it |
//! | `/wait?key=K&store=S` | sets `K.started`, then answers once the test has set `K` (store `default` unless `S`) |
//! | `/bench/{kv,sql-setup,sql,sql-write,chain}` | the benchmark's capability routes |
//! | `/tcp?addr=HOST:PORT&send=TEXT` | a `wasi:sockets` TCP exchange: `{"reply"}` or 502 `{"error","kind"}` |

use anyhow::Result;
use serde_json::{json, Value as Json};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::{http_component, key_value, sqlite, sqlite3, variables};

#[http_component]
async fn handle(req: Request) -> Result<impl IntoResponse> {
    let path = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| req.path().to_string());
    let query = parse_query(req.query());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if query_value(&query, "echo") == "headers" {
        return Ok(spin_headers(&req));
    }
    let response = match segments.as_slice() {
        ["hello"] | [""] => text(200, "hello from probe"),
        ["headers"] => spin_headers(&req),
        ["kv"] => kv(&query),
        ["sql"] => sql_v3(req.body()),
        ["sql2"] => sql_v2(req.body()),
        ["var", name] => match variables::get(name) {
            Ok(v) => text(200, &v),
            Err(e) => text(404, &format!("{e:?}")),
        },
        ["env", name] => match std::env::var(name) {
            Ok(v) => text(200, &v),
            Err(_) => text(404, "unset"),
        },
        ["file", rest @ ..] => match std::fs::read_to_string(format!("/{}", rest.join("/"))) {
            Ok(v) => text(200, &v),
            Err(e) => text(404, &e.to_string()),
        },
        ["write-file"] => match std::fs::write("/probe-write.txt", b"x") {
            Ok(()) => text(200, "written"),
            Err(e) => text(403, &e.to_string()),
        },
        ["outbound"] => outbound(query_value(&query, "url")).await,
        ["tcp"] => tcp(query_value(&query, "addr"), query_value(&query, "send")),
        ["fault", kind] => fault(kind, &query),
        ["alloc"] => alloc(&query),
        ["wait"] => wait(&query),
        ["bench", "kv"] => bench_kv(),
        ["bench", "sql-setup"] => bench_sql_setup(),
        ["bench", "sql"] => bench_sql(),
        ["bench", "sql-write"] => bench_sql_write(),
        ["bench", "chain"] => outbound("http://back.spin.internal/hello").await,
        _ => text(404, &format!("probe has nothing at {path}")),
    };
    Ok(response)
}

fn spin_headers(req: &Request) -> Response {
    let spin: serde_json::Map<String, Json> = req
        .headers()
        .filter(|(k, _)| k.starts_with("spin-"))
        .map(|(k, v)| (k.to_string(), json!(v.as_str().unwrap_or_default())))
        .collect();
    json_response(200, &Json::Object(spin))
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> &'a str {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn text(status: u16, body: &str) -> Response {
    Response::builder().status(status).header("content-type", "text/plain").body(body.to_string()).build()
}

fn json_response(status: u16, body: &Json) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn kv(query: &[(String, String)]) -> Response {
    let store_name = match query_value(query, "store") {
        "" => "default",
        s => s,
    };
    let store = match key_value::Store::open(store_name) {
        Ok(s) => s,
        Err(e) => return json_response(403, &json!({ "error": format!("{e:?}") })),
    };
    let key = query_value(query, "key");
    let result = match query_value(query, "op") {
        "get" => store.get(key).map(|v| json!(v.map(|b| String::from_utf8_lossy(&b).into_owned()))),
        "set" => store.set(key, query_value(query, "value").as_bytes()).map(|_| json!("ok")),
        "delete" => store.delete(key).map(|_| json!("ok")),
        "exists" => store.exists(key).map(|b| json!(b)),
        "keys" => store.get_keys().map(|k| json!(k)),
        other => return text(400, &format!("unknown op {other:?}")),
    };
    match result {
        Ok(v) => json_response(200, &json!({ "result": v })),
        Err(e) => json_response(500, &json!({ "error": format!("{e:?}") })),
    }
}

/// `{"database", "statement", "params": [{"integer": 1} | {"real": 1.5} | {"text": ".."} | {"blob": [..]} | null]}`
fn sql_request(body: &[u8]) -> Result<(String, String, Vec<Json>), Response> {
    let request: Json = serde_json::from_slice(body).map_err(|e| text(400, &e.to_string()))?;
    let database = request["database"].as_str().unwrap_or("default").to_string();
    let statement = request["statement"].as_str().ok_or_else(|| text(400, "statement missing"))?.to_string();
    let params = request["params"].as_array().cloned().unwrap_or_default();
    Ok((database, statement, params))
}

macro_rules! sql_handler {
    ($name:ident, $module:ident) => {
        fn $name(body: &[u8]) -> Response {
            use $module::Value;
            let (database, statement, params) = match sql_request(body) {
                Ok(r) => r,
                Err(resp) => return resp,
            };
            let params: Vec<Value> = params
                .iter()
                .map(|p| {
                    if let Some(i) = p["integer"].as_i64() {
                        Value::Integer(i)
                    } else if let Some(f) = p["real"].as_f64() {
                        Value::Real(f)
                    } else if let Some(s) = p["text"].as_str() {
                        Value::Text(s.to_string())
                    } else if let Some(b) = p["blob"].as_array() {
                        Value::Blob(b.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
                    } else {
                        Value::Null
                    }
                })
                .collect();
            let conn = match $module::Connection::open(&database) {
                Ok(c) => c,
                Err(e) => return json_response(403, &json!({ "error": format!("{e:?}") })),
            };
            match conn.execute(&statement, &params) {
                Ok(result) => {
                    let rows: Vec<Json> = result
                        .rows
                        .iter()
                        .map(|row| {
                            Json::Array(
                                row.values
                                    .iter()
                                    .map(|v| match v {
                                        Value::Integer(i) => json!({ "integer": i }),
                                        Value::Real(f) => json!({ "real": f }),
                                        Value::Text(s) => json!({ "text": s }),
                                        Value::Blob(b) => json!({ "blob": b }),
                                        Value::Null => Json::Null,
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    json_response(200, &json!({ "columns": result.columns, "rows": rows }))
                }
                Err(e) => json_response(500, &json!({ "error": format!("{e:?}") })),
            }
        }
    };
}

sql_handler!(sql_v3, sqlite3);
sql_handler!(sql_v2, sqlite);

async fn outbound(url: &str) -> Response {
    let request = Request::builder().method(Method::Get).uri(url).build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Ok(resp) => {
            let body = String::from_utf8_lossy(resp.body()).into_owned();
            json_response(200, &json!({ "status": resp.status(), "body": body }))
        }
        Err(e) => json_response(502, &json!({ "error": e.to_string() })),
    }
}

/// Connect to `addr` over `wasi:sockets` TCP, send `message`, answer with the first reply.
fn tcp(addr: &str, message: &str) -> Response {
    use std::io::{Read, Write};
    let exchanged = std::net::TcpStream::connect(addr).and_then(|mut stream| {
        stream.write_all(message.as_bytes())?;
        let mut reply = vec![0; 1024];
        let n = stream.read(&mut reply)?;
        Ok(String::from_utf8_lossy(&reply[..n]).into_owned())
    });
    match exchanged {
        Ok(reply) => json_response(200, &json!({ "reply": reply })),
        Err(e) => json_response(502, &json!({ "error": e.to_string(), "kind": format!("{:?}", e.kind()) })),
    }
}

fn fault(kind: &str, query: &[(String, String)]) -> Response {
    match kind {
        "trap" => core::arch::wasm32::unreachable(),
        "panic" => panic!("probe panicked on request"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "sleep" => {
            let ms: u64 = query_value(query, "ms").parse().unwrap_or(1000);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            text(200, "slept")
        }
        other => text(400, &format!("unknown fault {other:?}")),
    }
}

/// Allocate `?mib=` MiB and touch every page, so the memory is really grown and used.
fn alloc(query: &[(String, String)]) -> Response {
    let Ok(mib) = query_value(query, "mib").parse::<usize>() else {
        return text(400, "mib must be a number");
    };
    let mut block = vec![0u8; mib << 20];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    let touched: usize = std::hint::black_box(&block).chunks(4096).map(|p| p[0] as usize).sum();
    text(200, &format!("allocated {mib} MiB ({touched} pages)"))
}

/// Mark `K.started`, then wait (polling the store) until `K` exists: a request that lasts exactly
/// as long as the test wants, bounded only by the component's timeout.
fn wait(query: &[(String, String)]) -> Response {
    let store_name = match query_value(query, "store") {
        "" => "default",
        s => s,
    };
    let key = query_value(query, "key");
    if key.is_empty() {
        return text(400, "key missing");
    }
    let store = match key_value::Store::open(store_name) {
        Ok(s) => s,
        Err(e) => return text(403, &format!("{e:?}")),
    };
    if let Err(e) = store.set(&format!("{key}.started"), b"1") {
        return text(500, &format!("{e:?}"));
    }
    loop {
        match store.exists(key) {
            Ok(true) => return text(200, "released"),
            Ok(false) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(e) => return text(500, &format!("{e:?}")),
        }
    }
}

fn bench_kv() -> Response {
    let store = key_value::Store::open_default().expect("default store granted");
    match store.get("bench").expect("get") {
        Some(v) => Response::builder().status(200).body(v).build(),
        None => {
            store.set("bench", b"value").expect("set");
            text(200, "value")
        }
    }
}

fn bench_sql_setup() -> Response {
    let conn = sqlite3::Connection::open_default().expect("default database granted");
    conn.execute(
        "CREATE TABLE IF NOT EXISTS plays (id INTEGER PRIMARY KEY, user TEXT NOT NULL, track INTEGER NOT NULL)",
        &[],
    )
    .expect("create");
    conn.execute("CREATE INDEX IF NOT EXISTS plays_user ON plays(user)", &[]).expect("index");
    text(200, "ready")
}

/// One insert and one indexed select (after `/bench/sql-setup` made the table).
fn bench_sql() -> Response {
    use sqlite3::Value;
    let conn = sqlite3::Connection::open_default().expect("default database granted");
    conn.execute(
        "INSERT INTO plays (user, track) VALUES (?, ?)",
        &[Value::Text("u1".into()), Value::Integer(7)],
    )
    .expect("insert");
    let id = conn.last_insert_rowid();
    let rows = conn
        .execute(
            "SELECT track FROM plays WHERE user = ? AND id = ?",
            &[Value::Text("u1".into()), Value::Integer(id)],
        )
        .expect("select");
    text(200, &format!("{}", rows.rows.len()))
}

/// One insert, one select of that row by its key and one delete of it (after `/bench/sql-setup`
/// made the table): the shape of Spin's published PostgreSQL write benchmark.
fn bench_sql_write() -> Response {
    use sqlite3::Value;
    let conn = sqlite3::Connection::open_default().expect("default database granted");
    conn.execute(
        "INSERT INTO plays (user, track) VALUES (?, ?)",
        &[Value::Text("u2".into()), Value::Integer(7)],
    )
    .expect("insert");
    let id = conn.last_insert_rowid();
    let rows = conn.execute("SELECT track FROM plays WHERE id = ?", &[Value::Integer(id)]).expect("select");
    conn.execute("DELETE FROM plays WHERE id = ?", &[Value::Integer(id)]).expect("delete");
    text(200, &format!("{}", rows.rows.len()))
}
