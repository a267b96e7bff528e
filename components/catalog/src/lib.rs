//! The catalog service: artists, albums, tracks and genres in SQL, and the audio itself.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/artists?limit=&offset=` | paging object of artists |
//! | `GET /v1/artists/{id}` | artist |
//! | `GET /v1/artists/{id}/albums` | paging object of albums |
//! | `GET /v1/artists/{id}/top-tracks` | `{"tracks": [...]}` (10 most popular) |
//! | `GET /v1/albums/{id}` | album |
//! | `GET /v1/albums/{id}/tracks` | paging object of tracks |
//! | `GET /v1/tracks/{id}` | track |
//! | `GET /v1/tracks?ids=a,b` | `{"tracks": [track or null, ...]}` (up to 50 ids) |
//! | `GET /v1/genres` | `{"genres": [...]}` |
//! | `GET`/`HEAD /v1/tracks/{id}/stream` | the audio; needs a Bearer token; `Range` gives 206 |
//!
//! Objects follow Spotify's Web API shapes (`id`, `name`, `type`, `href`, `uri`, ...). It exports
//! `riff:music/catalog` (batch lookups) and imports `riff:music/auth` to check stream tokens.
//! On first use it creates its schema and loads the demo catalog mounted at `/demo`.

pub mod range;

use riff_guest::{
    json_response, object_ref, paging, paging_object, query_pairs, respond, ApiError, ApiResult,
};
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite3::{Connection, QueryResult, Value as Sql};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/music",
        world: "riff:music/catalog-service",
        generate_all,
    });
}

use bindings::exports::riff::music::catalog as wit;
use bindings::riff::music::types as wit_types;

const DATABASE: &str = "catalog";
const DEMO_DIR: &str = "/demo";
const SCHEMA_VERSION: i64 = 1;

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn handle(req: Request) -> Response {
    respond(route(&req))
}

fn route(req: &Request) -> ApiResult {
    let db = open()?;
    let path = req.path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query = query_pairs(req.query());
    let method = req.method();
    if segments.as_slice() == ["v1", "admin", "catalog", "import"] {
        return match method {
            Method::Post => import(&db, req),
            _ => Err(ApiError::method_not_allowed(&["POST"])),
        };
    }
    if !matches!(method, Method::Get | Method::Head) {
        return Err(ApiError::method_not_allowed(&["GET", "HEAD"]));
    }
    match segments.as_slice() {
        ["v1", "artists"] if has_ids(&query) => {
            let ids = batch_ids(&query, "artist")?;
            let found = artists_by_ids(&db, &ids)?;
            let artists: Vec<Value> =
                found.iter().map(|a| a.as_ref().map_or(Value::Null, artist_json)).collect();
            Ok(json_response(200, &json!({ "artists": artists })))
        }
        ["v1", "albums"] => {
            let ids = batch_ids(&query, "album")?;
            let found = albums_by_ids(&db, &ids)?;
            let albums: Vec<Value> =
                found.iter().map(|a| a.as_ref().map_or(Value::Null, album_json)).collect();
            Ok(json_response(200, &json!({ "albums": albums })))
        }
        ["v1", "artists"] => {
            let (limit, offset) = paging(&query, 20)?;
            let total = count(&db, "SELECT COUNT(*) FROM artists", &[])?;
            let rows =
                artists_where(&db, "1 = 1 ORDER BY name LIMIT ? OFFSET ?", &[int(limit), int(offset)])?;
            Ok(json_response(
                200,
                &paging_object("/v1/artists", rows.iter().map(artist_json).collect(), limit, offset, total),
            ))
        }
        ["v1", "artists", id] => {
            let artist = one(artists_where(&db, "id = ?", &[text(id)])?, "artist", id)?;
            Ok(json_response(200, &artist_json(&artist)))
        }
        ["v1", "artists", id, "albums"] => {
            one(artists_where(&db, "id = ?", &[text(id)])?, "artist", id)?;
            let (limit, offset) = paging(&query, 20)?;
            let total = count(&db, "SELECT COUNT(*) FROM albums WHERE artist_id = ?", &[text(id)])?;
            let rows = albums_where(
                &db,
                "a.artist_id = ? ORDER BY a.release_year, a.name LIMIT ? OFFSET ?",
                &[text(id), int(limit), int(offset)],
            )?;
            let href = format!("/v1/artists/{id}/albums");
            Ok(json_response(
                200,
                &paging_object(&href, rows.iter().map(album_json).collect(), limit, offset, total),
            ))
        }
        ["v1", "artists", id, "top-tracks"] => {
            one(artists_where(&db, "id = ?", &[text(id)])?, "artist", id)?;
            let rows = tracks_where(
                &db,
                "t.artist_id = ? ORDER BY t.popularity DESC, t.name LIMIT 10",
                &[text(id)],
            )?;
            Ok(json_response(200, &json!({ "tracks": rows.iter().map(track_json).collect::<Vec<_>>() })))
        }
        ["v1", "albums", id] => {
            let album = one(albums_where(&db, "a.id = ?", &[text(id)])?, "album", id)?;
            let tracks = tracks_where(&db, "t.album_id = ? ORDER BY t.track_number LIMIT 50", &[text(id)])?;
            let mut body = album_json(&album);
            let total = tracks.len() as u64;
            body["tracks"] = paging_object(
                &format!("/v1/albums/{id}/tracks"),
                tracks.iter().map(track_json).collect(),
                50,
                0,
                total,
            );
            Ok(json_response(200, &body))
        }
        ["v1", "albums", id, "tracks"] => {
            one(albums_where(&db, "a.id = ?", &[text(id)])?, "album", id)?;
            let (limit, offset) = paging(&query, 20)?;
            let total = count(&db, "SELECT COUNT(*) FROM tracks WHERE album_id = ?", &[text(id)])?;
            let rows = tracks_where(
                &db,
                "t.album_id = ? ORDER BY t.track_number LIMIT ? OFFSET ?",
                &[text(id), int(limit), int(offset)],
            )?;
            let href = format!("/v1/albums/{id}/tracks");
            Ok(json_response(
                200,
                &paging_object(&href, rows.iter().map(track_json).collect(), limit, offset, total),
            ))
        }
        ["v1", "tracks"] => {
            let ids = batch_ids(&query, "track")?;
            let found = tracks_by_ids(&db, &ids)?;
            let tracks: Vec<Value> =
                found.iter().map(|t| t.as_ref().map_or(Value::Null, track_json)).collect();
            Ok(json_response(200, &json!({ "tracks": tracks })))
        }
        ["v1", "tracks", id] => {
            let track = one(tracks_where(&db, "t.id = ?", &[text(id)])?, "track", id)?;
            Ok(json_response(200, &track_json(&track)))
        }
        ["v1", "tracks", id, "stream"] => stream(&db, req, id),
        ["v1", "genres"] => {
            let genres = genres(&db)?;
            Ok(json_response(200, &json!({ "genres": genres.iter().map(|g| &g.name).collect::<Vec<_>>() })))
        }
        _ => Err(ApiError::not_found(format!("no such endpoint: {path}"))),
    }
}

fn has_ids(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| k == "ids")
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

// ----------------------------------------------------------------------------------------------
// Storage

fn sql_error(e: impl std::fmt::Debug) -> ApiError {
    ApiError::internal(format!("catalog database error: {e:?}"))
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn int(n: u32) -> Sql {
    Sql::Integer(i64::from(n))
}

/// Open the database, creating the schema and loading the demo catalog the first time.
fn open() -> ApiResult<Connection> {
    let db = Connection::open(DATABASE).map_err(sql_error)?;
    let ready = db
        .execute("SELECT value FROM meta WHERE key = 'schema'", &[])
        .ok()
        .and_then(|r| r.rows.first().and_then(|row| row.get::<i64>(0)))
        == Some(SCHEMA_VERSION);
    if !ready {
        create_schema(&db)?;
        load_demo(&db)?;
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
            &[Sql::Integer(SCHEMA_VERSION)],
        )
        .map_err(sql_error)?;
    }
    Ok(db)
}

fn create_schema(db: &Connection) -> ApiResult<()> {
    for statement in [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS genres (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        "CREATE TABLE IF NOT EXISTS artists (id TEXT PRIMARY KEY, name TEXT NOT NULL, genres TEXT NOT NULL DEFAULT '[]', popularity INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS albums (id TEXT PRIMARY KEY, name TEXT NOT NULL, artist_id TEXT NOT NULL REFERENCES artists(id), release_year INTEGER)",
        "CREATE TABLE IF NOT EXISTS tracks (id TEXT PRIMARY KEY, name TEXT NOT NULL, album_id TEXT NOT NULL REFERENCES albums(id), artist_id TEXT NOT NULL REFERENCES artists(id), genre TEXT, track_number INTEGER NOT NULL DEFAULT 1, duration_ms INTEGER NOT NULL, popularity INTEGER NOT NULL DEFAULT 0, audio TEXT)",
        "CREATE INDEX IF NOT EXISTS albums_artist ON albums(artist_id)",
        "CREATE INDEX IF NOT EXISTS tracks_album ON tracks(album_id, track_number)",
        "CREATE INDEX IF NOT EXISTS tracks_artist ON tracks(artist_id, popularity)",
    ] {
        db.execute(statement, &[]).map_err(sql_error)?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Demo {
    #[serde(default)]
    replace: bool,
    genres: Vec<String>,
    artists: Vec<DemoArtist>,
    albums: Vec<DemoAlbum>,
    tracks: Vec<DemoTrack>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoArtist {
    id: String,
    name: String,
    genres: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoAlbum {
    id: String,
    name: String,
    artist_id: String,
    release_year: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoTrack {
    id: String,
    name: String,
    album_id: String,
    artist_id: String,
    genre: Option<String>,
    track_number: u32,
    duration_ms: u32,
    #[serde(default)]
    popularity: u32,
    audio: Option<String>,
}

/// Load `/demo/catalog.json` (idempotent: existing rows are kept).
fn load_demo(db: &Connection) -> ApiResult<()> {
    let Ok(bytes) = std::fs::read(format!("{DEMO_DIR}/catalog.json")) else {
        return Ok(()); // no demo mounted: start empty
    };
    let demo: Demo =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(format!("demo catalog: {e}")))?;
    load(db, &demo, "INSERT OR IGNORE")?;
    // The catalog works without a queue grant; search then just does not see the demo.
    if let Err(e) = publish_changes(&demo) {
        eprintln!("demo catalog loaded, but not announced: {}", e.message);
    }
    Ok(())
}

/// Announce written items on `catalog.changed` (search indexes them), in messages of
/// [`DOCS_PER_EVENT`] items; a replacing import first announces that older items are gone.
fn publish_changes(c: &Demo) -> ApiResult<()> {
    use riff_guest::events::{publish, CatalogChanged, CatalogDoc, CATALOG_CHANGED};
    use std::collections::HashMap;
    let generation = riff_guest::time::now_ms();
    if c.replace {
        publish(CATALOG_CHANGED, &CatalogChanged::Cleared { generation })?;
    }
    let artist_name: HashMap<&str, &str> =
        c.artists.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
    let album_of: HashMap<&str, &DemoAlbum> = c.albums.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut album_genres: HashMap<&str, Vec<String>> = HashMap::new();
    let mut artist_popularity: HashMap<&str, u64> = HashMap::new();
    for t in &c.tracks {
        if let Some(g) = &t.genre {
            let genres = album_genres.entry(t.album_id.as_str()).or_default();
            if !genres.contains(g) {
                genres.push(g.clone());
            }
        }
        let p = artist_popularity.entry(t.artist_id.as_str()).or_default();
        *p = (*p).max(t.popularity as u64);
    }
    let year =
        |album: Option<&&DemoAlbum>| album.and_then(|a| a.release_year).and_then(|y| u16::try_from(y).ok());
    let mut docs = Vec::with_capacity(c.artists.len() + c.albums.len() + c.tracks.len());
    docs.extend(c.artists.iter().map(|a| CatalogDoc {
        kind: "artist".into(),
        id: a.id.clone(),
        name: a.name.clone(),
        artist: a.name.clone(),
        album: None,
        genres: a.genres.clone(),
        year: None,
        popularity: artist_popularity.get(a.id.as_str()).copied().unwrap_or(0),
    }));
    docs.extend(c.albums.iter().map(|a| CatalogDoc {
        kind: "album".into(),
        id: a.id.clone(),
        name: a.name.clone(),
        artist: artist_name.get(a.artist_id.as_str()).unwrap_or(&"").to_string(),
        album: Some(a.name.clone()),
        genres: album_genres.remove(a.id.as_str()).unwrap_or_default(),
        year: year(Some(&a)),
        popularity: 0,
    }));
    docs.extend(c.tracks.iter().map(|t| {
        let album = album_of.get(t.album_id.as_str());
        CatalogDoc {
            kind: "track".into(),
            id: t.id.clone(),
            name: t.name.clone(),
            artist: artist_name.get(t.artist_id.as_str()).unwrap_or(&"").to_string(),
            album: album.map(|a| a.name.clone()),
            genres: t.genre.iter().cloned().collect(),
            year: year(album),
            popularity: t.popularity as u64,
        }
    }));
    for chunk in docs.chunks(DOCS_PER_EVENT) {
        publish(CATALOG_CHANGED, &CatalogChanged::Upserted { generation, docs: chunk.to_vec() })?;
    }
    Ok(())
}

/// Catalog items per `catalog.changed` message (well under the queue's 1 MiB payload limit).
const DOCS_PER_EVENT: usize = 500;

/// Rows per multi-row `INSERT`: few statements, far below SQLite's parameter limit.
const INSERT_CHUNK: usize = 200;

fn insert_rows(
    db: &Connection,
    verb: &str,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Sql>>,
) -> ApiResult<()> {
    let row_placeholder = format!("({})", vec!["?"; columns.len()].join(", "));
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "{verb} INTO {table} ({}) VALUES {}",
            columns.join(", "),
            vec![row_placeholder.as_str(); chunk.len()].join(", ")
        );
        let params: Vec<Sql> = chunk.iter().flatten().cloned().collect();
        db.execute(&sql, &params).map_err(sql_error)?;
    }
    Ok(())
}

fn load(db: &Connection, c: &Demo, verb: &str) -> ApiResult<()> {
    let genres = c.genres.iter().map(|g| vec![text(g), text(g)]).collect();
    insert_rows(db, verb, "genres", &["id", "name"], genres)?;
    let artists = c
        .artists
        .iter()
        .map(|a| {
            let genres = serde_json::to_string(&a.genres).unwrap_or_else(|_| "[]".into());
            vec![text(&a.id), text(&a.name), Sql::Text(genres), Sql::Integer(0)]
        })
        .collect();
    insert_rows(db, verb, "artists", &["id", "name", "genres", "popularity"], artists)?;
    let albums = c
        .albums
        .iter()
        .map(|a| {
            let year = a.release_year.map_or(Sql::Null, int);
            vec![text(&a.id), text(&a.name), text(&a.artist_id), year]
        })
        .collect();
    insert_rows(db, verb, "albums", &["id", "name", "artist_id", "release_year"], albums)?;
    let tracks = c
        .tracks
        .iter()
        .map(|t| {
            let opt = |v: &Option<String>| v.as_deref().map_or(Sql::Null, text);
            vec![
                text(&t.id),
                text(&t.name),
                text(&t.album_id),
                text(&t.artist_id),
                opt(&t.genre),
                int(t.track_number),
                int(t.duration_ms),
                int(t.popularity),
                opt(&t.audio),
            ]
        })
        .collect();
    let columns = [
        "id",
        "name",
        "album_id",
        "artist_id",
        "genre",
        "track_number",
        "duration_ms",
        "popularity",
        "audio",
    ];
    insert_rows(db, verb, "tracks", &columns, tracks)?;
    // An artist is as popular as its most popular track.
    db.execute(
        "UPDATE artists SET popularity = COALESCE((SELECT MAX(popularity) FROM tracks t WHERE t.artist_id = artists.id), 0)",
        &[],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// Largest catalog import accepted in one request.
const MAX_IMPORT: usize = 32 * 1024 * 1024;

/// `POST /v1/admin/catalog/import`: load a whole catalog (the demo file's format). Admin only:
/// the Bearer token must equal the `admin_token` variable; with no token configured, import is off.
fn import(db: &Connection, req: &Request) -> ApiResult {
    let configured = spin_sdk::variables::get("admin_token").unwrap_or_default();
    if configured.is_empty() {
        return Err(ApiError::forbidden("catalog import is disabled: set RIFF_VARIABLE_CATALOG_ADMIN_TOKEN"));
    }
    let token = riff_guest::bearer_token(req)?;
    if !riff_guest::constant_time_eq(token.as_bytes(), configured.as_bytes()) {
        return Err(ApiError::forbidden("not an admin token"));
    }
    let catalog: Demo = riff_guest::parse_json_limited(req.body(), MAX_IMPORT)?;
    validate_import(&catalog)?;
    if catalog.replace {
        for table in ["tracks", "albums", "artists", "genres"] {
            db.execute(&format!("DELETE FROM {table}"), &[]).map_err(sql_error)?;
        }
    }
    load(db, &catalog, "INSERT OR REPLACE")?;
    // The import is idempotent: if announcing it fails, importing again repairs search.
    publish_changes(&catalog).map_err(|e| {
        ApiError::new(503, format!("catalog imported, but search was not told ({}); import again", e.message))
    })?;
    let counts = json!({
        "genres": count(db, "SELECT COUNT(*) FROM genres", &[])?,
        "artists": count(db, "SELECT COUNT(*) FROM artists", &[])?,
        "albums": count(db, "SELECT COUNT(*) FROM albums", &[])?,
        "tracks": count(db, "SELECT COUNT(*) FROM tracks", &[])?,
    });
    Ok(json_response(200, &counts))
}

/// Refuse an import that would leave dangling references, before writing anything.
fn validate_import(c: &Demo) -> ApiResult<()> {
    use std::collections::HashSet;
    let bad = |m: String| Err(ApiError::bad_request(m));
    let artists: HashSet<&str> = c.artists.iter().map(|a| a.id.as_str()).collect();
    let albums: HashSet<&str> = c.albums.iter().map(|a| a.id.as_str()).collect();
    if c.artists.iter().any(|a| a.id.is_empty() || a.name.is_empty()) {
        return bad("every artist needs an id and a name".into());
    }
    if let Some(a) = c.albums.iter().find(|a| !artists.contains(a.artist_id.as_str())) {
        return bad(format!("album {:?} names unknown artist {:?}", a.id, a.artist_id));
    }
    if let Some(t) = c
        .tracks
        .iter()
        .find(|t| !albums.contains(t.album_id.as_str()) || !artists.contains(t.artist_id.as_str()))
    {
        return bad(format!("track {:?} names an unknown album or artist", t.id));
    }
    if let Some(t) = c.tracks.iter().find(|t| t.audio.as_deref().is_some_and(|a| a.contains(".."))) {
        return bad(format!("track {:?}: audio paths may not leave the audio directory", t.id));
    }
    Ok(())
}

fn count(db: &Connection, sql: &str, params: &[Sql]) -> ApiResult<u64> {
    let r = db.execute(sql, params).map_err(sql_error)?;
    Ok(r.rows.first().and_then(|row| row.get::<i64>(0)).unwrap_or(0).max(0) as u64)
}

#[derive(Debug, Clone)]
struct Artist {
    id: String,
    name: String,
    genres: Vec<String>,
    popularity: u32,
}

#[derive(Debug, Clone)]
struct Album {
    id: String,
    name: String,
    artist_id: String,
    artist_name: String,
    release_year: Option<u32>,
    total_tracks: u32,
}

#[derive(Debug, Clone)]
struct Track {
    id: String,
    name: String,
    album_id: String,
    album_name: String,
    artist_id: String,
    artist_name: String,
    genre: Option<String>,
    track_number: u32,
    duration_ms: u32,
    popularity: u32,
    audio: Option<String>,
}

fn col_text(r: &QueryResult, row: usize, i: usize) -> String {
    r.rows[row].get::<&str>(i).unwrap_or_default().to_string()
}

fn col_u32(r: &QueryResult, row: usize, i: usize) -> Option<u32> {
    r.rows[row].get::<i64>(i).and_then(|n| u32::try_from(n).ok())
}

fn artists_where(db: &Connection, clause: &str, params: &[Sql]) -> ApiResult<Vec<Artist>> {
    let r = db
        .execute(&format!("SELECT id, name, genres, popularity FROM artists WHERE {clause}"), params)
        .map_err(sql_error)?;
    Ok((0..r.rows.len())
        .map(|i| Artist {
            id: col_text(&r, i, 0),
            name: col_text(&r, i, 1),
            genres: serde_json::from_str(&col_text(&r, i, 2)).unwrap_or_default(),
            popularity: col_u32(&r, i, 3).unwrap_or(0),
        })
        .collect())
}

fn albums_where(db: &Connection, clause: &str, params: &[Sql]) -> ApiResult<Vec<Album>> {
    let sql = format!(
        "SELECT a.id, a.name, a.artist_id, ar.name, a.release_year, \
         (SELECT COUNT(*) FROM tracks t WHERE t.album_id = a.id) \
         FROM albums a JOIN artists ar ON ar.id = a.artist_id WHERE {clause}"
    );
    let r = db.execute(&sql, params).map_err(sql_error)?;
    Ok((0..r.rows.len())
        .map(|i| Album {
            id: col_text(&r, i, 0),
            name: col_text(&r, i, 1),
            artist_id: col_text(&r, i, 2),
            artist_name: col_text(&r, i, 3),
            release_year: col_u32(&r, i, 4),
            total_tracks: col_u32(&r, i, 5).unwrap_or(0),
        })
        .collect())
}

fn tracks_where(db: &Connection, clause: &str, params: &[Sql]) -> ApiResult<Vec<Track>> {
    let sql = format!(
        "SELECT t.id, t.name, t.album_id, al.name, t.artist_id, ar.name, t.genre, t.track_number, \
         t.duration_ms, t.popularity, t.audio \
         FROM tracks t JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = t.artist_id WHERE {clause}"
    );
    let r = db.execute(&sql, params).map_err(sql_error)?;
    Ok((0..r.rows.len())
        .map(|i| Track {
            id: col_text(&r, i, 0),
            name: col_text(&r, i, 1),
            album_id: col_text(&r, i, 2),
            album_name: col_text(&r, i, 3),
            artist_id: col_text(&r, i, 4),
            artist_name: col_text(&r, i, 5),
            genre: r.rows[i].get::<&str>(6).map(str::to_string),
            track_number: col_u32(&r, i, 7).unwrap_or(1),
            duration_ms: col_u32(&r, i, 8).unwrap_or(0),
            popularity: col_u32(&r, i, 9).unwrap_or(0),
            audio: r.rows[i].get::<&str>(10).map(str::to_string),
        })
        .collect())
}

/// Tracks for `ids`, in the order asked, `None` for unknown ids. One query with bound placeholders.
/// Rows for `ids` in one query, answered in the order asked (`None` for unknown ids).
fn by_ids<T: Clone>(
    db: &Connection,
    ids: &[&str],
    id_column: &str,
    fetch: fn(&Connection, &str, &[Sql]) -> ApiResult<Vec<T>>,
    id_of: fn(&T) -> &str,
) -> ApiResult<Vec<Option<T>>> {
    let placeholders = vec!["?"; ids.len()].join(", ");
    let params: Vec<Sql> = ids.iter().map(|id| text(id)).collect();
    let found = fetch(db, &format!("{id_column} IN ({placeholders})"), &params)?;
    Ok(ids.iter().map(|id| found.iter().find(|row| id_of(row) == *id).cloned()).collect())
}

fn tracks_by_ids(db: &Connection, ids: &[&str]) -> ApiResult<Vec<Option<Track>>> {
    by_ids(db, ids, "t.id", tracks_where, |t| &t.id)
}

fn albums_by_ids(db: &Connection, ids: &[&str]) -> ApiResult<Vec<Option<Album>>> {
    by_ids(db, ids, "a.id", albums_where, |a| &a.id)
}

fn artists_by_ids(db: &Connection, ids: &[&str]) -> ApiResult<Vec<Option<Artist>>> {
    by_ids(db, ids, "id", artists_where, |a| &a.id)
}

struct Genre {
    id: String,
    name: String,
}

fn genres(db: &Connection) -> ApiResult<Vec<Genre>> {
    let r = db.execute("SELECT id, name FROM genres ORDER BY name", &[]).map_err(sql_error)?;
    Ok((0..r.rows.len()).map(|i| Genre { id: col_text(&r, i, 0), name: col_text(&r, i, 1) }).collect())
}

fn one<T>(mut rows: Vec<T>, kind: &str, id: &str) -> ApiResult<T> {
    if rows.is_empty() {
        Err(ApiError::not_found(format!("no {kind} with id {id:?}")))
    } else {
        Ok(rows.swap_remove(0))
    }
}

// ----------------------------------------------------------------------------------------------
// JSON shapes (Spotify Web API style)

fn artist_json(a: &Artist) -> Value {
    let mut v = object_ref("artist", &a.id, &a.name);
    v["genres"] = json!(a.genres);
    v["popularity"] = json!(a.popularity);
    v
}

fn album_json(a: &Album) -> Value {
    let mut v = object_ref("album", &a.id, &a.name);
    v["album_type"] = json!("album");
    v["release_date"] = json!(a.release_year.map(|y| y.to_string()));
    v["release_date_precision"] = json!("year");
    v["total_tracks"] = json!(a.total_tracks);
    v["artists"] = json!([object_ref("artist", &a.artist_id, &a.artist_name)]);
    v
}

fn track_json(t: &Track) -> Value {
    let mut v = object_ref("track", &t.id, &t.name);
    v["duration_ms"] = json!(t.duration_ms);
    v["track_number"] = json!(t.track_number);
    v["popularity"] = json!(t.popularity);
    v["genre"] = json!(t.genre);
    v["album"] = object_ref("album", &t.album_id, &t.album_name);
    v["artists"] = json!([object_ref("artist", &t.artist_id, &t.artist_name)]);
    v["stream_url"] = json!(format!("/v1/tracks/{}/stream", t.id));
    v
}

// ----------------------------------------------------------------------------------------------
// Streaming

fn stream(db: &Connection, req: &Request, id: &str) -> ApiResult {
    let token = riff_guest::bearer_token(req)?;
    let claims = bindings::riff::music::auth::verify_token(&token).map_err(|e| match e {
        wit_types::Error::Internal(m) => ApiError::internal(m),
        other => ApiError::invalid_token(service_message(&other)),
    })?;
    let plan = bindings::riff::music::payment::entitlement(&claims.user_id).map_err(|e| match e {
        wit_types::Error::Internal(m) => ApiError::internal(m),
        other => ApiError::internal(service_message(&other)),
    })?;
    let track = one(tracks_where(db, "t.id = ?", &[text(id)])?, "track", id)?;
    let audio = track.audio.ok_or_else(|| ApiError::not_found(format!("track {id:?} has no audio")))?;
    if audio.contains("..") {
        return Err(ApiError::internal("bad audio path in catalog"));
    }
    let mut bytes = std::fs::read(format!("{DEMO_DIR}/{audio}"))
        .map_err(|e| ApiError::internal(format!("audio for {id:?} unavailable: {e}")))?;
    let preview = plan == bindings::riff::music::payment::Plan::Free;
    if preview {
        // Free listeners hear a preview: the stream (and every range of it) ends there.
        bytes.truncate(preview_len(&bytes, preview_seconds()));
    }
    let total = bytes.len() as u64;
    let range = req.header("range").and_then(|h| h.as_str());
    let head = req.method() == &Method::Head;
    let builder = |status: u16| {
        let mut b = Response::builder();
        b.status(status).header("content-type", "audio/wav").header("accept-ranges", "bytes");
        if preview {
            b.header("x-riff-preview-seconds", preview_seconds().to_string());
        }
        b
    };
    Ok(match range::resolve(range, total) {
        range::RangeReply::Full => {
            let body = if head { Vec::new() } else { bytes };
            builder(200).header("content-length", total.to_string()).body(body).build()
        }
        range::RangeReply::Partial { start, end } => {
            let slice = bytes[start as usize..=end as usize].to_vec();
            let len = slice.len();
            builder(206)
                .header("content-range", format!("bytes {start}-{end}/{total}"))
                .header("content-length", len.to_string())
                .body(if head { Vec::new() } else { slice })
                .build()
        }
        range::RangeReply::Unsatisfiable => {
            let e = ApiError::new(416, format!("range not satisfiable: the track has {total} bytes"));
            let mut r = builder(416);
            r.header("content-range", format!("bytes */{total}"));
            r.header("content-type", "application/json");
            r.body(serde_json::to_vec(&e.body()).unwrap_or_default()).build()
        }
    })
}

/// Seconds a free listener may hear (`preview_seconds` variable, 30 by default).
fn preview_seconds() -> u64 {
    spin_sdk::variables::get("preview_seconds").ok().and_then(|v| v.parse().ok()).unwrap_or(30)
}

/// Bytes of a WAV file holding its first `seconds`: the 44-byte header plus `seconds` times
/// the header's byte rate (the whole file when it is shorter, or not a WAV we understand).
pub fn preview_len(wav: &[u8], seconds: u64) -> usize {
    let Some(rate) = wav.get(28..32).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64) else {
        return wav.len();
    };
    if &wav[..4.min(wav.len())] != b"RIFF" || rate == 0 {
        return wav.len();
    }
    (44 + seconds.saturating_mul(rate)).min(wav.len() as u64) as usize
}

fn service_message(e: &wit_types::Error) -> String {
    match e {
        wit_types::Error::NotFound(m)
        | wit_types::Error::Invalid(m)
        | wit_types::Error::Unauthorized(m)
        | wit_types::Error::Forbidden(m)
        | wit_types::Error::Conflict(m)
        | wit_types::Error::Internal(m) => m.clone(),
    }
}

// ----------------------------------------------------------------------------------------------
// riff:music/catalog

fn internal(e: ApiError) -> wit_types::Error {
    wit_types::Error::Internal(e.message)
}

fn to_wit_artist(a: Artist) -> wit_types::Artist {
    wit_types::Artist { id: a.id, name: a.name, genres: a.genres, popularity: a.popularity }
}

fn to_wit_album(a: Album) -> wit_types::Album {
    wit_types::Album {
        id: a.id,
        name: a.name,
        artist_id: a.artist_id,
        artist_name: a.artist_name,
        release_year: a.release_year,
        total_tracks: a.total_tracks,
    }
}

fn to_wit_track(t: Track) -> wit_types::Track {
    wit_types::Track {
        id: t.id,
        name: t.name,
        album_id: t.album_id,
        album_name: t.album_name,
        artist_id: t.artist_id,
        artist_name: t.artist_name,
        genre: t.genre,
        duration_ms: t.duration_ms,
        track_number: t.track_number,
        popularity: t.popularity,
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct CatalogService;

impl wit::Guest for CatalogService {
    fn get_artists(ids: Vec<String>) -> Result<Vec<Option<wit_types::Artist>>, wit_types::Error> {
        let db = open().map_err(internal)?;
        ids.iter()
            .map(|id| {
                Ok(artists_where(&db, "id = ?", &[text(id)])
                    .map_err(internal)?
                    .into_iter()
                    .next()
                    .map(to_wit_artist))
            })
            .collect()
    }

    fn get_albums(ids: Vec<String>) -> Result<Vec<Option<wit_types::Album>>, wit_types::Error> {
        let db = open().map_err(internal)?;
        ids.iter()
            .map(|id| {
                Ok(albums_where(&db, "a.id = ?", &[text(id)])
                    .map_err(internal)?
                    .into_iter()
                    .next()
                    .map(to_wit_album))
            })
            .collect()
    }

    fn get_tracks(ids: Vec<String>) -> Result<Vec<Option<wit_types::Track>>, wit_types::Error> {
        let db = open().map_err(internal)?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(tracks_by_ids(&db, &refs).map_err(internal)?.into_iter().map(|t| t.map(to_wit_track)).collect())
    }

    fn top_tracks(
        artist_ids: Vec<String>,
        genres: Vec<String>,
        limit: u32,
    ) -> Result<Vec<wit_types::Track>, wit_types::Error> {
        if artist_ids.len() + genres.len() > 100 {
            return Err(wit_types::Error::Invalid("at most 100 artists and genres".into()));
        }
        if artist_ids.is_empty() && genres.is_empty() {
            return Ok(Vec::new());
        }
        let db = open().map_err(internal)?;
        let artists = vec!["?"; artist_ids.len()].join(", ");
        let genre_marks = vec!["lower(?)"; genres.len()].join(", ");
        let clause = format!(
            "t.artist_id IN ({artists}) OR lower(t.genre) IN ({genre_marks}) ORDER BY t.popularity DESC, t.id LIMIT ?"
        );
        let mut params: Vec<Sql> = artist_ids.iter().chain(&genres).map(|v| text(v)).collect();
        params.push(int(limit.min(500)));
        Ok(tracks_where(&db, &clause, &params).map_err(internal)?.into_iter().map(to_wit_track).collect())
    }

    fn list_genres() -> Result<Vec<wit_types::Genre>, wit_types::Error> {
        let db = open().map_err(internal)?;
        Ok(genres(&db)
            .map_err(internal)?
            .into_iter()
            .map(|g| wit_types::Genre { id: g.id, name: g.name })
            .collect())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(CatalogService with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::preview_len;

    fn wav(byte_rate: u32, data: usize) -> Vec<u8> {
        let mut w = b"RIFF".to_vec();
        w.resize(28, 0);
        w.extend_from_slice(&byte_rate.to_le_bytes());
        w.resize(44 + data, 0);
        w
    }

    #[test]
    fn previews_cut_wavs_at_whole_seconds() {
        assert_eq!(preview_len(&wav(8_000, 32_000), 1), 8_044);
        assert_eq!(preview_len(&wav(8_000, 32_000), 30), 32_044, "shorter than the preview: whole");
        let text = b"not a wav at all, but long enough to have a header....";
        assert_eq!(preview_len(text, 1), text.len());
        assert_eq!(preview_len(b"tiny", 1), 4);
    }
}
