//! Test caller for typed calls: `GET /verify/<token>` calls `riff:music/auth#verify-token`
//! and answers what came back, so the tests can see linking, errors and trap handling.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/music",
        inline: "
            package riff:test-caller;
            world caller { import riff:music/auth@0.1.0; }
        ",
        world: "riff:test-caller/caller",
        generate_all,
    });
}

use bindings::riff::music::auth::verify_token;
use bindings::riff::music::types::Error;
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let token = req.path().rsplit('/').next().unwrap_or_default().to_string();
    let (status, body) = match verify_token(&token) {
        Ok(claims) => (200, format!("user={} name={}", claims.user_id, claims.username)),
        Err(Error::Unauthorized(m)) => (401, m),
        Err(Error::Internal(m)) => (500, m),
        Err(other) => (400, format!("{other:?}")),
    };
    Ok(Response::builder().status(status).header("content-type", "text/plain").body(body).build())
}
