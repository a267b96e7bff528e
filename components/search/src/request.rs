//! `GET /v1/search` parameters, validated at the edge: every bad input is a 400 with a message
//! saying what to fix, never a 500.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use riff_guest::{paging, ApiError, ApiResult};
use riff_search::{Kind, Query};

/// Spotify's largest `offset` for search.
pub const MAX_OFFSET: usize = 1000;

#[derive(Debug)]
pub struct SearchRequest {
    pub query: Query,
    raw_query: String,
    pub kinds: Vec<Kind>,
    pub limit: usize,
    pub offset: usize,
}

impl SearchRequest {
    /// From the query string: `q` and `type` required, `limit` 1–50 (20), `offset` 0–1000.
    pub fn parse(params: &[(String, String)]) -> ApiResult<Self> {
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let q = get("q").ok_or_else(|| ApiError::bad_request("q is required: what to search for"))?;
        let types = get("type").ok_or_else(|| {
            ApiError::bad_request("type is required: a comma-separated list of artist, album, track")
        })?;
        let types: Vec<&str> = types.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        let (limit, offset) = paging(params, 20)?;
        Self::build(q, &types, limit, offset)
    }

    /// From the typed interface's arguments, with the same rules.
    pub fn from_parts(q: &str, kinds: &[String], limit: u32, offset: u32) -> ApiResult<Self> {
        if !(1..=50).contains(&limit) {
            return Err(ApiError::bad_request(format!("limit must be from 1 to 50, got {limit}")));
        }
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        Self::build(q, &kinds, limit, offset)
    }

    fn build(q: &str, types: &[&str], limit: u32, offset: u32) -> ApiResult<Self> {
        let query = Query::parse(q).map_err(|e| ApiError::bad_request(format!("q: {e}")))?;
        if types.is_empty() {
            return Err(ApiError::bad_request("type must name at least one of artist, album, track"));
        }
        let mut kinds = Vec::new();
        for t in types {
            let kind = match *t {
                "track" => Kind::Track,
                "album" => Kind::Album,
                "artist" => Kind::Artist,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "type {other:?} is not searchable here: use artist, album or track"
                    )))
                }
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        let offset = offset as usize;
        if offset > MAX_OFFSET {
            return Err(ApiError::bad_request(format!("offset must be at most {MAX_OFFSET}, got {offset}")));
        }
        Ok(Self { query, raw_query: q.to_string(), kinds, limit: limit as usize, offset })
    }

    /// The `href` of one result type's paging object (paging adds `offset` and `limit`).
    pub fn href(&self, kind: Kind) -> String {
        let name = match kind {
            Kind::Track => "track",
            Kind::Album => "album",
            Kind::Artist => "artist",
        };
        format!("/v1/search?q={}&type={name}", utf8_percent_encode(&self.raw_query, NON_ALPHANUMERIC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn error(pairs: &[(&str, &str)]) -> ApiError {
        SearchRequest::parse(&params(pairs)).unwrap_err()
    }

    #[test]
    fn valid_requests() {
        let r = SearchRequest::parse(&params(&[("q", "led zep"), ("type", "artist,track,artist")])).unwrap();
        assert_eq!(r.kinds, [Kind::Artist, Kind::Track]);
        assert_eq!((r.limit, r.offset), (20, 0));
        assert_eq!(r.href(Kind::Track), "/v1/search?q=led%20zep&type=track");
        let r = SearchRequest::parse(&params(&[
            ("q", "x"),
            ("type", "album"),
            ("limit", "50"),
            ("offset", "1000"),
        ]))
        .unwrap();
        assert_eq!((r.limit, r.offset), (50, 1000));
    }

    #[test]
    fn bad_requests_are_400_with_a_reason() {
        for (pairs, reason) in [
            (&[("type", "track")][..], "q is required"),
            (&[("q", "   "), ("type", "track")][..], "q:"),
            (&[("q", "x")][..], "type is required"),
            (&[("q", "x"), ("type", "")][..], "at least one"),
            (&[("q", "x"), ("type", "playlist")][..], "not searchable"),
            (&[("q", "x"), ("type", "track"), ("limit", "0")][..], "limit"),
            (&[("q", "x"), ("type", "track"), ("limit", "51")][..], "limit"),
            (&[("q", "x"), ("type", "track"), ("offset", "1001")][..], "offset"),
            (&[("q", "x"), ("type", "track"), ("offset", "-1")][..], "offset"),
            (&[("q", "artist:\"abba"), ("type", "track")][..], "q:"),
        ] {
            let e = error(pairs);
            assert_eq!(e.status, 400, "{pairs:?}");
            assert!(e.message.contains(reason), "{pairs:?}: {}", e.message);
        }
        let long = "a".repeat(10_000);
        assert_eq!(error(&[("q", &long), ("type", "track")]).status, 400);
    }
}
