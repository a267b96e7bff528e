//! Request ids (`x-request-id`): every request gets one — the client's own when it is short and
//! plain, otherwise a new one — and every response carries it back; the host's log lines about a
//! request name it.
//!
//! New ids are a random 64-bit prefix drawn at start-up and a counter (`3f9a0c2e5d1b7a64-1a`):
//! unique across restarts and replicas without a random draw per request. This is done here
//! rather than with tower-http's request-id layers, which also store the id in the request's
//! extensions (a map allocated per request) — on the cheapest requests that showed up in the
//! hello benchmark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// Hands out request ids. Clones share the counter.
#[derive(Clone)]
pub struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("the OS random source");
        Self { prefix: u64::from_le_bytes(seed), next: Arc::new(AtomicU64::new(1)) }
    }

    /// The id of a request with these headers: the client's, if usable, or a new one, which is
    /// then set on the headers. Returns the value to echo on the response.
    pub fn assign(&self, headers: &mut HeaderMap) -> HeaderValue {
        if let Some(id) = headers.get(REQUEST_ID).filter(|v| usable(v.as_bytes())) {
            return id.clone();
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = HeaderValue::from_maybe_shared(Bytes::from(format!("{:016x}-{n:x}", self.prefix)))
            .expect("hex digits and a dash are a valid header value");
        headers.insert(REQUEST_ID, id.clone());
        id
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

/// A client may bring its own id (to correlate with its logs) if it is short and plain.
fn usable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_str(id).unwrap());
        headers
    }

    #[test]
    fn a_plain_client_id_is_kept() {
        let ids = RequestIds::new();
        let mut headers = headers_with("abc-123_x.y:z");
        assert_eq!(ids.assign(&mut headers), "abc-123_x.y:z");
        assert_eq!(headers[REQUEST_ID], "abc-123_x.y:z");
    }

    #[test]
    fn an_unusable_client_id_is_replaced() {
        let ids = RequestIds::new();
        for bad in ["", "has space", "semi;colon", &"x".repeat(129)] {
            let mut headers = headers_with(bad);
            let id = ids.assign(&mut headers);
            assert_ne!(id, bad);
            assert_eq!(headers[REQUEST_ID], id, "{bad:?}");
            assert_eq!(headers.get_all(REQUEST_ID).iter().count(), 1);
        }
    }

    #[test]
    fn new_ids_are_distinct_and_share_the_process_prefix() {
        let ids = RequestIds::new();
        let a = ids.assign(&mut HeaderMap::new());
        let b = ids.clone().assign(&mut HeaderMap::new());
        assert_ne!(a, b);
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.split('-').next(), b.split('-').next());
        assert_eq!(a.split('-').next().unwrap().len(), 16);
    }
}
