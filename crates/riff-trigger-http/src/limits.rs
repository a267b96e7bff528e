//! What a client may send: limits on the request head and on the body, checked before a
//! component sees the request (the head) or while the body streams into it (the body).
//!
//! A body is never buffered by the host. It streams into the guest through a
//! [`http_body_util::Limited`] (the component's `max_request_body`) and tower-http's body timeout,
//! and [`GuardedBody`] remembers the first thing that went wrong with it: too large, too slow,
//! or broken framing (bad chunk, connection closed early). Whatever the guest then answers —
//! usually a trap or a 500, since it could not read its input — the client gets the status that
//! names its own mistake (413, 408, 400) in the JSON error shape, and the rest of an oversized
//! body is never read. A `Content-Length` over the limit is refused before the component runs.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{LengthLimitError, Limited};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Longest request target (path and query) accepted: 414 beyond.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header section accepted (names and values): 431 beyond.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header fields accepted: 431 beyond. Below hyper's own ceiling of 100, which it parses
/// on the stack (a higher ceiling costs two heap arrays per request).
pub const MAX_HEADER_COUNT: usize = 64;

/// A request head the host refuses, with the status and a message for the client.
pub fn check_head(uri: &Uri, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Err((
            StatusCode::URI_TOO_LONG,
            format!("the request target is {target} bytes; the limit is {MAX_URI_BYTES}"),
        ));
    }
    if headers.len() > MAX_HEADER_COUNT {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("{} header fields; the limit is {MAX_HEADER_COUNT}", headers.len()),
        ));
    }
    let size: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the header section is {size} bytes; the limit is {MAX_HEADER_BYTES}"),
        ));
    }
    Ok(())
}

/// The declared body length, if it is over `limit`: the request is refused unread.
pub fn declared_too_large(headers: &HeaderMap, limit: u64) -> Option<u64> {
    let declared = headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    (declared > limit).then_some(declared)
}

/// What went wrong with a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// More than the component's `max_request_body`.
    TooLarge(u64),
    /// The client stopped sending for longer than the body timeout.
    Stalled,
    /// Broken framing: a bad chunk, or the connection closed before the body's end.
    Malformed,
}

impl BodyFault {
    /// The JSON error the client gets instead of the component's answer.
    pub fn into_response(self) -> http::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody> {
        let (status, message) = self.response();
        super::responses::json_error(status, &message)
    }

    /// Status and message for the client.
    pub fn response(self) -> (StatusCode, String) {
        match self {
            BodyFault::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than this route accepts ({limit} bytes)"),
            ),
            BodyFault::Stalled => {
                (StatusCode::REQUEST_TIMEOUT, "the request body stopped arriving before its end".into())
            }
            BodyFault::Malformed => (
                StatusCode::BAD_REQUEST,
                "the request body is malformed or ended early (bad chunked encoding or a short body)".into(),
            ),
        }
    }

    fn classify(error: &BoxError, limit: u64) -> BodyFault {
        if error.downcast_ref::<LengthLimitError>().is_some() {
            BodyFault::TooLarge(limit)
        } else if error.downcast_ref::<tower_http::timeout::TimeoutError>().is_some() {
            BodyFault::Stalled
        } else {
            BodyFault::Malformed
        }
    }

    fn as_wasi_error(self) -> wasmtime_wasi_http::Error {
        match self {
            BodyFault::TooLarge(limit) => wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit)),
            BodyFault::Stalled => wasmtime_wasi_http::Error::ConnectionReadTimeout,
            BodyFault::Malformed => wasmtime_wasi_http::Error::HttpProtocolError,
        }
    }
}

/// Where a [`GuardedBody`] records its fault; the request handler reads it after the guest ran.
pub type FaultCell = Arc<OnceLock<BodyFault>>;

/// A request body limited to `limit` bytes that records the first error it meets.
pub struct GuardedBody<B> {
    inner: Pin<Box<Limited<B>>>,
    limit: u64,
    fault: FaultCell,
}

impl<B> GuardedBody<B> {
    pub fn new(body: B, limit: u64) -> (Self, FaultCell) {
        let fault = FaultCell::default();
        let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
        (Self { inner: Box::pin(Limited::new(body, limit_usize)), limit, fault: fault.clone() }, fault)
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Err(error))) => {
                let fault = BodyFault::classify(&error, self.limit);
                tracing::debug!("request body: {error}");
                let _ = self.fault.set(fault);
                Poll::Ready(Some(Err(fault.as_wasi_error())))
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn head_limits() {
        let headers = HeaderMap::new();
        let long: Uri = format!("/a?q={}", "x".repeat(MAX_URI_BYTES)).parse().unwrap();
        assert_eq!(check_head(&long, &headers).unwrap_err().0, StatusCode::URI_TOO_LONG);
        let uri: Uri = "/ok".parse().unwrap();
        assert!(check_head(&uri, &headers).is_ok());
        let mut many = HeaderMap::new();
        for i in 0..=MAX_HEADER_COUNT {
            many.insert(
                http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
                "v".parse().unwrap(),
            );
        }
        assert_eq!(check_head(&uri, &many).unwrap_err().0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let mut big = HeaderMap::new();
        big.insert("x-big", "v".repeat(MAX_HEADER_BYTES).parse().unwrap());
        assert_eq!(check_head(&uri, &big).unwrap_err().0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn declared_length() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_too_large(&headers, 10), None);
        headers.insert(http::header::CONTENT_LENGTH, "11".parse().unwrap());
        assert_eq!(declared_too_large(&headers, 10), Some(11));
        assert_eq!(declared_too_large(&headers, 11), None);
    }

    #[tokio::test]
    async fn an_oversized_body_records_too_large() {
        let body = http_body_util::Full::new(Bytes::from(vec![b'x'; 100]));
        let (guarded, fault) = GuardedBody::new(body, 10);
        assert!(guarded.collect().await.is_err());
        assert_eq!(fault.get(), Some(&BodyFault::TooLarge(10)));
        assert_eq!(BodyFault::TooLarge(10).response().0, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes_untouched() {
        let body = http_body_util::Full::new(Bytes::from_static(b"hello"));
        let (guarded, fault) = GuardedBody::new(body, 5);
        assert_eq!(guarded.collect().await.unwrap().to_bytes(), Bytes::from_static(b"hello"));
        assert!(fault.get().is_none());
    }

    #[tokio::test]
    async fn a_broken_body_records_malformed() {
        let broken = http_body_util::StreamBody::new(futures::stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err(BoxError::from("connection closed before message completed")),
        ]));
        let (guarded, fault) = GuardedBody::new(broken, 1024);
        assert!(guarded.collect().await.is_err());
        assert_eq!(fault.get(), Some(&BodyFault::Malformed));
    }
}
