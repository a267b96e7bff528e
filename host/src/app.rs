//! The loaded application: per component its pre-instantiated code, its grants and its limits,
//! plus the route table; and the one function that runs a request in a fresh store.
//!
//! The live set of components sits behind an [`ArcSwap`]: a request takes a snapshot when it
//! starts and finishes on it, so replacing the set never disturbs requests in flight.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::capabilities::{
    self,
    key_value::{KvStore, KvStores},
    outbound_http::{AllowList, Destination, OutboundHooks},
    sql::{SqlDatabase, SqlDatabases},
    stdio::{GuestLog, Stream},
    variables::{AppVariables, ComponentVariables},
};
use crate::engine::{EngineSettings, RiffEngine};
use crate::manifest::{self, FileMount, Manifest, RouteKind};
use crate::runtime_config::{Backend, RuntimeConfig};
use crate::state::RequestState;
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

/// What a component may do and how it is limited: shared by all its requests.
pub struct ComponentRuntime {
    pub id: Arc<str>,
    pub memory_limit: u64,
    pub timeout: Duration,
    pub kv_stores: HashMap<String, Arc<KvStore>>,
    pub known_kv_labels: Arc<HashSet<String>>,
    pub sql_databases: HashMap<String, Arc<SqlDatabase>>,
    pub known_sql_labels: Arc<HashSet<String>>,
    pub variables: ComponentVariables,
    pub allow: Arc<AllowList>,
    pub environment: Vec<(String, String)>,
    /// Host directory -> guest path, mounted read-only.
    pub preopens: Vec<(PathBuf, String)>,
    /// SHA-256 of the component's `.wasm`.
    pub digest: String,
}

/// A component ready to serve: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    pub runtime: Arc<ComponentRuntime>,
    pub instance_pre: InstancePre<RequestState>,
    /// Its `wasi:http/incoming-handler`, when it exports one (service-only components do not).
    pub proxy: Option<ProxyPre<RequestState>>,
    pub loaded_at: Instant,
}

/// The routable state of an app at one moment.
pub struct Snapshot {
    pub components: HashMap<String, Arc<LoadedComponent>>,
    pub router: Router<String>,
    /// Each component's public route, for in-process calls that address the component directly.
    pub route_of: HashMap<String, String>,
}

/// A running application.
pub struct App {
    pub name: String,
    engine: RiffEngine,
    base: String,
    current: ArcSwap<Snapshot>,
    me: Weak<App>,
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
        let variables = AppVariables::from_manifest(manifest)?;
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        std::fs::create_dir_all(&options.state_dir)
            .with_context(|| format!("creating state directory {}", options.state_dir.display()))?;

        let max_memory = manifest.components.iter().map(|c| c.riff.memory_limit).max().unwrap_or(0);
        let engine = RiffEngine::new(&EngineSettings {
            max_memory: max_memory.max(manifest::DEFAULT_MEMORY_LIMIT),
            cache_dir: Some(options.cache_dir.clone().unwrap_or_else(|| options.state_dir.join("cache"))),
            ..Default::default()
        })?;

        let (kv, kv_labels) = open_kv_stores(manifest, &runtime_config, &options.state_dir).await?;
        let (sql, sql_labels) = open_databases(manifest, &runtime_config, &options.state_dir).await?;

        let mut linker = Linker::<RequestState>::new(engine.engine());
        capabilities::add_to_linker(&mut linker)?;

        // Callees load before their callers, so each caller's typed imports can be checked
        // against the callee's exports and linked.
        let capabilities::services::Plan { order, dependencies } = capabilities::services::plan(manifest)
            .map_err(|e| anyhow!("{}: {e}", manifest.path.display()))?;
        let app_cell: capabilities::services::AppCell = Default::default();
        let routed: HashSet<&str> = manifest.http_routes.iter().map(|r| r.component.as_str()).collect();
        let mut compiled: HashMap<String, Component> = HashMap::new();
        let mut components = HashMap::new();
        for id in &order {
            let component = manifest.component(id).expect("planned from the manifest");
            let context = || match component.line {
                Some(line) => format!("{}:{line}: [component.{}]", manifest.path.display(), component.id),
                None => format!("{}: [component.{}]", manifest.path.display(), component.id),
            };
            let deps = dependencies.get(id).map(Vec::as_slice).unwrap_or_default();
            let mut own_linker = None;
            if !deps.is_empty() && component.source.exists() {
                let mut own = linker.clone();
                let artifact = engine.load_component(&component.source).with_context(context)?;
                capabilities::services::link(
                    engine.engine(),
                    &mut own,
                    id,
                    &artifact.component,
                    deps,
                    &compiled,
                    &app_cell,
                )
                .with_context(context)?;
                own_linker = Some(own);
            }
            let (loaded, artifact) = load_component(
                &engine,
                own_linker.as_ref().unwrap_or(&linker),
                manifest,
                component,
                routed.contains(id.as_str()),
                &variables,
                &kv,
                &kv_labels,
                &sql,
                &sql_labels,
                &options.state_dir,
            )
            .with_context(context)?;
            compiled.insert(component.id.clone(), artifact);
            components.insert(component.id.clone(), Arc::new(loaded));
        }

        let mut router = Router::new();
        let mut route_of = HashMap::new();
        for route in &manifest.http_routes {
            if let RouteKind::Public(pattern) = &route.route {
                router.add(pattern, route.component.clone()).map_err(|e| anyhow!("route {pattern}: {e}"))?;
                route_of.entry(route.component.clone()).or_insert_with(|| pattern.clone());
            }
        }

        let snapshot = Snapshot { components, router, route_of };
        Ok(Arc::new_cyclic(|me| {
            let _ = app_cell.set(me.clone());
            App {
                name: manifest.name.clone(),
                engine,
                base: manifest.base.clone(),
                current: ArcSwap::from_pointee(snapshot),
                me: me.clone(),
            }
        }))
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
    pub async fn handle<B>(&self, req: Request<B>, client: SocketAddr) -> Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let path = req.uri().path().to_string();
        if path == HEALTH_PATH {
            return text_response(StatusCode::OK, "OK");
        }
        let snap = self.current.load_full();
        let Some(routed) = snap.router.route(&path) else {
            return json_error(StatusCode::NOT_FOUND, &format!("no route matches {path}"));
        };
        let Some(component) = snap.components.get(routed.target).cloned() else {
            return json_error(StatusCode::NOT_FOUND, &format!("no route matches {path}"));
        };
        let info = RouteInfo {
            matched_route: routed.route.to_string(),
            component_route: routed.pattern.base(),
            path_info: routed.matched.path_info.clone(),
            params: routed.matched.params.clone(),
        };
        self.run(component, req, info, Some(client), 0).await
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
        Ok(self.run(component, req, info, None, depth).await)
    }

    /// Run a request and turn any failure into a JSON error response.
    async fn run<B>(
        &self,
        component: Arc<LoadedComponent>,
        req: Request<B>,
        info: RouteInfo,
        client: Option<SocketAddr>,
        depth: u32,
    ) -> Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let id = component.runtime.id.clone();
        let req = self.with_spin_headers(req, &info, client);
        match self.execute(component, req, depth).await {
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
        set("spin-base-path", &self.base);
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
        let mut store = self.new_store(&runtime, depth);

        // The guest's response head arrives through the outparam callback, tagged with how many
        // times the guest task had parked by then (see `ParkSignal`).
        let parks = Arc::new(ParkSignal::default());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (req, out) = {
            let mut http = store.data_mut().http();
            let req = http
                .new_incoming_request(Scheme::Http, req)
                .map_err(|e| Failure::Crashed(format!("bad request: {e}")))?;
            let parks_at_set = parks.clone();
            let out = http
                .new_response_outparam_from_callback(move |response| {
                    let _ = sender.send((response, parks_at_set.count()));
                })
                .map_err(|e| Failure::Crashed(e.to_string()))?;
            (req, out)
        };
        let pre = proxy_pre;
        let id = runtime.id.clone();
        let guest = async move {
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(result) => result,
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
                    Err(join) => Failure::Crashed(format!("host task failed: {join}")),
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
        let deadline = Instant::now() + runtime.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(DeadlineExceeded.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
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
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => error.root_cause().to_string().lines().next().unwrap_or_default().to_string(),
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

/// A JSON error body in the shape the music API uses: `{"error": {"status", "message"}}`.
pub fn json_error(status: StatusCode, message: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": { "status": status.as_u16(), "message": message } });
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full_body(body.to_string()))
        .expect("static response parts are valid")
}

fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(full_body(text))
        .expect("static response parts are valid")
}

pub fn full_body(data: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(data.into()).map_err(|never| match never {}).boxed_unsync()
}

#[allow(clippy::too_many_arguments)]
fn load_component(
    engine: &RiffEngine,
    linker: &Linker<RequestState>,
    manifest: &Manifest,
    component: &manifest::Component,
    routed: bool,
    variables: &AppVariables,
    kv: &KvStores,
    kv_labels: &Arc<HashSet<String>>,
    sql: &SqlDatabases,
    sql_labels: &Arc<HashSet<String>>,
    state_dir: &Path,
) -> Result<(LoadedComponent, Component)> {
    if !component.source.exists() {
        bail!(
            "source {:?} not found: build it first (`riff up --build` or `riff build`)",
            component.source_as_written
        );
    }
    let artifact = engine.load_component(&component.source)?;
    let instance_pre = linker.instantiate_pre(&artifact.component).map_err(|e| {
        anyhow!("does not instantiate against riff: {}", e.to_string().lines().next().unwrap_or_default())
    })?;
    let proxy = match ProxyPre::new(instance_pre.clone()) {
        Ok(proxy) => Some(proxy),
        Err(_) if !routed => None,
        Err(e) => {
            bail!("does not export wasi:http/incoming-handler@0.2.x, so it cannot serve its route: {e}")
        }
    };

    let runtime = ComponentRuntime {
        id: component.id.as_str().into(),
        memory_limit: component.riff.memory_limit,
        timeout: component.riff.timeout,
        kv_stores: component
            .key_value_stores
            .iter()
            .filter_map(|l| kv.get(l).map(|s| (l.clone(), s.clone())))
            .collect(),
        known_kv_labels: kv_labels.clone(),
        sql_databases: component
            .sqlite_databases
            .iter()
            .filter_map(|l| sql.get(l).map(|d| (l.clone(), d.clone())))
            .collect(),
        known_sql_labels: sql_labels.clone(),
        variables: variables.for_component(&component.variables)?,
        allow: Arc::new(AllowList::parse(&component.allowed_outbound_hosts).map_err(anyhow::Error::msg)?),
        environment: component.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        preopens: stage_files(manifest, component, state_dir)?,
        digest: artifact.digest,
    };
    tracing::debug!(
        component = %component.id,
        cached = artifact.from_cache,
        "loaded {}",
        component.source.display()
    );
    let loaded =
        LoadedComponent { runtime: Arc::new(runtime), instance_pre, proxy, loaded_at: Instant::now() };
    Ok((loaded, artifact.component))
}

/// Resolve `files`: directory mappings are mounted as they are; globs and single files are
/// copied into a staging directory under the state dir, mounted at `/`.
fn stage_files(
    manifest: &Manifest,
    component: &manifest::Component,
    state_dir: &Path,
) -> Result<Vec<(PathBuf, String)>> {
    let mut mounts = Vec::new();
    if component.files.is_empty() {
        return Ok(mounts);
    }
    let staging = state_dir.join("files").join(&component.id);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("clearing {}", staging.display()))?;
    }
    let mut staged_any = false;
    let mut stage = |from: &Path, to_rel: &Path| -> Result<()> {
        let dest = staging.join(to_rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, &dest).with_context(|| format!("copying {}", from.display()))?;
        staged_any = true;
        Ok(())
    };
    for mount in &component.files {
        match mount {
            FileMount::Glob(pattern) => {
                let full = manifest.dir.join(pattern);
                let entries =
                    glob::glob(&full.to_string_lossy()).with_context(|| format!("files: {pattern}"))?;
                for entry in entries {
                    let path = entry?;
                    if path.is_file() {
                        let rel = path.strip_prefix(&manifest.dir).unwrap_or(&path).to_path_buf();
                        stage(&path, &rel)?;
                    }
                }
            }
            FileMount::Mapping { source, destination } => {
                if source.is_dir() {
                    mounts.push((source.clone(), destination.clone()));
                } else if source.is_file() {
                    stage(source, Path::new(destination.trim_start_matches('/')))?;
                } else {
                    bail!("files: {} does not exist", source.display());
                }
            }
        }
    }
    if staged_any {
        mounts.push((staging, "/".to_string()));
    } else if !component.files.iter().all(|f| matches!(f, FileMount::Mapping { .. })) {
        tracing::warn!(component = %component.id, "files: the globs matched no files");
    }
    Ok(mounts)
}

fn labels_in_use<'a>(
    manifest: &'a Manifest,
    grants: impl Fn(&'a manifest::Component) -> &'a Vec<String>,
    configured: impl Iterator<Item = &'a String>,
) -> BTreeSet<String> {
    let mut labels: BTreeSet<String> = manifest.components.iter().flat_map(grants).cloned().collect();
    labels.extend(configured.cloned());
    labels
}

async fn open_kv_stores(
    manifest: &Manifest,
    config: &RuntimeConfig,
    state_dir: &Path,
) -> Result<(KvStores, Arc<HashSet<String>>)> {
    let mut stores = KvStores::default();
    let labels = labels_in_use(manifest, |c| &c.key_value_stores, config.key_value_stores.keys());
    for label in &labels {
        let path = match config.key_value_stores.get(label) {
            Some(Backend::Sqlite { path: Some(p) }) => p.clone(),
            _ => state_dir.join("key_value").join(format!("{label}.db")),
        };
        let store = KvStore::open(&path).await.with_context(|| format!("key-value store {label:?}"))?;
        stores.insert(label.clone(), Arc::new(store));
    }
    Ok((stores, Arc::new(labels.into_iter().collect())))
}

async fn open_databases(
    manifest: &Manifest,
    config: &RuntimeConfig,
    state_dir: &Path,
) -> Result<(SqlDatabases, Arc<HashSet<String>>)> {
    let mut dbs = SqlDatabases::default();
    let labels = labels_in_use(manifest, |c| &c.sqlite_databases, config.sqlite_databases.keys());
    for label in &labels {
        let path = match config.sqlite_databases.get(label) {
            Some(Backend::Sqlite { path: Some(p) }) => p.clone(),
            _ => state_dir.join("sqlite").join(format!("{label}.db")),
        };
        let db = SqlDatabase::open(&path).await.with_context(|| format!("database {label:?}"))?;
        dbs.insert(label.clone(), Arc::new(db));
    }
    Ok((dbs, Arc::new(labels.into_iter().collect())))
}
