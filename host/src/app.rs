//! The loaded application: per component its pre-instantiated code, its grants and its limits,
//! plus the route table; and the one function that runs a request in a fresh store.
//!
//! The live set of components sits behind an [`ArcSwap`]: a request takes a snapshot when it
//! starts and finishes on it, so replacing the set never disturbs requests in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use tracing::Instrument;
use wasmtime::component::{Component, Instance, InstancePre};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{ProxyIndices, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::capabilities::messaging::{sqlite::SqliteQueue, QueueBackend};
use crate::capabilities::{
    self,
    key_value::KvStore,
    outbound_http::{AllowList, Destination, OutboundHooks},
    sql::SqlDatabase,
    stdio::{GuestLog, Stream},
    variables::ComponentVariables,
};
use crate::engine::{EngineSettings, RiffEngine};
use crate::instances::Warm;
use crate::loader::Loader;
use crate::manifest::{InstanceReuse, Manifest};
use crate::state::RequestState;
use crate::trigger::limits;
use crate::trigger::responses::{closing, text_response};
pub use crate::trigger::responses::{full_body, json_error};
use crate::trigger::router::Router;

/// Where an app keeps its state and how it is configured.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// State directory (`.riff` by default): databases, key-value stores, staged files.
    pub state_dir: PathBuf,
    pub runtime_config: Option<PathBuf>,
    /// Compiled-artifact cache; `None` puts it under the state directory.
    pub cache_dir: Option<PathBuf>,
}

/// What a component may do and how it is limited: shared by all its requests, and by every
/// version of its code loaded under the same manifest entry.
pub struct ComponentRuntime {
    pub id: Arc<str>,
    pub memory_limit: u64,
    /// Largest request body from the public listener (`tool.riff.max_request_body`).
    pub max_request_body: u64,
    pub timeout: Duration,
    pub kv_stores: HashMap<String, Arc<KvStore>>,
    pub sql_databases: HashMap<String, Arc<SqlDatabase>>,
    pub variables: ComponentVariables,
    pub allow: Arc<AllowList>,
    pub environment: Vec<(String, String)>,
    /// Host directory -> guest path, mounted read-only.
    pub preopens: Vec<(PathBuf, String)>,
    /// Topics it may publish to, and the queue it publishes into.
    pub publish_topics: Vec<String>,
    pub queue: Option<Arc<dyn QueueBackend>>,
    /// Keep instances warm between requests (`tool.riff.instance_reuse`).
    pub instance_reuse: Option<InstanceReuse>,
}

/// Where a component's code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The manifest's `source` file.
    File(PathBuf),
    /// Uploaded through the admin API (`riff deploy`).
    Upload,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Upload => f.write_str("upload"),
        }
    }
}

/// One version of a component, ready to serve: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    pub runtime: Arc<ComponentRuntime>,
    pub compiled: Component,
    pub instance_pre: InstancePre<RequestState>,
    /// Its `wasi:http/incoming-handler`, when it exports one (service-only components do not).
    pub proxy: Option<ProxyPre<RequestState>>,
    /// Where that export sits, to call it on a warm instance (only with `instance_reuse`).
    pub proxy_indices: Option<ProxyIndices>,
    /// Its `riff:platform/queue-handler`, when it exports one.
    pub subscriber: Option<crate::trigger::queue::SubscriberIndices>,
    /// Idle instances kept for reuse, when `instance_reuse` is on.
    pub warm: Option<crate::instances::WarmPool>,
    /// SHA-256 of the `.wasm`, hex.
    pub version: String,
    pub origin: Origin,
    /// The manifest entry it was loaded under (see [`crate::loader::Loader::fingerprint`]).
    pub fingerprint: String,
    pub loaded_at: SystemTime,
    /// Requests and typed calls this version has served, and how many of them failed.
    pub requests: AtomicU64,
    pub failures: AtomicU64,
}

/// The routable state of an app at one moment.
pub struct Snapshot {
    pub components: HashMap<String, Arc<LoadedComponent>>,
    pub router: Arc<Router<String>>,
    /// Each component's public route, for in-process calls that address the component directly.
    pub route_of: Arc<HashMap<String, String>>,
    /// `[application.trigger.http] base`.
    pub base: Arc<str>,
    /// The version each component replaced, kept loaded for rollback.
    pub previous: HashMap<String, Arc<LoadedComponent>>,
}

impl Snapshot {
    /// The same routes with component `id` replaced by `component`; the version it replaces
    /// becomes `id`'s previous version.
    pub fn with_component(&self, id: &str, component: Arc<LoadedComponent>) -> Snapshot {
        let mut components = self.components.clone();
        let mut previous = self.previous.clone();
        if let Some(replaced) = components.insert(id.to_string(), component) {
            previous.insert(id.to_string(), replaced);
        }
        Snapshot {
            components,
            router: self.router.clone(),
            route_of: self.route_of.clone(),
            base: self.base.clone(),
            previous,
        }
    }
}

/// A running application.
pub struct App {
    pub name: String,
    pub(crate) engine: RiffEngine,
    pub(crate) current: ArcSwap<Snapshot>,
    me: Weak<App>,
    /// Serialises changes to the component set and holds what they need.
    pub(crate) reload: tokio::sync::Mutex<crate::reload::ReloadState>,
    /// The durable message queue and the tasks delivering from it.
    pub(crate) queue: Arc<dyn QueueBackend>,
    pub(crate) dispatcher: crate::trigger::queue::Dispatcher,
}

/// How a request reached a component, for Spin's `spin-*` headers.
struct RouteInfo {
    matched_route: String,
    component_route: String,
    path_info: String,
    params: Vec<(String, String)>,
}

/// Why a request produced no guest response.
#[derive(Debug)]
enum Failure {
    /// The component ran past its timeout.
    Timeout(Duration),
    /// Trap, panic, resource exhaustion, or a broken response.
    Crashed(String),
}

/// Marker error returned from the epoch callback when a request's deadline has passed.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

pub const HEALTH_PATH: &str = "/.well-known/spin/health";

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
        let queue: Arc<dyn QueueBackend> =
            Arc::new(SqliteQueue::open(&options.state_dir.join("queue").join("messages.db")).await?);
        let loader =
            Loader::new(manifest.clone(), options, &engine, max_memory, calls.clone(), queue.clone()).await?;

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
        let reload = crate::reload::ReloadState::new(loader, &snapshot);
        let app = Arc::new_cyclic(|me| {
            let _ = calls.set(me.clone());
            App {
                name: manifest.name.clone(),
                engine,
                current: ArcSwap::from_pointee(snapshot),
                me: me.clone(),
                reload: tokio::sync::Mutex::new(reload),
                queue: queue.clone(),
                dispatcher: Default::default(),
            }
        });
        app.dispatcher.run(Arc::downgrade(&app), queue, subscriptions);
        spawn_warm_sweeper(Arc::downgrade(&app));
        Ok(app)
    }

    /// Messages that failed `max_attempts` deliveries, newest first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<crate::capabilities::messaging::DeadLetter>> {
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

    /// Serve one request that arrived on the public listener.
    ///
    /// The head is checked against the host's limits before routing; the body streams into the
    /// component through the component's `max_request_body` limit (a declared length over it is
    /// refused before the component runs). When the body turned out too large, too slow or
    /// broken, the client gets that (413, 408, 400) instead of whatever the component made of
    /// its unreadable input. Log lines name the request id the client gets in `x-request-id`.
    pub async fn handle<B>(&self, req: Request<B>, client: SocketAddr) -> Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Formatted only when a log line is written (no allocation per request otherwise).
        let request_id = RequestIdField(req.headers().get(crate::trigger::http::REQUEST_ID).cloned());
        let span = tracing::info_span!("request", id = %request_id);
        self.handle_public(req, client).instrument(span).await
    }

    async fn handle_public<B>(&self, req: Request<B>, client: SocketAddr) -> Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        if path == HEALTH_PATH {
            return text_response(StatusCode::OK, "OK");
        }
        if let Err((status, message)) = limits::check_head(req.uri(), req.headers()) {
            return closing(json_error(status, &message));
        }
        let snap = self.current.load_full();
        let Some(routed) = snap.router.route(&path) else {
            return json_error(StatusCode::NOT_FOUND, &format!("no route matches {path}"));
        };
        let Some(component) = snap.components.get(routed.target).cloned() else {
            return json_error(StatusCode::NOT_FOUND, &format!("no route matches {path}"));
        };
        let limit = component.runtime.max_request_body;
        if limits::declared_too_large(req.headers(), limit).is_some() {
            return closing(limits::BodyFault::TooLarge(limit).into_response());
        }
        let info = RouteInfo {
            matched_route: routed.route.to_string(),
            component_route: routed.pattern.base(),
            path_info: routed.matched.path_info.clone(),
            params: routed.matched.params.clone(),
        };
        let (parts, body) = req.into_parts();
        let (body, fault) = limits::GuardedBody::new(body, limit);
        let response =
            self.run(component, Request::from_parts(parts, body), info, &snap.base, Some(client), 0).await;
        match fault.get() {
            Some(fault) => {
                tracing::info!(component = %routed.target, "request body refused: {fault:?}");
                closing(fault.into_response())
            }
            None => response,
        }
    }

    /// Serve an in-process request from a component (`self` or `<id>.spin.internal`).
    pub async fn handle_internal<B>(
        &self,
        destination: Destination,
        req: Request<B>,
        depth: u32,
    ) -> Result<Response<HyperOutgoingBody>, wasmtime_wasi_http::Error>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let snap = self.current.load_full();
        let path = req.uri().path().to_string();
        let (component, info) = match destination {
            Destination::SelfApp => {
                let Some(routed) = snap.router.route(&path) else {
                    return Ok(json_error(StatusCode::NOT_FOUND, &format!("no route matches {path}")));
                };
                let component = snap.components.get(routed.target).cloned();
                let info = RouteInfo {
                    matched_route: routed.route.to_string(),
                    component_route: routed.pattern.base(),
                    path_info: routed.matched.path_info.clone(),
                    params: routed.matched.params.clone(),
                };
                (component, info)
            }
            Destination::Component(id) => {
                let component = snap.components.get(&id).cloned();
                if component.is_none() {
                    return Err(wasmtime_wasi_http::Error::DestinationNotFound);
                }
                // Match against the component's own route when it has a public one.
                let info = snap
                    .route_of
                    .get(&id)
                    .and_then(|route| {
                        let mut r = Router::new();
                        r.add(route, ()).ok()?;
                        let m = r.route(&path)?;
                        Some(RouteInfo {
                            matched_route: route.clone(),
                            component_route: m.pattern.base(),
                            path_info: m.matched.path_info,
                            params: m.matched.params,
                        })
                    })
                    .unwrap_or(RouteInfo {
                        matched_route: "/...".into(),
                        component_route: String::new(),
                        path_info: path.clone(),
                        params: Vec::new(),
                    });
                (component, info)
            }
            Destination::Network => return Err(wasmtime_wasi_http::Error::DestinationNotFound),
        };
        let Some(component) = component else {
            return Err(wasmtime_wasi_http::Error::DestinationNotFound);
        };
        Ok(self.run(component, req, info, &snap.base, None, depth).await)
    }

    /// Run a request and turn any failure into a JSON error response.
    async fn run<B>(
        &self,
        component: Arc<LoadedComponent>,
        req: Request<B>,
        info: RouteInfo,
        base: &str,
        client: Option<SocketAddr>,
        depth: u32,
    ) -> Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let id = component.runtime.id.clone();
        component.requests.fetch_add(1, Ordering::Relaxed);
        let req = self.with_spin_headers(base, req, &info, client);
        let outcome = self.execute(component.clone(), req, depth).await;
        if outcome.is_err() {
            component.failures.fetch_add(1, Ordering::Relaxed);
        }
        match outcome {
            Ok(response) => response,
            Err(Failure::Timeout(limit)) => {
                tracing::warn!(component = %id, "request timed out after {limit:?}");
                json_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!("component {id:?} did not answer within {}", humantime::format_duration(limit)),
                )
            }
            Err(Failure::Crashed(message)) => {
                json_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("component {id:?} failed: {message}"))
            }
        }
    }

    fn with_spin_headers<B>(
        &self,
        base: &str,
        mut req: Request<B>,
        info: &RouteInfo,
        client: Option<SocketAddr>,
    ) -> Request<B> {
        let headers = req.headers_mut();
        // Never let a client forge the host's own headers.
        let forged: Vec<HeaderName> =
            headers.keys().filter(|k| k.as_str().starts_with("spin-")).cloned().collect();
        for k in forged {
            headers.remove(k);
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_string());
        let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        let full_url = format!("http://{host}{path_and_query}");
        let headers = req.headers_mut();
        let mut set = |name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                headers.insert(n, v);
            }
        };
        set("spin-full-url", &full_url);
        set("spin-path-info", &info.path_info);
        set("spin-matched-route", &info.matched_route);
        set("spin-raw-component-route", &info.matched_route);
        set("spin-component-route", &info.component_route);
        set("spin-base-path", base);
        if let Some(addr) = client {
            set("spin-client-addr", &addr.to_string());
        }
        for (name, value) in &info.params {
            set(&format!("spin-path-match-{}", name.to_ascii_lowercase()), value);
        }
        // wasi:http needs an absolute URI or a Host header; requests without either get one.
        if !req.headers().contains_key(http::header::HOST) && req.uri().authority().is_none() {
            if let Ok(v) = HeaderValue::from_str(&host) {
                req.headers_mut().insert(http::header::HOST, v);
            }
        }
        req
    }

    /// Instantiate the component in a fresh store and call its `incoming-handler`.
    async fn execute<B>(
        &self,
        component: Arc<LoadedComponent>,
        req: Request<B>,
        depth: u32,
    ) -> Result<Response<HyperOutgoingBody>, Failure>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let runtime = component.runtime.clone();
        let timeout = runtime.timeout;
        let Some(proxy_pre) = component.proxy.clone() else {
            return Err(Failure::Crashed("it does not export wasi:http/incoming-handler".into()));
        };
        let (mut store, warm) = self.store_for(&component, depth);

        // The guest's response head arrives through the outparam callback, tagged with how many
        // times the guest task had parked by then (see `ParkSignal`).
        let parks = Arc::new(ParkSignal::default());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (req, out) = {
            let mut http = store.data_mut().http();
            let req = http.new_incoming_request(Scheme::Http, req).map_err(|e| {
                tracing::warn!(component = %runtime.id, "request not passed to the component: {e:?}");
                Failure::Crashed(INTERNAL_ERROR.into())
            })?;
            let parks_at_set = parks.clone();
            let out = http
                .new_response_outparam_from_callback(move |response| {
                    let _ = sender.send((response, parks_at_set.count()));
                })
                .map_err(|e| {
                    tracing::warn!(component = %runtime.id, "response outparam: {e:?}");
                    Failure::Crashed(INTERNAL_ERROR.into())
                })?;
            (req, out)
        };
        let id = runtime.id.clone();
        let guest = async move {
            // With instance reuse the instance outlives the call: keep it to give back.
            let run = async {
                let reusable = match (warm, component.proxy_indices.as_ref()) {
                    (Some((instance, served)), Some(indices)) => Some((instance, served, indices)),
                    (None, Some(indices)) => {
                        let instance = component.instance_pre.instantiate_async(&mut store).await?;
                        Some((instance, 0, indices))
                    }
                    _ => None,
                };
                match reusable {
                    Some((instance, served, indices)) => {
                        let proxy = indices.load(&mut store, &instance)?;
                        proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await?;
                        Ok(Some((instance, served + 1)))
                    }
                    None => {
                        let proxy = proxy_pre.instantiate_async(&mut store).await?;
                        proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await?;
                        Ok(None)
                    }
                }
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(kept)) => {
                    if let (Some((instance, served)), Some(pool)) = (kept, component.warm.as_ref()) {
                        pool.give_back(Warm::new(store, instance, served));
                    }
                    Ok(())
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(DeadlineExceeded.into()),
            }
        };
        let mut task = tokio::spawn(WatchParks { inner: Box::pin(guest), parks: parks.clone() });

        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok((Ok(response), parks_at_set))) => {
                // Forward the head once the guest has finished (then the whole body is in the
                // pipe and goes out in one write) or has parked (it is streaming or waiting).
                loop {
                    let parked = parks.notify.notified();
                    tokio::pin!(parked);
                    parked.as_mut().enable();
                    if parks.count() > parks_at_set {
                        return Ok(response);
                    }
                    tokio::select! {
                        biased;
                        result = &mut task => {
                            if let Ok(Err(e)) = result {
                                tracing::warn!(component = %id, "failed after sending its response: {e:?}");
                            }
                            return Ok(crate::trigger::body::settle(response));
                        }
                        _ = parked => {}
                    }
                }
            }
            Ok(Ok((Err(code), _))) => {
                Err(Failure::Crashed(format!("the component answered with error {code:?}")))
            }
            Ok(Err(_)) => {
                // The response was never set: find out why from the task.
                let failure = match task.await {
                    Ok(Ok(())) => {
                        Failure::Crashed("the component returned without sending a response".into())
                    }
                    Ok(Err(e)) => classify(&id, e, timeout),
                    Err(join) => {
                        tracing::error!(component = %id, "request task failed: {join}");
                        Failure::Crashed(INTERNAL_ERROR.into())
                    }
                };
                Err(failure)
            }
            Err(_) => {
                task.abort();
                Err(Failure::Timeout(timeout))
            }
        }
    }
}

impl App {
    /// A fresh store for one call into `runtime`'s component: its grants, memory limit, and a
    /// deadline after which the guest traps.
    pub fn new_store(&self, runtime: &Arc<ComponentRuntime>, depth: u32) -> Store<RequestState> {
        let wasi = build_wasi(runtime).unwrap_or_else(|e| {
            tracing::warn!(component = %runtime.id, "files unavailable for this request: {e:#}");
            WasiCtxBuilder::new().build()
        });
        let hooks = OutboundHooks {
            component: runtime.id.clone(),
            allow: runtime.allow.clone(),
            app: self.me.clone(),
            depth,
        };
        let mut store = Store::new(self.engine.engine(), RequestState::new(runtime.clone(), wasi, hooks));
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        // A guest that computes is interrupted every epoch tick (10 ms) and yields. It yields
        // through tokio's `yield_now`, which resumes it only after the worker has polled its
        // sockets: a plain self-wake would run it again at once, and tokio looks at sockets only
        // every 61 task polls, so four looping guests starved every other request (p99 ~600 ms).
        // Polling the sockets after every task instead (`event_interval(1)`) cost ~7% of hello
        // throughput (docs/benchmarks.md).
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(DeadlineExceeded.into())
            } else {
                Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
            }
        });
        store
    }

    /// A store for one call into `component`: a warm instance's when one is idle (made ready
    /// for this call: new deadline and call depth) with that instance and how many requests it
    /// has served, else a fresh store and no instance yet.
    pub fn store_for(
        &self,
        component: &LoadedComponent,
        depth: u32,
    ) -> (Store<RequestState>, Option<(Instance, u32)>) {
        if let Some(warm) = component.warm.as_ref().and_then(|pool| pool.take()) {
            let Warm { mut store, instance, served, .. } = warm;
            let data = store.data_mut();
            data.deadline = Instant::now() + data.component.timeout;
            data.hooks.depth = depth;
            store.set_epoch_deadline(1);
            return (store, Some((instance, served)));
        }
        (self.new_store(&component.runtime, depth), None)
    }
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
                if let Some(pool) = &component.warm {
                    pool.sweep();
                }
            }
        }
    });
}

/// Counts how often the guest's task has parked (returned `Pending`), and wakes whoever waits
/// for the next park.
#[derive(Default)]
struct ParkSignal {
    count: std::sync::atomic::AtomicU64,
    notify: tokio::sync::Notify,
}

impl ParkSignal {
    fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A future that reports every `Pending` of the future it wraps to a [`ParkSignal`].
struct WatchParks<F> {
    inner: std::pin::Pin<Box<F>>,
    parks: Arc<ParkSignal>,
}

impl<F: std::future::Future> std::future::Future for WatchParks<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let poll = self.inner.as_mut().poll(cx);
        if poll.is_pending() {
            self.parks.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            self.parks.notify.notify_waiters();
        }
        poll
    }
}

/// Sort a guest failure into timeout or crash, logging the whole error once.
fn classify(id: &str, error: wasmtime::Error, timeout: Duration) -> Failure {
    let timed_out = error.downcast_ref::<DeadlineExceeded>().is_some()
        || matches!(error.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt));
    if timed_out {
        return Failure::Timeout(timeout);
    }
    tracing::warn!(component = %id, "request failed: {error:?}");
    // A trap's name is all the client learns; the error chain and any backtrace stay in the log.
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => INTERNAL_ERROR.to_string(),
    };
    Failure::Crashed(message)
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
    // No sockets: network access goes through wasi:http and the allow-list only.
    wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    Ok(wasi.build())
}

/// What a client learns of a failure whose details are for the operator: the host log has them,
/// under the request id the response carries.
const INTERNAL_ERROR: &str =
    "internal error (the host log has the details under this request's x-request-id)";

/// `response` with `Connection: close`: after refusing a request whose body was not read, the
/// connection cannot carry another one.
/// A request's id as a log field: `-` when it has none.
struct RequestIdField(Option<http::HeaderValue>);

impl std::fmt::Display for RequestIdField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"))
    }
}
