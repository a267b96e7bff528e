//! The catalog's HTTP routes: each handler reads its request (path id, `ids`, paging, the
//! admin token and import body), asks [`crate::storage`] and answers with the shared catalog
//! objects (`riff_guest::catalog`) in this crate's envelopes ([`crate::model`]).

use riff_guest::catalog::{AlbumObject, ArtistObject, TrackObject};
use riff_guest::model::Page;
use riff_guest::router::{Params, Route, Router, GET_HEAD};
use riff_guest::{json_response, paging, query_pairs, ApiError, ApiResult};
use spin_sdk::http::Request;
use spin_sdk::sqlite3::Connection;

use crate::model::{Albums, Artists, Genres, Import, Tracks};
use crate::storage::{self, int, text};
use crate::{import, stream};

/// What a handler is given.
struct Ctx<'a> {
    req: &'a Request,
    params: Params,
    query: Vec<(String, String)>,
    db: Connection,
}

type Handler = fn(&Ctx) -> ApiResult;

static ROUTER: Router<Handler> = Router::new(&[
    Route::new(&["POST"], "/v1/admin/catalog/import", import_catalog),
    Route::new(GET_HEAD, "/v1/artists", artists),
    Route::new(GET_HEAD, "/v1/artists/{id}", artist),
    Route::new(GET_HEAD, "/v1/artists/{id}/albums", artist_albums),
    Route::new(GET_HEAD, "/v1/artists/{id}/top-tracks", artist_top_tracks),
    Route::new(GET_HEAD, "/v1/albums", albums),
    Route::new(GET_HEAD, "/v1/albums/{id}", album),
    Route::new(GET_HEAD, "/v1/albums/{id}/tracks", album_tracks),
    Route::new(GET_HEAD, "/v1/tracks", tracks),
    Route::new(GET_HEAD, "/v1/tracks/{id}", track),
    Route::new(GET_HEAD, "/v1/tracks/{id}/stream", stream_track),
    Route::new(GET_HEAD, "/v1/genres", genres),
]);

/// Answer one request.
pub fn route(req: &Request) -> ApiResult {
    let found = ROUTER.resolve(req.method(), req.path())?;
    let db = storage::open(import::load_demo)?;
    let ctx = Ctx { req, params: found.params, query: query_pairs(req.query()), db };
    (found.handler)(&ctx)
}

fn ok(body: &impl serde::Serialize) -> ApiResult {
    Ok(json_response(200, body))
}

/// `?ids=a,b,c`: 1 to 50 ids, as Spotify's batch endpoints take them.
fn batch_ids<'q>(query: &'q [(String, String)], kind: &str) -> ApiResult<Vec<&'q str>> {
    let ids = query.iter().find(|(k, _)| k == "ids").map(|(_, v)| v.as_str()).unwrap_or("");
    let ids: Vec<&str> = ids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if ids.is_empty() || ids.len() > 50 {
        return Err(ApiError::bad_request(format!("ids must list 1 to 50 {kind} ids, comma-separated")));
    }
    Ok(ids)
}

/// `GET /v1/artists?ids=` (a batch) or `GET /v1/artists?limit=&offset=` (a page of all).
fn artists(c: &Ctx) -> ApiResult {
    if c.query.iter().any(|(k, _)| k == "ids") {
        let found = storage::artists_by_ids(&c.db, &batch_ids(&c.query, "artist")?)?;
        return ok(&Artists { artists: found.iter().map(|a| a.as_ref().map(ArtistObject::from)).collect() });
    }
    let (limit, offset) = paging(&c.query, 20)?;
    let total = storage::count_all(&c.db, "artists")?;
    let rows =
        storage::artists_where(&c.db, "1 = 1 ORDER BY name LIMIT ? OFFSET ?", &[int(limit), int(offset)])?;
    ok(&Page::new("/v1/artists", rows.iter().map(ArtistObject::from).collect(), limit, offset, total))
}

fn artist(c: &Ctx) -> ApiResult {
    ok(&ArtistObject::from(&storage::artist_by_id(&c.db, c.params.get("id"))?))
}

fn artist_albums(c: &Ctx) -> ApiResult {
    let id = c.params.get("id");
    storage::artist_by_id(&c.db, id)?;
    let (limit, offset) = paging(&c.query, 20)?;
    let total = storage::count_where(&c.db, "albums", "artist_id", id)?;
    let rows = storage::albums_where(
        &c.db,
        "a.artist_id = ? ORDER BY a.release_year, a.name LIMIT ? OFFSET ?",
        &[text(id), int(limit), int(offset)],
    )?;
    let items = rows.iter().map(AlbumObject::from).collect();
    ok(&Page::new(&format!("/v1/artists/{id}/albums"), items, limit, offset, total))
}

/// The artist's 10 most popular tracks.
fn artist_top_tracks(c: &Ctx) -> ApiResult {
    let id = c.params.get("id");
    storage::artist_by_id(&c.db, id)?;
    let rows = storage::tracks_where(
        &c.db,
        "t.artist_id = ? ORDER BY t.popularity DESC, t.name LIMIT 10",
        &[text(id)],
    )?;
    ok(&Tracks { tracks: rows.iter().map(TrackObject::from).collect() })
}

/// `GET /v1/albums?ids=`.
fn albums(c: &Ctx) -> ApiResult {
    let found = storage::albums_by_ids(&c.db, &batch_ids(&c.query, "album")?)?;
    ok(&Albums { albums: found.iter().map(|a| a.as_ref().map(AlbumObject::from)).collect() })
}

/// The album with the first page (up to 50) of its tracks.
fn album(c: &Ctx) -> ApiResult {
    let id = c.params.get("id");
    let album = storage::album_by_id(&c.db, id)?;
    let tracks =
        storage::tracks_where(&c.db, "t.album_id = ? ORDER BY t.track_number LIMIT 50", &[text(id)])?;
    let total = tracks.len() as u64;
    let items = tracks.iter().map(TrackObject::from).collect();
    let mut body = AlbumObject::from(&album);
    body.tracks = Some(Page::new(&format!("/v1/albums/{id}/tracks"), items, 50, 0, total));
    ok(&body)
}

fn album_tracks(c: &Ctx) -> ApiResult {
    let id = c.params.get("id");
    storage::album_by_id(&c.db, id)?;
    let (limit, offset) = paging(&c.query, 20)?;
    let total = storage::count_where(&c.db, "tracks", "album_id", id)?;
    let rows = storage::tracks_where(
        &c.db,
        "t.album_id = ? ORDER BY t.track_number LIMIT ? OFFSET ?",
        &[text(id), int(limit), int(offset)],
    )?;
    let items = rows.iter().map(TrackObject::from).collect();
    ok(&Page::new(&format!("/v1/albums/{id}/tracks"), items, limit, offset, total))
}

/// `GET /v1/tracks?ids=`.
fn tracks(c: &Ctx) -> ApiResult {
    let found = storage::tracks_by_ids(&c.db, &batch_ids(&c.query, "track")?)?;
    ok(&Tracks { tracks: found.iter().map(|t| t.as_ref().map(TrackObject::from)).collect() })
}

fn track(c: &Ctx) -> ApiResult {
    ok(&TrackObject::from(&storage::track_by_id(&c.db, c.params.get("id"))?))
}

fn stream_track(c: &Ctx) -> ApiResult {
    stream::stream(&c.db, c.req, c.params.get("id"))
}

fn genres(c: &Ctx) -> ApiResult {
    ok(&Genres { genres: storage::genres(&c.db)?.into_iter().map(|g| g.name).collect() })
}

/// Largest catalog import accepted in one request.
const MAX_IMPORT: usize = 32 * 1024 * 1024;

/// `POST /v1/admin/catalog/import`: load a whole catalog (the demo file's format). Admin only:
/// the Bearer token must equal the `admin_token` variable; with no token configured, import is off.
fn import_catalog(c: &Ctx) -> ApiResult {
    let configured = spin_sdk::variables::get("admin_token").unwrap_or_default();
    if configured.is_empty() {
        return Err(ApiError::forbidden("catalog import is disabled: set RIFF_VARIABLE_CATALOG_ADMIN_TOKEN"));
    }
    let token = riff_guest::bearer_token(c.req)?;
    if !riff_guest::constant_time_eq(token.as_bytes(), configured.as_bytes()) {
        return Err(ApiError::forbidden("not an admin token"));
    }
    let catalog: Import = riff_guest::parse_json_limited(c.req.body(), MAX_IMPORT)?;
    ok(&import::apply(&c.db, &catalog)?)
}
