//! Bad manifests and bad components: `riff up` exits non-zero with one line that says what is
//! wrong and where. Also `riff build`.

use crate::common::*;

const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "errors"
[[trigger.http]]
route = "/..."
component = "hello"
[component.hello]
source = "{wasm}/hello.wasm"
"#;

fn error_line(stderr: &str) -> &str {
    stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
}

#[test]
fn missing_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = riff_fails_in(dir.path(), &[], &[]);
    assert_ne!(code, 0);
    assert!(error_line(&err).contains("spin.toml: manifest not found"), "{err}");
}

#[test]
fn malformed_toml_names_the_line() {
    let (code, err) = riff_fails("spin_manifest_version = 2\n[application\nname = 'x'\n", &[], &[]);
    assert_ne!(code, 0);
    assert!(error_line(&err).contains("spin.toml:2:"), "{err}");
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = GOOD.replace("source = ", "sauce = \"x\"\nsource = ");
    let (code, err) = riff_fails(&text, &[], &[]);
    assert_ne!(code, 0);
    let line = error_line(&err);
    assert!(line.contains("spin.toml:9:") && line.contains("unknown field `sauce`"), "{line}");
}

#[test]
fn route_to_unknown_component() {
    let text = GOOD.replace("component = \"hello\"", "component = \"helo\"");
    let (code, err) = riff_fails(&text, &[], &[]);
    assert_ne!(code, 0);
    let line = error_line(&err);
    assert!(line.contains("spin.toml:7:") && line.contains("no component named \"helo\""), "{line}");
}

#[test]
fn missing_wasm_suggests_build() {
    let text = GOOD.replace("hello.wasm", "nothing-here.wasm");
    let (code, err) = riff_fails(&text, &[], &[]);
    assert_ne!(code, 0);
    let line = error_line(&err);
    assert!(line.contains("spin.toml:8: [component.hello]") && line.contains("--build"), "{line}");
}

#[test]
fn missing_import_is_named() {
    let text = GOOD.replace("hello.wasm", "unsupported.wasm");
    let (code, err) = riff_fails(&text, &[], &[]);
    assert_ne!(code, 0);
    let line = error_line(&err);
    assert!(
        line.contains("spin.toml:8: [component.hello]")
            && line.contains("does not instantiate")
            && line.contains("fermyon:spin/llm@2.0.0"),
        "{line}"
    );
}

#[test]
fn core_module_is_not_a_component() {
    let dir = app_dir(
        &GOOD
            .replace("{wasm}/hello.wasm", "core.wasm")
            .replace(&wasm_dir().to_string_lossy().to_string(), ""),
    );
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let (code, err) = riff_fails_in(dir.path(), &[], &[]);
    assert_ne!(code, 0);
    assert!(error_line(&err).contains("core WebAssembly module without a WIT world"), "{err}");
}

#[test]
fn missing_required_variable() {
    let text =
        GOOD.replace("[[trigger.http]]", "[variables]\napi_key = { required = true }\n[[trigger.http]]");
    let (code, err) = riff_fails(&text, &[], &[]);
    assert_ne!(code, 0);
    assert!(error_line(&err).contains("RIFF_VARIABLE_API_KEY"), "{err}");
}

#[test]
fn bad_runtime_config() {
    let dir = app_dir(GOOD);
    std::fs::write(dir.path().join("rc.toml"), "[key_value_store.default]\ntype = \"memcached\"\n").unwrap();
    let rc = dir.path().join("rc.toml");
    let (code, err) = riff_fails_in(dir.path(), &["--runtime-config-file", rc.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    assert!(error_line(&err).contains("memcached"), "{err}");
}

#[test]
fn build_runs_commands_and_stops_on_failure() {
    let text = GOOD.replace(
        "source = \"{wasm}/hello.wasm\"",
        "source = \"{wasm}/hello.wasm\"\n[component.hello.build]\ncommand = \"echo built > marker.txt\"",
    );
    let dir = app_dir(&text);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_riff"))
        .args(["build", "-f"])
        .arg(dir.path().join("spin.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("marker.txt")).unwrap(), "built\n");

    let failing = GOOD.replace(
        "source = \"{wasm}/hello.wasm\"",
        "source = \"{wasm}/hello.wasm\"\n[component.hello.build]\ncommand = \"echo compiler says no >&2; exit 3\"",
    );
    let dir = app_dir(&failing);
    // Free ports, its own state directory and a time limit, like every other riff the tests start.
    let (code, err) = riff_fails_in(dir.path(), &["--build"], &[]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("compiler says no"), "{err}");
    assert!(error_line(&err).contains("building component \"hello\" failed"), "{err}");
}
