//! Response bodies: send a finished guest's response in one piece.
//!
//! A guest sets its response head before it writes the body, so a server that forwards the head
//! at once sends a small response in two TCP writes (head + first chunk, then the final chunk)
//! with chunked framing. When the guest has already finished by the time the head is forwarded,
//! [`settle`] gathers the body that is sitting in the pipe and sends it whole, with a
//! `content-length`. A guest still working (streaming, waiting on I/O) is never waited for: its
//! body streams as it is written.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Largest body gathered into one piece; larger ones stream.
const MAX_GATHER: usize = 256 * 1024;

/// Gather the frames that are already available. If the body ends among them, answer with a
/// complete body and its `content-length`; otherwise stream what was gathered, then the rest.
pub fn settle(response: Response<HyperOutgoingBody>) -> Response<HyperOutgoingBody> {
    let (mut parts, mut body) = response.into_parts();
    let mut gathered = BytesMut::new();
    loop {
        match body.frame().now_or_never() {
            Some(None) => {
                parts.headers.remove(http::header::TRANSFER_ENCODING);
                parts.headers.insert(http::header::CONTENT_LENGTH, gathered.len().into());
                return Response::from_parts(parts, super::responses::full_body(gathered.freeze()));
            }
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    gathered.extend_from_slice(&data);
                    if gathered.len() > MAX_GATHER {
                        break;
                    }
                }
                Err(frame) => {
                    // Trailers end the body; keep them and stream.
                    let trailers = frame.into_trailers().unwrap_or_default();
                    let prefix = Prefixed {
                        prefix: Some(Frame::data(gathered.freeze())),
                        trailers: Some(trailers),
                        rest: None,
                    };
                    return Response::from_parts(parts, prefix.boxed_unsync());
                }
            },
            Some(Some(Err(e))) => {
                let failed = Prefixed { prefix: None, trailers: None, rest: Some(failed_body(e)) };
                return Response::from_parts(parts, failed.boxed_unsync());
            }
            None => break, // the guest is still writing
        }
    }
    let prefix = (!gathered.is_empty()).then(|| Frame::data(gathered.freeze()));
    Response::from_parts(parts, Prefixed { prefix, trailers: None, rest: Some(body) }.boxed_unsync())
}

fn failed_body(error: wasmtime_wasi_http::Error) -> HyperOutgoingBody {
    http_body_util::StreamBody::new(futures::stream::once(async move { Err(error) })).boxed_unsync()
}

/// Frames already taken from a body, followed by the rest of it.
struct Prefixed {
    prefix: Option<Frame<Bytes>>,
    trailers: Option<http::HeaderMap>,
    rest: Option<HyperOutgoingBody>,
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(frame) = self.prefix.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.rest.as_ref().map(|r| r.size_hint()).unwrap_or_else(|| SizeHint::with_exact(0));
        if let Some(prefix) = self.prefix.as_ref().and_then(|f| f.data_ref()) {
            let n = prefix.len() as u64;
            hint.set_lower(hint.lower() + n);
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper + n);
            }
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(response: Response<HyperOutgoingBody>) -> (Option<String>, Bytes) {
        let len = response.headers().get("content-length").map(|v| v.to_str().unwrap().to_string());
        let body = futures::executor::block_on(response.into_body().collect()).unwrap().to_bytes();
        (len, body)
    }

    #[test]
    fn a_finished_body_gets_a_content_length() {
        let response = Response::new(crate::responses::full_body("hello"));
        assert_eq!(collect(settle(response)), (Some("5".into()), Bytes::from("hello")));
    }

    #[test]
    fn an_unfinished_body_streams_everything_in_order() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>();
        tx.unbounded_send(Ok(Frame::data(Bytes::from("first ")))).unwrap();
        let body = http_body_util::StreamBody::new(rx).boxed_unsync();
        let settled = settle(Response::new(body));
        assert!(settled.headers().get("content-length").is_none());
        tx.unbounded_send(Ok(Frame::data(Bytes::from("second")))).unwrap();
        drop(tx);
        assert_eq!(collect(settled).1, Bytes::from("first second"));
    }
}
