//! `riff new`: projects made from the embedded templates build with cargo for wasm32-wasip2
//! (through their own spin.toml's build command, `riff build`) and serve HTTP under `riff up`;
//! (swapping the music-service one into the music app is a known shortfall, ignored). Bad names, unknown
//! templates and existing directories are refused.
//!
//! The projects build with this repository's toolchain (it has the wasm32-wasip2 target) into one
//! shared target directory (`target/riff-new`), so their dependencies compile once per run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::Value;

fn riff_new(dir: &Path, args: &[&str]) -> (bool, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_riff")).arg("new").args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The repository's toolchain (rust-toolchain.toml's channel), which has wasm32-wasip2.
fn toolchain() -> String {
    let text = std::fs::read_to_string(repo_root().join("rust-toolchain.toml")).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("channel")).expect("a channel");
    line.split('"').nth(1).expect("a quoted channel").to_string()
}

/// Build `project` with its spin.toml's build command (`riff build`), into the shared target
/// directory, and put the `.wasm` where its spin.toml looks for it.
fn build(project: &Path, crate_name: &str) -> PathBuf {
    let shared = target_dir().join("riff-new");
    let status = Command::new(env!("CARGO_BIN_EXE_riff"))
        .args(["build", "-f"])
        .arg(project.join("spin.toml"))
        .env("CARGO_TARGET_DIR", &shared)
        .env("RUSTUP_TOOLCHAIN", toolchain())
        .status()
        .unwrap();
    assert!(status.success(), "building {} failed", project.display());
    let built = shared.join("wasm32-wasip2/release").join(format!("{crate_name}.wasm"));
    let wanted = project.join("target/wasm32-wasip2/release").join(format!("{crate_name}.wasm"));
    std::fs::create_dir_all(wanted.parent().unwrap()).unwrap();
    std::fs::copy(&built, &wanted).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
    wanted
}

#[test]
fn names_templates_and_existing_directories_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, list) = riff_new(tmp.path(), &["--list"]);
    assert!(ok, "{list}");
    for t in ["http-rust ", "http-rust-p2 ", "music-service "] {
        assert!(list.lines().any(|l| l.starts_with(t)), "{t} in {list}");
    }
    let (ok, out) = riff_new(tmp.path(), &["http-rust-p3", "x"]);
    assert!(!ok && out.contains("no template \"http-rust-p3\"") && out.contains("--list"), "{out}");
    for bad in ["My_App", "1st", "a--b", "../escape"] {
        let (ok, out) = riff_new(tmp.path(), &["http-rust-p2", bad]);
        assert!(!ok && out.contains("bad project name"), "{bad}: {out}");
    }
    assert!(!tmp.path().join("escape").exists());
    let (ok, out) = riff_new(tmp.path(), &["http-rust-p2", "twice"]);
    assert!(ok && out.contains("Created twice"), "{out}");
    std::fs::write(tmp.path().join("twice/src/lib.rs"), "// mine").unwrap();
    let (ok, out) = riff_new(tmp.path(), &["music-service", "twice"]);
    assert!(!ok && out.contains("already exists"), "{out}");
    assert_eq!(std::fs::read_to_string(tmp.path().join("twice/src/lib.rs")).unwrap(), "// mine", "untouched");
    let (ok, out) = riff_new(tmp.path(), &["http-rust"]);
    assert!(!ok && out.contains("<NAME>"), "a name is required: {out}");
}

#[test]
fn http_rust_p2_builds_and_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = riff_new(tmp.path(), &["http-rust-p2", "hello-p2"]);
    assert!(ok, "{out}");
    let project = tmp.path().join("hello-p2");
    for file in ["Cargo.toml", "src/lib.rs", "spin.toml", ".gitignore", "README.md"] {
        assert!(project.join(file).is_file(), "{file}");
    }
    build(&project, "hello_p2");
    let riff = Riff::start_from(&project.join("spin.toml"), &[]);
    let (status, body) = get(&riff.url("/any/path"));
    assert_eq!((status, body.as_str()), (200, "Hello from hello-p2: GET /any/path\n"));
}

#[test]
fn music_service_builds_and_serves_search() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = riff_new(tmp.path(), &["music-service", "my-search"]);
    assert!(ok, "{out}");
    let project = tmp.path().join("my-search");
    build(&project, "my_search");

    // On its own: the HTTP route.
    let riff = Riff::start_from(&project.join("spin.toml"), &[]);
    let (status, found) = get_json(&riff.url("/v1/search?q=rag"));
    assert_eq!(status, 200, "{found}");
    let names: Vec<&str> =
        found["tracks"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Maple Leaf Rag"], "{found}");
    assert_eq!(found["albums"][0]["name"], "Ragtime Classics", "{found}");
    let (status, body) = get_json(&riff.url("/v1/search?q=joplin&type=song"));
    assert_eq!(status, 400, "{body}");
}

/// Known shortfall: the music app's `search` declares a dependency on `riff:music/catalog`, and
/// riff refuses a new version that does not import it (422); the template imports nothing yet.
#[test]
#[ignore = "the music-service template does not import riff:music/catalog, which the app's search depends on"]
fn music_service_swaps_into_the_app() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = riff_new(tmp.path(), &["music-service", "my-search"]);
    assert!(ok, "{out}");
    let wasm = build(&tmp.path().join("my-search"), "my_search");

    // In the music app, in place of its search component: riff checks its exports (the typed
    // riff:music/search, the queue handler the app's [[trigger.queue]] needs) and serves it.
    let app = Riff::start(&repo_manifest(""));
    let (status, before) = get_json(&app.url("/v1/search?q=rag&type=track"));
    assert_eq!(status, 200, "{before}");
    let (status, deployed) = app.deploy("search", &std::fs::read(&wasm).unwrap());
    assert_eq!(status, 200, "{deployed}");
    let (status, after) = get_json(&app.url("/v1/search?q=rag&type=track"));
    assert_eq!(status, 200, "{after}");
    assert_ne!(before, after, "the new version answers");
    assert_eq!(after["tracks"][0]["name"], "Maple Leaf Rag", "{after}");
    let status: Value = app.component_status("search");
    assert_eq!(status["origin"], "upload", "{status}");
}

/// spin-sdk 6 builds a WASIp3 component; that it builds for wasm32-wasip2 is checked here.
#[test]
fn http_rust_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = riff_new(tmp.path(), &["http-rust", "hello-p3"]);
    assert!(ok, "{out}");
    let wasm = build(&tmp.path().join("hello-p3"), "hello_p3");
    let bytes = std::fs::read(&wasm).unwrap();
    assert_eq!(&bytes[..4], b"\0asm", "a WebAssembly binary");
    assert_eq!(bytes[6..8], [0x01, 0x00], "a component (layer 1), not a core module");
}

/// A spin-sdk 6 project runs on riff's WASIp3 support (component-model async, wasi:http@0.3).
#[test]
fn http_rust_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = riff_new(tmp.path(), &["http-rust", "hello-p3"]);
    assert!(ok, "{out}");
    let project = tmp.path().join("hello-p3");
    build(&project, "hello_p3");
    let riff = Riff::start_from(&project.join("spin.toml"), &[]);
    let (status, body) = get(&riff.url("/any/path"));
    assert_eq!((status, body.as_str()), (200, "Hello from hello-p3: GET /any/path\n"));
}
