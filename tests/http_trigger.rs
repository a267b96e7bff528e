//! The HTTP trigger: every route form, Spin's request headers, private routes, 404s, health,
//! and components built with spin-sdk and with plain wit-bindgen.

use crate::common::*;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "routes"

[[trigger.http]]
route = "/exact"
component = "probe"

[[trigger.http]]
route = "/users/:user_id/items/:item"
component = "probe"

[[trigger.http]]
route = "/static/..."
component = "probe"

[[trigger.http]]
route = "/plain/..."
component = "plain"

[[trigger.http]]
route = { private = true }
component = "hidden"

[component.probe]
source = "{wasm}/probe.wasm"

[component.plain]
source = "{wasm}/plain.wasm"
key_value_stores = ["default"]

[component.hidden]
source = "{wasm}/probe.wasm"
"#;

#[test]
fn route_forms_and_spin_headers() {
    let riff = Riff::start(APP);

    let (status, h) = get_json(&riff.url("/exact?echo=headers"));
    assert_eq!(status, 200);
    assert_eq!(h["spin-matched-route"], "/exact");
    assert_eq!(h["spin-component-route"], "/exact");
    assert_eq!(h["spin-path-info"], "");
    assert_eq!(h["spin-base-path"], "/");
    let host = riff.base.trim_start_matches("http://");
    assert_eq!(h["spin-full-url"], format!("http://{host}/exact?echo=headers"));
    assert!(h["spin-client-addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{h}");

    let (status, h) = get_json(&riff.url("/users/42/items/abc?echo=headers"));
    assert_eq!(status, 200);
    assert_eq!(h["spin-path-match-user-id"], "42", "underscores become hyphens, as in Spin");
    assert_eq!(h["spin-path-match-item"], "abc");
    assert_eq!(h["spin-matched-route"], "/users/:user_id/items/:item");

    let (status, h) = get_json(&riff.url("/static/css/site.css?echo=headers"));
    assert_eq!(status, 200);
    assert_eq!(h["spin-path-info"], "/css/site.css");
    assert_eq!(h["spin-component-route"], "/static");
    assert_eq!(h["spin-matched-route"], "/static/...");

    // The exact route does not match deeper paths; parameters need a value.
    assert_eq!(get(&riff.url("/exact/more")).0, 404);
    assert_eq!(get(&riff.url("/users/42/items")).0, 404);
}

#[test]
fn clients_cannot_forge_spin_headers() {
    let riff = Riff::start(APP);
    let resp = client()
        .get(riff.url("/static/real?echo=headers"))
        .header("spin-path-info", "/forged")
        .header("spin-path-match-admin", "yes")
        .send()
        .unwrap();
    let h: serde_json::Value = resp.json().unwrap();
    assert_eq!(h["spin-path-info"], "/real");
    assert!(h.get("spin-path-match-admin").is_none(), "{h}");
}

#[test]
fn unknown_paths_get_json_404_and_health_answers() {
    let riff = Riff::start(APP);
    let (status, body) = get_json(&riff.url("/no/such/route"));
    assert_eq!(status, 404);
    assert_eq!(body["error"]["status"], 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("/no/such/route"));
    assert_eq!(get(&riff.url("/.well-known/spin/health")), (200, "OK".to_string()));
}

#[test]
fn private_components_are_not_routable_from_outside() {
    let riff = Riff::start(APP);
    for path in ["/hidden", "/hidden/hello", "/hello"] {
        assert_eq!(get(&riff.url(path)).0, 404, "{path}");
    }
}

#[test]
fn plain_wit_bindgen_component_is_served() {
    let riff = Riff::start(APP);
    assert_eq!(get(&riff.url("/plain/count/visits")), (200, "1".to_string()));
    assert_eq!(get(&riff.url("/plain/count/visits")), (200, "2".to_string()));
    assert_eq!(get(&riff.url("/plain/nothing")).0, 404);
}

#[test]
fn request_bodies_reach_the_guest() {
    let riff = Riff::start(APP);
    // The SQL route reads a JSON body; a malformed one is the guest's 400, proving it arrived.
    let resp = client().post(riff.url("/static/sql")).body("{not json").send().unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = client()
        .post(riff.url("/static/sql"))
        .json(&serde_json::json!({"statement": "SELECT 1"}))
        .send()
        .unwrap();
    // probe has no database granted here: the host refuses, the guest reports it.
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("AccessDenied"));
}

/// A core module built for wasm32-wasip1 (what Spin's templates still make) runs: riff adapts it
/// with the WASI preview1 adapter, and it is held to its grants like any component.
#[test]
fn core_modules_built_for_wasip1_run_under_their_grants() {
    let Some(module) = build_for_wasip1("probe") else { return };
    let bytes = std::fs::read(&module).unwrap();
    assert_eq!(&bytes[4..8], &[1, 0, 0, 0], "a core module, not a component");
    let riff = Riff::start(&format!(
        r#"
spin_manifest_version = 2
[application]
name = "core-module"

[[trigger.http]]
route = "/p1/..."
component = "p1"

[component.p1]
source = "{}"
key_value_stores = ["default"]
environment = {{ MODE = "wasip1" }}
"#,
        module.display()
    ));
    assert_eq!(get(&riff.url("/p1/hello")), (200, "hello from probe".into()));
    assert_eq!(get(&riff.url("/p1/env/MODE")), (200, "wasip1".into()));
    let (status, out) = get_json(&riff.url("/p1/kv?op=set&key=k&value=v"));
    assert_eq!((status, out), (200, serde_json::json!({ "result": "ok" })));
    let (status, out) = get_json(&riff.url("/p1/kv?op=get&key=k"));
    assert_eq!((status, out), (200, serde_json::json!({ "result": "v" })));
    let (status, out) = get_json(&riff.url("/p1/kv?store=other&op=get&key=k"));
    assert_eq!(status, 403, "not granted: {out}");
    assert_eq!(get(&riff.url("/p1/write-file")).0, 403, "no files granted");
}

/// `riff up -f FILE.wasm`: one component on every path, granted nothing (as `spin up -f`).
#[test]
fn one_wasm_file_is_served_on_every_path_with_no_grants() {
    let riff = Riff::start_from(&wasm_dir().join("probe.wasm"), &[]);
    assert_eq!(get(&riff.url("/hello")), (200, "hello from probe".into()));
    let (status, h) = get_json(&riff.url("/any/path?echo=headers"));
    assert_eq!((status, &h["spin-matched-route"]), (200, &serde_json::json!("/...")), "{h}");
    let (status, out) = get_json(&riff.url("/kv?op=get&key=k"));
    assert_eq!(status, 403, "no store granted: {out}");
    assert_eq!(get(&riff.url("/env/MODE")).0, 404, "no environment");
}
