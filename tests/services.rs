//! Typed calls between components (`dependencies` in spin.toml): linking, errors, callee traps
//! turned into `internal` errors, the callee's own grants, and every refusal at load time.

use crate::common::*;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "services"

[[trigger.http]]
route = "/verify/..."
component = "caller"

[component.caller]
source = "{wasm}/auth_caller.wasm"
[component.caller.dependencies]
"riff:music/auth" = { component = "stub" }

[component.stub]
source = "{wasm}/auth_stub.wasm"
environment = { STUB_ONLY = "seen-by-the-stub" }
"#;

#[test]
fn calls_reach_the_callee_and_errors_come_back_as_values() {
    let riff = Riff::start(APP);
    assert_eq!(get(&riff.url("/verify/good")), (200, "user=u1 name=ada".into()));
    let (status, body) = get(&riff.url("/verify/forged"));
    assert_eq!((status, body.as_str()), (401, "unknown token \"forged\""));
    // The callee runs in its own instance, with its own configuration, not the caller's.
    assert_eq!(get(&riff.url("/verify/env")), (500, "seen-by-the-stub".into()));
}

#[test]
fn a_trapping_callee_gives_the_caller_an_internal_error() {
    let riff = Riff::start(APP);
    let (status, body) = get(&riff.url("/verify/trap"));
    assert_eq!(status, 500);
    assert!(body.contains("stub failed: wasm trap"), "{body}");
    // Neither caller nor host is hurt.
    assert_eq!(get(&riff.url("/verify/good")).0, 200);
    assert_eq!(get(&riff.url("/.well-known/spin/health")).0, 200);
}

fn load_error(manifest: &str) -> String {
    let (code, err) = riff_fails(manifest, &[], &[]);
    assert_ne!(code, 0);
    err.lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| panic!("no error line:\n{err}"))
        .to_string()
}

#[test]
fn bad_dependencies_are_refused_at_load() {
    let e = load_error(&APP.replace("{ component = \"stub\" }", "{ component = \"nobody\" }"));
    assert!(e.contains("no component named \"nobody\""), "{e}");

    let hello = format!("{APP}\n[component.hello]\nsource = \"{{wasm}}/hello.wasm\"\n");
    let e = load_error(&hello.replace("{ component = \"stub\" }", "{ component = \"hello\" }"));
    assert!(e.contains("does not export riff:music/auth@0.1.0"), "{e}");

    let e = load_error(&APP.replace("\"riff:music/auth\"", "\"riff:music/catalog\""));
    assert!(e.contains("\"caller\" does not import \"riff:music/catalog\""), "{e}");

    let e = load_error(
        &APP.replace("[component.caller.dependencies]\n\"riff:music/auth\" = { component = \"stub\" }\n", ""),
    );
    assert!(e.contains("does not instantiate") && e.contains("riff:music/auth@0.1.0"), "{e}");

    let mismatch = APP.replace("auth_stub.wasm", "auth_mismatch.wasm");
    let e = load_error(&mismatch);
    assert!(e.contains("riff:music/auth@0.1.0#verify-token") && e.contains("result types differ"), "{e}");

    let cycle =
        format!("{APP}\n[component.stub.dependencies]\n\"riff:music/auth\" = {{ component = \"caller\" }}\n");
    let e = load_error(&cycle);
    assert!(e.contains("dependency cycle"), "{e}");
}
