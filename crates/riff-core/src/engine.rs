//! The one wasmtime [`Engine`]: pooling allocator, epoch interruption, and an on-disk cache of
//! compiled components.
//!
//! * **Pooling** pre-reserves instance, memory and table slots so a per-request instantiation is
//!   a few copy-on-write page mappings instead of fresh `mmap`s.
//! * **Epochs** bound guest execution without instrumentation cost: one ticker thread bumps the
//!   epoch every [`EPOCH_TICK`]; each store yields to the async runtime on every tick (so a busy
//!   guest cannot starve others) and traps once its request's deadline has passed.
//! * **The cache** keys compiled artifacts by the SHA-256 of the `.wasm` and of the engine's
//!   compatibility hash, so a restart skips compilation for components that did not change.
//! * **Core modules** (what `wasm32-wasip1` builds, and what Spin's templates still make) are
//!   turned into components as Spin does: [`componentize`] reads the WIT world their bindings
//!   embedded and supplies `wasi_snapshot_preview1` with the WASI preview1 adapter of this
//!   wasmtime release. The result is cached like any compiled component, under the module's
//!   own digest, so the adapter runs once per module.
//! * **WASIp3 components** (spin-sdk 6, `wasi:http@0.3`) use the component model's async ABI,
//!   which needs wasmtime's concurrency support in every store. That bookkeeping roughly doubles
//!   the cost of a fresh store + instantiation, so WASIp2 components keep an engine without it
//!   and WASIp3 ones get a second engine with it, made when the first such component loads.
//!   Each compiled component belongs to one of the two; [`Component::engine`] says which.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Epoch tick: the granularity of timeouts and of guest yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Largest memory any component may grow to (per-component limits are enforced per store).
    pub max_memory: u64,
    /// Concurrent component instances the pool holds.
    pub max_instances: u32,
    /// Directory for compiled artifacts; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_memory: 4 << 30, max_instances: 1000, cache_dir: None }
    }
}

/// The engines plus their cache and ticker.
#[derive(Clone)]
pub struct RiffEngine {
    /// WASIp2 components and adapted core modules: no concurrency bookkeeping.
    engine: Engine,
    /// WASIp3 components: the component model's async ABI; made on first need.
    concurrent: Arc<OnceLock<Engine>>,
    settings: EngineSettings,
    cache_dir: Option<PathBuf>,
    ticker_stop: Arc<AtomicBool>,
}

/// Which of the two engines a component needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Synchronous guests (WASIp2): the cheaper store.
    Off,
    /// Guests using the async ABI, `stream` or `future` (WASIp3).
    On,
}

impl RiffEngine {
    pub fn new(settings: &EngineSettings) -> Result<Self> {
        let engine = build_engine(settings, Concurrency::Off)?;
        let concurrent = Arc::new(OnceLock::new());
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), concurrent.clone(), ticker_stop.clone());
        Ok(Self {
            engine,
            concurrent,
            settings: settings.clone(),
            cache_dir: settings.cache_dir.clone(),
            ticker_stop,
        })
    }

    /// The WASIp2 engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The WASIp3 engine, made now if no WASIp3 component needed it yet.
    pub fn concurrent_engine(&self) -> Result<&Engine> {
        if let Some(engine) = self.concurrent.get() {
            return Ok(engine);
        }
        let engine = build_engine(&self.settings, Concurrency::On)?;
        Ok(self.concurrent.get_or_init(|| engine))
    }

    /// The engine for `concurrency`.
    pub fn engine_for(&self, concurrency: Concurrency) -> Result<&Engine> {
        match concurrency {
            Concurrency::Off => Ok(&self.engine),
            Concurrency::On => self.concurrent_engine(),
        }
    }
}

fn build_engine(settings: &EngineSettings, concurrency: Concurrency) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // See the module doc: only WASIp3 guests pay for concurrency support.
    config.concurrency_support(concurrency == Concurrency::On);
    if concurrency == Concurrency::On {
        config.wasm_component_model_async(true);
    }

    let mut pool = PoolingAllocationConfig::default();
    let instances = settings.max_instances;
    pool.total_component_instances(instances);
    // A component made by wit-bindgen plus the WASI adapter holds several core instances,
    // memories and tables; size the pool for that.
    pool.total_core_instances(instances * 8);
    pool.total_memories(instances * 2);
    pool.total_tables(instances * 8);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(16);
    pool.max_core_instances_per_component(32);
    pool.max_component_instance_size(1 << 20);
    pool.max_core_instance_size(1 << 20);
    pool.max_memory_size(settings.max_memory as usize);
    pool.table_elements(100_000);
    // Reset finished instances' memories in place instead of `madvise`-ing them away: with
    // Linux's PAGEMAP_SCAN only the pages a request dirtied are restored. Dropping pages
    // costs a TLB shootdown across cores and a page fault on the next request; profiling the
    // hello benchmark showed that as the largest single cost before this setting.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.linear_memory_keep_resident(8 << 20);
    pool.table_keep_resident(1 << 20);
    pool.decommit_batch_size(32);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    Engine::new(&config).map_err(anyhow::Error::from).context("configuring the wasmtime engine")
}

impl RiffEngine {
    /// Load a component from a `.wasm` file, from the compiled cache when possible.
    pub fn load_component(&self, path: &Path) -> Result<LoadedArtifact> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.load_component_bytes(&bytes).with_context(|| format!("loading {}", path.display()))
    }

    /// Compile (or fetch from cache) a component — or a core module, adapted — from its bytes.
    ///
    /// A component is compiled for the WASIp2 engine unless it uses the async ABI, which that
    /// engine's validation refuses; then for the WASIp3 one (after renaming the WASI 0.3 release
    /// candidates [`crate::wasip3`] knows to be final).
    pub fn load_component_bytes(&self, bytes: &[u8]) -> Result<LoadedArtifact> {
        let kind = wasm_kind(bytes)?;
        if kind == WasmKind::CoreModule {
            check_embedded_world(bytes)?; // before the cache, which would hide a refusal
        }
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(component) = self.cached(&self.engine, &digest, kind) {
            return Ok(LoadedArtifact { component, digest, from_cache: true });
        }
        let component = match kind {
            WasmKind::CoreModule => Component::new(&self.engine, componentize(bytes)?)?,
            WasmKind::Component => match Component::new(&self.engine, bytes) {
                Ok(component) => component,
                Err(p2_error) if needs_concurrency(&p2_error) => {
                    let concurrent = self.concurrent_engine()?;
                    if let Some(component) = self.cached(concurrent, &digest, kind) {
                        return Ok(LoadedArtifact { component, digest, from_cache: true });
                    }
                    let renamed = crate::wasip3::final_names(bytes)?;
                    Component::new(concurrent, renamed.as_deref().unwrap_or(bytes))?
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(file) = self.cache_file(component.engine(), &digest, kind) {
            if let Err(e) = write_cache(&file, &component) {
                tracing::warn!("could not cache compiled component at {}: {e:#}", file.display());
            }
        }
        Ok(LoadedArtifact { component, digest, from_cache: false })
    }

    /// Where `engine`'s compilation of the wasm with `digest` is cached.
    fn cache_file(&self, engine: &Engine, digest: &str, kind: WasmKind) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut h = Sha256::new();
        h.update(digest.as_bytes());
        use std::hash::{Hash, Hasher};
        let mut compat = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut compat);
        h.update(compat.finish().to_le_bytes());
        if kind == WasmKind::CoreModule {
            // The adapter is part of what was compiled.
            h.update(b"wasi-preview1-adapter/48.0.8");
        }
        if !Engine::same(engine, &self.engine) {
            // The renaming of release candidates is part of what was compiled.
            h.update(crate::wasip3::SAME_AS_FINAL.join(",").as_bytes());
        }
        Some(dir.join(format!("{}.cwasm", hex::encode(&h.finalize()[..16]))))
    }

    fn cached(&self, engine: &Engine, digest: &str, kind: WasmKind) -> Option<Component> {
        let file = self.cache_file(engine, digest, kind)?;
        if !file.exists() {
            return None;
        }
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (it is part of the file name), in a directory riff owns.
        match unsafe { Component::deserialize_file(engine, &file) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!("ignoring unreadable cache entry {}: {e:#}", file.display());
                None
            }
        }
    }
}

/// Did the WASIp2 engine refuse a component because it uses the component model's async ABI?
fn needs_concurrency(error: &wasmtime::Error) -> bool {
    let message = format!("{error:#}");
    message.contains("component model async") || message.contains("concurrency support")
}

impl Drop for RiffEngine {
    fn drop(&mut self) {
        // Last clone gone: stop the ticker.
        if Arc::strong_count(&self.ticker_stop) == 1 {
            self.ticker_stop.store(true, Ordering::Relaxed);
        }
    }
}

/// A compiled component and where it came from.
pub struct LoadedArtifact {
    pub component: Component,
    /// SHA-256 of the `.wasm`, hex: the component's version identity.
    pub digest: String,
    pub from_cache: bool,
}

fn write_cache(file: &Path, component: &Component) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = component.serialize()?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// What a `.wasm` file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WasmKind {
    Component,
    CoreModule,
}

/// Tell components from core modules, and refuse what is neither with a message saying so.
fn wasm_kind(bytes: &[u8]) -> Result<WasmKind> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        bail!("not a WebAssembly file");
    }
    match &bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(WasmKind::Component),
        [0x01, 0x00, 0x00, 0x00] => Ok(WasmKind::CoreModule),
        _ => bail!("unsupported WebAssembly binary version"),
    }
}

/// Turn a core module into a component: the WIT world its bindings (spin-sdk ≥ 2, wit-bindgen)
/// embedded in custom sections gives the component's imports and exports, and the WASI preview1
/// adapter of this wasmtime release implements `wasi_snapshot_preview1` on WASIp2.
///
/// A module without an embedded world (a WASI command with only `_start`, a Spin 1 module) is
/// refused: nothing says what it exports.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    check_embedded_world(module)?;
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    let hint = "a core WebAssembly module (wasm32-wasip1) that riff could not turn into a component with \
                the WASI preview1 adapter; build it for wasm32-wasip2, or with spin-sdk 2 or later";
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .context(hint)?
        .adapter("wasi_snapshot_preview1", adapter)
        .context(hint)?;
    encoder.encode().context(hint)
}

/// Refuse a core module without the `component-type` custom section wit-bindgen embeds.
fn check_embedded_world(module: &[u8]) -> Result<()> {
    let embedded = wasmparser::Parser::new(0).parse_all(module).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(section)) if section.name().starts_with("component-type"))
    });
    if !embedded {
        bail!(
            "this is a core WebAssembly module without a WIT world (a WASI command, or a Spin 1 module), \
             so riff cannot tell what it exports: build it for wasm32-wasip2, or for wasm32-wasip1 with \
             spin-sdk 2 or later (or wit-bindgen)"
        );
    }
    Ok(())
}

fn spawn_ticker(engine: Engine, concurrent: Arc<OnceLock<Engine>>, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("riff-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
                if let Some(concurrent) = concurrent.get() {
                    concurrent.increment_epoch();
                }
            }
        })
        .expect("spawning the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_components_from_core_modules_and_refuses_the_rest() {
        assert!(wasm_kind(b"hello").unwrap_err().to_string().contains("not a WebAssembly"));
        assert_eq!(wasm_kind(b"\0asm\x01\0\0\0").unwrap(), WasmKind::CoreModule);
        assert_eq!(wasm_kind(b"\0asm\x0d\0\x01\0").unwrap(), WasmKind::Component);
        assert!(wasm_kind(b"\0asm\x02\0\0\0").unwrap_err().to_string().contains("unsupported"));
    }

    /// A core module that writes through preview1 becomes a component importing WASIp2.
    #[test]
    fn core_modules_become_components_with_the_preview1_adapter() {
        let mut module = wat::parse_str(
            r#"(module
                 (import "wasi_snapshot_preview1" "fd_write"
                   (func $fd_write (param i32 i32 i32 i32) (result i32)))
                 (memory (export "memory") 1)
                 (func (export "run") (result i32)
                   (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))))"#,
        )
        .unwrap();
        let bare = componentize(&module).unwrap_err().to_string();
        assert!(bare.contains("core WebAssembly module without a WIT world"), "{bare}");
        // The world wit-bindgen would embed: an empty one is enough to adapt.
        let resolve_and_world = {
            let mut resolve = wit_parser::Resolve::default();
            let pkg = resolve.push_str("world.wit", "package riff:test;\nworld empty {}\n").unwrap();
            let world = resolve.select_world(&[pkg], Some("empty")).unwrap();
            (resolve, world)
        };
        let (resolve, world) = resolve_and_world;
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )
        .unwrap();
        let component = componentize(&module).unwrap();
        assert_eq!(wasm_kind(&component).unwrap(), WasmKind::Component);
        let engine = RiffEngine::new(&EngineSettings { max_instances: 4, ..Default::default() }).unwrap();
        let loaded = engine.load_component_bytes(&module).unwrap();
        let imports: Vec<String> = loaded
            .component
            .component_type()
            .imports(engine.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        assert!(imports.iter().any(|i| i.starts_with("wasi:cli/stdout")), "{imports:?}");
        assert_eq!(loaded.digest, hex::encode(Sha256::digest(&module)), "the module's own digest");

        let broken = componentize(b"\0asm\x01\0\0\0\xff").unwrap_err();
        assert!(format!("{broken:#}").contains("wasm32-wasip2"), "{broken:#}");
    }
}
