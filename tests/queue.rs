//! The durable queue and warm instances: at-least-once delivery with retries (one message id
//! across them) and dead letters (from a trap, an `err` or a timeout), publish grants, messages
//! surviving a killed host, a pending retry going to the new version after a hot swap,
//! load-time checks of `[[trigger.queue]]`, and instance reuse that stops at a hot swap.

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

/// Publish `message` on `jobs`, which must be accepted; its message id.
fn publish_job(riff: &Riff, message: Value) -> String {
    let (status, id) = publish(riff, "jobs", &message);
    assert_eq!(status, 200, "publishing {message}: {id}");
    assert!(id.starts_with("msg_"), "{id}");
    id
}

/// What the subscriber recorded for one key: every delivery, and how many it handled.
#[derive(Debug, PartialEq)]
struct State {
    attempts: u64,
    handled: u64,
    /// Each delivery as the handler saw it: (message id, attempt, component version).
    seen: Vec<(String, u64, String)>,
}

fn state(riff: &Riff, key: &str) -> State {
    let (status, body) = get_json(&riff.url(&format!("/sub/state/{key}")));
    assert_eq!(status, 200, "{body}");
    let seen = body["seen"].as_array().unwrap_or_else(|| panic!("no seen list: {body}"));
    State {
        attempts: body["attempts"].as_u64().expect("attempts"),
        handled: body["handled"].as_u64().expect("handled"),
        seen: seen
            .iter()
            .map(|d| {
                (
                    d["id"].as_str().expect("id").to_string(),
                    d["attempt"].as_u64().expect("attempt"),
                    d["version"].as_str().expect("version").to_string(),
                )
            })
            .collect(),
    }
}

/// `n` deliveries of message `id` to version `version`, attempts 1 to `n`.
fn deliveries(id: &str, n: u64, version: &str) -> Vec<(String, u64, String)> {
    (1..=n).map(|attempt| (id.to_string(), attempt, version.to_string())).collect()
}

fn wait_handled(riff: &Riff, key: &str) {
    eventually(
        &format!("handling {key}"),
        Duration::from_secs(120),
        || riff.log(),
        || state(riff, key).handled == 1,
    );
}

/// Wait until the queue has moved past everything published so far, instead of sleeping:
/// publish a marker that fails twice and wait until it is handled. Deliveries come one at a
/// time, oldest due first, and the marker is handled only after two backoffs, so by then any
/// redelivery of an earlier message — an immediate one, or a retry scheduled when that message
/// was handled, before the marker was published — has been delivered.
fn wait_queue_passed(riff: &Riff, marker: &str) {
    publish_job(riff, json!({"mode": "fail-twice", "key": marker}));
    wait_handled(riff, marker);
}

fn dead_letters(riff: &Riff) -> Vec<Value> {
    let (status, body) = riff.admin_call(Method::GET, "/v1/dead-letters", None);
    assert_eq!(status, 200, "{body}");
    body["dead_letters"].as_array().unwrap_or_else(|| panic!("no dead_letters list: {body}")).clone()
}

#[test]
fn a_message_is_delivered_and_handled_once() {
    let riff = Riff::start(APP);
    let id = publish_job(&riff, json!({"mode": "ok", "key": "a"}));
    wait_handled(&riff, "a");
    wait_queue_passed(&riff, "marker");
    let a = state(&riff, "a");
    assert_eq!(
        a,
        State { attempts: 1, handled: 1, seen: deliveries(&id, 1, "v1") },
        "delivered exactly once"
    );
}

#[test]
fn a_handler_failing_twice_gets_the_same_message_again_until_it_succeeds() {
    let riff = Riff::start(APP);
    let id = publish_job(&riff, json!({"mode": "fail-twice", "key": "b"}));
    wait_handled(&riff, "b");
    wait_queue_passed(&riff, "marker");
    // Two failed attempts, then one that handled it, all with the id publish returned.
    assert_eq!(state(&riff, "b"), State { attempts: 3, handled: 1, seen: deliveries(&id, 3, "v1") });
    assert!(riff.log().contains("retrying in"), "{}", riff.log());
}

#[test]
fn a_trap_an_err_or_a_timeout_ends_as_a_dead_letter() {
    let app = APP.replace("publish_topics = [\"jobs\"]", "publish_topics = [\"jobs\"]\ntimeout = \"1s\"");
    assert_ne!(app, APP);
    let riff = Riff::start(&app);
    let cases = [("trap", "c"), ("fail", "d"), ("hang", "e")];
    let ids: Vec<String> =
        cases.iter().map(|(mode, key)| publish_job(&riff, json!({"mode": mode, "key": key}))).collect();
    eventually(
        "three dead letters",
        Duration::from_secs(60),
        || riff.log(),
        || dead_letters(&riff).len() == 3,
    );
    let letters = dead_letters(&riff);
    assert_eq!(letters.len(), 3, "{letters:?}");
    for ((mode, key), id) in cases.iter().zip(&ids) {
        let letter = letters
            .iter()
            .find(|l| l["id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("no dead letter for the {mode} message {id}: {letters:?}"));
        assert_eq!(letter["topic"].as_str(), Some("jobs"), "{letter}");
        assert_eq!(letter["subscriber"].as_str(), Some("sub"), "{letter}");
        assert_eq!(letter["attempts"].as_u64(), Some(3), "{letter}");
        let error = letter["last_error"].as_str().unwrap_or_else(|| panic!("no last_error: {letter}"));
        match *mode {
            "trap" => assert!(error.contains("wasm trap"), "{letter}"),
            "fail" => assert_eq!(error, "always failing (attempt 3)", "the handler's own error: {letter}"),
            _ => assert!(error.contains("did not finish within 1s"), "the timeout named: {letter}"),
        }
        assert_eq!(
            state(&riff, key),
            State { attempts: 3, handled: 0, seen: deliveries(id, 3, "v1") },
            "{mode}"
        );
    }
    // Other messages still flow.
    publish_job(&riff, json!({"mode": "ok", "key": "after"}));
    wait_handled(&riff, "after");
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
    // Enough attempts that the held message is still retrying after the restart.
    let app = APP.replace("max_attempts = 3", "max_attempts = 10");
    assert_ne!(app, APP);
    let riff = Riff::start(&app);
    // A message that fails until it is released is pending (waiting out its backoff) when the
    // host is killed; the rest may or may not have been delivered yet.
    let held = publish_job(&riff, json!({"mode": "until-released", "key": "held"}));
    for i in 0..20 {
        publish_job(&riff, json!({"mode": "ok", "key": format!("k{i}")}));
    }
    // How many attempts failed by the time we look depends on the clock; one is enough.
    eventually(
        "a first failed attempt",
        Duration::from_secs(30),
        || riff.log(),
        || state(&riff, "held").attempts >= 1,
    );
    let dir = riff.stop(); // SIGKILL

    let riff = Riff::start_in(dir, &[], &[]);
    assert_eq!(state(&riff, "held").handled, 0, "not handled before it was released");
    let released = client().post(riff.url("/sub/release/held")).send().unwrap();
    assert_eq!(released.status().as_u16(), 200);
    wait_handled(&riff, "held");
    let seen = state(&riff, "held").seen;
    assert!(seen.len() >= 2, "failed before the kill, handled after: {seen:?}");
    assert!(seen.iter().all(|(id, _, _)| *id == held), "one id across the restart: {seen:?}");

    // Every other message is handled at least once; only the one in flight at the kill (if any)
    // may have been handled before and again after it.
    for i in 0..20 {
        wait_handled_at_least_once(&riff, &format!("k{i}"));
    }
    wait_queue_passed(&riff, "marker");
    let handled: Vec<u64> = (0..20).map(|i| state(&riff, &format!("k{i}")).handled).collect();
    assert!(handled.iter().all(|h| (1..=2).contains(h)), "{handled:?}");
    let twice = handled.iter().filter(|h| **h == 2).count();
    assert!(twice <= 1, "at most the delivery in flight at the kill is repeated: {handled:?}");
}

fn wait_handled_at_least_once(riff: &Riff, key: &str) {
    eventually(
        &format!("handling {key}"),
        Duration::from_secs(60),
        || riff.log(),
        || state(riff, key).handled > 0,
    );
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
    assert_ne!(unknown, not_a_handler);
    let (code, err) = riff_fails(&unknown, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("[[trigger.queue]] component: no component named \"nope\""), "{err}");

    let bad_topic = not_a_handler.replace("topic = \"jobs\"", "topic = \"Jobs!\"");
    assert_ne!(bad_topic, not_a_handler);
    let (code, err) = riff_fails(&bad_topic, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("is not a topic name"), "{err}");
}

fn counter(riff: &Riff) -> u64 {
    let (status, body) = get(&riff.url("/sub/counter"));
    assert_eq!(status, 200, "{body}");
    body.parse().unwrap_or_else(|e| panic!("{e}: {body}"))
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
    assert_ne!(app, APP);
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
    publish_job(&riff, json!({"mode": "ok", "key": "swapped"}));
    wait_handled(&riff, "swapped");
}

/// A second version of the subscriber: the same build with its version marker patched from
/// `v1` to `v2` (see `components/tests/subscriber`), so the handler can tell which one ran.
fn subscriber_v2() -> Vec<u8> {
    let mut wasm = std::fs::read(wasm_dir().join("subscriber.wasm")).unwrap();
    let marker = b"riff-subscriber-version:v1";
    let at: Vec<usize> =
        wasm.windows(marker.len()).enumerate().filter(|(_, w)| w == marker).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the version marker once in subscriber.wasm: {at:?}");
    wasm[at[0] + marker.len() - 1] = b'2';
    wasm
}

#[test]
fn a_pending_retry_goes_to_the_new_version_after_a_swap() {
    // Enough attempts that the message is still retrying on v1 however long the swap takes.
    let app = APP.replace("max_attempts = 3", "max_attempts = 20");
    assert_ne!(app, APP);
    let riff = Riff::start(&app);
    assert_eq!(get(&riff.url("/sub/version")), (200, "v1".to_string()));
    let id = publish_job(&riff, json!({"mode": "fail-on-v1", "key": "swap"}));
    eventually(
        "a failed attempt on v1",
        Duration::from_secs(30),
        || riff.log(),
        || state(&riff, "swap").attempts >= 1,
    );
    assert_eq!(state(&riff, "swap").handled, 0);

    // Swap while its retry is pending: the retry goes to v2, which handles it.
    let (status, report) = riff.deploy("sub", &subscriber_v2());
    assert_eq!(status, 200, "{report}");
    assert_eq!(get(&riff.url("/sub/version")), (200, "v2".to_string()), "the swap took");
    wait_handled(&riff, "swap");
    let State { attempts, handled, seen } = state(&riff, "swap");
    assert_eq!(handled, 1);
    assert_eq!(seen.len() as u64, attempts, "{seen:?}");
    // Every attempt before the swap failed on v1, the retry after it was handled by v2 — the
    // same message, its attempts counted on.
    let n = seen.len() as u64;
    assert!(n >= 2, "at least one attempt on v1, then v2: {seen:?}");
    let mut expected = deliveries(&id, n - 1, "v1");
    expected.push((id.clone(), n, "v2".to_string()));
    assert_eq!(seen, expected);
}
