//! The admin API: list components, upload a new version of one, roll it back, reload the
//! manifest. It listens on its own address (loopback by default), apart from the app's
//! routes, and every request must carry the admin bearer token.
//!
//! | Method and path                      | Does                                                |
//! |--------------------------------------|-----------------------------------------------------|
//! | `GET  /v1/components`                | every component: version, origin, load time, counts |
//! | `GET  /v1/components/{id}`           | one component                                       |
//! | `PUT  /v1/components/{id}`           | body: a `.wasm` component; swap it in               |
//! | `POST /v1/components/{id}/rollback`  | back to the version it replaced                     |
//! | `POST /v1/reload`                    | re-read `spin.toml` and apply the difference        |
//! | `GET  /v1/dead-letters`              | messages no subscriber could handle (newest first)  |
//!
//! Errors use the music API's shape, `{"error": {"status", "message"}}`: 401 without the token,
//! 404 for an unknown component, 409 when there is nothing to roll back to, 413 for an upload
//! over [`MAX_UPLOAD`], 422 when the artifact or manifest is refused (the message says why).
//!
//! Why a token even on loopback: any local process, and any web page through DNS rebinding,
//! can reach a loopback port; this API replaces running code.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

use super::SwapError;
use crate::app::App;
use riff_manifest as manifest;

/// Largest component the API accepts.
pub const MAX_UPLOAD: usize = 256 << 20;

/// The environment variable holding the admin token.
pub const TOKEN_ENV: &str = "RIFF_ADMIN_TOKEN";

/// Where the generated token is written when none is given, relative to the state directory.
pub const TOKEN_FILE: &str = "admin-token";

/// The admin token for a listener on `addr`: `given` (from `RIFF_ADMIN_TOKEN`) when set;
/// otherwise, on a loopback address only, a random token written to `<state_dir>/admin-token`
/// (mode 0600) for `riff deploy` to read. A non-loopback listener without a token is refused.
pub fn token_for(
    addr: SocketAddr,
    state_dir: &Path,
    given: Option<String>,
) -> Result<(String, Option<std::path::PathBuf>)> {
    if let Some(token) = given.filter(|t| !t.trim().is_empty()) {
        return Ok((token.trim().to_string(), None));
    }
    if !addr.ip().is_loopback() {
        bail!(
            "refusing to serve the admin API on {addr}, which is not a loopback address, without a \
             token: set {TOKEN_ENV}, or use a loopback --admin-listen"
        );
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("generating the admin token: {e}"))?;
    let token = hex::encode(raw);
    let file = state_dir.join(TOKEN_FILE);
    std::fs::create_dir_all(state_dir)?;
    write_private(&file, &token).with_context(|| format!("writing {}", file.display()))?;
    Ok((token, Some(file)))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Serve the admin API on `listener` until the process ends.
pub async fn serve(app: Arc<App>, listener: TcpListener, token: String) {
    let token: Arc<str> = token.into();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("admin: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = app.clone();
                let token = token.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&app, &token, req).await) }
            });
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("admin connection from {peer}: {e}");
            }
        });
    }
}

type AdminResponse = Response<Full<Bytes>>;

async fn handle(app: &App, token: &str, req: Request<hyper::body::Incoming>) -> AdminResponse {
    if !authorized(&req, token) {
        let mut resp = error(StatusCode::UNAUTHORIZED, "the admin API needs `Authorization: Bearer <token>`");
        resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        return resp;
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let method = req.method().clone();
    match (method, segments.as_slice()) {
        (Method::GET, ["v1", "components"]) => {
            json(StatusCode::OK, &Listing { app: &app.name, components: app.status() })
        }
        (Method::GET, ["v1", "components", id]) => match app.status().into_iter().find(|c| c.id == *id) {
            Some(status) => json(StatusCode::OK, &status),
            None => error(StatusCode::NOT_FOUND, &format!("no component named {id:?}")),
        },
        (Method::PUT, ["v1", "components", id]) => {
            let id = id.to_string();
            let bytes = match Limited::new(req.into_body(), MAX_UPLOAD).collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("components over {} are refused", bytesize::ByteSize(MAX_UPLOAD as u64)),
                    )
                }
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading the upload: {e}")),
            };
            if bytes.is_empty() {
                return error(StatusCode::BAD_REQUEST, "the request body must be the component's .wasm");
            }
            swap_response(app.replace(&id, bytes.to_vec()).await)
        }
        (Method::POST, ["v1", "components", id, "rollback"]) => swap_response(app.rollback(id).await),
        (Method::GET, ["v1", "dead-letters"]) => match app.dead_letters(1000).await {
            Ok(letters) => json(StatusCode::OK, &serde_json::json!({ "dead_letters": letters })),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("reading the queue: {e:#}")),
        },
        (Method::POST, ["v1", "reload"]) => {
            let path = app.manifest().await.path;
            let manifest = match manifest::load(&path) {
                Ok(m) => m,
                Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
            };
            match app.apply_manifest(manifest).await {
                Ok(change) => {
                    tracing::info!("manifest reloaded: {change}");
                    json(StatusCode::OK, &change)
                }
                Err(e) => {
                    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                    error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("manifest refused: {}", chain.join(": ")),
                    )
                }
            }
        }
        (
            _,
            ["v1", "components"]
            | ["v1", "components", _]
            | ["v1", "components", _, "rollback"]
            | ["v1", "reload"],
        ) => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this path"),
        _ => error(StatusCode::NOT_FOUND, &format!("no admin endpoint at {path}")),
    }
}

#[derive(Serialize)]
struct Listing<'a> {
    app: &'a str,
    components: Vec<super::ComponentStatus>,
}

fn swap_response(result: Result<super::SwapReport, SwapError>) -> AdminResponse {
    match result {
        Ok(report) => json(StatusCode::OK, &report),
        Err(e @ SwapError::UnknownComponent(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ SwapError::NoPrevious(_)) => error(StatusCode::CONFLICT, &e.to_string()),
        Err(e @ SwapError::Refused(_)) => {
            tracing::warn!("{e}");
            error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
    }
}

/// Constant-time comparison of the presented bearer token with the expected one.
fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    let Some(presented) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (presented.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json(status: StatusCode, value: &impl Serialize) -> AdminResponse {
    let body = serde_json::to_vec_pretty(value).expect("admin responses serialize");
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

fn error(status: StatusCode, message: &str) -> AdminResponse {
    json(status, &serde_json::json!({ "error": { "status": status.as_u16(), "message": message } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri("/v1/components");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn token_must_match_exactly() {
        assert!(authorized(&request(Some("Bearer s3cret")), "s3cret"));
        assert!(!authorized(&request(Some("Bearer s3cre")), "s3cret"));
        assert!(!authorized(&request(Some("Bearer s3cretX")), "s3cret"));
        assert!(!authorized(&request(Some("Basic s3cret")), "s3cret"));
        assert!(!authorized(&request(None), "s3cret"));
    }

    #[test]
    fn non_loopback_needs_a_token_and_loopback_gets_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let public = "0.0.0.0:3001".parse().unwrap();
        let e = token_for(public, dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("RIFF_ADMIN_TOKEN"), "{e}");
        assert!(token_for(public, dir.path(), Some("  ".into())).is_err());
        assert_eq!(token_for(public, dir.path(), Some("given".into())).unwrap(), ("given".into(), None));

        let (token, file) = token_for("127.0.0.1:3001".parse().unwrap(), dir.path(), None).unwrap();
        assert_eq!(token.len(), 64);
        let file = file.unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
