//! The running application: the live set of components behind an [`ArcSwap`], the engine, the
//! queue, and what reloading needs. A request takes a snapshot when it starts and finishes on
//! it, so replacing the set never disturbs requests in flight.
//!
//! The app implements the traits its lower layers call upward through: the HTTP trigger's
//! [`HttpHandler`](riff_trigger_http::HttpHandler) and in-process HTTP ([`http`]), typed
//! calls ([`calls`]) and queue deliveries ([`deliveries`]) — each an [`Instances::invoke`] of
//! the component's current version.

mod calls;
mod cron;
mod deliveries;
mod http;
mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use arc_swap::ArcSwap;
use riff_core::engine::{EngineSettings, RiffEngine};
use riff_core::stdio::{GuestLog, Stream};
use riff_manifest::Manifest;
use riff_messaging::{DeadLetter, QueueBackend};
use riff_outbound_http::{InProcessHandler, OutboundHooks};
use riff_runtime_config::RuntimeConfig;
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::capabilities::{self, services::Callees};
pub use crate::component::{LoadedComponent, Origin, Snapshot};
pub use crate::loader::AppOptions;
use crate::loader::Loader;
pub use crate::runtime::ComponentRuntime;
use crate::state::RequestState;
pub use http::HEALTH_PATH;
pub use riff_trigger_http::responses::{full_body, json_error};

/// A running application.
pub struct App {
    pub name: String,
    pub(crate) engine: RiffEngine,
    pub(crate) current: ArcSwap<Snapshot>,
    me: Weak<App>,
    /// Serialises changes to the component set and holds what they need.
    pub(crate) reload: tokio::sync::Mutex<ReloadState>,
    /// The durable message queue and the tasks delivering from it.
    pub(crate) queue: Arc<dyn QueueBackend>,
    pub(crate) dispatcher: riff_trigger_queue::Dispatcher,
    /// The `[[trigger.cron]]` tasks.
    pub(crate) cron: riff_trigger_cron::Scheduler,
    /// The `[[trigger.redis]]` subscribers.
    pub(crate) redis: riff_trigger_redis::Listener,
    /// The shared record of deployed versions (`[deployments]`), when replicas share one.
    pub(crate) deployments: Option<crate::deployments::Deployments>,
}

/// What changes to the component set need besides the running snapshot; guarded by [`App`]'s
/// reload lock, used by [`crate::reload`].
pub struct ReloadState {
    pub(crate) loader: Loader,
    /// SHA-256 of each component's source file when riff last read it: a manifest reload keeps
    /// a component (even an uploaded version of it) unless its entry or this file changed.
    pub(crate) file_digests: HashMap<String, String>,
}

impl ReloadState {
    pub fn new(loader: Loader, snapshot: &Snapshot) -> Self {
        let file_digests = snapshot
            .components
            .iter()
            .filter(|(_, c)| matches!(c.origin, Origin::File(_)))
            .map(|(id, c)| (id.clone(), c.version.clone()))
            .collect();
        Self { loader, file_digests }
    }
}

impl App {
    /// Load every component of a manifest: open backends, compile, link, pre-instantiate.
    pub async fn load(manifest: &Manifest, options: &AppOptions) -> Result<Arc<App>> {
        let max_memory = manifest
            .components
            .iter()
            .map(|c| c.riff.memory_limit)
            .max()
            .unwrap_or(0)
            .max(EngineSettings::default().max_memory);
        let engine = RiffEngine::new(&EngineSettings {
            max_memory,
            cache_dir: Some(options.cache_dir.clone().unwrap_or_else(|| options.state_dir.join("cache"))),
            ..Default::default()
        })?;
        let calls: capabilities::services::AppCell = Default::default();
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let queue = runtime_config
            .queue(options.state_dir.join("queue").join("messages.db"))
            .await
            .context("opening the message queue")?;
        let deployments = runtime_config
            .deployments(options.state_dir.join("deployments.db"))
            .await
            .context("opening the deployment record")?
            .map(crate::deployments::Deployments::new);
        let loader = Loader::new(
            manifest.clone(),
            options,
            runtime_config,
            &engine,
            max_memory,
            calls.clone(),
            queue.clone(),
        )
        .await?;

        // Callees load before their callers, so each caller's typed imports can be checked
        // against the callee's exports and linked.
        let mut components = HashMap::new();
        for id in &loader.order {
            let loaded =
                loader.load_from_file(&engine, id, &components, None).with_context(|| loader.context(id))?;
            components.insert(id.clone(), Arc::new(loaded));
        }
        let snapshot = loader.snapshot(components)?;
        let subscriptions = loader.subscriptions();
        let cron_jobs = loader.cron_jobs()?;
        let redis_subscriptions = loader.redis_subscriptions()?;
        let reload = ReloadState::new(loader, &snapshot);
        let app = Arc::new_cyclic(|me: &Weak<App>| {
            let callees: Weak<dyn Callees> = me.clone();
            let _ = calls.set(callees);
            App {
                name: manifest.name.clone(),
                engine,
                current: ArcSwap::from_pointee(snapshot),
                me: me.clone(),
                reload: tokio::sync::Mutex::new(reload),
                queue: queue.clone(),
                dispatcher: Default::default(),
                cron: Default::default(),
                redis: Default::default(),
                deployments,
            }
        });

        app.dispatcher.run(Arc::downgrade(&app), queue, subscriptions).await;
        app.cron.run(Arc::downgrade(&app), cron_jobs);
        app.redis.run(Arc::downgrade(&app), redis_subscriptions);
        spawn_warm_sweeper(Arc::downgrade(&app));
        Ok(app)
    }

    /// Messages that failed `max_attempts` deliveries, newest first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        self.queue.dead_letters(limit).await
    }

    pub(crate) fn me(&self) -> Weak<App> {
        self.me.clone()
    }

    /// The current routable state.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Routes as `(route, component)`, most specific first.
    pub fn routes(&self) -> Vec<(String, String)> {
        let snap = self.current.load();
        snap.router.iter().map(|(r, c)| (r.to_string(), c.clone())).collect()
    }
}

impl App {
    /// A fresh store (of the component's engine) for one call into `component` at chain depth
    /// `depth`.
    pub fn new_store(&self, component: &LoadedComponent, depth: u32) -> Store<RequestState> {
        fresh_store(component.compiled.engine(), &component.runtime, self.me.clone(), depth)
    }

    /// The running version of `id`, for a trigger (queue, cron) to call.
    pub(crate) fn running(&self, id: &str) -> Result<Arc<LoadedComponent>, String> {
        self.snapshot().components.get(id).cloned().ok_or_else(|| format!("component {id:?} is not running"))
    }
}

/// What a trigger's call came to: the guest's own `Err` (counted as a failed call of the
/// component), or the instance's failure (a trap, a timeout, already counted).
pub(crate) fn settled(
    component: &LoadedComponent,
    handled: std::result::Result<std::result::Result<(), String>, riff_core::invoke::Failure>,
) -> std::result::Result<(), String> {
    match handled {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            component.instances.counters.record_failure();
            Err(error)
        }
        Err(failure) => Err(failure.to_string()),
    }
}

/// A fresh store for one call into `runtime`'s component: its grants, memory limit, and a
/// deadline after which the guest traps.
pub fn fresh_store(
    engine: &wasmtime::Engine,
    runtime: &Arc<ComponentRuntime>,
    app: Weak<App>,
    depth: u32,
) -> Store<RequestState> {
    let wasi = build_wasi(runtime).unwrap_or_else(|e| {
        tracing::warn!(component = %runtime.id, "files unavailable for this request: {e:#}");
        WasiCtxBuilder::new().build()
    });
    let app: Weak<dyn InProcessHandler> = app;
    let hooks = OutboundHooks { component: runtime.id.clone(), allow: runtime.allow.clone(), app, depth };
    riff_core::invoke::new_store(engine, RequestState::new(runtime.clone(), wasi, hooks))
}

/// Drop warm instances that sat idle past their `idle_timeout`, once a second, for as long as
/// the app lives.
fn spawn_warm_sweeper(app: Weak<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            let snapshot = app.snapshot();
            for component in snapshot.components.values() {
                if let Some(pool) = &component.instances.warm {
                    pool.sweep();
                }
            }
        }
    });
}

fn build_wasi(runtime: &ComponentRuntime) -> Result<wasmtime_wasi::WasiCtx> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(GuestLog::new(runtime.id.clone(), Stream::Stdout));
    wasi.stderr(GuestLog::new(runtime.id.clone(), Stream::Stderr));
    wasi.envs(&runtime.environment);
    for (host, guest) in &runtime.preopens {
        wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(|e| anyhow!("mounting {}: {e}", host.display()))?;
    }
    // Sockets only where `allowed_outbound_hosts` has tcp:// or udp:// entries.
    crate::capabilities::sockets::grant(&mut wasi, &runtime.allow);
    Ok(wasi.build())
}
