//! The profile's HTTP routes. Every route needs a Bearer token (checked through
//! `riff:music/auth`, after the router has refused a wrong path or method); a handler reads its
//! path id, query and JSON body, calls [`crate::playlists`], [`crate::library`] or
//! [`crate::plays`], and answers with the status the route documents.

use riff_guest::model::Page;
use riff_guest::router::{Params, Route, Router};
use riff_guest::{
    bearer_token, json_body, json_response, no_content, paging, query_pairs, ApiError, ApiResult,
};
use serde::Serialize;
use spin_sdk::http::{Request, Response};
use spin_sdk::sqlite3::Connection;

use crate::bindings::riff::music::auth;
use crate::model::{Ids, Played, Snapshot, UserObject};
use crate::{library, playlists, plays, service_error, storage, User};

/// What a handler is given.
struct Ctx<'a> {
    req: &'a Request,
    params: Params,
    query: Vec<(String, String)>,
    user: User,
    db: Connection,
}

type Handler = fn(&Ctx) -> ApiResult;

const PLAYLIST: &str = "/v1/playlists/{id}";
const ITEMS: &str = "/v1/playlists/{id}/items";

static ROUTER: Router<Handler> = Router::new(&[
    Route::new(&["GET"], "/v1/me", me),
    Route::new(&["GET"], "/v1/me/playlists", list_playlists),
    Route::new(&["POST"], "/v1/me/playlists", create_playlist),
    Route::new(&["GET"], PLAYLIST, get_playlist),
    Route::new(&["PUT"], PLAYLIST, change_playlist),
    Route::new(&["DELETE"], PLAYLIST, delete_playlist),
    Route::new(&["GET"], ITEMS, list_items),
    Route::new(&["POST"], ITEMS, add_items),
    Route::new(&["PUT"], ITEMS, reorder_items),
    Route::new(&["DELETE"], ITEMS, remove_items),
    Route::new(&["GET"], "/v1/me/tracks", list_saved),
    Route::new(&["PUT"], "/v1/me/tracks", save_tracks),
    Route::new(&["DELETE"], "/v1/me/tracks", unsave_tracks),
    Route::new(&["GET"], "/v1/me/following", following),
    Route::new(&["PUT"], "/v1/me/following", follow),
    Route::new(&["DELETE"], "/v1/me/following", unfollow),
    Route::new(&["POST"], "/v1/me/player/played", record_play),
    Route::new(&["GET"], "/v1/me/player/recently-played", recently_played),
]);

/// Answer one request.
pub fn route(req: &Request) -> ApiResult {
    let found = ROUTER.resolve(req.method(), req.path())?;
    let claims = auth::verify_token(&bearer_token(req)?).map_err(service_error)?;
    let user = User { id: claims.user_id, name: claims.username };
    let db = storage::open()?;
    let ctx = Ctx { req, params: found.params, query: query_pairs(req.query()), user, db };
    (found.handler)(&ctx)
}

fn answer(status: u16, body: &impl Serialize) -> ApiResult {
    Ok(json_response(status, body))
}

fn snapshot(status: u16, snapshot: i64) -> ApiResult {
    answer(status, &Snapshot { snapshot_id: snapshot.to_string() })
}

fn done(_: ()) -> Response {
    no_content()
}

fn me(c: &Ctx) -> ApiResult {
    answer(200, &UserObject::new(&c.user.id, &c.user.name))
}

fn list_playlists(c: &Ctx) -> ApiResult {
    let (limit, offset) = paging(&c.query, 20)?;
    let (rows, total) = storage::playlists_of(&c.db, &c.user.id, limit, offset)?;
    let items = rows.iter().map(|p| playlists::object(p, Some(&c.user.name))).collect();
    answer(200, &Page::new("/v1/me/playlists", items, limit, offset, total))
}

fn create_playlist(c: &Ctx) -> ApiResult {
    answer(201, &playlists::create(&c.db, &c.user, json_body(c.req)?)?)
}

fn get_playlist(c: &Ctx) -> ApiResult {
    answer(200, &playlists::get(&c.db, &c.user, c.params.get("id"))?)
}

fn change_playlist(c: &Ctx) -> ApiResult {
    answer(200, &playlists::change(&c.db, &c.user, c.params.get("id"), json_body(c.req)?)?)
}

fn delete_playlist(c: &Ctx) -> ApiResult {
    playlists::delete(&c.db, &c.user, c.params.get("id")).map(done)
}

fn list_items(c: &Ctx) -> ApiResult {
    let id = c.params.get("id");
    let p = playlists::visible(&c.db, &c.user, id)?;
    let (limit, offset) = paging(&c.query, 20)?;
    let items = playlists::items(&p, limit, offset)?;
    let href = format!("/v1/playlists/{id}/items");
    answer(200, &Page::new(&href, items, limit, offset, p.items.len() as u64))
}

fn add_items(c: &Ctx) -> ApiResult {
    snapshot(201, playlists::add_items(&c.db, &c.user, c.params.get("id"), json_body(c.req)?)?)
}

fn reorder_items(c: &Ctx) -> ApiResult {
    snapshot(200, playlists::reorder_items(&c.db, &c.user, c.params.get("id"), json_body(c.req)?)?)
}

fn remove_items(c: &Ctx) -> ApiResult {
    snapshot(200, playlists::remove_items(&c.db, &c.user, c.params.get("id"), json_body(c.req)?)?)
}

fn list_saved(c: &Ctx) -> ApiResult {
    let (limit, offset) = paging(&c.query, 20)?;
    let (items, total) = library::saved(&c.db, &c.user, limit, offset)?;
    answer(200, &Page::new("/v1/me/tracks", items, limit, offset, total))
}

fn save_tracks(c: &Ctx) -> ApiResult {
    let body: Ids = json_body(c.req)?;
    library::save_tracks(&c.db, &c.user, &body.ids).map(done)
}

fn unsave_tracks(c: &Ctx) -> ApiResult {
    let body: Ids = json_body(c.req)?;
    library::unsave_tracks(&c.db, &c.user, &body.ids).map(done)
}

/// `/v1/me/following` takes only `type=artist`, checked before anything else.
fn artists_only(c: &Ctx) -> ApiResult<()> {
    if c.query.iter().find(|(k, _)| k == "type").map(|(_, v)| v.as_str()) != Some("artist") {
        return Err(ApiError::bad_request("type=artist is required"));
    }
    Ok(())
}

fn following(c: &Ctx) -> ApiResult {
    artists_only(c)?;
    answer(200, &library::following(&c.db, &c.user)?)
}

fn follow(c: &Ctx) -> ApiResult {
    artists_only(c)?;
    let body: Ids = json_body(c.req)?;
    library::follow(&c.db, &c.user, &body.ids).map(done)
}

fn unfollow(c: &Ctx) -> ApiResult {
    artists_only(c)?;
    let body: Ids = json_body(c.req)?;
    library::unfollow(&c.db, &c.user, &body.ids).map(done)
}

fn record_play(c: &Ctx) -> ApiResult {
    let body: Played = json_body(c.req)?;
    plays::record(&c.db, &c.user, &body.track_id).map(done)
}

fn recently_played(c: &Ctx) -> ApiResult {
    let (limit, _) = paging(&c.query, 20)?;
    let cursor = plays::play_cursor(&c.query)?;
    answer(200, &plays::recently_played(&c.db, &c.user, limit, cursor)?)
}
