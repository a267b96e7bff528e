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

use riff_guest::time::{now_ms, rfc3339};
use riff_guest::{
    allow_methods, bearer_token, json_body, json_response, new_id, no_content, object_ref, paging,
    paging_object, query_pairs, respond, ApiError, ApiResult,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite3::{Connection, Value as Sql};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/music",
        world: "riff:music/profile-service",
        generate_all,
    });
}

use bindings::exports::riff::music::profile as wit;
use bindings::riff::music::{auth, catalog, types};

const DATABASE: &str = "profile";
/// Spotify's cap on playlist length.
const MAX_PLAYLIST_ITEMS: usize = 10_000;

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn handle(req: Request) -> Response {
    respond(route(&req))
}

struct User {
    id: String,
    name: String,
}

riff_guest::service_error_fn!(types);

fn current_user(req: &Request) -> ApiResult<User> {
    let claims = auth::verify_token(&bearer_token(req)?).map_err(service_error)?;
    Ok(User { id: claims.user_id, name: claims.username })
}

/// The methods each route takes; `None` for a path that is not a route.
fn allowed_methods(segments: &[&str]) -> Option<&'static [&'static str]> {
    Some(match segments {
        ["v1", "me"] | ["v1", "me", "player", "recently-played"] => &["GET"],
        ["v1", "me", "playlists"] => &["GET", "POST"],
        ["v1", "playlists", _] | ["v1", "me", "tracks"] | ["v1", "me", "following"] => {
            &["GET", "PUT", "DELETE"]
        }
        ["v1", "playlists", _, "items"] => &["GET", "POST", "PUT", "DELETE"],
        ["v1", "me", "player", "played"] => &["POST"],
        _ => return None,
    })
}

fn route(req: &Request) -> ApiResult {
    let path = req.path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let allowed =
        allowed_methods(&segments).ok_or_else(|| ApiError::not_found(format!("no such endpoint: {path}")))?;
    allow_methods(req.method(), allowed)?;
    let user = current_user(req)?;
    let db = open()?;
    let query = query_pairs(req.query());
    let method = req.method().clone();
    match (method, segments.as_slice()) {
        (Method::Get, ["v1", "me"]) => Ok(json_response(200, &user_json(&user.id, &user.name))),
        (Method::Get, ["v1", "me", "playlists"]) => list_playlists(&db, &user, &query),
        (Method::Post, ["v1", "me", "playlists"]) => create_playlist(&db, &user, json_body(req)?),
        (Method::Get, ["v1", "playlists", id]) => get_playlist(&db, &user, id),
        (Method::Put, ["v1", "playlists", id]) => change_playlist(&db, &user, id, json_body(req)?),
        (Method::Delete, ["v1", "playlists", id]) => delete_playlist(&db, &user, id),
        (Method::Get, ["v1", "playlists", id, "items"]) => list_items(&db, &user, id, &query),
        (Method::Post, ["v1", "playlists", id, "items"]) => add_items(&db, &user, id, json_body(req)?),
        (Method::Put, ["v1", "playlists", id, "items"]) => reorder_items(&db, &user, id, json_body(req)?),
        (Method::Delete, ["v1", "playlists", id, "items"]) => remove_items(&db, &user, id, json_body(req)?),
        (Method::Get, ["v1", "me", "tracks"]) => list_saved(&db, &user, &query),
        (Method::Put, ["v1", "me", "tracks"]) => save_tracks(&db, &user, json_body(req)?),
        (Method::Delete, ["v1", "me", "tracks"]) => unsave_tracks(&db, &user, json_body(req)?),
        (m, ["v1", "me", "following"]) => following(&db, &user, &m, &query, req),
        (Method::Post, ["v1", "me", "player", "played"]) => record_play(&db, &user, json_body(req)?),
        (Method::Get, ["v1", "me", "player", "recently-played"]) => recently_played(&db, &user, &query),
        (_, _) => Err(ApiError::method_not_allowed(allowed)),
    }
}

// ----------------------------------------------------------------------------------------------
// Storage

fn sql_error(e: impl std::fmt::Debug) -> ApiError {
    ApiError::internal(format!("profile database error: {e:?}"))
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn open() -> ApiResult<Connection> {
    let db = Connection::open(DATABASE).map_err(sql_error)?;
    for statement in [
        "CREATE TABLE IF NOT EXISTS playlists (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', public INTEGER NOT NULL DEFAULT 1, items TEXT NOT NULL DEFAULT '[]', snapshot INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS playlists_owner ON playlists(owner, created_at)",
        "CREATE TABLE IF NOT EXISTS saved_tracks (user_id TEXT NOT NULL, track_id TEXT NOT NULL, added_at INTEGER NOT NULL, PRIMARY KEY (user_id, track_id))",
        "CREATE TABLE IF NOT EXISTS follows (user_id TEXT NOT NULL, artist_id TEXT NOT NULL, followed_at INTEGER NOT NULL, PRIMARY KEY (user_id, artist_id))",
        "CREATE TABLE IF NOT EXISTS plays (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, track_id TEXT NOT NULL, played_at INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS plays_user ON plays(user_id, played_at)",
    ] {
        db.execute(statement, &[]).map_err(sql_error)?;
    }
    Ok(db)
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Item {
    track_id: String,
    added_at: u64,
}

struct Playlist {
    id: String,
    owner: String,
    name: String,
    description: String,
    public: bool,
    items: Vec<Item>,
    snapshot: i64,
}

/// `SELECT COUNT(*) ...` with the user id as its one parameter.
fn count_for(db: &Connection, sql: &str, user_id: &str) -> ApiResult<u64> {
    let r = db.execute(sql, &[text(user_id)]).map_err(sql_error)?;
    Ok(r.rows.first().and_then(|row| row.get::<i64>(0)).unwrap_or(0).max(0) as u64)
}

/// Link `ids` to the user in a `(user_id, <id column>, <time column>)` table; existing links stay.
fn link_ids(db: &Connection, table: &str, columns: &str, user_id: &str, ids: &[String]) -> ApiResult<()> {
    let now = now_ms() as i64;
    let placeholders = vec!["(?, ?, ?)"; ids.len()].join(", ");
    let params: Vec<Sql> = ids.iter().flat_map(|id| [text(user_id), text(id), Sql::Integer(now)]).collect();
    db.execute(&format!("INSERT OR IGNORE INTO {table} ({columns}) VALUES {placeholders}"), &params)
        .map_err(sql_error)?;
    Ok(())
}

/// Remove the user's links to `ids` from `table`, where `column` holds the linked id.
fn unlink_ids(db: &Connection, table: &str, column: &str, user_id: &str, ids: &[String]) -> ApiResult<()> {
    let placeholders = vec!["?"; ids.len()].join(", ");
    let mut params = vec![text(user_id)];
    params.extend(ids.iter().map(|i| text(i)));
    db.execute(&format!("DELETE FROM {table} WHERE user_id = ? AND {column} IN ({placeholders})"), &params)
        .map_err(sql_error)?;
    Ok(())
}

const PLAYLIST_COLUMNS: &str = "id, owner, name, description, public, items, snapshot";

fn load_playlist(db: &Connection, id: &str) -> ApiResult<Option<Playlist>> {
    let r = db
        .execute(&format!("SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE id = ?"), &[text(id)])
        .map_err(sql_error)?;
    Ok(r.rows.first().map(playlist_from_row))
}

fn playlist_from_row(row: &spin_sdk::sqlite3::RowResult) -> Playlist {
    Playlist {
        id: row.get::<&str>(0).unwrap_or_default().to_string(),
        owner: row.get::<&str>(1).unwrap_or_default().to_string(),
        name: row.get::<&str>(2).unwrap_or_default().to_string(),
        description: row.get::<&str>(3).unwrap_or_default().to_string(),
        public: row.get::<i64>(4).unwrap_or(0) != 0,
        items: serde_json::from_str(row.get::<&str>(5).unwrap_or("[]")).unwrap_or_default(),
        snapshot: row.get::<i64>(6).unwrap_or(0),
    }
}

/// A playlist the user may see (own, or someone's public one); others' private ones are 404.
fn visible_playlist(db: &Connection, user: &User, id: &str) -> ApiResult<Playlist> {
    match load_playlist(db, id)? {
        Some(p) if p.owner == user.id || p.public => Ok(p),
        _ => Err(ApiError::not_found(format!("no playlist with id {id:?}"))),
    }
}

/// A playlist the user may change: their own.
fn owned_playlist(db: &Connection, user: &User, id: &str) -> ApiResult<Playlist> {
    let p = visible_playlist(db, user, id)?;
    if p.owner != user.id {
        return Err(ApiError::forbidden("only the playlist's owner can change it"));
    }
    Ok(p)
}

/// Write new items if nobody changed the playlist since it was read.
fn store_items(db: &Connection, p: &Playlist, items: &[Item]) -> ApiResult<i64> {
    let json = serde_json::to_string(items).map_err(|e| ApiError::internal(e.to_string()))?;
    db.execute(
        "UPDATE playlists SET items = ?, snapshot = snapshot + 1 WHERE id = ? AND snapshot = ?",
        &[Sql::Text(json), text(&p.id), Sql::Integer(p.snapshot)],
    )
    .map_err(sql_error)?;
    if db.changes() == 0 {
        return Err(ApiError::conflict("the playlist changed meanwhile; read it again and retry"));
    }
    Ok(p.snapshot + 1)
}

// ----------------------------------------------------------------------------------------------
// Catalog lookups

/// Parse `riff:track:<id>` (or a bare id).
fn track_id_from_uri(uri: &str) -> ApiResult<String> {
    let id = uri.strip_prefix("riff:track:").unwrap_or(uri);
    if id.is_empty() || id.contains(':') {
        return Err(ApiError::bad_request(format!("not a track uri: {uri:?} (expected riff:track:<id>)")));
    }
    Ok(id.to_string())
}

/// Catalog tracks for `ids`, in order; unknown ids are a 404.
fn tracks(ids: &[String]) -> ApiResult<Vec<types::Track>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = catalog::get_tracks(ids).map_err(service_error)?;
    ids.iter()
        .zip(found)
        .map(|(id, t)| t.ok_or_else(|| ApiError::not_found(format!("no track with id {id:?}"))))
        .collect()
}

/// Catalog tracks for display: unknown (since removed) ids become null rather than failing.
fn tracks_lenient(ids: &[String]) -> ApiResult<Vec<Value>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = catalog::get_tracks(ids).map_err(service_error)?;
    Ok(found.iter().map(|t| t.as_ref().map_or(Value::Null, track_json)).collect())
}

fn track_json(t: &types::Track) -> Value {
    let mut v = object_ref("track", &t.id, &t.name);
    v["duration_ms"] = json!(t.duration_ms);
    v["track_number"] = json!(t.track_number);
    v["popularity"] = json!(t.popularity);
    v["album"] = object_ref("album", &t.album_id, &t.album_name);
    v["artists"] = json!([object_ref("artist", &t.artist_id, &t.artist_name)]);
    v
}

fn user_json(id: &str, name: &str) -> Value {
    json!({ "id": id, "display_name": name, "type": "user", "href": format!("/v1/users/{id}"), "uri": format!("riff:user:{id}") })
}

// ----------------------------------------------------------------------------------------------
// Playlists

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPlaylist {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    public: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaylistChange {
    name: Option<String>,
    description: Option<String>,
    public: Option<bool>,
}

fn check_name(name: &str) -> ApiResult<()> {
    let n = name.trim().chars().count();
    if n == 0 || n > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    Ok(())
}

fn check_description(d: &str) -> ApiResult<()> {
    if d.chars().count() > 300 {
        return Err(ApiError::bad_request("description must be at most 300 characters"));
    }
    Ok(())
}

fn playlist_json(p: &Playlist, owner_name: Option<&str>) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "public": p.public,
        "type": "playlist",
        "href": format!("/v1/playlists/{}", p.id),
        "uri": format!("riff:playlist:{}", p.id),
        "snapshot_id": p.snapshot.to_string(),
        "owner": user_json(&p.owner, owner_name.unwrap_or(&p.owner)),
        "items": { "href": format!("/v1/playlists/{}/items", p.id), "total": p.items.len() },
    })
}

fn create_playlist(db: &Connection, user: &User, body: NewPlaylist) -> ApiResult {
    check_name(&body.name)?;
    check_description(&body.description)?;
    let id = new_id()?;
    db.execute(
        "INSERT INTO playlists (id, owner, name, description, public, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            text(&id),
            text(&user.id),
            text(body.name.trim()),
            text(&body.description),
            Sql::Integer(body.public.into()),
            Sql::Integer(now_ms() as i64),
        ],
    )
    .map_err(sql_error)?;
    let p = load_playlist(db, &id)?.ok_or_else(|| ApiError::internal("playlist vanished"))?;
    Ok(json_response(201, &playlist_json(&p, Some(&user.name))))
}

fn list_playlists(db: &Connection, user: &User, query: &[(String, String)]) -> ApiResult {
    let (limit, offset) = paging(query, 20)?;
    let total = count_for(db, "SELECT COUNT(*) FROM playlists WHERE owner = ?", &user.id)?;
    let r = db
        .execute(
            &format!(
                "SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE owner = ? ORDER BY created_at, id LIMIT ? OFFSET ?"
            ),
            &[text(&user.id), Sql::Integer(limit.into()), Sql::Integer(offset.into())],
        )
        .map_err(sql_error)?;
    let items = r.rows.iter().map(|row| playlist_json(&playlist_from_row(row), Some(&user.name))).collect();
    Ok(json_response(200, &paging_object("/v1/me/playlists", items, limit, offset, total)))
}

fn get_playlist(db: &Connection, user: &User, id: &str) -> ApiResult {
    let p = visible_playlist(db, user, id)?;
    let own = (p.owner == user.id).then_some(user.name.as_str());
    Ok(json_response(200, &playlist_json(&p, own)))
}

fn change_playlist(db: &Connection, user: &User, id: &str, change: PlaylistChange) -> ApiResult {
    let p = owned_playlist(db, user, id)?;
    if let Some(name) = &change.name {
        check_name(name)?;
    }
    if let Some(d) = &change.description {
        check_description(d)?;
    }
    db.execute(
        "UPDATE playlists SET name = ?, description = ?, public = ?, snapshot = snapshot + 1 WHERE id = ?",
        &[
            text(change.name.as_deref().map(str::trim).unwrap_or(&p.name)),
            text(change.description.as_deref().unwrap_or(&p.description)),
            Sql::Integer(change.public.unwrap_or(p.public).into()),
            text(id),
        ],
    )
    .map_err(sql_error)?;
    get_playlist(db, user, id)
}

fn delete_playlist(db: &Connection, user: &User, id: &str) -> ApiResult {
    owned_playlist(db, user, id)?;
    db.execute("DELETE FROM playlists WHERE id = ? AND owner = ?", &[text(id), text(&user.id)])
        .map_err(sql_error)?;
    Ok(no_content())
}

fn list_items(db: &Connection, user: &User, id: &str, query: &[(String, String)]) -> ApiResult {
    let p = visible_playlist(db, user, id)?;
    let (limit, offset) = paging(query, 20)?;
    let page: Vec<&Item> = p.items.iter().skip(offset as usize).take(limit as usize).collect();
    let ids: Vec<String> = page.iter().map(|i| i.track_id.clone()).collect();
    let tracks = tracks_lenient(&ids)?;
    let items: Vec<Value> = page
        .iter()
        .zip(tracks)
        .map(|(item, track)| json!({ "added_at": rfc3339(item.added_at), "added_by": user_json(&p.owner, &p.owner), "track": track }))
        .collect();
    let href = format!("/v1/playlists/{id}/items");
    Ok(json_response(200, &paging_object(&href, items, limit, offset, p.items.len() as u64)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddItems {
    uris: Vec<String>,
    position: Option<usize>,
}

fn snapshot_response(status: u16, snapshot: i64) -> Response {
    json_response(status, &json!({ "snapshot_id": snapshot.to_string() }))
}

fn add_items(db: &Connection, user: &User, id: &str, body: AddItems) -> ApiResult {
    if body.uris.is_empty() || body.uris.len() > 100 {
        return Err(ApiError::bad_request("uris must list 1 to 100 track uris"));
    }
    let p = owned_playlist(db, user, id)?;
    let ids = body.uris.iter().map(|u| track_id_from_uri(u)).collect::<ApiResult<Vec<_>>>()?;
    tracks(&ids)?; // every id must exist in the catalog
    if p.items.len() + ids.len() > MAX_PLAYLIST_ITEMS {
        return Err(ApiError::bad_request(format!("a playlist holds at most {MAX_PLAYLIST_ITEMS} items")));
    }
    let position = body.position.unwrap_or(p.items.len());
    if position > p.items.len() {
        return Err(ApiError::bad_request(format!(
            "position {position} is past the end ({})",
            p.items.len()
        )));
    }
    let now = now_ms();
    let mut items = p.items.clone();
    items.splice(position..position, ids.into_iter().map(|track_id| Item { track_id, added_at: now }));
    Ok(snapshot_response(201, store_items(db, &p, &items)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reorder {
    range_start: usize,
    insert_before: usize,
    #[serde(default = "one")]
    range_length: usize,
    snapshot_id: Option<String>,
}

fn one() -> usize {
    1
}

/// Move `len` items starting at `start` so they sit before the item that was at `before`.
fn reorder(items: &[Item], start: usize, before: usize, len: usize) -> Result<Vec<Item>, String> {
    let n = items.len();
    if len == 0 || start + len > n || before > n {
        return Err(format!(
            "range {start}+{len} or insert_before {before} is outside the playlist's {n} items"
        ));
    }
    let mut rest: Vec<Item> = items.to_vec();
    let moved: Vec<Item> = rest.drain(start..start + len).collect();
    let at = if before > start { before.saturating_sub(len).max(start) } else { before };
    let at = if before >= start && before <= start + len { start } else { at };
    rest.splice(at..at, moved);
    Ok(rest)
}

fn reorder_items(db: &Connection, user: &User, id: &str, body: Reorder) -> ApiResult {
    let p = owned_playlist(db, user, id)?;
    if let Some(s) = &body.snapshot_id {
        if *s != p.snapshot.to_string() {
            return Err(ApiError::conflict("snapshot_id is stale; read the playlist again"));
        }
    }
    let items = reorder(&p.items, body.range_start, body.insert_before, body.range_length)
        .map_err(ApiError::bad_request)?;
    Ok(snapshot_response(200, store_items(db, &p, &items)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveItems {
    tracks: Vec<TrackRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackRef {
    uri: String,
}

fn remove_items(db: &Connection, user: &User, id: &str, body: RemoveItems) -> ApiResult {
    if body.tracks.is_empty() || body.tracks.len() > 100 {
        return Err(ApiError::bad_request("tracks must list 1 to 100 {uri} objects"));
    }
    let p = owned_playlist(db, user, id)?;
    let remove = body.tracks.iter().map(|t| track_id_from_uri(&t.uri)).collect::<ApiResult<Vec<_>>>()?;
    let items: Vec<Item> = p.items.iter().filter(|i| !remove.contains(&i.track_id)).cloned().collect();
    Ok(snapshot_response(200, store_items(db, &p, &items)?))
}

// ----------------------------------------------------------------------------------------------
// Saved tracks and follows

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ids {
    ids: Vec<String>,
}

fn check_ids(ids: &[String]) -> ApiResult<()> {
    if ids.is_empty() || ids.len() > 50 || ids.iter().any(|i| i.trim().is_empty()) {
        return Err(ApiError::bad_request("ids must list 1 to 50 non-empty ids"));
    }
    Ok(())
}

fn save_tracks(db: &Connection, user: &User, body: Ids) -> ApiResult {
    check_ids(&body.ids)?;
    tracks(&body.ids)?;
    link_ids(db, "saved_tracks", "user_id, track_id, added_at", &user.id, &body.ids)?;
    Ok(no_content())
}

fn unsave_tracks(db: &Connection, user: &User, body: Ids) -> ApiResult {
    check_ids(&body.ids)?;
    unlink_ids(db, "saved_tracks", "track_id", &user.id, &body.ids)?;
    Ok(no_content())
}

fn list_saved(db: &Connection, user: &User, query: &[(String, String)]) -> ApiResult {
    let (limit, offset) = paging(query, 20)?;
    let total = count_for(db, "SELECT COUNT(*) FROM saved_tracks WHERE user_id = ?", &user.id)?;
    let r = db
        .execute(
            "SELECT track_id, added_at FROM saved_tracks WHERE user_id = ? ORDER BY added_at DESC, track_id LIMIT ? OFFSET ?",
            &[text(&user.id), Sql::Integer(limit.into()), Sql::Integer(offset.into())],
        )
        .map_err(sql_error)?;
    let ids: Vec<String> =
        r.rows.iter().map(|row| row.get::<&str>(0).unwrap_or_default().to_string()).collect();
    let tracks = tracks_lenient(&ids)?;
    let items: Vec<Value> = r
        .rows
        .iter()
        .zip(tracks)
        .map(|(row, track)| json!({ "added_at": rfc3339(row.get::<i64>(1).unwrap_or(0) as u64), "track": track }))
        .collect();
    Ok(json_response(200, &paging_object("/v1/me/tracks", items, limit, offset, total)))
}

fn following(
    db: &Connection,
    user: &User,
    method: &Method,
    query: &[(String, String)],
    req: &Request,
) -> ApiResult {
    if query.iter().find(|(k, _)| k == "type").map(|(_, v)| v.as_str()) != Some("artist") {
        return Err(ApiError::bad_request("type=artist is required"));
    }
    match method {
        Method::Get => {
            let r = db
                .execute(
                    "SELECT artist_id FROM follows WHERE user_id = ? ORDER BY followed_at DESC, artist_id",
                    &[text(&user.id)],
                )
                .map_err(sql_error)?;
            let ids: Vec<String> =
                r.rows.iter().map(|row| row.get::<&str>(0).unwrap_or_default().to_string()).collect();
            let artists = if ids.is_empty() {
                Vec::new()
            } else {
                catalog::get_artists(&ids).map_err(service_error)?
            };
            let items: Vec<Value> = artists
                .iter()
                .flatten()
                .map(|a| {
                    let mut v = object_ref("artist", &a.id, &a.name);
                    v["genres"] = json!(a.genres);
                    v
                })
                .collect();
            Ok(json_response(
                200,
                &json!({ "artists": { "items": items, "total": items.len(), "href": "/v1/me/following?type=artist" } }),
            ))
        }
        Method::Put => {
            let body: Ids = json_body(req)?;
            check_ids(&body.ids)?;
            let found = catalog::get_artists(&body.ids).map_err(service_error)?;
            if let Some((id, _)) = body.ids.iter().zip(&found).find(|(_, a)| a.is_none()) {
                return Err(ApiError::not_found(format!("no artist with id {id:?}")));
            }
            link_ids(db, "follows", "user_id, artist_id, followed_at", &user.id, &body.ids)?;
            Ok(no_content())
        }
        Method::Delete => {
            let body: Ids = json_body(req)?;
            check_ids(&body.ids)?;
            unlink_ids(db, "follows", "artist_id", &user.id, &body.ids)?;
            Ok(no_content())
        }
        _ => Err(ApiError::method_not_allowed(&["GET", "PUT", "DELETE"])),
    }
}

// ----------------------------------------------------------------------------------------------
// Plays

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Played {
    track_id: String,
}

fn record_play(db: &Connection, user: &User, body: Played) -> ApiResult {
    let id = track_id_from_uri(&body.track_id)?;
    let track = tracks(std::slice::from_ref(&id))?.remove(0);
    let played_at = now_ms();
    db.execute(
        "INSERT INTO plays (user_id, track_id, played_at) VALUES (?, ?, ?)",
        &[text(&user.id), text(&id), Sql::Integer(played_at as i64)],
    )
    .map_err(sql_error)?;
    // Recommendations and search popularity learn from plays. The play is recorded either way;
    // a lost announcement costs a little freshness, not the user's history.
    let event = riff_guest::events::Played {
        user_id: user.id.clone(),
        track_id: id,
        artist_id: track.artist_id,
        played_at,
    };
    if let Err(e) = riff_guest::events::publish(riff_guest::events::PLAYS, &event) {
        eprintln!("play recorded, not announced: {}", e.message);
    }
    Ok(no_content())
}

fn cursor(query: &[(String, String)], key: &str) -> ApiResult<Option<i64>> {
    match query.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => {
            v.parse::<i64>().ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("{key} must be a Unix timestamp in milliseconds"))
            })
        }
    }
}

fn plays(
    db: &Connection,
    user_id: &str,
    limit: u32,
    before: Option<i64>,
    after: Option<i64>,
) -> ApiResult<Vec<(String, i64)>> {
    let (sql, params) = match (before, after) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give before or after, not both")),
        (Some(b), None) => (
            "SELECT track_id, played_at FROM plays WHERE user_id = ? AND played_at < ? ORDER BY played_at DESC, id DESC LIMIT ?",
            vec![text(user_id), Sql::Integer(b), Sql::Integer(limit.into())],
        ),
        (None, Some(a)) => (
            // The `limit` plays right after the cursor, shown newest first.
            "SELECT track_id, played_at FROM (SELECT track_id, played_at, id FROM plays WHERE user_id = ? AND played_at > ? ORDER BY played_at ASC, id ASC LIMIT ?) ORDER BY played_at DESC, id DESC",
            vec![text(user_id), Sql::Integer(a), Sql::Integer(limit.into())],
        ),
        (None, None) => (
            "SELECT track_id, played_at FROM plays WHERE user_id = ? ORDER BY played_at DESC, id DESC LIMIT ?",
            vec![text(user_id), Sql::Integer(limit.into())],
        ),
    };
    let r = db.execute(sql, &params).map_err(sql_error)?;
    Ok(r.rows
        .iter()
        .map(|row| (row.get::<&str>(0).unwrap_or_default().to_string(), row.get::<i64>(1).unwrap_or(0)))
        .collect())
}

fn recently_played(db: &Connection, user: &User, query: &[(String, String)]) -> ApiResult {
    let (limit, _) = paging(query, 20)?;
    let (before, after) = (cursor(query, "before")?, cursor(query, "after")?);
    let rows = plays(db, &user.id, limit, before, after)?;
    let ids: Vec<String> = rows.iter().map(|(t, _)| t.clone()).collect();
    let tracks = tracks_lenient(&ids)?;
    let items: Vec<Value> = rows
        .iter()
        .zip(tracks)
        .map(|((_, at), track)| json!({ "track": track, "played_at": rfc3339(*at as u64), "played_at_ms": at }))
        .collect();
    let newest = rows.first().map(|(_, at)| *at);
    let oldest = rows.last().map(|(_, at)| *at);
    let next = (rows.len() as u32 == limit)
        .then(|| oldest.map(|o| format!("/v1/me/player/recently-played?before={o}&limit={limit}")))
        .flatten();
    Ok(json_response(
        200,
        &json!({
            "href": "/v1/me/player/recently-played",
            "items": items,
            "limit": limit,
            "next": next,
            "cursors": { "after": newest.map(|n| n.to_string()), "before": oldest.map(|o| o.to_string()) },
        }),
    ))
}

// ----------------------------------------------------------------------------------------------
// riff:music/profile

fn internal(e: ApiError) -> types::Error {
    types::Error::Internal(e.message)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct ProfileService;

impl wit::Guest for ProfileService {
    fn recently_played(user_id: String, limit: u32) -> Result<Vec<wit::Play>, types::Error> {
        let db = open().map_err(internal)?;
        let rows = plays(&db, &user_id, limit.clamp(1, 1000), None, None).map_err(internal)?;
        Ok(rows
            .into_iter()
            .map(|(track_id, at)| wit::Play { track_id, played_at: at.max(0) as u64 })
            .collect())
    }

    fn saved_tracks(user_id: String) -> Result<Vec<String>, types::Error> {
        let db = open().map_err(internal)?;
        let r = db
            .execute(
                "SELECT track_id FROM saved_tracks WHERE user_id = ? ORDER BY added_at DESC",
                &[text(&user_id)],
            )
            .map_err(|e| internal(sql_error(e)))?;
        Ok(r.rows.iter().map(|row| row.get::<&str>(0).unwrap_or_default().to_string()).collect())
    }

    fn followed_artists(user_id: String) -> Result<Vec<String>, types::Error> {
        let db = open().map_err(internal)?;
        let r = db
            .execute(
                "SELECT artist_id FROM follows WHERE user_id = ? ORDER BY followed_at DESC",
                &[text(&user_id)],
            )
            .map_err(|e| internal(sql_error(e)))?;
        Ok(r.rows.iter().map(|row| row.get::<&str>(0).unwrap_or_default().to_string()).collect())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(ProfileService with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;

    fn items(ids: &[&str]) -> Vec<Item> {
        ids.iter().map(|id| Item { track_id: id.to_string(), added_at: 0 }).collect()
    }

    fn ids(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.track_id.as_str()).collect()
    }

    #[test]
    fn reorder_moves_ranges_like_spotify() {
        let list = items(&["a", "b", "c", "d", "e"]);
        assert_eq!(ids(&reorder(&list, 0, 3, 1).unwrap()), ["b", "c", "a", "d", "e"]);
        assert_eq!(ids(&reorder(&list, 3, 0, 2).unwrap()), ["d", "e", "a", "b", "c"]);
        assert_eq!(ids(&reorder(&list, 1, 5, 2).unwrap()), ["a", "d", "e", "b", "c"]);
        assert_eq!(ids(&reorder(&list, 1, 2, 1).unwrap()), ["a", "b", "c", "d", "e"]);
        assert!(reorder(&list, 4, 0, 2).is_err());
        assert!(reorder(&list, 0, 6, 1).is_err());
        assert!(reorder(&list, 0, 1, 0).is_err());
    }

    #[test]
    fn track_uris() {
        assert_eq!(track_id_from_uri("riff:track:tr01").unwrap(), "tr01");
        assert_eq!(track_id_from_uri("tr01").unwrap(), "tr01");
        assert!(track_id_from_uri("spotify:track:x").is_err());
        assert!(track_id_from_uri("riff:track:").is_err());
    }
}
