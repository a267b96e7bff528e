//! {{project-name}}: an HTTP component built with spin-sdk 5.2 (a WASIp2 component).

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

/// Answers every request routed to this component (spin.toml's `[[trigger.http]]`).
#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let body = format!("Hello from {{project-name}}: {} {}\n", req.method(), req.path());
    Ok(Response::builder().status(200).header("content-type", "text/plain").body(body).build())
}
