//! Test component for Spin's outbound Redis (`fermyon:spin/redis@2.0.0`) and MQTT
//! (`fermyon:spin/mqtt@2.0.0`) interfaces, using `spin_sdk::redis` and `spin_sdk::mqtt` as
//! Spin's documentation does: open a connection by address, then call its methods.
//!
//! | request | does |
//! | --- | --- |
//! | `POST /redis` `{"address", "ops": [{"op", "key", "value", "values", "keys", "channel", "command", "args"}]}` | opens `address`, runs each op in order |
//! | `POST /mqtt` `{"address", "username", "password", "keep_alive", "topic", "payload", "qos"}` | opens and publishes once |
//!
//! Answers are JSON. A failed `open` is `{"open": "<error>"}` with status 200 — the component
//! carries on after a denial — and each op's outcome is `{"ok": …}` or `{"error": "<error>"}`,
//! errors in the WIT's names (`invalid-address`, `type-error`, `other: …`).

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::{http_component, mqtt, redis};

#[http_component]
fn handle(req: Request) -> Result<impl IntoResponse> {
    let path = req.path().to_string();
    let answer = match path.rsplit('/').next().unwrap_or_default() {
        "redis" => redis_ops(serde_json::from_slice(req.body()).context("a /redis body")?),
        "mqtt" => publish(serde_json::from_slice(req.body()).context("a /mqtt body")?),
        _ => return Ok(Response::new(404, format!("nothing at {path}"))),
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(answer.to_string())
        .build())
}

#[derive(Deserialize)]
struct RedisRequest {
    address: String,
    #[serde(default)]
    ops: Vec<Op>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Op {
    op: String,
    key: String,
    value: String,
    values: Vec<String>,
    keys: Vec<String>,
    channel: String,
    command: String,
    /// `execute` arguments: JSON integers are `int64`, strings `binary`.
    args: Vec<Json>,
}

fn redis_error(e: redis::Error) -> String {
    match e {
        redis::Error::InvalidAddress => "invalid-address".into(),
        redis::Error::TooManyConnections => "too-many-connections".into(),
        redis::Error::TypeError => "type-error".into(),
        redis::Error::Other(message) => format!("other: {message}"),
    }
}

fn redis_ops(request: RedisRequest) -> Json {
    let conn = match redis::Connection::open(&request.address) {
        Ok(conn) => conn,
        Err(e) => return json!({ "open": redis_error(e) }),
    };
    let results: Vec<Json> = request.ops.iter().map(|op| run(&conn, op)).collect();
    json!({ "open": "ok", "results": results })
}

fn run(conn: &redis::Connection, op: &Op) -> Json {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let outcome: Result<Json, redis::Error> = match op.op.as_str() {
        "set" => conn.set(&op.key, &op.value.clone().into_bytes()).map(|()| Json::Null),
        "get" => conn.get(&op.key).map(|v| v.map(text).into()),
        "incr" => conn.incr(&op.key).map(Json::from),
        "del" => conn.del(&op.keys).map(Json::from),
        "sadd" => conn.sadd(&op.key, &op.values).map(Json::from),
        "srem" => conn.srem(&op.key, &op.values).map(Json::from),
        "smembers" => conn.smembers(&op.key).map(|mut members| {
            members.sort();
            members.into()
        }),
        "publish" => conn.publish(&op.channel, &op.value.clone().into_bytes()).map(|()| Json::Null),
        "execute" => {
            let args: Vec<redis::RedisParameter> = op
                .args
                .iter()
                .map(|a| match a.as_i64() {
                    Some(n) => redis::RedisParameter::Int64(n),
                    None => redis::RedisParameter::Binary(a.as_str().unwrap_or_default().as_bytes().to_vec()),
                })
                .collect();
            conn.execute(&op.command, &args).map(|results| {
                results
                    .into_iter()
                    .map(|r| match r {
                        redis::RedisResult::Nil => json!({ "nil": null }),
                        redis::RedisResult::Status(s) => json!({ "status": s }),
                        redis::RedisResult::Int64(n) => json!({ "int64": n }),
                        redis::RedisResult::Binary(b) => json!({ "binary": text(b) }),
                    })
                    .collect::<Vec<_>>()
                    .into()
            })
        }
        other => return json!({ "error": format!("no op {other:?}") }),
    };
    match outcome {
        Ok(value) => json!({ "ok": value }),
        Err(e) => json!({ "error": redis_error(e) }),
    }
}

#[derive(Deserialize)]
struct MqttRequest {
    address: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    keep_alive: u64,
    topic: String,
    payload: String,
    /// 0, 1 or 2.
    #[serde(default)]
    qos: u8,
}

fn mqtt_error(e: mqtt::Error) -> String {
    match e {
        mqtt::Error::InvalidAddress => "invalid-address".into(),
        mqtt::Error::TooManyConnections => "too-many-connections".into(),
        mqtt::Error::ConnectionFailed(message) => format!("connection-failed: {message}"),
        mqtt::Error::Other(message) => format!("other: {message}"),
    }
}

fn publish(request: MqttRequest) -> Json {
    let conn = match mqtt::Connection::open(
        &request.address,
        &request.username,
        &request.password,
        request.keep_alive,
    ) {
        Ok(conn) => conn,
        Err(e) => return json!({ "open": mqtt_error(e) }),
    };
    let qos = match request.qos {
        0 => mqtt::Qos::AtMostOnce,
        1 => mqtt::Qos::AtLeastOnce,
        _ => mqtt::Qos::ExactlyOnce,
    };
    match conn.publish(&request.topic, &request.payload.into_bytes(), qos) {
        Ok(()) => json!({ "open": "ok", "published": true }),
        Err(e) => json!({ "open": "ok", "error": mqtt_error(e) }),
    }
}
