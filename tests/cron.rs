//! The cron trigger (`[[trigger.cron]]`, Spin's plugin's shape): a component runs on schedule,
//! once per tick; bad expressions and components without the export are refused at start.

use std::time::Duration;

use crate::common::*;

/// The ticker every second, and the probe to read what it recorded (same `default` store).
pub const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "cron"

[[trigger.cron]]
component = "ticker"
cron_expression = "* * * * * *"

[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.ticker]
source = "{wasm}/ticker.wasm"
key_value_stores = ["default"]

[component.probe]
source = "{wasm}/probe.wasm"
key_value_stores = ["default"]
"#;

/// The ticks recorded in `riff`'s store, with how often each ran.
pub fn ticks(riff: &Riff) -> Vec<(u64, String)> {
    let (status, keys) = get_json(&riff.url("/probe/kv?op=keys"));
    assert_eq!(status, 200, "{keys}");
    let mut ticks: Vec<(u64, String)> = keys["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str()?.strip_prefix("tick:").map(str::to_string))
        .map(|ts| {
            let (_, runs) = get_json(&riff.url(&format!("/probe/kv?op=get&key=tick:{ts}")));
            (ts.parse().unwrap(), runs["result"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    ticks.sort();
    ticks
}

#[test]
fn a_component_runs_on_every_tick() {
    let riff = Riff::start(APP);
    eventually(
        "three ticks",
        Duration::from_secs(20),
        || format!("{:?}", ticks(&riff)),
        || ticks(&riff).len() >= 3,
    );
    let seen = ticks(&riff);
    assert!(seen.iter().all(|(_, runs)| runs == "1"), "each tick ran once: {seen:?}");
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0), "one run per second: {seen:?}");
    assert!(riff.wait_for_log("tick "), "the guest's output is in the log");
}

#[test]
fn bad_schedules_and_missing_exports_are_refused_at_start() {
    let five_fields = APP.replace("\"* * * * * *\"", "\"*/5 * * * *\"");
    let (code, err) = riff_fails(&five_fields, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("spin.toml:") && err.contains(": [[trigger.cron]] cron_expression"), "{err}");
    assert!(err.contains("seconds first: \"0 */5 * * * *\""), "{err}");

    let not_cron = APP.replace("source = \"{wasm}/ticker.wasm\"", "source = \"{wasm}/hello.wasm\"");
    let (code, err) = riff_fails(&not_cron, &[], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("does not export fermyon:spin-cron@2.0.0 handle-cron-event"), "{err}");
}
