//! OCI registry distribution against a real registry on loopback (Debian's `docker-registry`,
//! the CNCF distribution server; `scripts/services.sh` installs it): `riff registry push`, the
//! pushed artifact read back through the registry's HTTP API and checked against Spin's media
//! types and layout, `riff registry pull`, `riff up -f REF`; an artifact laid out by hand as Spin
//! writes one runs too; unknown tags, unreachable registries and non-Spin artifacts fail clearly
//! and leave nothing in the cache.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{self, client, get, wasm_dir, Riff};

// Spin's constants (crates/oci/src/client.rs), written out here so the test checks riff against
// them rather than against itself.
const SPIN_APPLICATION_MEDIA_TYPE: &str = "application/vnd.fermyon.spin.application.v1+config";
const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
const DATA_MEDIATYPE: &str = "application/vnd.wasm.content.layer.v1+data";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A `docker-registry serve` on a free loopback port with its own storage, stopped on drop.
struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`
    addr: String,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start(test: &str) -> Option<Registry> {
        let installed =
            Command::new("docker-registry").arg("--version").output().is_ok_and(|o| o.status.success());
        if !installed {
            common::skip(test, "docker-registry is not installed (scripts/services.sh installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry { child, addr, dir };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if client()
                .get(format!("http://{}/v2/", registry.addr))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Some(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(registry.dir.path().join("registry.log")).unwrap_or_default();
        common::skip(test, &format!("docker-registry did not start: {log}"));
        None
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.addr)
    }

    /// The image manifest of `repo:tag`, as the registry serves it: (its media type, the JSON).
    fn manifest(&self, repo: &str, tag: &str) -> (String, Value) {
        let resp = client()
            .get(self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let media_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        (media_type, resp.json().unwrap())
    }

    fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let resp = client().get(self.url(&format!("/v2/{repo}/blobs/{digest}"))).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "blob {digest}");
        let bytes = resp.bytes().unwrap().to_vec();
        assert_eq!(sha256(&bytes), digest, "the registry serves what was pushed");
        bytes
    }

    /// Upload a blob through the registry's API (monolithic upload) and return its digest.
    fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let resp = client().post(self.url(&format!("/v2/{repo}/blobs/uploads/"))).send().unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") { location } else { self.url(&location) };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = client()
            .put(format!("{location}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().unwrap_or_default());
        digest
    }

    fn put_manifest(&self, repo: &str, tag: &str, manifest: &Value) {
        let resp = client()
            .put(self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.to_string())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().unwrap_or_default());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `riff ARGS...` to completion.
fn riff(args: &[&str]) -> Output {
    let output =
        Command::new(env!("CARGO_BIN_EXE_riff")).args(args).env("RIFF_LOG", "warn").output().unwrap();
    eprintln!(
        "riff {}: {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Files in `dir` and below, as paths relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

const BIG_FILE: &str = "A static file bigger than 128 bytes travels as a layer of its own. \
                        A static file bigger than 128 bytes travels as a layer of its own.\n";
const SMALL_FILE: &str = "inline note\n";
/// SMALL_FILE in Spin's inline encoding: standard base64 without padding.
const SMALL_FILE_BASE64: &str = "aW5saW5lIG5vdGUK";

/// The app pushed: the repo's hello component and the probe (files, a variable, environment, a
/// store grant and riff's own tool settings).
fn write_app(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("static/deeper")).unwrap();
    std::fs::write(dir.join("static/deeper/big.txt"), BIG_FILE).unwrap();
    std::fs::write(dir.join("notes.txt"), SMALL_FILE).unwrap();
    let wasm = wasm_dir();
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "registry-test"
version = "1.2.3"
description = "pushed by riff's tests"
authors = ["Riff Tests <tests@riff.invalid>"]

[variables]
greeting = {{ default = "hello through the registry" }}

[[trigger.http]]
route = "/hello"
component = "hello"

[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.hello]
source = "{wasm}/hello.wasm"

[component.probe]
source = "{wasm}/probe.wasm"
files = [{{ source = "static", destination = "/static" }}, "notes.txt"]
environment = {{ MODE = "pulled" }}
variables = {{ greeting = "{{{{ greeting }}}}" }}
key_value_stores = ["default"]
[component.probe.tool.riff]
max_request_body = "8KiB"
"#,
        wasm = wasm.display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn push_pull_and_run_in_spins_format() {
    let Some(registry) = Registry::start("registry::push_pull_and_run_in_spins_format") else { return };
    let app = tempfile::tempdir().unwrap();
    let manifest = write_app(app.path());
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let reference = registry.reference("riff/registry-test:v1");

    let pushed = riff(&["registry", "push", &reference, "-f", manifest.to_str().unwrap()]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert!(String::from_utf8_lossy(&pushed.stdout).contains("sha256:"));

    // The artifact, read back through the registry's API, is laid out as Spin lays it out.
    let (media_type, image) = registry.manifest("riff/registry-test", "v1");
    assert_eq!(media_type, OCI_MANIFEST);
    assert_eq!(image["schemaVersion"], 2);
    // Spin's client leaves `mediaType` out of the JSON (the upload's Content-Type says it).
    assert!(image.get("mediaType").is_none_or(|m| m == OCI_MANIFEST), "{image}");
    assert!(image.get("artifactType").is_none(), "Spin sets no artifactType");
    assert_eq!(image["config"]["mediaType"], OCI_CONFIG);
    let annotations = &image["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "registry-test");
    assert_eq!(annotations["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(annotations["org.opencontainers.image.description"], "pushed by riff's tests");
    assert_eq!(annotations["org.opencontainers.image.authors"], "Riff Tests <tests@riff.invalid>");
    assert!(annotations["org.opencontainers.image.created"].is_string());
    let layers = image["layers"].as_array().unwrap();
    let types: Vec<&str> = layers.iter().map(|l| l["mediaType"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [WASM_LAYER_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, DATA_MEDIATYPE, SPIN_APPLICATION_MEDIA_TYPE]
    );

    let lock_digest = layers[3]["digest"].as_str().unwrap();
    let config: Value = serde_json::from_slice(
        &registry.blob("riff/registry-test", image["config"]["digest"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "Wasip1");
    assert_eq!(config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"], lock_digest);

    let lock: Value = serde_json::from_slice(&registry.blob("riff/registry-test", lock_digest)).unwrap();
    assert_eq!(lock["spin_lock_version"], 0);
    assert_eq!(lock["metadata"]["name"], "registry-test");
    assert_eq!(lock["metadata"]["trigger"]["type"], "http");
    assert_eq!(lock["variables"]["greeting"], json!({ "default": "hello through the registry" }));
    let triggers = lock["triggers"].as_array().unwrap();
    assert_eq!(triggers[0]["id"], "hello-http-trigger");
    assert_eq!(triggers[0]["trigger_type"], "http");
    assert_eq!(triggers[0]["trigger_config"], json!({ "component": "hello", "route": "/hello" }));
    let hello_wasm = std::fs::read(wasm_dir().join("hello.wasm")).unwrap();
    let components = lock["components"].as_array().unwrap();
    let hello = components.iter().find(|c| c["id"] == "hello").unwrap();
    assert_eq!(hello["source"], json!({ "content_type": "application/wasm", "digest": sha256(&hello_wasm) }));
    assert_eq!(layers[0]["digest"], sha256(&hello_wasm), "one layer per component Wasm, named by the lock");
    let probe = components.iter().find(|c| c["id"] == "probe").unwrap();
    assert_eq!(probe["metadata"]["key_value_stores"], json!(["default"]));
    assert_eq!(probe["metadata"]["tool"]["riff"]["max_request_body"], "8KiB");
    assert_eq!(probe["env"], json!({ "MODE": "pulled" }));
    assert_eq!(probe["config"], json!({ "greeting": "{{ greeting }}" }));
    let files = probe["files"].as_array().unwrap();
    let big = files.iter().find(|f| f["path"] == "static/deeper/big.txt").unwrap();
    assert_eq!(big["digest"], sha256(BIG_FILE.as_bytes()));
    assert_eq!(layers[2]["digest"], sha256(BIG_FILE.as_bytes()));
    let small = files.iter().find(|f| f["path"] == "notes.txt").unwrap();
    assert!(small["inline"].is_string(), "files of 128 bytes or less are inlined: {small}");

    // Pull, then run the reference.
    let pulled = riff(&["registry", "pull", &reference, "--registry-cache", cache_arg]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    let wasm_cached = cache.path().join("registry/wasm").join(sha256(&hello_wasm));
    assert_eq!(std::fs::read(&wasm_cached).unwrap(), hello_wasm, "cached by digest");
    assert!(!tree(cache.path()).iter().any(|f| f.contains(".partial-")), "{:?}", tree(cache.path()));

    let riff_up = Riff::start_from(Path::new(&reference), &["--registry-cache", cache_arg]);
    assert_eq!(get(&riff_up.url("/hello")), (200, "hello from riff\n".to_string()));
    assert_eq!(get(&riff_up.url("/probe/file/static/deeper/big.txt")), (200, BIG_FILE.to_string()));
    assert_eq!(get(&riff_up.url("/probe/file/notes.txt")), (200, SMALL_FILE.to_string()));
    assert_eq!(get(&riff_up.url("/probe/var/greeting")), (200, "hello through the registry".to_string()));
    assert_eq!(get(&riff_up.url("/probe/env/MODE")), (200, "pulled".to_string()));
    let (status, _) = get(&riff_up.url("/probe/kv?op=set&key=k&value=v"));
    assert_eq!(status, 200, "the store grant travelled");
    let (status, _) = get(&riff_up.url("/probe/kv?op=get&store=other&key=k"));
    assert_eq!(status, 403, "and only that grant");
}

#[test]
fn an_app_laid_out_as_spin_pushes_it_runs() {
    let Some(registry) = Registry::start("registry::an_app_laid_out_as_spin_pushes_it_runs") else { return };
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let repo = "spin/handmade";
    let probe_wasm = std::fs::read(wasm_dir().join("probe.wasm")).unwrap();
    let wasm_digest = registry.put_blob(repo, &probe_wasm);
    let data_digest = registry.put_blob(repo, BIG_FILE.as_bytes());
    // A lock in the shape Spin's loader writes (legacy `trigger` metadata, `executor`, a
    // `trigger-<id>` id, `databases`, an inline file as unpadded base64).
    let lock = json!({
        "spin_lock_version": 0,
        "metadata": {
            "name": "handmade",
            "authors": ["Fermyon Engineering <engineering@fermyon.com>"],
            "trigger": { "type": "http" },
            "triggers": { "http": {} },
            "version": "0.1.0"
        },
        "variables": { "who": { "default": "spin" } },
        "triggers": [{
            "id": "trigger-probe",
            "trigger_type": "http",
            "trigger_config": { "component": "probe", "executor": { "type": "http" }, "route": "/..." }
        }],
        "components": [{
            "id": "probe",
            "metadata": { "allowed_outbound_hosts": [], "key_value_stores": ["default"], "databases": [] },
            "source": { "content_type": "application/wasm", "digest": wasm_digest },
            "config": { "who": "{{ who }}" },
            "files": [
                { "digest": data_digest, "path": "assets/big.txt" },
                { "inline": SMALL_FILE_BASE64, "digest": sha256(SMALL_FILE.as_bytes()), "path": "small.txt" }
            ]
        }]
    });
    let lock_bytes = serde_json::to_vec(&lock).unwrap();
    let lock_digest = registry.put_blob(repo, &lock_bytes);
    let config = json!({
        "architecture": "wasm", "os": "Wasip1",
        "config": { "Labels": { "com.fermyon.spin.lockedAppDigest": lock_digest } },
        "rootfs": { "type": "layers", "diff_ids": [] }
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = registry.put_blob(repo, &config_bytes);
    let descriptor = |media: &str, digest: &str, size: usize| json!({ "mediaType": media, "digest": digest, "size": size });
    registry.put_manifest(
        repo,
        "v1",
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config_digest, config_bytes.len()),
            "layers": [
                descriptor(WASM_LAYER_MEDIA_TYPE, &wasm_digest, probe_wasm.len()),
                descriptor(DATA_MEDIATYPE, &data_digest, BIG_FILE.len()),
                descriptor(SPIN_APPLICATION_MEDIA_TYPE, &lock_digest, lock_bytes.len()),
            ],
            "annotations": { "org.opencontainers.image.title": "handmade" }
        }),
    );
    // Older Spin: the lock is the config blob itself.
    registry.put_manifest(
        repo,
        "old",
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(SPIN_APPLICATION_MEDIA_TYPE, &lock_digest, lock_bytes.len()),
            "layers": [
                descriptor(WASM_LAYER_MEDIA_TYPE, &wasm_digest, probe_wasm.len()),
                descriptor(DATA_MEDIATYPE, &data_digest, BIG_FILE.len()),
            ]
        }),
    );

    for tag in ["v1", "old"] {
        let riff_up = Riff::start_from(
            Path::new(&registry.reference(&format!("{repo}:{tag}"))),
            &["--registry-cache", cache_arg],
        );
        assert_eq!(get(&riff_up.url("/file/assets/big.txt")), (200, BIG_FILE.to_string()), "{tag}");
        assert_eq!(get(&riff_up.url("/file/small.txt")), (200, SMALL_FILE.to_string()), "{tag}");
        assert_eq!(get(&riff_up.url("/var/who")), (200, "spin".to_string()), "{tag}");
    }
}

#[test]
fn registry_errors_are_clear_and_leave_nothing_behind() {
    let Some(registry) = Registry::start("registry::registry_errors_are_clear_and_leave_nothing_behind")
    else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let app = tempfile::tempdir().unwrap();
    let manifest = write_app(app.path());
    let reference = registry.reference("riff/errors:v1");
    assert!(riff(&["registry", "push", &reference, "-f", manifest.to_str().unwrap()]).status.success());

    // An unknown tag: `riff up` and `riff registry pull` say so and exit non-zero.
    let unknown = registry.reference("riff/errors:nope");
    let up =
        riff(&["up", "-f", &unknown, "--registry-cache", cache_arg, "--listen", "127.0.0.1:0", "--no-admin"]);
    assert!(!up.status.success());
    assert!(stderr(&up).contains("riff/errors:nope: not found in the registry"), "{}", stderr(&up));
    let pull =
        riff(&["registry", "pull", &registry.reference("riff/absent:v1"), "--registry-cache", cache_arg]);
    assert!(!pull.status.success());
    assert!(stderr(&pull).contains("not found in the registry"), "{}", stderr(&pull));

    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pull = riff(&[
        "registry",
        "pull",
        &format!("127.0.0.1:{closed}/riff/errors:v1"),
        "--registry-cache",
        cache_arg,
    ]);
    assert!(!pull.status.success());
    assert!(
        stderr(&pull).contains(&format!("cannot reach registry 127.0.0.1:{closed} over http")),
        "{}",
        stderr(&pull)
    );

    // Not a reference at all.
    let push = riff(&["registry", "push", "not a reference", "-f", manifest.to_str().unwrap()]);
    assert!(!push.status.success());
    assert!(stderr(&push).contains("is not a registry reference"), "{}", stderr(&push));

    // A container image, not a Spin app: refused by media type.
    let layer_bytes = b"not a tarball, but the type says so";
    let layer = registry.put_blob("other/image", layer_bytes);
    let config = registry.put_blob("other/image", b"{}");
    registry.put_manifest(
        "other/image",
        "v1",
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config, "size": 2 },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_bytes.len() }]
        }),
    );
    let pull =
        riff(&["registry", "pull", &registry.reference("other/image:v1"), "--registry-cache", cache_arg]);
    assert!(!pull.status.success());
    let err = stderr(&pull);
    assert!(
        err.contains("is not a Spin application")
            && err.contains("application/vnd.oci.image.layer.v1.tar+gzip"),
        "{err}"
    );

    // A lock riff cannot run (a required host feature it lacks) is refused before anything is kept.
    let lock = br#"{"spin_lock_version":1,"must_understand":["host_requirements"],"host_requirements":{"teleportation":"required"},"triggers":[],"components":[]}"#;
    let lock_digest = registry.put_blob("other/future", lock);
    let config_bytes = br#"{"architecture":"wasm","os":"Wasip1"}"#;
    let config = registry.put_blob("other/future", config_bytes);
    registry.put_manifest(
        "other/future",
        "v1",
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config, "size": config_bytes.len() },
            "layers": [{ "mediaType": SPIN_APPLICATION_MEDIA_TYPE, "digest": lock_digest, "size": lock.len() }]
        }),
    );
    let pull =
        riff(&["registry", "pull", &registry.reference("other/future:v1"), "--registry-cache", cache_arg]);
    assert!(!pull.status.success());
    assert!(stderr(&pull).contains("teleportation"), "{}", stderr(&pull));

    let apps = cache.path().join("registry/apps");
    assert_eq!(tree(&apps), Vec::<String>::new(), "no app directory, finished or partial, for failed pulls");
    assert!(!tree(cache.path()).iter().any(|f| f.contains(".partial-")), "{:?}", tree(cache.path()));
}
