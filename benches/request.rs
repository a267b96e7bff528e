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
[[trigger.http]]
route = "/p3/..."
component = "hello-p3"
[component.hello]
source = "{wasm}/hello.wasm"
[component.hello-p3]
source = "{wasm}/hello_p3.wasm"
[component.probe]
source = "{wasm}/probe.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://back.spin.internal"]
[component.back]
source = "{wasm}/hello.wasm"
"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let text = MANIFEST.replace("{wasm}", &wasm_dir().to_string_lossy());
    let manifest_path = dir.path().join("spin.toml");
    std::fs::write(&manifest_path, text).unwrap();
    // One thread: the guest task spawned per request runs on the benchmark's own thread, so the
    // figure is the CPU cost of a request, not cross-thread wake-up latency.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = runtime.block_on(async {
        let manifest = riff::manifest::load(&manifest_path).unwrap();
        let options =
            AppOptions { state_dir: dir.path().join(".riff"), runtime_config: None, cache_dir: None };
        App::load(&manifest, &options).await.unwrap()
    });
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    runtime.block_on(async {
        let setup = http::Request::get("/probe/bench/sql-setup")
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        assert_eq!(app.handle(setup, client).await.status(), 200);
    });

    let mut group = c.benchmark_group("request");
    for (name, path) in [
        ("hello", "/hello"),
        // The same answer from a WASIp3 (spin-sdk 6) component, on the concurrent engine.
        ("hello_p3", "/p3/hello"),
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

    // The part of a request that is wasmtime's: a fresh store and an instance, then dropped.
    let mut group = c.benchmark_group("instantiate_only");
    for id in ["hello", "hello-p3", "probe"] {
        let component = app.snapshot().components[id].clone();
        group.bench_function(id, |b| {
            b.to_async(&runtime).iter(|| async {
                let hooks = riff_outbound_http::OutboundHooks {
                    component: component.runtime.id.clone(),
                    allow: component.runtime.allow.clone(),
                    app: std::sync::Weak::<App>::new(),
                    depth: 0,
                };
                let wasi = wasmtime_wasi::WasiCtx::builder().build();
                let state = riff::state::RequestState::new(component.runtime.clone(), wasi, hooks);
                let pre = &component.instances.pre;
                let mut store = wasmtime::Store::new(pre.engine(), state);
                store.set_epoch_deadline(1 << 40);
                pre.instantiate_async(&mut store).await.unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
