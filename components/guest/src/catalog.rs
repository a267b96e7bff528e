//! Full Spotify-shaped catalog objects for ids, from the catalog service's own batch endpoints
//! (`GET /v1/{tracks,albums,artists}?ids=`, in-process through `catalog.spin.internal`), so
//! every service answers with the catalog's JSON instead of rendering its own copy.
//! The component needs `allowed_outbound_hosts = ["http://catalog.spin.internal"]`.

use serde_json::Value;
use spin_sdk::http::{Request, Response};

use crate::{ApiError, ApiResult};

const CATALOG: &str = "http://catalog.spin.internal";

/// The objects for `ids` of `kind` (`track`, `album` or `artist`), in order, leaving out ids
/// the catalog does not know; one request per 50 ids.
pub async fn objects(kind: &str, ids: &[String]) -> ApiResult<Vec<Value>> {
    let plural = format!("{kind}s");
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(50) {
        let url = format!("{CATALOG}/v1/{plural}?ids={}", chunk.join(","));
        let response: Response = spin_sdk::http::send(Request::get(&url))
            .await
            .map_err(|e| ApiError::new(502, format!("the catalog did not answer: {e}")))?;
        if *response.status() != 200 {
            return Err(ApiError::new(
                502,
                format!("the catalog answered {} for {plural}", response.status()),
            ));
        }
        let mut body: Value = serde_json::from_slice(response.body())
            .map_err(|e| ApiError::new(502, format!("the catalog's answer is not JSON: {e}")))?;
        out.extend(
            body[plural.as_str()].take().as_array().into_iter().flatten().filter(|v| !v.is_null()).cloned(),
        );
    }
    Ok(out)
}

/// Wake the catalog (its first request loads and announces the demo catalog).
pub async fn wake() {
    let _ = spin_sdk::http::send::<_, Response>(Request::get(format!("{CATALOG}/v1/genres"))).await;
}
