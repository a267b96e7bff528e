//! Spin's outbound Redis and MQTT interfaces and the Redis trigger, against the real Redis
//! (127.0.0.1:6379) and Mosquitto (127.0.0.1:1883): a spin-sdk 5.2 component
//! (`components/tests/redis-mqtt`) runs commands and publishes; the test reads what arrived with
//! its own clients. A `#[redis_component]` (`components/tests/redis-handler`) handles messages
//! the test publishes. Every test has its own key prefix, channel and topic.

use std::time::Duration;

use reqwest::Method;
use riff_core::servers;
use serde_json::{json, Value as Json};

use crate::common::*;

const MQTT: (&str, &str) = ("RIFF_TEST_MQTT_URL", "mqtt://127.0.0.1:1883");

/// The Redis URL, or `None` after recording a skip (a failure under `CI=true`).
fn redis_server(test: &str) -> Option<String> {
    let url = servers::server_url(servers::REDIS);
    if url.is_none() {
        servers::skip(test, "Redis must run on 127.0.0.1:6379 (scripts/services.sh starts it)");
    }
    url
}

/// The MQTT broker's host and port, or `None` after recording a skip.
fn mqtt_server(test: &str) -> Option<(String, u16)> {
    let Some(url) = servers::server_url(MQTT) else {
        servers::skip(
            test,
            "an MQTT broker must run on 127.0.0.1:1883 (scripts/services.sh starts Mosquitto)",
        );
        return None;
    };
    let authority = url.split("://").nth(1).unwrap_or_default().trim_end_matches('/');
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "1883"));
    Some((host.to_string(), port.parse().unwrap()))
}

fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// Delete every key under `prefix` (the test's own).
fn clean(url: &str, prefix: &str) {
    let mut conn = redis_connection(url);
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(keys).query(&mut conn).unwrap();
    }
}

const CLIENT_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "outbound"

[[trigger.http]]
route = "/client/..."
component = "client"

[[trigger.http]]
route = "/ungranted/..."
component = "ungranted"

[component.client]
source = "{wasm}/redis_mqtt.wasm"
allowed_outbound_hosts = ["redis://127.0.0.1:6379", "mqtt://127.0.0.1:1883"]

[component.ungranted]
source = "{wasm}/redis_mqtt.wasm"
allowed_outbound_hosts = ["https://example.com", "tcp://127.0.0.1:6379"]
"#;

fn redis_ops(riff: &Riff, route: &str, address: &str, ops: Json) -> Json {
    let (status, body) =
        post_json(&riff.url(&format!("/{route}/redis")), &json!({ "address": address, "ops": ops }));
    assert_eq!(status, 200, "{body}\n{}", riff.log());
    body
}

#[test]
fn outbound_redis_runs_commands_on_the_server() {
    let Some(url) = redis_server("outbound_redis_runs_commands_on_the_server") else { return };
    let prefix = format!("{}:", servers::unique_name("riff_it_redis"));
    let k = |name: &str| format!("{prefix}{name}");
    let riff = Riff::start(CLIENT_APP);
    let body = redis_ops(
        &riff,
        "client",
        "redis://127.0.0.1:6379",
        json!([
            { "op": "set", "key": k("greeting"), "value": "hello" },
            { "op": "get", "key": k("greeting") },
            { "op": "get", "key": k("absent") },
            { "op": "incr", "key": k("count") },
            { "op": "incr", "key": k("count") },
            { "op": "incr", "key": k("greeting") },
            { "op": "sadd", "key": k("set"), "values": ["a", "b", "c"] },
            { "op": "srem", "key": k("set"), "values": ["b", "z"] },
            { "op": "smembers", "key": k("set") },
            { "op": "sadd", "key": k("greeting"), "values": ["x"] },
            { "op": "execute", "command": "RPUSH", "args": [k("list"), "one", 2] },
            { "op": "execute", "command": "LRANGE", "args": [k("list"), 0, -1] },
            { "op": "execute", "command": "SET", "args": [k("exec"), "v"] },
            { "op": "execute", "command": "GET", "args": [k("nothing")] },
            { "op": "execute", "command": "NOSUCHCOMMAND", "args": [] },
            { "op": "del", "keys": [k("count"), k("absent")] },
        ]),
    );
    assert_eq!(body["open"], "ok", "{body}");
    let results = body["results"].as_array().unwrap();
    let expected = [
        json!({ "ok": null }),
        json!({ "ok": "hello" }),
        json!({ "ok": null }),
        json!({ "ok": 1 }),
        json!({ "ok": 2 }),
        json!({ "error": "type-error" }),
        json!({ "ok": 3 }),
        json!({ "ok": 1 }),
        json!({ "ok": ["a", "c"] }),
        json!({ "error": "type-error" }),
        json!({ "ok": [{ "int64": 2 }] }),
        json!({ "ok": [{ "binary": "one" }, { "binary": "2" }] }),
        json!({ "ok": [{ "status": "OK" }] }),
        json!({ "ok": [{ "nil": null }] }),
    ];
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(&results[i], want, "op {i}: {body}");
    }
    assert!(results[14]["error"].as_str().unwrap().starts_with("other: "), "{body}");
    assert_eq!(results[15], json!({ "ok": 1 }), "{body}");

    // What the component wrote is on the server.
    let mut conn = redis_connection(&url);
    let greeting: Option<String> = redis::cmd("GET").arg(k("greeting")).query(&mut conn).unwrap();
    assert_eq!(greeting.as_deref(), Some("hello"));
    let exists: i64 = redis::cmd("EXISTS").arg(k("count")).query(&mut conn).unwrap();
    assert_eq!(exists, 0, "del removed it");
    let exec: Option<String> = redis::cmd("GET").arg(k("exec")).query(&mut conn).unwrap();
    assert_eq!(exec.as_deref(), Some("v"));
    clean(&url, &prefix);
}

#[test]
fn outbound_redis_publishes_to_subscribers() {
    let Some(url) = redis_server("outbound_redis_publishes_to_subscribers") else { return };
    let channel = servers::unique_name("riff_it_channel");
    let mut conn = redis_connection(&url);
    let mut pubsub = conn.as_pubsub();
    pubsub.subscribe(&channel).unwrap();
    pubsub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let riff = Riff::start(CLIENT_APP);
    let body = redis_ops(
        &riff,
        "client",
        "redis://127.0.0.1:6379",
        json!([{ "op": "publish", "channel": channel, "value": "to whom it may concern" }]),
    );
    assert_eq!(body["results"][0], json!({ "ok": null }), "{body}");
    let message = pubsub.get_message().expect("the published message");
    assert_eq!(message.get_channel_name(), channel);
    assert_eq!(message.get_payload_bytes(), b"to whom it may concern");
}

#[test]
fn outbound_redis_outside_allowed_hosts_is_invalid_address() {
    let Some(url) = redis_server("outbound_redis_outside_allowed_hosts_is_invalid_address") else { return };
    let prefix = format!("{}:", servers::unique_name("riff_it_redis"));
    let riff = Riff::start(CLIENT_APP);
    let set = json!([{ "op": "set", "key": format!("{prefix}k"), "value": "v" }]);
    for address in [
        "redis://127.0.0.1:6380",      // another port
        "redis://localhost:6379",      // another host name, even one that resolves to the same
        "rediss://127.0.0.1:6379",     // another scheme
        "redis://127.0.0.2:6379",      // another address
        "redis://127.0.0.1:6379@evil", // not the host it looks like
    ] {
        let body = redis_ops(&riff, "client", address, set.clone());
        assert_eq!(body, json!({ "open": "invalid-address" }), "{address}");
    }
    // A component granted other schemes only — even a tcp:// grant to the same port.
    let body = redis_ops(&riff, "ungranted", "redis://127.0.0.1:6379", set.clone());
    assert_eq!(body, json!({ "open": "invalid-address" }));
    assert!(riff.log().contains("outbound redis to redis://127.0.0.1:6379 denied"), "{}", riff.log());
    // Nothing was written, and the component goes on serving.
    let mut conn = redis_connection(&url);
    let written: Option<String> = redis::cmd("GET").arg(format!("{prefix}k")).query(&mut conn).unwrap();
    assert_eq!(written, None);
    let body = redis_ops(&riff, "client", "redis://127.0.0.1:6379", set);
    assert_eq!(body["results"][0], json!({ "ok": null }), "{body}");
    clean(&url, &prefix);
}

/// A subscriber on `topic` at the broker, ready (its SUBACK received) when returned. The client
/// must live as long as the connection is read.
fn mqtt_subscriber(host: &str, port: u16, topic: &str) -> (rumqttc::Client, rumqttc::Connection) {
    let mut options = rumqttc::MqttOptions::new(servers::unique_name("riff_it_sub"), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = rumqttc::Client::new(options, 16);
    client.subscribe(topic, rumqttc::QoS::ExactlyOnce).unwrap();
    loop {
        match connection.recv_timeout(Duration::from_secs(10)).expect("the broker answers") {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => break,
            Ok(_) => continue,
            Err(e) => panic!("subscribing to {topic}: {e}"),
        }
    }
    (client, connection)
}

/// The next message published on the subscriber's topic.
fn next_message(connection: &mut rumqttc::Connection) -> rumqttc::Publish {
    loop {
        match connection.recv_timeout(Duration::from_secs(20)).expect("a message within 20 s") {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish))) => return publish,
            Ok(_) => continue,
            Err(e) => panic!("waiting for a message: {e}"),
        }
    }
}

fn mqtt_publish(riff: &Riff, route: &str, request: Json) -> Json {
    let (status, body) = post_json(&riff.url(&format!("/{route}/mqtt")), &request);
    assert_eq!(status, 200, "{body}\n{}", riff.log());
    body
}

#[test]
fn outbound_mqtt_publishes_at_every_qos() {
    let Some((host, port)) = mqtt_server("outbound_mqtt_publishes_at_every_qos") else { return };
    let topic = format!("riff-it/{}", servers::unique_name("topic"));
    let (_client, mut subscriber) = mqtt_subscriber(&host, port, &topic);
    let riff = Riff::start(CLIENT_APP);
    let address = format!("mqtt://127.0.0.1:1883?client_id={}", servers::unique_name("riff_it_pub"));
    for qos in [0, 1, 2] {
        let payload = format!("reading {qos}");
        let body = mqtt_publish(
            &riff,
            "client",
            json!({ "address": address, "topic": topic, "payload": payload, "qos": qos, "keep_alive": 30 }),
        );
        assert_eq!(body, json!({ "open": "ok", "published": true }), "qos {qos}");
        let message = next_message(&mut subscriber);
        assert_eq!(message.topic, topic);
        assert_eq!(&message.payload[..], payload.as_bytes(), "qos {qos}");
    }
}

#[test]
fn outbound_mqtt_outside_allowed_hosts_is_connection_failed() {
    let Some(_) = mqtt_server("outbound_mqtt_outside_allowed_hosts_is_connection_failed") else { return };
    let riff = Riff::start(CLIENT_APP);
    let publish = |route: &str, address: &str| {
        mqtt_publish(
            &riff,
            route,
            json!({ "address": address, "topic": "riff-it/denied", "payload": "x", "qos": 1 }),
        )
    };
    for address in [
        "mqtt://127.0.0.1:1884?client_id=a",
        "mqtts://127.0.0.1:1883?client_id=a",
        "mqtt://localhost?client_id=a",
    ] {
        let body = publish("client", address);
        assert_eq!(body, json!({ "open": format!("connection-failed: address {address} is not permitted") }));
    }
    let body = publish("ungranted", "mqtt://127.0.0.1:1883?client_id=a");
    assert!(body["open"].as_str().unwrap().contains("is not permitted"), "{body}");
    // Granted, but no client_id: Spin's invalid-address.
    assert_eq!(publish("client", "mqtt://127.0.0.1:1883"), json!({ "open": "invalid-address" }));
}

/// The Redis-triggered handler, its channel and tag from variables, and the HTTP component to
/// see that riff is up.
fn trigger_app(channel: &str, tag: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "redis-trigger"

[variables]
redis_host = {{ default = "127.0.0.1" }}
channel = {{ default = "{channel}" }}

[application.trigger.redis]
address = "redis://{{{{ redis_host }}}}:6379"

[[trigger.redis]]
channel = "{{{{ channel }}}}"
component = "handler"

[[trigger.http]]
route = "/client/..."
component = "client"

[component.handler]
source = "{{wasm}}/redis_handler.wasm"
allowed_outbound_hosts = ["redis://127.0.0.1:6379"]
variables = {{ tag = "{tag}", redis_address = "redis://{{{{ redis_host }}}}:6379" }}

[component.client]
source = "{{wasm}}/redis_mqtt.wasm"
"#
    )
}

fn publish(url: &str, channel: &str, message: &str) -> i64 {
    let mut conn = redis_connection(url);
    redis::cmd("PUBLISH").arg(channel).arg(message).query(&mut conn).unwrap()
}

fn get(url: &str, key: &str) -> Option<String> {
    let mut conn = redis_connection(url);
    redis::cmd("GET").arg(key).query(&mut conn).unwrap()
}

/// Publish until `n` subscribers receive it (a subscription starts shortly after riff does).
fn publish_to(url: &str, channel: &str, message: &str, n: i64, riff: &Riff) {
    let mut received = 0;
    eventually(
        &format!("{n} subscriber(s) on {channel}"),
        Duration::from_secs(20),
        || riff.log(),
        || {
            received = publish(url, channel, message);
            received >= n
        },
    );
    assert_eq!(received, n, "subscribers on {channel}");
}

#[test]
fn the_redis_trigger_calls_the_component_for_each_message() {
    let Some(url) = redis_server("the_redis_trigger_calls_the_component_for_each_message") else { return };
    let channel = servers::unique_name("riff_it_events");
    let prefix = format!("{}:", servers::unique_name("riff_it_trigger"));
    let riff = Riff::start(&trigger_app(&channel, "v1"));
    publish_to(&url, &channel, &format!("{prefix}first hello"), 1, &riff);
    let wait_for = |key: String, value: &str| {
        eventually(
            &format!("{key} = {value}"),
            Duration::from_secs(20),
            || riff.log(),
            || get(&url, &key).as_deref() == Some(value),
        );
    };
    wait_for(format!("{prefix}first:v1"), "hello");
    // A failing message is logged and skipped; the next one is handled.
    assert_eq!(publish(&url, &channel, &format!("{prefix}second fail")), 1);
    assert!(riff.wait_for_log("a message on"), "{}", riff.log());
    assert_eq!(publish(&url, &channel, &format!("{prefix}third again")), 1);
    wait_for(format!("{prefix}third:v1"), "again");
    assert_eq!(get(&url, &format!("{prefix}second:v1")), None);
    assert!(riff.log().contains("handled "), "the guest's output is in the log");
    clean(&url, &prefix);
}

#[test]
fn the_redis_trigger_follows_manifest_reloads() {
    let Some(url) = redis_server("the_redis_trigger_follows_manifest_reloads") else { return };
    let (old, new) = (servers::unique_name("riff_it_old"), servers::unique_name("riff_it_new"));
    let prefix = format!("{}:", servers::unique_name("riff_it_reload"));
    let riff = Riff::start(&trigger_app(&old, "v1"));
    publish_to(&url, &old, &format!("{prefix}a one"), 1, &riff);
    eventually(
        "v1 handles a",
        Duration::from_secs(20),
        || riff.log(),
        || get(&url, &format!("{prefix}a:v1")).is_some(),
    );

    // A new channel and a new tag: the handler is reloaded and re-subscribed.
    let manifest = riff.dir.path().join("spin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace(&old, &new).replace("tag = \"v1\"", "tag = \"v2\"")).unwrap();
    let (status, change) = riff.admin_call(Method::POST, "/v1/reload", None);
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["changed"], json!(["handler"]), "{change}");
    publish_to(&url, &new, &format!("{prefix}b two"), 1, &riff);
    eventually(
        "v2 handles b",
        Duration::from_secs(20),
        || riff.log(),
        || get(&url, &format!("{prefix}b:v2")).as_deref() == Some("two"),
    );
    eventually(
        "the old channel has no subscriber left",
        Duration::from_secs(20),
        || riff.log(),
        || publish(&url, &old, &format!("{prefix}c three")) == 0,
    );
    assert_eq!(get(&url, &format!("{prefix}b:v1")), None, "the replaced version got nothing");
    clean(&url, &prefix);
}

#[test]
fn every_replica_receives_each_message() {
    let Some(url) = redis_server("every_replica_receives_each_message") else { return };
    let channel = servers::unique_name("riff_it_fanout");
    let prefix = format!("{}:", servers::unique_name("riff_it_fanout"));
    let one = Riff::start(&trigger_app(&channel, "r1"));
    let two = Riff::start(&trigger_app(&channel, "r2"));
    publish_to(&url, &channel, &format!("{prefix}m hi"), 2, &one);
    for tag in ["r1", "r2"] {
        let key = format!("{prefix}m:{tag}");
        eventually(
            &key,
            Duration::from_secs(20),
            || format!("{}\n{}", one.log(), two.log()),
            || get(&url, &key).is_some(),
        );
    }
    clean(&url, &prefix);
}

#[test]
fn redis_trigger_mistakes_are_refused_at_start() {
    let app = trigger_app("riff_it_unused", "v1");
    let no_address =
        app.replace("[application.trigger.redis]\naddress = \"redis://{{ redis_host }}:6379\"\n", "");
    let (code, err) = riff_fails(&no_address, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("spin.toml:") && err.contains("[[trigger.redis]]: no Redis address"), "{err}");

    let not_redis =
        app.replace("address = \"redis://{{ redis_host }}:6379\"", "address = \"http://cache:6379\"");
    let (code, err) = riff_fails(&not_redis, &[], &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("[application.trigger.redis] address") && err.contains("expected redis://"),
        "{err}"
    );

    let undeclared = app.replace("channel = \"{{ channel }}\"", "channel = \"{{ chanel }}\"");
    let (code, err) = riff_fails(&undeclared, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("{{ chanel }}, which is not declared"), "{err}");

    let no_export =
        app.replace("source = \"{wasm}/redis_handler.wasm\"", "source = \"{wasm}/redis_mqtt.wasm\"");
    let (code, err) = riff_fails(&no_export, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("does not export fermyon:spin/inbound-redis"), "{err}");
}
