//! The catalog service: artists, albums, tracks and genres in SQL, and the audio itself.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/artists?limit=&offset=` | paging object of artists |
//! | `GET /v1/artists?ids=a,b`, `GET /v1/albums?ids=a,b` | `{"artists"/"albums": [object or null, ...]}` |
//! | `GET /v1/artists/{id}` | artist |
//! | `GET /v1/artists/{id}/albums` | paging object of albums |
//! | `GET /v1/artists/{id}/top-tracks` | `{"tracks": [...]}` (10 most popular) |
//! | `GET /v1/albums/{id}` | album |
//! | `GET /v1/albums/{id}/tracks` | paging object of tracks |
//! | `GET /v1/tracks/{id}` | track |
//! | `GET /v1/tracks?ids=a,b` | `{"tracks": [track or null, ...]}` (up to 50 ids) |
//! | `GET /v1/genres` | `{"genres": [...]}` |
//! | `GET`/`HEAD /v1/tracks/{id}/stream` | the audio; needs a Bearer token; `Range` gives 206 |
//! | `POST /v1/admin/catalog/import` | load a whole catalog (admin token); the counts |
//!
//! Every `GET` route answers `HEAD` too.
//!
//! Objects follow Spotify's Web API shapes (`id`, `name`, `type`, `href`, `uri`, ...). It exports
//! `riff:music/catalog` (batch lookups) and imports `riff:music/auth` to check stream tokens.
//! On first use it creates its schema and loads the demo catalog mounted at `/demo`.
//!
//! | module | holds |
//! | --- | --- |
//! | [`routes`] | the HTTP routes: request parsing and validation, answers |
//! | [`typed`] | `riff:music/catalog`, the typed interface |
//! | [`storage`] | the SQL: schema, queries, bulk writes |
//! | [`model`] | the import format and the answers' envelopes |
//! | [`import`] | filling the catalog (demo and admin import) and announcing it to search |
//! | [`stream`], [`range`] | streaming audio: entitlement, previews, byte ranges |

pub mod import;
pub mod model;
pub mod range;
pub mod routes;
pub mod storage;
pub mod stream;
pub mod typed;

use spin_sdk::http::{Request, Response};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/music",
        world: "riff:music/catalog-service",
        generate_all,
    });
}

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn handle(req: Request) -> Response {
    riff_guest::respond(routes::route(&req))
}

#[cfg(target_arch = "wasm32")]
use typed::CatalogService;
#[cfg(target_arch = "wasm32")]
bindings::export!(CatalogService with_types_in bindings);
