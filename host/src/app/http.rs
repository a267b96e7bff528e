//! HTTP into components: requests from the public listener (through the HTTP trigger's
//! [`HttpHandler`]) and in-process ones (`http://self`, `<id>.spin.internal`, through
//! [`InProcessHandler`]) are routed, given Spin's `spin-*` headers, and run by the component's
//! `wasi:http/incoming-handler` through the instance lifecycle.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use riff_core::invoke::INTERNAL_ERROR;
use riff_core::Failure;
use riff_manifest::routes::Router;
use riff_outbound_http::{Destination, InProcessHandler};
use tracing::Instrument;
use wasmtime::component::Instance;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::ServiceIndices;
use wasmtime_wasi_http::WasiHttpView;

use super::{fresh_store, App, LoadedComponent};
use crate::component::HttpExport;
use crate::state::RequestState;
use http_body_util::combinators::UnsyncBoxBody;
use riff_trigger_http::limits;
use riff_trigger_http::responses::{closing, json_error, text_response};
use riff_trigger_http::HttpHandler;

/// How a request reached a component, for Spin's `spin-*` headers.
struct RouteInfo {
    matched_route: String,
    component_route: String,
    path_info: String,
    params: Vec<(String, String)>,
}

pub const HEALTH_PATH: &str = "/.well-known/spin/health";

impl App {
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
        let request_id = RequestIdField(req.headers().get(riff_trigger_http::REQUEST_ID).cloned());
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
        let req = self.with_spin_headers(base, req, &info, client);
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
            // As Spin: `:user_id` is `spin-path-match-user-id`.
            set(&format!("spin-path-match-{}", name.to_ascii_lowercase().replace('_', "-")), value);
        }
        // wasi:http needs an absolute URI or a Host header; requests without either get one.
        if !req.headers().contains_key(http::header::HOST) && req.uri().authority().is_none() {
            if let Ok(v) = HeaderValue::from_str(&host) {
                req.headers_mut().insert(http::header::HOST, v);
            }
        }
        req
    }

    /// Call the component's `incoming-handler` through the instance lifecycle
    /// ([`riff_core::invoke`]), and hand the response on as soon as its head is ready.
    ///
    /// [`Instances::invoke`] counts the calls and the failures it sees; failures it cannot see —
    /// the head never came in time, the guest answered with an error code or not at all — are
    /// counted here.
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
        match component.http.clone() {
            Some(HttpExport::P2(indices)) => self.execute_p2(component, indices, req, depth).await,
            Some(HttpExport::P3(indices)) => self.execute_p3(component, indices, req, depth).await,
            None => {
                component.instances.counters.record_call();
                component.instances.counters.record_failure();
                Err(Failure::Crashed("it does not export wasi:http/incoming-handler".into()))
            }
        }
    }

    /// WASIp2: the head comes through the response outparam, possibly long before the guest
    /// returns; it is forwarded once the guest finished or parked (see [`ParkSignal`]).
    async fn execute_p2<B>(
        &self,
        component: Arc<LoadedComponent>,
        indices: ProxyIndices,
        req: Request<B>,
        depth: u32,
    ) -> Result<Response<HyperOutgoingBody>, Failure>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let runtime = component.runtime.clone();
        let timeout = runtime.timeout;
        // The guest's response head arrives through the outparam callback, tagged with how many
        // times the guest task had parked by then (see `ParkSignal`).
        let parks = Arc::new(ParkSignal::default());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let engine = component.compiled.engine().clone();
        let app = self.me.clone();
        let parks_at_set = parks.clone();
        let called = component.clone();
        let guest = async move {
            let fresh = || fresh_store(&engine, &called.runtime, app, depth);
            called
                .instances
                .invoke(depth, fresh, move |mut store, instance| {
                    Box::pin(async move {
                        let result =
                            call_handler(&mut store, instance, &indices, req, sender, parks_at_set).await;
                        (store, result)
                    })
                })
                .await
        };
        let guest = WatchParks { inner: Box::pin(guest), parks: parks.clone() };
        let mut task = spawn_in_span(guest);
        let id = runtime.id.clone();
        let counters = &component.instances.counters;

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
                                tracing::warn!(component = %id, "failed after sending its response: {e}");
                            }
                            return Ok(riff_trigger_http::body::settle(response));
                        }
                        _ = parked => {}
                    }
                }
            }
            Ok(Ok((Err(code), _))) => {
                counters.record_failure();
                Err(Failure::Crashed(format!("the component answered with error {code:?}")))
            }
            Ok(Err(_)) => Err(without_head(task, &component).await),
            Err(_) => {
                task.abort();
                counters.record_failure();
                Err(Failure::Timeout(timeout))
            }
        }
    }

    /// WASIp3: `handle` returns the response; its body streams from the guest while the store
    /// keeps running (until the body is finished or dropped), all inside the instance lifecycle.
    async fn execute_p3<B>(
        &self,
        component: Arc<LoadedComponent>,
        indices: ServiceIndices,
        req: Request<B>,
        depth: u32,
    ) -> Result<Response<HyperOutgoingBody>, Failure>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let timeout = component.runtime.timeout;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let engine = component.compiled.engine().clone();
        let app = self.me.clone();
        let called = component.clone();
        let guest = async move {
            let fresh = || fresh_store(&engine, &called.runtime, app, depth);
            called
                .instances
                .invoke(depth, fresh, move |mut store, instance| {
                    Box::pin(async move {
                        let result = call_service(&mut store, instance, &indices, req, sender).await;
                        (store, result)
                    })
                })
                .await
        };
        let task = spawn_in_span(guest);
        let counters = &component.instances.counters;
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => {
                counters.record_failure();
                Err(Failure::Crashed(format!("the component answered with error {code:?}")))
            }
            Ok(Err(_)) => Err(without_head(task, &component).await),
            Err(_) => {
                task.abort();
                counters.record_failure();
                Err(Failure::Timeout(timeout))
            }
        }
    }
}

/// The response head, or the error code the guest set instead, and the park count at that moment.
type HeadSender = tokio::sync::oneshot::Sender<(
    Result<Response<HyperOutgoingBody>, wasmtime_wasi_http::p2::bindings::http::types::ErrorCode>,
    u64,
)>;

/// Hand `req` to the instance's `wasi:http/incoming-handler`; the head goes to `sender`.
async fn call_handler<B>(
    store: &mut Store<RequestState>,
    instance: Instance,
    indices: &ProxyIndices,
    req: Request<B>,
    sender: HeadSender,
    parks: Arc<ParkSignal>,
) -> wasmtime::Result<()>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let mut http = store.data_mut().http();
    let req = http.new_incoming_request(Scheme::Http, req)?;
    let out = http.new_response_outparam_from_callback(move |response| {
        let _ = sender.send((response, parks.count()));
    })?;
    let proxy = indices.load(&mut *store, &instance)?;
    proxy.wasi_http_incoming_handler().call_handle(&mut *store, req, out).await
}

/// The head of a WASIp3 response, or the error code the guest returned instead.
type P3HeadSender = tokio::sync::oneshot::Sender<
    Result<Response<HyperOutgoingBody>, wasmtime_wasi_http::p3::bindings::http::types::ErrorCode>,
>;

/// Call the instance's `wasi:http/handler`; the head goes to `sender` as soon as `handle`
/// returns, and the call lasts until the response body has been sent (or dropped), because
/// the guest writes that body only while the store runs.
async fn call_service<B>(
    store: &mut Store<RequestState>,
    instance: Instance,
    indices: &ServiceIndices,
    req: Request<B>,
    sender: P3HeadSender,
) -> wasmtime::Result<()>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let service = indices.load(&mut *store, &instance)?;
    // The returned future only reports how the guest consumed the body; nothing waits on it.
    let (req, _consumed) = wasmtime_wasi_http::p3::Request::from_http(&mut store.data_mut().hooks, req);
    store
        .run_concurrent(async move |access| {
            let response = match service.handle(access, req).await? {
                Ok(response) => response,
                Err(code) => {
                    let _ = sender.send(Err(code));
                    return Ok(());
                }
            };
            let response = access.with(|store| response.into_http(store, async { Ok(()) }))?;
            let (finished, sent) = tokio::sync::oneshot::channel();
            let response =
                response.map(|body| UnsyncBoxBody::new(UntilFinished { body, finished: Some(finished) }));
            if sender.send(Ok(response)).is_ok() {
                let _ = sent.await;
            }
            Ok(())
        })
        .await?
}

/// A response body that reports when it ended, failed or was dropped.
struct UntilFinished<B> {
    body: B,
    finished: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<B: http_body::Body + Unpin> http_body::Body for UntilFinished<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_)))) {
            self.finished.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The guest's task, in the request's span: what it and the lifecycle log (a trap, the guest's
/// stderr) carries the request id.
fn spawn_in_span<F>(guest: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let span = tracing::Span::current();
    if span.is_disabled() {
        tokio::spawn(guest)
    } else {
        tokio::spawn(guest.instrument(span))
    }
}

/// The response never came: find out why from the guest's task.
async fn without_head(
    task: tokio::task::JoinHandle<Result<(), Failure>>,
    component: &LoadedComponent,
) -> Failure {
    let counters = &component.instances.counters;
    match task.await {
        Ok(Ok(())) => {
            counters.record_failure();
            Failure::Crashed("the component returned without sending a response".into())
        }
        Ok(Err(failure)) => failure,
        Err(join) => {
            tracing::error!(component = %component.runtime.id, "request task failed: {join}");
            counters.record_failure();
            Failure::Crashed(INTERNAL_ERROR.into())
        }
    }
}

impl InProcessHandler for App {
    fn handle_in_process(
        &self,
        destination: Destination,
        request: Request<wasmtime_wasi_http::WasiBody>,
        depth: u32,
    ) -> futures::future::BoxFuture<'_, Result<Response<HyperOutgoingBody>, wasmtime_wasi_http::Error>> {
        Box::pin(self.handle_internal(destination, request, depth))
    }
}

impl HttpHandler for App {
    async fn handle<B>(&self, req: Request<B>, client: SocketAddr) -> Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        App::handle(self, req, client).await
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

/// A request's id as a log field: `-` when it has none.
struct RequestIdField(Option<http::HeaderValue>);

impl std::fmt::Display for RequestIdField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"))
    }
}
