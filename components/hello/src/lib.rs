//! The smallest spin-sdk component: answers every request with a greeting.
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn hello(_req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(Response::builder().status(200).header("content-type", "text/plain").body("hello from riff\n").build())
}
