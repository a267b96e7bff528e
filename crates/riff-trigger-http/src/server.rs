//! The HTTP trigger: a hyper server that hands each request to an [`HttpHandler`] (the app).
//!
//! One tokio task per connection, HTTP/1.1 with keep-alive and `TCP_NODELAY` (small responses
//! must not wait for Nagle). What protects the host from its clients sits here, before any
//! component runs, and comes from hyper, tower and tower-http rather than hand-rolled code:
//!
//! * a cap on open connections ([`ServerOptions::max_connections`]): past it, new connections
//!   are closed at once instead of queueing;
//! * hyper's header read timeout: a client must deliver each request head within
//!   [`ServerOptions::header_timeout`] of the connection being ready for it. hyper starts that
//!   clock as soon as a keep-alive connection goes idle, so the same value is also the idle
//!   keep-alive timeout (slowloris connections and forgotten keep-alives both end there);
//! * tower-http's body timeout: a body that stops arriving for [`ServerOptions::body_timeout`]
//!   fails (408);
//! * request ids (`x-request-id`, [`crate::request_id`]): every response carries one, and the
//!   host's log lines about that request name it;
//! * CORS (tower-http), when the manifest lists allowed origins: preflights are answered here;
//! * graceful shutdown: stop accepting, let requests in flight finish up to
//!   [`ServerOptions::shutdown_timeout`], then return.
//!
//! Routing, per-component body limits and the store per request are the handler's (the app).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use http::{HeaderValue, Method, Request, Response};
use http_body::Body as _;
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutBody;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::client_addr::TrustedProxies;
use super::request_id::RequestIds;
pub use super::request_id::REQUEST_ID;

/// How the public listener treats its clients. `riff up` fills it from its flags.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Time a client has to send a request head (also the idle keep-alive timeout).
    pub header_timeout: Duration,
    /// Longest pause while a request body streams in.
    pub body_timeout: Duration,
    /// Open connections at most; more are closed on accept.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Origins browsers may call from (`[application.tool.riff] cors`); empty: no CORS.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(30),
            trusted_proxies: TrustedProxies::default(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// What the server hands each request to: the app, which sits above the trigger.
pub trait HttpHandler: Send + Sync + 'static {
    /// Answer one request from `client`; failures are responses too.
    fn handle<B>(
        &self,
        req: Request<B>,
        client: SocketAddr,
    ) -> impl Future<Output = Response<HyperOutgoingBody>> + Send
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>;
}

/// Serve `app` on `listener` until `shutdown` resolves, then drain.
pub async fn serve<H: HttpHandler>(
    app: Arc<H>,
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    let options = Arc::new(options);
    let cors = cors_layer(&options.cors_allowed_origins)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections));
    let graceful = GracefulShutdown::new();
    let refused = RateLimitedWarning::default();
    let request_ids = RequestIds::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(options.header_timeout)
        // The host's own limits (see `limits::check_head`) answer in JSON; hyper's, which answer
        // with a bare status, sit above them (its header-field ceiling is its default, 100).
        .max_buf_size(limits_ceiling::BUFFER);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: log, back off briefly, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.warn(|n| {
                format!(
                    "{n} connection(s) refused: {} open already (--max-connections)",
                    options.max_connections
                )
            });
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let client_options = options.clone();
        let handler = tower::service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            let client = client_options.trusted_proxies.client_addr(peer, req.headers());
            // tower-http's body timeout arms a timer on every poll; a request without a body
            // (most GETs) needs none.
            let body_timeout = client_options.body_timeout;
            let req = req.map(|body| {
                if body.is_end_stream() {
                    Either::Left(body)
                } else {
                    Either::Right(TimeoutBody::new(body_timeout, body))
                }
            });
            async move { Ok::<_, Infallible>(app.handle(req, client).await) }
        });
        let inner = ServiceBuilder::new().option_layer(cors.clone()).service(handler);
        let request_ids = request_ids.clone();
        // Outermost, so that CORS preflights answered by the host carry an id too.
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let id = request_ids.assign(req.headers_mut());
            let response = inner.clone().oneshot(req);
            async move {
                let mut response = response.await?;
                response.headers_mut().insert(REQUEST_ID, id);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(options.shutdown_timeout) => {
            tracing::warn!(
                "requests still running after {} were cut off",
                humantime::format_duration(options.shutdown_timeout)
            );
        }
    }
    Ok(())
}

/// hyper's own hard limits: above the host's JSON-answered ones, below anything unbounded.
mod limits_ceiling {
    pub const BUFFER: usize = 256 * 1024;
}

/// CORS for the allowed origins: preflights answered by the host, the usual methods, any request
/// header, `x-request-id` readable by scripts.
fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("cors.allowed_origins: {e}"))?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
            .expose_headers([
                http::header::HeaderName::from_static(REQUEST_ID),
                http::header::CONTENT_RANGE,
                http::header::ACCEPT_RANGES,
                http::header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600)),
    ))
}

/// A warning logged at most once a second, with how many times it happened since.
#[derive(Default)]
struct RateLimitedWarning {
    last: std::sync::Mutex<Option<Instant>>,
    count: AtomicU64,
}

impl RateLimitedWarning {
    fn warn(&self, message: impl FnOnce(u64) -> String) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().expect("warning lock");
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!("{}", message(n));
        }
    }
}

/// Bind a listener, with an error that says what to do when the port is taken: `flag` is the
/// option that chooses this address (`--listen`, `--admin-listen`).
pub async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "{addr} is already in use: stop the other server or pass {flag} with another port"
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr} ({flag}): {e}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_is_off_without_origins() {
        assert!(cors_layer(&[]).unwrap().is_none());
        assert!(cors_layer(&["https://music.example.com".into()]).unwrap().is_some());
    }
}
