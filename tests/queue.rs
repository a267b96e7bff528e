//! The durable queue and warm instances: at-least-once delivery with retries and dead letters,
//! publish grants, messages surviving a killed host, load-time checks of `[[trigger.queue]]`,
//! and instance reuse that stops at a hot swap.

use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "queue"

[[trigger.http]]
route = "/sub/..."
component = "sub"
[component.sub]
source = "{wasm}/subscriber.wasm"
key_value_stores = ["default"]
[component.sub.tool.riff]
publish_topics = ["jobs"]

[[trigger.queue]]
topic = "jobs"
component = "sub"
max_attempts = 3
"#;

fn publish(riff: &Riff, topic: &str, message: &Value) -> (u16, String) {
    let resp = client().post(riff.url(&format!("/sub/publish/{topic}"))).json(message).send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

fn state(riff: &Riff, key: &str) -> (u64, u64) {
    let (status, body) = get_json(&riff.url(&format!("/sub/state/{key}")));
    assert_eq!(status, 200, "{body}");
    (body["attempts"].as_u64().unwrap(), body["handled"].as_u64().unwrap())
}

#[test]
fn a_message_is_delivered_and_handled_once() {
    let riff = Riff::start(APP);
    let (status, id) = publish(&riff, "jobs", &json!({"mode": "ok", "key": "a"}));
    assert_eq!(status, 200, "{id}");
    assert!(id.starts_with("msg_"), "{id}");
    eventually("handling", Duration::from_secs(10), || riff.log(), || state(&riff, "a").1 == 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&riff, "a"), (1, 1), "delivered exactly once when the handler succeeds");
}

#[test]
fn a_handler_failing_twice_gets_the_message_again_until_it_succeeds() {
    let riff = Riff::start(APP);
    assert_eq!(publish(&riff, "jobs", &json!({"mode": "fail-twice", "key": "b"})).0, 200);
    eventually(
        "handling after two failures",
        Duration::from_secs(20),
        || riff.log(),
        || state(&riff, "b").1 == 1,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&riff, "b"), (3, 1), "two failed attempts, then one that handled it");
    assert!(riff.log().contains("retrying in"), "{}", riff.log());
}

#[test]
fn messages_to_a_trapping_handler_end_as_dead_letters() {
    let riff = Riff::start(APP);
    let (_, id) = publish(&riff, "jobs", &json!({"mode": "trap", "key": "c"}));
    let dead = || -> Vec<Value> {
        let (status, body) = riff.admin_call(Method::GET, "/v1/dead-letters", None);
        assert_eq!(status, 200, "{body}");
        body["dead_letters"].as_array().unwrap().clone()
    };
    eventually("a dead letter", Duration::from_secs(20), || riff.log(), || !dead().is_empty());
    let letter = &dead()[0];
    assert_eq!(letter["id"], id.as_str());
    assert_eq!(letter["topic"], "jobs");
    assert_eq!(letter["subscriber"], "sub");
    assert_eq!(letter["attempts"], 3);
    assert!(letter["last_error"].as_str().unwrap().contains("trap"), "{letter}");
    assert_eq!(state(&riff, "c"), (3, 0));
    // Other messages still flow.
    publish(&riff, "jobs", &json!({"mode": "ok", "key": "after"}));
    eventually("a later message", Duration::from_secs(10), || riff.log(), || state(&riff, "after").1 == 1);
}

#[test]
fn publishing_needs_a_grant_and_a_valid_topic() {
    let riff = Riff::start(APP);
    let (status, body) = publish(&riff, "other", &json!({}));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("publish_topics"), "{body}");
    let (status, body) = publish(&riff, "Bad%20Topic", &json!({}));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn queued_messages_survive_a_killed_host() {
    let riff = Riff::start(APP);
    // A message that fails its first attempt is pending (waiting out its backoff) when the
    // host is killed; the rest may or may not have been delivered yet.
    assert_eq!(publish(&riff, "jobs", &json!({"mode": "fail-twice", "key": "pending"})).0, 200);
    for i in 0..20 {
        assert_eq!(publish(&riff, "jobs", &json!({"mode": "ok", "key": format!("k{i}")})).0, 200);
    }
    eventually(
        "a first failed attempt",
        Duration::from_secs(10),
        || riff.log(),
        || state(&riff, "pending").0 >= 1,
    );
    let dir = riff.stop(); // SIGKILL

    let riff = Riff::start_in(dir, &[], &[]);
    eventually(
        "the pending message",
        Duration::from_secs(20),
        || riff.log(),
        || state(&riff, "pending").1 == 1,
    );
    for i in 0..20 {
        let key = format!("k{i}");
        eventually(&key, Duration::from_secs(20), || riff.log(), || state(&riff, &key).1 >= 1);
    }
}

#[test]
fn queue_triggers_are_checked_at_load() {
    let not_a_handler = r#"
spin_manifest_version = 2
[application]
name = "q"
[component.hello]
source = "{wasm}/hello.wasm"
[[trigger.queue]]
topic = "jobs"
component = "hello"
"#;
    let (code, err) = riff_fails(not_a_handler, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("does not export riff:platform/queue-handler"), "{err}");

    let unknown = not_a_handler.replace("component = \"hello\"\n", "component = \"nope\"\n");
    let (_, err) = riff_fails(&unknown, &[], &[]);
    assert!(err.contains("[[trigger.queue]] component: no component named \"nope\""), "{err}");

    let bad_topic = not_a_handler.replace("topic = \"jobs\"", "topic = \"Jobs!\"");
    let (_, err) = riff_fails(&bad_topic, &[], &[]);
    assert!(err.contains("is not a topic name"), "{err}");
}

fn counter(riff: &Riff) -> u64 {
    let (status, body) = get(&riff.url("/sub/counter"));
    assert_eq!(status, 200);
    body.parse().unwrap()
}

#[test]
fn warm_instances_serve_in_turn_up_to_max_requests_and_retire_at_a_swap() {
    // Without reuse every request gets a fresh instance.
    let riff = Riff::start(APP);
    assert_eq!((0..4).map(|_| counter(&riff)).collect::<Vec<_>>(), [1, 1, 1, 1]);
    drop(riff);

    let app = APP.replace(
        "publish_topics = [\"jobs\"]",
        "publish_topics = [\"jobs\"]\ninstance_reuse = { max_requests = 3, idle_timeout = \"1m\" }",
    );
    let riff = Riff::start(&app);
    assert_eq!((0..6).map(|_| counter(&riff)).collect::<Vec<_>>(), [1, 2, 3, 1, 2, 3]);
    assert_eq!(counter(&riff), 1);
    assert_eq!(counter(&riff), 2);

    // An instance that trapped is dropped, never reused: the next request gets a fresh one.
    assert_eq!(get(&riff.url("/sub/trap")).0, 500);
    assert_eq!(counter(&riff), 1);
    assert_eq!(counter(&riff), 2);

    // A new version starts with fresh instances; the old version's warm ones are gone.
    let mut variant = std::fs::read(wasm_dir().join("subscriber.wasm")).unwrap();
    variant.extend_from_slice(&[0, 5, 4, b't', b'e', b's', b't']); // a custom section: new hash
    let (status, report) = riff.deploy("sub", &variant);
    assert_eq!(status, 200, "{report}");
    assert_eq!(counter(&riff), 1);
    assert_eq!(counter(&riff), 2);
    // Messages keep flowing to the new version.
    publish(&riff, "jobs", &json!({"mode": "ok", "key": "swapped"}));
    eventually(
        "delivery after a swap",
        Duration::from_secs(10),
        || riff.log(),
        || state(&riff, "swapped").1 == 1,
    );
}
