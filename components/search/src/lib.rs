//! The search service: `GET /v1/search?q=&type=&limit=&offset=`, Spotify's search.
//!
//! Queries use Spotify's syntax (free words plus `artist:`, `album:`, `track:`, `genre:`,
//! `year:`), tolerate typos and match the last word as a prefix; ranking, parsing and the index
//! itself are the `riff-search` library. The index is kept up to date from two topics of the
//! durable queue — `catalog.changed` (items written by the catalog) and `plays` (popularity) —
//! and persisted in the `search` database (see [`store`]), so an instance never rebuilds it
//! from the catalog. With `instance_reuse` an instance keeps it in memory between requests.
//!
//! The answer holds full Spotify objects: ids found here are looked up in one batch per type
//! through the catalog's own API (`http://catalog.spin.internal`), so the JSON shapes have one
//! author. It also exports `riff:music/search` for typed callers.

pub mod request;
pub mod store;

use riff_guest::events::{CatalogChanged, Played, CATALOG_CHANGED, PLAYS};
use riff_guest::model::Page;
use riff_guest::router::{Route, Router, GET_HEAD};
use riff_guest::{json_response, query_pairs, respond, ApiError, ApiResult};
use riff_search::{Hits, Kind};
use serde::Serialize;
use serde_json::Value;
use spin_sdk::http::{Request, Response};

use request::SearchRequest;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/music", "../../wit/platform"],
        inline: "
            package riff:search-component;
            world search {
                import riff:music/catalog@0.1.0;
                export riff:music/search@0.1.0;
                export riff:platform/queue-handler@0.1.0;
            }
        ",
        world: "riff:search-component/search",
        generate_all,
    });
}

use bindings::exports::riff::music::search as wit;
use bindings::exports::riff::platform::queue_handler::{Guest as QueueGuest, Message};
use bindings::riff::music::catalog;
use bindings::riff::music::types as wit_types;

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    respond(route(&req).await)
}

static ROUTER: Router<()> = Router::new(&[Route::new(GET_HEAD, "/v1/search", ())]);

/// `{albums?, artists?, tracks?}`: a page of the catalog's objects per type asked for.
#[derive(Serialize, Default)]
struct Results {
    #[serde(skip_serializing_if = "Option::is_none")]
    albums: Option<Page<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artists: Option<Page<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracks: Option<Page<Value>>,
}

async fn route(req: &Request) -> ApiResult {
    ROUTER.resolve(req.method(), req.path())?;
    let search = SearchRequest::parse(&query_pairs(req.query()))?;
    let db = store::open()?;
    wake_catalog(&db).await;
    let hits = store::with_index(&db, |index| {
        index.search(&search.query, &search.kinds, search.limit, search.offset)
    })?;
    // One catalog lookup per result type, all at once.
    let rendered = futures::future::try_join_all(hits.iter().map(render)).await?;
    let mut body = Results::default();
    for (kind_hits, items) in hits.iter().zip(rendered) {
        let href = search.href(kind_hits.kind);
        let page = Page::new(&href, items, search.limit as u32, search.offset as u32, kind_hits.total as u64);
        *match kind_hits.kind {
            Kind::Album => &mut body.albums,
            Kind::Artist => &mut body.artists,
            Kind::Track => &mut body.tracks,
        } = Some(page);
    }
    Ok(json_response(200, &body))
}

/// The catalog loads (and announces) its demo on its first request; an index that has never
/// seen a document asks it once per instance, so a fresh `riff up` fills search on its own.
async fn wake_catalog(db: &spin_sdk::sqlite3::Connection) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static ASKED: AtomicBool = AtomicBool::new(false);
    if !ASKED.swap(true, Ordering::Relaxed) && store::is_empty(db) {
        riff_guest::catalog::wake().await;
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Track => "track",
        Kind::Album => "album",
        Kind::Artist => "artist",
    }
}

/// The catalog's JSON objects for one page of ids, in rank order.
async fn render(hits: &Hits) -> ApiResult<Vec<Value>> {
    riff_guest::catalog::objects(kind_name(hits.kind), &hits.ids).await
}

struct Service;

impl QueueGuest for Service {
    fn handle(message: Message) -> Result<(), String> {
        let outcome = (|| -> ApiResult<()> {
            let db = store::open()?;
            match message.topic.as_str() {
                CATALOG_CHANGED => {
                    let event: CatalogChanged = serde_json::from_slice(&message.payload)
                        .map_err(|e| ApiError::bad_request(format!("not a catalog event: {e}")))?;
                    store::apply_catalog_change(&db, &event)?;
                }
                PLAYS => {
                    let play: Played = serde_json::from_slice(&message.payload)
                        .map_err(|e| ApiError::bad_request(format!("not a play event: {e}")))?;
                    store::apply_play(&db, &message.id, &play)?;
                }
                other => return Err(ApiError::bad_request(format!("unexpected topic {other:?}"))),
            }
            store::maybe_snapshot(&db)
        })();
        outcome.map_err(|e| e.message)
    }
}

impl wit::Guest for Service {
    fn search(
        query: String,
        kinds: Vec<String>,
        limit: u32,
        offset: u32,
    ) -> Result<wit::Results, wit_types::Error> {
        let invalid = |e: ApiError| wit_types::Error::Invalid(e.message);
        let internal = |e: ApiError| wit_types::Error::Internal(e.message);
        let search = SearchRequest::from_parts(&query, &kinds, limit, offset).map_err(invalid)?;
        let db = store::open().map_err(internal)?;
        let hits = store::with_index(&db, |index| {
            index.search(&search.query, &search.kinds, search.limit, search.offset)
        })
        .map_err(internal)?;
        let mut results = wit::Results { artists: Vec::new(), albums: Vec::new(), tracks: Vec::new() };
        for h in hits {
            match h.kind {
                Kind::Artist => {
                    results.artists = catalog::get_artists(&h.ids)?.into_iter().flatten().collect()
                }
                Kind::Album => results.albums = catalog::get_albums(&h.ids)?.into_iter().flatten().collect(),
                Kind::Track => results.tracks = catalog::get_tracks(&h.ids)?.into_iter().flatten().collect(),
            }
        }
        Ok(results)
    }
}

bindings::export!(Service with_types_in bindings);
