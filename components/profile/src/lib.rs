//! The profile service: a listener's playlists, saved tracks, followed artists and plays.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /v1/me` | the current user |
//! | `GET`/`POST /v1/me/playlists` | list (paged) / create `{name, description?, public?}` |
//! | `GET`/`PUT`/`DELETE /v1/playlists/{id}` | read / change `{name?, description?, public?}` / delete |
//! | `GET /v1/playlists/{id}/items` | items, paged |
//! | `POST /v1/playlists/{id}/items` | add `{uris: ["riff:track:<id>"], position?}` |
//! | `PUT /v1/playlists/{id}/items` | reorder `{range_start, insert_before, range_length?}` |
//! | `DELETE /v1/playlists/{id}/items` | remove `{tracks: [{uri}]}` |
//! | `GET`/`PUT`/`DELETE /v1/me/tracks` | saved tracks (paged) / save / remove `{ids}` |
//! | `GET`/`PUT`/`DELETE /v1/me/following?type=artist` | followed artists / follow / unfollow `{ids}` |
//! | `POST /v1/me/player/played` | record a play `{track_id}` |
//! | `GET /v1/me/player/recently-played?limit=&before=&after=` | plays, cursor-paged |
//!
//! Every route needs a Bearer token, checked through `riff:music/auth`; track and artist ids are
//! checked through `riff:music/catalog`. A playlist's items live in one JSON column, so every
//! change is one conditional `UPDATE` (on the playlist's snapshot): never half-applied, never a
//! lost update. Another user's private playlist is 404; writes to someone else's public one 403.
//!
//! | module | holds |
//! | --- | --- |
//! | [`routes`] | the HTTP routes: token, request parsing, answers |
//! | [`typed`] | `riff:music/profile`, the typed interface |
//! | [`playlists`] | who may see and change a playlist, and its item operations |
//! | [`library`] | saved tracks and followed artists |
//! | [`plays`] | recording plays, and the history |
//! | [`lookup`] | what is asked of the catalog |
//! | [`storage`] | the SQL |
//! | [`model`] | the request and answer bodies |

pub mod library;
pub mod lookup;
pub mod model;
pub mod playlists;
pub mod plays;
pub mod routes;
pub mod storage;
pub mod typed;

use spin_sdk::http::{Request, Response};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/music",
        world: "riff:music/profile-service",
        generate_all,
    });
}

riff_guest::service_error_fn!(bindings::riff::music::types);

/// The listener a request is from (its Bearer token's).
pub struct User {
    pub id: String,
    pub name: String,
}

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn handle(req: Request) -> Response {
    riff_guest::respond(routes::route(&req))
}

#[cfg(target_arch = "wasm32")]
use typed::ProfileService;
#[cfg(target_arch = "wasm32")]
bindings::export!(ProfileService with_types_in bindings);
