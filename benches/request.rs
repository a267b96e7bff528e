//! Criterion micro-benchmarks of riff's per-request path, in process (no sockets): a fresh
//! store, instantiation from the pre-instantiated component, the guest's `handle`, and reading
//! the whole response body.
//!
//! Needs the components built (`cargo build --release --target wasm32-wasip2` in components/,
//! which the test suite and `riff up --build` also do).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt, Empty};
use riff::app::{App, AppOptions};

fn wasm_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(root.join("target"));
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .current_dir(root.join("components"))
        .status()
        .expect("building components");
    assert!(status.success());
    target.join("wasm32-wasip2/release")
}

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "bench"
[[trigger.http]]
route = "/hello"
component = "hello"
[[trigger.http]]
route = "/probe/..."
component = "probe"
[[trigger.http]]
route = { private = true }
component = "back"
[component.hello]
source = "{wasm}/hello.wasm"
[component.probe]
source = "{wasm}/probe.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://back.spin.internal"]
[component.back]
source = "{wasm}/probe.wasm"
"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let text = MANIFEST.replace("{wasm}", &wasm_dir().to_string_lossy());
    let manifest_path = dir.path().join("spin.toml");
    std::fs::write(&manifest_path, text).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let app = runtime.block_on(async {
        let manifest = riff::manifest::load(&manifest_path).unwrap();
        let options =
            AppOptions { state_dir: dir.path().join(".riff"), runtime_config: None, cache_dir: None };
        App::load(&manifest, &options).await.unwrap()
    });
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();

    let mut group = c.benchmark_group("request");
    for (name, path) in [
        ("hello", "/hello"),
        ("kv_get", "/probe/bench/kv"),
        ("sqlite_insert_select", "/probe/bench/sql"),
        ("chained_private", "/probe/bench/chain"),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let req =
                    http::Request::get(path).header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
                let resp = app.handle(req, client).await;
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
