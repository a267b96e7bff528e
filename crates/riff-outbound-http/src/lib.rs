//! # riff-outbound-http
//!
//! Outbound HTTP (`wasi:http/outgoing-handler`): the allow-list and in-process service chaining.
//!
//! A component may only reach the hosts listed in its `allowed_outbound_hosts`. Two kinds of
//! destination never touch a socket: `http://self/...` — or a relative URL (`/hello`), as in
//! Spin — routes through this app's own router, and `http://<component-id>.spin.internal/...`
//! goes straight to that component, including components whose route is private. Everything
//! else is sent by wasmtime-wasi-http's default client.
//!
//! The allow-list is enforced here, in the one hook every outgoing request passes through
//! ([`wasmtime_wasi_http::WasiHttpHooks::send_request`]), so no guest code path can bypass it.
//!
//! In-process destinations are served by the app, which sits above this crate: the hook reaches
//! it through [`InProcessHandler`], a trait defined here and implemented by the app (as Spin's
//! outbound interceptor), so this crate never names the app.

use std::future::Future;
use std::sync::{Arc, Weak};

use futures::future::BoxFuture;
use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use riff_manifest::allow_list::default_port;
pub use riff_manifest::allow_list::{AllowList, AllowedHost};

/// Where an allowed outgoing request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Destination {
    /// `http://self/...`: this app's router.
    SelfApp,
    /// `http://<id>.spin.internal/...`: one component, in-process.
    Component(String),
    /// Anything else: the network.
    Network,
}

pub fn destination(host: &str) -> Destination {
    let host = host.to_ascii_lowercase();
    if host == "self" || host == "self.alt" {
        Destination::SelfApp
    } else if let Some(id) = host.strip_suffix(".spin.internal") {
        Destination::Component(id.to_string())
    } else {
        Destination::Network
    }
}

/// Serves requests that never leave the process: `http://self/...` and
/// `http://<component>.spin.internal/...`. Implemented by the app.
pub trait InProcessHandler: Send + Sync {
    /// Serve `request` at `destination` ([`Destination::SelfApp`] or [`Destination::Component`]),
    /// `depth` calls deep in a chain.
    fn handle_in_process(
        &self,
        destination: Destination,
        request: http::Request<WasiBody>,
        depth: u32,
    ) -> BoxFuture<'_, Result<http::Response<HyperOutgoingBody>, wasmtime_wasi_http::Error>>;
}

/// The per-request `WasiHttpHooks`: checks the caller's allow-list and dispatches.
pub struct OutboundHooks {
    /// The calling component.
    pub component: Arc<str>,
    pub allow: Arc<AllowList>,
    /// The app, for in-process dispatch. Weak: a request must not keep a stopped app alive.
    pub app: Weak<dyn InProcessHandler>,
    /// How deep in a chain of in-process calls this request is.
    pub depth: u32,
}

/// In-process chains deeper than this are refused: a component calling itself forever would
/// otherwise exhaust the instance pool.
pub const MAX_CHAIN_DEPTH: u32 = 10;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let _ = fut;
        let uri = request.uri();
        let relative = uri.host().is_none_or(str::is_empty);
        let (scheme, host, port, allowed) = if relative {
            // A relative URL is a request to this app, allowed as Spin allows it: by `http://self`
            // or `https://self`.
            let allowed = self.allow.allows("http", "self", 80) || self.allow.allows("https", "self", 443);
            ("http".to_string(), "self".to_string(), 80, allowed)
        } else {
            let scheme = uri.scheme_str().unwrap_or("http").to_string();
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri.port_u16().or_else(|| default_port(&scheme)).unwrap_or(0);
            let allowed = self.allow.allows(&scheme, &host, port);
            (scheme, host, port, allowed)
        };
        let component = self.component.clone();
        let app = self.app.clone();
        let depth = self.depth;
        Box::new(async move {
            if !allowed {
                tracing::warn!(
                    component = %component,
                    "outbound request to {scheme}://{host}:{port} denied: not in allowed_outbound_hosts"
                );
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            let target = destination(&host);
            if target == Destination::Network {
                let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                return Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn Future<Output = _> + Send>,
                ));
            }
            if depth >= MAX_CHAIN_DEPTH {
                return Err(wasmtime_wasi_http::Error::LoopDetected);
            }
            let app = app.upgrade().ok_or(wasmtime_wasi_http::Error::ConnectionRefused)?;
            let response = app.handle_in_process(target, request, depth + 1).await?;
            let done: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(destination("self"), Destination::SelfApp);
        assert_eq!(destination("Catalog.spin.internal"), Destination::Component("catalog".into()));
        assert_eq!(destination("example.com"), Destination::Network);
    }

    /// The in-process side of the app: answers with the destination and depth it was given.
    struct Echo;

    impl InProcessHandler for Echo {
        fn handle_in_process(
            &self,
            destination: Destination,
            _request: http::Request<WasiBody>,
            depth: u32,
        ) -> BoxFuture<'_, Result<http::Response<HyperOutgoingBody>, wasmtime_wasi_http::Error>> {
            Box::pin(async move {
                let text = format!("{destination:?} at depth {depth}");
                let body = http_body_util::Full::new(bytes::Bytes::from(text))
                    .map_err(|never: std::convert::Infallible| match never {})
                    .boxed_unsync();
                Ok(http::Response::new(body))
            })
        }
    }

    fn hooks(allowed: &[&str], app: &Arc<Echo>, depth: u32) -> OutboundHooks {
        let entries: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        let app: Arc<dyn InProcessHandler> = app.clone();
        OutboundHooks {
            component: "caller".into(),
            allow: Arc::new(AllowList::parse(&entries).unwrap()),
            app: Arc::downgrade(&app),
            depth,
        }
    }

    async fn send(hooks: &mut OutboundHooks, url: &str) -> Result<String, wasmtime_wasi_http::Error> {
        let body = http_body_util::Empty::<bytes::Bytes>::new()
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed_unsync();
        let request = http::Request::get(url).body(body).unwrap();
        let done: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
            Box::new(async { Ok(()) });
        let (response, _io) = Box::into_pin(hooks.send_request(request, None, done)).await?;
        let bytes =
            response.into_body().collect().await.map_err(|_| wasmtime_wasi_http::Error::ConnectionRefused)?;
        Ok(String::from_utf8(bytes.to_bytes().to_vec()).unwrap())
    }

    /// In-process capability test: the hook every outgoing request passes, called directly.
    #[tokio::test]
    async fn the_allow_list_decides_and_in_process_calls_reach_the_app_one_level_deeper() {
        let app = Arc::new(Echo);
        let mut none = hooks(&[], &app, 0);
        assert!(matches!(
            send(&mut none, "http://self/x").await,
            Err(wasmtime_wasi_http::Error::HttpRequestDenied)
        ));
        assert!(matches!(
            send(&mut none, "https://example.com/").await,
            Err(wasmtime_wasi_http::Error::HttpRequestDenied)
        ));
        let mut granted = hooks(&["http://self", "http://*.spin.internal"], &app, 2);
        assert_eq!(send(&mut granted, "http://self/x").await.unwrap(), "SelfApp at depth 3");
        assert_eq!(
            send(&mut granted, "http://catalog.spin.internal/y").await.unwrap(),
            "Component(\"catalog\") at depth 3"
        );
        assert!(matches!(
            send(&mut granted, "http://other.example:80/").await,
            Err(wasmtime_wasi_http::Error::HttpRequestDenied)
        ));
        // A relative URL is this app, under the same grant (Spin's rule).
        assert_eq!(send(&mut granted, "/x").await.unwrap(), "SelfApp at depth 3");
        assert!(matches!(send(&mut none, "/x").await, Err(wasmtime_wasi_http::Error::HttpRequestDenied)));
        let mut https_self = hooks(&["https://self"], &app, 0);
        assert_eq!(send(&mut https_self, "/x").await.unwrap(), "SelfApp at depth 1");
        let mut too_deep = hooks(&["http://self"], &app, MAX_CHAIN_DEPTH);
        assert!(matches!(
            send(&mut too_deep, "http://self/x").await,
            Err(wasmtime_wasi_http::Error::LoopDetected)
        ));
        drop(app);
        assert!(matches!(
            send(&mut granted, "http://self/x").await,
            Err(wasmtime_wasi_http::Error::ConnectionRefused)
        ));
    }
}
