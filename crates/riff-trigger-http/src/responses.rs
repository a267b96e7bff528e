//! The host's own responses (errors, health, refusals), built without any component: a leaf
//! module, so the front door's parts (limits, body handling) need nothing from the app.

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Ask the client to close the connection after this response (used when the rest of a request
/// body is left unread).
pub fn closing(mut response: Response<HyperOutgoingBody>) -> Response<HyperOutgoingBody> {
    response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
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

/// A plain-text response (health checks).
pub fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(full_body(text))
        .expect("static response parts are valid")
}

/// A whole body in one frame.
pub fn full_body(data: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(data.into()).map_err(|never| match never {}).boxed_unsync()
}
