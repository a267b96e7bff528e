//! `riff up --watch`: a source edit rebuilds and swaps only its component (with a real cargo
//! build of a real component), a broken edit keeps the old version and prints the compiler's
//! error, and a spin.toml edit is applied without a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// How long a rebuild may take: a real cargo build, which waits for the shared target
/// directory's lock while other builds run on a busy machine.
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// Poll `path` until it answers `want` (or panic after `limit`, showing riff's log).
fn wait_for_answer(riff: &Riff, path: &str, want: &str, limit: Duration) {
    eventually(
        &format!("{path} answering {want:?}"),
        limit,
        || riff.log(),
        || {
            client()
                .get(riff.url(path))
                .send()
                .is_ok_and(|resp| resp.status().as_u16() == 200 && resp.text().unwrap_or_default() == want)
        },
    );
}

const LIB: &str = r#"
#[spin_sdk::http_component]
fn handle(_req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    spin_sdk::http::Response::new(200, "ANSWER")
}
"#;

/// A component crate of its own named `name` (one spin-sdk dependency), built with the
/// components' lockfile, release profile and target directory so cargo reuses their compiled
/// dependencies. Tests running at once use different names: they share the target directory.
fn write_crate(dir: &Path, name: &str) {
    let components = repo_root().join("components");
    let workspace = std::fs::read_to_string(components.join("Cargo.toml")).unwrap();
    let profile = &workspace[workspace.find("[profile.release]").expect("components' release profile")..];
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\n\
             crate-type = [\"cdylib\"]\n\n[dependencies]\nspin-sdk = \"5.2\"\n\n[workspace]\n\n{profile}"
        ),
    )
    .unwrap();
    std::fs::copy(components.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), LIB.replace("ANSWER", "one")).unwrap();
}

#[test]
fn a_source_edit_rebuilds_and_swaps_only_that_component_and_a_broken_edit_keeps_it() {
    let dir = app_dir("");
    let crate_dir = dir.path().join("watched");
    write_crate(&crate_dir, "watched");
    let target = target_dir();
    let build = format!(
        "{} build --offline --release --target wasm32-wasip2 --target-dir {}",
        env!("CARGO"),
        target.display()
    );
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "watch"

[[trigger.http]]
route = "/watched"
component = "watched"
[component.watched]
source = "{target}/wasm32-wasip2/release/watched.wasm"
[component.watched.build]
command = "{build}"
workdir = "watched"
watch = ["src/**/*.rs", "Cargo.toml"]

[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "{wasm}/hello.wasm"
[component.hello.build]
command = "echo built >> built.log"
workdir = "other"
watch = ["*.txt"]
"#,
        target = target.display(),
        wasm = wasm_dir().display(),
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    let status =
        std::process::Command::new("sh").arg("-c").arg(&build).current_dir(&crate_dir).status().unwrap();
    assert!(status.success(), "the first build of the watched crate failed");

    let riff = Riff::start_in(dir, &["--watch"], &[]);
    assert!(riff.wait_for_log("Watching"), "{}", riff.log());
    assert_eq!(get(&riff.url("/watched")), (200, "one".into()));
    let hello_loaded = riff.component_status("hello")["loaded_at"].clone();

    std::fs::write(crate_dir.join("src/lib.rs"), LIB.replace("ANSWER", "two")).unwrap();
    wait_for_answer(&riff, "/watched", "two", BUILD_LIMIT);
    let log = riff.log();
    assert!(log.contains("watched: source changed, building"), "{log}");
    assert!(log.contains("watched: now serving version"), "{log}");
    assert!(!log.contains("hello: source changed"), "only the edited component rebuilds: {log}");
    assert_eq!(riff.component_status("hello")["loaded_at"], hello_loaded, "hello was not reloaded");
    assert!(!riff.dir.path().join("other/built.log").exists(), "hello's build never ran");

    // A broken edit: the compiler's error is printed, the running version keeps serving.
    std::fs::write(crate_dir.join("src/lib.rs"), "fn broken( {\n").unwrap();
    assert!(riff.wait_for_log_within(BUILD_LIMIT, "watched: build failed"), "{}", riff.log());
    let log = riff.log();
    assert!(log.contains("error: "), "the compiler's error is shown: {log}");
    assert!(log.contains("still serving the running version"), "{log}");
    assert_eq!(get(&riff.url("/watched")), (200, "two".into()));

    // Fixing it swaps again.
    std::fs::write(crate_dir.join("src/lib.rs"), LIB.replace("ANSWER", "three")).unwrap();
    wait_for_answer(&riff, "/watched", "three", BUILD_LIMIT);
}

#[test]
fn a_spin_toml_edit_is_applied_without_a_restart() {
    let app = format!(
        r#"spin_manifest_version = 2
[application]
name = "watch-manifest"

[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "{wasm}/hello.wasm"
"#,
        wasm = wasm_dir().display()
    );
    let riff = Riff::start_with(&app, &["--watch"], &[]);
    assert!(riff.wait_for_log("Watching"), "{}", riff.log());
    let hello_loaded = riff.component_status("hello")["loaded_at"].clone();
    assert_eq!(get(&riff.url("/v2/swap")).0, 404);

    let path = riff.dir.path().join("spin.toml");
    // An invalid edit is reported and ignored.
    std::fs::write(&path, format!("{app}\n[component.bad]\nsource = 42\n")).unwrap();
    assert!(riff.wait_for_log_long("spin.toml not applied"), "{}", riff.log());
    assert_eq!(get(&riff.url("/hello")).0, 200);

    let edited = format!(
        "{app}\n[[trigger.http]]\nroute = \"/v2/...\"\ncomponent = \"svc\"\n[component.svc]\nsource = \"{}/swap_v2.wasm\"\n",
        wasm_dir().display()
    );
    std::fs::write(&path, edited).unwrap();
    wait_for_answer(&riff, "/v2/swap", "swap-v2", Duration::from_secs(60));
    assert!(riff.log().contains("spin.toml applied: added svc; routes updated"), "{}", riff.log());
    assert_eq!(riff.component_status("hello")["loaded_at"], hello_loaded, "hello was untouched");
}

/// How many times `needle` occurs in riff's log.
fn count(riff: &Riff, needle: &str) -> usize {
    riff.log().matches(needle).count()
}

/// The loop of issue 10: cargo opening `Cargo.toml`, a build writing outputs that a broad glob
/// matches, a build touching watched files, and riff reading its own spin.toml must not start
/// another build. One edit is one build and one swap; a save that changes nothing is none.
#[test]
fn one_edit_rebuilds_and_swaps_once_then_stays_quiet() {
    // A project laid out as `spin new` makes it: spin.toml, Cargo.toml and src/ in one directory.
    let dir = app_dir("");
    write_crate(dir.path(), "watched_once");
    let target = target_dir();
    // Besides compiling, the build writes a `.rs` file under the project's own `target/` (which
    // `**/*.rs` matches) and touches Cargo.toml and the source without changing them.
    let build = format!(
        "{} build --offline --release --target wasm32-wasip2 --target-dir {} && mkdir -p target/generated \
         && date +%s%N > target/generated/stamp.rs && touch Cargo.toml src/lib.rs",
        env!("CARGO"),
        target.display()
    );
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "watch-once"

[[trigger.http]]
route = "/watched"
component = "watched"
[component.watched]
source = "{target}/wasm32-wasip2/release/watched_once.wasm"
[component.watched.build]
command = "{build}"
watch = ["**/*.rs", "Cargo.toml", "spin.toml"]
"#,
        target = target.display(),
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    let status =
        std::process::Command::new("sh").arg("-c").arg(&build).current_dir(dir.path()).status().unwrap();
    assert!(status.success(), "the first build of the watched crate failed");

    let riff = Riff::start_in(dir, &["--watch"], &[("RIFF_LOG", "info,riff::reload::watch=debug")]);
    assert!(riff.wait_for_log("Watching"), "{}", riff.log());
    assert_eq!(get(&riff.url("/watched")), (200, "one".into()));
    let building = "watched: source changed, building";
    let swapped = "watched: now serving version";
    // Starting does not build.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&riff, building), 0, "{}", riff.log());

    let lib = riff.dir.path().join("src/lib.rs");
    let edited = Instant::now();
    std::fs::write(&lib, LIB.replace("ANSWER", "two")).unwrap();
    wait_for_answer(&riff, "/watched", "two", BUILD_LIMIT);
    eprintln!("edit to serving the new version: {:.1} s", edited.elapsed().as_secs_f64());
    // Quiet for longer than a build and many debounce periods: a build that triggered the next
    // one would show here.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(count(&riff, building), 1, "one edit, one build:\n{}", riff.log());
    assert_eq!(count(&riff, swapped), 1, "one edit, one swap:\n{}", riff.log());

    // Saving the same content again (a write event, no change) builds nothing: wait for the
    // watcher to say it looked and decided so.
    let unchanged = "watched files unchanged, not building";
    let looked = count(&riff, unchanged);
    std::fs::write(&lib, LIB.replace("ANSWER", "two")).unwrap();
    eventually(
        "the watcher seeing the unchanged save",
        BUILD_LIMIT,
        || riff.log(),
        || count(&riff, unchanged) > looked,
    );
    assert_eq!(count(&riff, building), 1, "an unchanged save does not build:\n{}", riff.log());
    assert_eq!(count(&riff, swapped), 1, "{}", riff.log());
    assert_eq!(get(&riff.url("/watched")), (200, "two".into()));
}
