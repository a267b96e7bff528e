//! The JSON shapes every service answers with, as `Serialize` types instead of JSON assembled
//! by hand: the reference part of an API object, Spotify's paging object, and the error body.
//! The catalog's own objects (artist, album, track) are in [`crate::catalog`].
//!
//! Fields are declared in alphabetical order on purpose: the services used to build these
//! bodies as `serde_json` maps, which write their keys sorted, so declaring them so keeps every
//! answer byte for byte what it was (the tests below compare against those maps).

use serde::Serialize;

/// The reference part every API object has: `{href, id, name, type, uri}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectRef {
    pub href: String,
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: String,
}

impl ObjectRef {
    /// The reference to object `id` of `kind` (`artist`, `album`, `track`, ...), at
    /// `/v1/{kind}s/{id}` and `riff:{kind}:{id}`.
    pub fn new(kind: &'static str, id: &str, name: &str) -> Self {
        Self { href: href(kind, id), id: id.to_string(), name: name.to_string(), kind, uri: uri(kind, id) }
    }
}

/// Where object `id` of `kind` is: `/v1/{kind}s/{id}`.
pub fn href(kind: &str, id: &str) -> String {
    format!("/v1/{kind}s/{id}")
}

/// The object's URI: `riff:{kind}:{id}`.
pub fn uri(kind: &str, id: &str) -> String {
    format!("riff:{kind}:{id}")
}

/// A Spotify paging object: `{href, items, limit, next, offset, previous, total}`, with the
/// links to this page and its neighbours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub href: String,
    pub items: Vec<T>,
    pub limit: u32,
    pub next: Option<String>,
    pub offset: u32,
    pub previous: Option<String>,
    pub total: u64,
}

impl<T> Page<T> {
    /// The page of `items` at `offset` of `total`, under `base_href` (which may have a query).
    pub fn new(base_href: &str, items: Vec<T>, limit: u32, offset: u32, total: u64) -> Self {
        let link = |o: u32| {
            format!("{base_href}{}offset={o}&limit={limit}", if base_href.contains('?') { "&" } else { "?" })
        };
        Self {
            href: link(offset),
            items,
            limit,
            next: (u64::from(offset) + u64::from(limit) < total).then(|| link(offset + limit)),
            offset,
            previous: (offset > 0).then(|| link(offset.saturating_sub(limit))),
            total,
        }
    }
}

/// An error body: `{"error": {"message", "status"}}`, the shape of Spotify's Web API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorDetail {
    pub message: String,
    pub status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The same bytes as the JSON map the services used to build.
    pub(crate) fn same_bytes(new: &impl Serialize, old: Value) {
        assert_eq!(serde_json::to_string(new).unwrap(), serde_json::to_string(&old).unwrap());
    }

    #[test]
    fn refs() {
        same_bytes(
            &ObjectRef::new("artist", "ar01", "Quartet Nine"),
            json!({ "id": "ar01", "name": "Quartet Nine", "type": "artist", "href": "/v1/artists/ar01", "uri": "riff:artist:ar01" }),
        );
    }

    #[test]
    fn pages() {
        let link = |o: u32, l: u32| format!("/v1/artists?offset={o}&limit={l}");
        let page = Page::new("/v1/artists", vec![1], 1, 1, 3);
        same_bytes(
            &page,
            json!({ "href": link(1, 1), "items": [1], "limit": 1, "next": link(2, 1), "offset": 1,
                    "previous": link(0, 1), "total": 3 }),
        );
        let last = Page::<u8>::new("/v1/artists", vec![], 2, 2, 3);
        assert_eq!((last.next, last.previous), (None, Some(link(0, 2))));
        let first = Page::<u8>::new("/v1/me/following?type=artist", vec![], 20, 0, 0);
        assert_eq!(first.href, "/v1/me/following?type=artist&offset=0&limit=20");
        same_bytes(
            &Page::<u8>::new("/x", vec![], 5, 0, 0),
            json!({ "href": "/x?offset=0&limit=5", "items": [], "limit": 5, "next": null, "offset": 0,
                    "previous": null, "total": 0 }),
        );
    }

    #[test]
    fn errors() {
        same_bytes(
            &ErrorBody { error: ErrorDetail { status: 404, message: "no artist".into() } },
            json!({ "error": { "status": 404, "message": "no artist" } }),
        );
    }
}
