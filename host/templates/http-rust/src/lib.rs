//! {{project-name}}: an HTTP component built with spin-sdk 6 (a WASIp3 component).

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

/// Answers every request routed to this component (spin.toml's `[[trigger.http]]`).
#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    format!("Hello from {{project-name}}: {} {}\n", req.method(), req.uri().path())
}
