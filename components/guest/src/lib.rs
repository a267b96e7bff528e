//! Helpers every music service shares, so the services hold no copied boilerplate: routing
//! ([`router`]), JSON responses of typed bodies ([`model`], [`catalog`]), errors in the shape
//! Spotify's Web API uses (`{"error": {"status", "message"}}`), request-body parsing with size
//! limits, paging, bearer-token extraction, and storage ([`store`], [`kv`]).
//!
//! Everything here is plain Rust over spin-sdk's request/response types and is unit-tested
//! natively (`cargo test -p riff-guest --target x86_64-unknown-linux-gnu`).

pub mod catalog;
pub mod events;
pub mod kv;
pub mod model;
pub mod router;
pub mod store;
pub mod time;

use serde::de::DeserializeOwned;
use serde::Serialize;
use spin_sdk::http::{Request, Response};

use model::{ErrorBody, ErrorDetail};

/// Largest request body a service accepts (413 beyond).
pub const MAX_BODY: usize = 64 * 1024;

/// An error answer: HTTP status plus a message safe to show the client, and the headers the
/// status calls for (`Allow` on 405, `WWW-Authenticate` on 401, `Retry-After` on 429).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), headers: Vec::new() }
    }
    /// The same error with one more response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// A header's value, if the error carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(400, m)
    }
    /// 401 for a request without usable credentials (`WWW-Authenticate: Bearer`).
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(401, m).with_header("www-authenticate", "Bearer")
    }
    /// 401 for a token that was presented but refused: bad signature, expired, revoked
    /// (`WWW-Authenticate: Bearer error="invalid_token"`, RFC 6750).
    pub fn invalid_token(m: impl Into<String>) -> Self {
        Self::new(401, m).with_header("www-authenticate", "Bearer error=\"invalid_token\"")
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(403, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(404, m)
    }
    /// 405 with the methods the resource does take, in `Allow` and in the message.
    pub fn method_not_allowed(allow: &[&str]) -> Self {
        let message = match allow {
            [] => "method not allowed".to_string(),
            [only] => format!("method not allowed; use {only}"),
            [rest @ .., last] => format!("method not allowed; use {} or {last}", rest.join(", ")),
        };
        Self::new(405, message).with_header("allow", allow.join(", "))
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(409, m)
    }
    /// 429: come back in `retry_after` seconds (at least 1), also sent as `Retry-After`.
    pub fn too_many_requests(m: impl Into<String>, retry_after: u64) -> Self {
        Self::new(429, m).with_header("retry-after", retry_after.max(1).to_string())
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(500, m)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { message: self.message.clone(), status: self.status } }
    }
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Response {
        let mut builder = Response::builder();
        builder.status(e.status).header("content-type", "application/json");
        for (name, value) in &e.headers {
            builder.header(name.as_str(), value.as_str());
        }
        builder.body(serde_json::to_vec(&e.body()).unwrap_or_else(|_| b"{}".to_vec())).build()
    }
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

/// A JSON response with a status.
pub fn json_response(status: u16, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder().status(status).header("content-type", "application/json").body(bytes).build()
}

/// 204 No Content.
pub fn no_content() -> Response {
    Response::builder().status(204).body(Vec::new()).build()
}

/// Turn a handler's result into a response.
pub fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(Response::from)
}

/// Parse a JSON body into `T`: 413 when too large, 400 with the reason when malformed or of the
/// wrong shape.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    parse_json_limited(body, MAX_BODY)
}

/// [`parse_json`] with another size limit (bulk endpoints).
pub fn parse_json_limited<T: DeserializeOwned>(body: &[u8], limit: usize) -> ApiResult<T> {
    if body.len() > limit {
        return Err(ApiError::new(413, format!("request body is larger than {limit} bytes")));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("request body is empty; expected JSON"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Parse a request's JSON body.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    parse_json(req.body())
}

/// The bearer token of an `Authorization` header.
pub fn bearer_token(req: &Request) -> ApiResult<String> {
    let header = req
        .header("authorization")
        .and_then(|h| h.as_str())
        .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
    parse_bearer(header)
}

pub fn parse_bearer(header: &str) -> ApiResult<String> {
    let (scheme, token) =
        header.trim().split_once(' ').ok_or_else(|| ApiError::unauthorized("expected \"Bearer <token>\""))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized("expected \"Bearer <token>\""));
    }
    Ok(token.trim().to_string())
}

/// The client's IP address, from the `spin-client-addr` header (`ip:port`) the host sets from
/// the connection (clients cannot supply it: the host replaces it). `None` when absent.
pub fn client_ip(req: &Request) -> Option<String> {
    req.header("spin-client-addr").and_then(|h| h.as_str()).and_then(parse_client_addr)
}

pub fn parse_client_addr(value: &str) -> Option<String> {
    let value = value.trim();
    let ip = match value.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip(),
        Err(_) => value.parse::<std::net::IpAddr>().ok()?,
    };
    Some(ip.to_canonical().to_string())
}

/// Compare secrets without leaking, through timing, how much of them matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new Spotify-style id: 22 base62 characters from the host's randomness.
pub fn new_id() -> ApiResult<String> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 22];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| ALPHABET[*b as usize % 62] as char).collect())
}

/// Query string pairs, percent-decoded.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `limit`/`offset` from a query, with Spotify's defaults and bounds (limit 1..=50).
pub fn paging(query: &[(String, String)], default_limit: u32) -> ApiResult<(u32, u32)> {
    let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        None => default_limit,
        Some(v) => v.parse::<u32>().ok().filter(|l| (1..=50).contains(l)).ok_or_else(|| {
            ApiError::bad_request(format!("limit must be a number from 1 to 50, got {v:?}"))
        })?,
    };
    let offset = match get("offset") {
        None => 0,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| ApiError::bad_request(format!("offset must be a non-negative number, got {v:?}")))?,
    };
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(parse_bearer("Bearer abc").unwrap(), "abc");
        assert_eq!(parse_bearer("bearer  abc ").unwrap(), "abc");
        assert_eq!(parse_bearer("Basic abc").unwrap_err().status, 401);
        assert_eq!(parse_bearer("Bearer").unwrap_err().status, 401);
    }

    #[test]
    fn client_addresses() {
        assert_eq!(parse_client_addr("127.0.0.2:51234").as_deref(), Some("127.0.0.2"));
        assert_eq!(parse_client_addr("[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(parse_client_addr("[::ffff:10.0.0.7]:1").as_deref(), Some("10.0.0.7"));
        assert_eq!(parse_client_addr("10.0.0.7").as_deref(), Some("10.0.0.7"));
        assert_eq!(parse_client_addr("somewhere"), None);
    }

    #[test]
    fn error_headers() {
        let e = ApiError::method_not_allowed(&["GET", "PUT", "DELETE"]);
        assert_eq!((e.status, e.header("Allow")), (405, Some("GET, PUT, DELETE")));
        assert_eq!(e.message, "method not allowed; use GET, PUT or DELETE");
        assert_eq!(ApiError::method_not_allowed(&["POST"]).message, "method not allowed; use POST");
        assert_eq!(ApiError::unauthorized("no").header("www-authenticate"), Some("Bearer"));
        assert_eq!(
            ApiError::invalid_token("revoked").header("WWW-Authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(ApiError::too_many_requests("slow down", 0).header("retry-after"), Some("1"));
        assert_eq!(ApiError::bad_request("x").headers, vec![]);
        assert_eq!(ApiError::bad_request("x").body().error.status, 400);
        assert_eq!(ApiError::bad_request("x").body().error.message, "x");
    }

    #[test]
    fn bodies() {
        #[derive(serde::Deserialize, Debug)]
        struct Login {
            #[allow(dead_code)]
            username: String,
        }
        assert_eq!(parse_json::<Login>(b"{").unwrap_err().status, 400);
        assert_eq!(parse_json::<Login>(b"{\"username\": 3}").unwrap_err().status, 400);
        assert_eq!(parse_json::<Login>(b"").unwrap_err().status, 400);
        assert_eq!(parse_json::<Login>(&vec![b' '; MAX_BODY + 1]).unwrap_err().status, 413);
        assert!(parse_json::<Login>(b"{\"username\": \"a\"}").is_ok());
    }

    #[test]
    fn queries_and_paging() {
        let q = query_pairs("q=hello%20world&limit=10&x=a+b&bad=%zz&end=%4");
        assert_eq!(q[0], ("q".into(), "hello world".into()));
        assert_eq!(q[2], ("x".into(), "a b".into()));
        assert_eq!(q[3].1, "%zz");
        assert_eq!(q[4].1, "%4");
        assert_eq!(paging(&q, 20).unwrap(), (10, 0));
        assert_eq!(paging(&query_pairs("limit=0"), 20).unwrap_err().status, 400);
        assert_eq!(paging(&query_pairs("offset=-1"), 20).unwrap_err().status, 400);
    }
}

/// Defines `fn service_error(e: Error) -> ApiError` for a component's generated `riff:music`
/// types module, mapping each error case of a typed call to its HTTP status:
/// `riff_guest::service_error_fn!(bindings::riff::music::types);`
#[macro_export]
macro_rules! service_error_fn {
    ($($types:ident)::+) => {
        fn service_error(e: $($types)::+::Error) -> $crate::ApiError {
            use $($types)::+::Error;
            match e {
                Error::NotFound(m) => $crate::ApiError::not_found(m),
                Error::Invalid(m) => $crate::ApiError::bad_request(m),
                // Typed calls refuse as unauthorized only a token that was presented.
                Error::Unauthorized(m) => $crate::ApiError::invalid_token(m),
                Error::Forbidden(m) => $crate::ApiError::forbidden(m),
                Error::Conflict(m) => $crate::ApiError::conflict(m),
                Error::Internal(m) => $crate::ApiError::internal(m),
            }
        }
    };
}
