//! Outbound HTTP (`wasi:http/outgoing-handler`): the allow-list and in-process service chaining.
//!
//! A component may only reach the hosts listed in its `allowed_outbound_hosts`. Two kinds of
//! destination never touch a socket: `http://self/...` routes through this app's own router, and
//! `http://<component-id>.spin.internal/...` goes straight to that component, including components
//! whose route is private. Everything else is sent by wasmtime-wasi-http's default client.
//!
//! The allow-list is enforced here, in the one hook every outgoing request passes through
//! ([`wasmtime_wasi_http::WasiHttpHooks::send_request`]), so no guest code path can bypass it.

use std::future::Future;
use std::sync::Weak;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::app::App;

pub mod allow_list;

use allow_list::default_port;
pub use allow_list::{AllowList, AllowedHost};

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

/// The per-request `WasiHttpHooks`: checks the caller's allow-list and dispatches.
pub struct OutboundHooks {
    /// The calling component.
    pub component: std::sync::Arc<str>,
    pub allow: std::sync::Arc<AllowList>,
    /// The app, for in-process dispatch. Weak: a request must not keep a replaced app alive.
    pub app: Weak<App>,
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
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().or_else(|| default_port(&scheme)).unwrap_or(0);
        let allowed = self.allow.allows(&scheme, &host, port);
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
            let response = app.handle_internal(target, request, depth + 1).await?;
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
}
