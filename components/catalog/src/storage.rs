//! The catalog's SQL: its schema, the queries that read artists, albums, tracks and genres
//! (rows read by column name into `riff_guest::catalog` records), and the bulk writes of an
//! import. Everything that knows a table or a column is here; the routes and the typed
//! interface only call these functions.

use riff_guest::catalog::{Album, Artist, Track};
use riff_guest::store::{self, decode, sql_error, Row};
use riff_guest::{ApiError, ApiResult};
use spin_sdk::sqlite3::{Connection, Value as Sql};

use crate::model::Import;

const DATABASE: &str = "catalog";
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS genres (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS artists (id TEXT PRIMARY KEY, name TEXT NOT NULL, genres TEXT NOT NULL DEFAULT '[]', popularity INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS albums (id TEXT PRIMARY KEY, name TEXT NOT NULL, artist_id TEXT NOT NULL REFERENCES artists(id), release_year INTEGER)",
    "CREATE TABLE IF NOT EXISTS tracks (id TEXT PRIMARY KEY, name TEXT NOT NULL, album_id TEXT NOT NULL REFERENCES albums(id), artist_id TEXT NOT NULL REFERENCES artists(id), genre TEXT, track_number INTEGER NOT NULL DEFAULT 1, duration_ms INTEGER NOT NULL, popularity INTEGER NOT NULL DEFAULT 0, audio TEXT)",
    "CREATE INDEX IF NOT EXISTS albums_artist ON albums(artist_id)",
    "CREATE INDEX IF NOT EXISTS tracks_album ON tracks(album_id, track_number)",
    "CREATE INDEX IF NOT EXISTS tracks_artist ON tracks(artist_id, popularity)",
];

/// Rows per multi-row `INSERT`: few statements, far below SQLite's parameter limit.
const INSERT_CHUNK: usize = 200;

pub fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

pub fn int(n: u32) -> Sql {
    Sql::Integer(i64::from(n))
}

/// Open the database; the first time, create the schema and run `fill` (the demo catalog).
pub fn open(fill: impl FnOnce(&Connection) -> ApiResult<()>) -> ApiResult<Connection> {
    store::open_versioned(DATABASE, SCHEMA_VERSION, |db| {
        for statement in SCHEMA {
            db.execute(statement, &[]).map_err(sql_error)?;
        }
        fill(db)
    })
}

/// A `COUNT(*)` of `table` (one of the catalog's own table names).
pub fn count_all(db: &Connection, table: &str) -> ApiResult<u64> {
    store::count(db, &format!("SELECT COUNT(*) FROM {table}"), &[])
}

/// Albums of an artist (`albums`) or tracks of an album (`tracks`): a `COUNT(*)` of the rows
/// of `table` whose `column` is `id`.
pub fn count_where(db: &Connection, table: &str, column: &str, id: &str) -> ApiResult<u64> {
    store::count(db, &format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?"), &[text(id)])
}

fn artist(row: &Row) -> ApiResult<Artist> {
    Ok(Artist {
        id: row.get("id")?,
        name: row.get("name")?,
        genres: row.json("genres")?,
        popularity: row.get("popularity")?,
    })
}

fn album(row: &Row) -> ApiResult<Album> {
    Ok(Album {
        id: row.get("id")?,
        name: row.get("name")?,
        artist_id: row.get("artist_id")?,
        artist_name: row.get("artist_name")?,
        release_year: row.get("release_year")?,
        total_tracks: row.get("total_tracks")?,
    })
}

fn track(row: &Row) -> ApiResult<Track> {
    Ok(Track {
        id: row.get("id")?,
        name: row.get("name")?,
        album_id: row.get("album_id")?,
        album_name: row.get("album_name")?,
        artist_id: row.get("artist_id")?,
        artist_name: row.get("artist_name")?,
        genre: row.get("genre")?,
        track_number: row.get("track_number")?,
        duration_ms: row.get("duration_ms")?,
        popularity: row.get("popularity")?,
    })
}

/// Artists matching `clause` (over the `artists` table, unaliased).
pub fn artists_where(db: &Connection, clause: &str, params: &[Sql]) -> ApiResult<Vec<Artist>> {
    let r = db
        .execute(&format!("SELECT id, name, genres, popularity FROM artists WHERE {clause}"), params)
        .map_err(sql_error)?;
    decode(&r, artist)
}

/// Albums matching `clause` (over `albums a` joined with its artist `ar`).
pub fn albums_where(db: &Connection, clause: &str, params: &[Sql]) -> ApiResult<Vec<Album>> {
    let sql = format!(
        "SELECT a.id AS id, a.name AS name, a.artist_id AS artist_id, ar.name AS artist_name, \
         a.release_year AS release_year, \
         (SELECT COUNT(*) FROM tracks t WHERE t.album_id = a.id) AS total_tracks \
         FROM albums a JOIN artists ar ON ar.id = a.artist_id WHERE {clause}"
    );
    let r = db.execute(&sql, params).map_err(sql_error)?;
    decode(&r, album)
}

const TRACK_SELECT: &str =
    "FROM tracks t JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = t.artist_id";

/// Tracks matching `clause` (over `tracks t` joined with its album `al` and artist `ar`).
pub fn tracks_where(db: &Connection, clause: &str, params: &[Sql]) -> ApiResult<Vec<Track>> {
    let sql = format!(
        "SELECT t.id AS id, t.name AS name, t.album_id AS album_id, al.name AS album_name, \
         t.artist_id AS artist_id, ar.name AS artist_name, t.genre AS genre, \
         t.track_number AS track_number, t.duration_ms AS duration_ms, t.popularity AS popularity \
         {TRACK_SELECT} WHERE {clause}"
    );
    let r = db.execute(&sql, params).map_err(sql_error)?;
    decode(&r, track)
}

/// The audio file of track `id` (a path under the audio directory): 404 for an unknown track,
/// `None` for a track without audio.
pub fn audio(db: &Connection, id: &str) -> ApiResult<Option<String>> {
    let r = db
        .execute(&format!("SELECT t.audio AS audio {TRACK_SELECT} WHERE t.id = ?"), &[text(id)])
        .map_err(sql_error)?;
    let audio = decode(&r, |row| row.get::<Option<String>>("audio"))?;
    audio.into_iter().next().ok_or_else(|| not_found("track", id))
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("no {kind} with id {id:?}"))
}

/// The one row of a lookup by id, or the 404 for `kind` `id`.
pub fn one<T>(rows: Vec<T>, kind: &str, id: &str) -> ApiResult<T> {
    rows.into_iter().next().ok_or_else(|| not_found(kind, id))
}

pub fn artist_by_id(db: &Connection, id: &str) -> ApiResult<Artist> {
    one(artists_where(db, "id = ?", &[text(id)])?, "artist", id)
}

pub fn album_by_id(db: &Connection, id: &str) -> ApiResult<Album> {
    one(albums_where(db, "a.id = ?", &[text(id)])?, "album", id)
}

pub fn track_by_id(db: &Connection, id: &str) -> ApiResult<Track> {
    one(tracks_where(db, "t.id = ?", &[text(id)])?, "track", id)
}

/// Rows for `ids` in one query with bound placeholders, answered in the order asked (`None`
/// for unknown ids).
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

pub fn tracks_by_ids(db: &Connection, ids: &[&str]) -> ApiResult<Vec<Option<Track>>> {
    by_ids(db, ids, "t.id", tracks_where, |t| &t.id)
}

pub fn albums_by_ids(db: &Connection, ids: &[&str]) -> ApiResult<Vec<Option<Album>>> {
    by_ids(db, ids, "a.id", albums_where, |a| &a.id)
}

pub fn artists_by_ids(db: &Connection, ids: &[&str]) -> ApiResult<Vec<Option<Artist>>> {
    by_ids(db, ids, "id", artists_where, |a| &a.id)
}

/// The most popular tracks of any of `artist_ids` or `genres` (genres compared without case).
pub fn top_tracks(
    db: &Connection,
    artist_ids: &[String],
    genres: &[String],
    limit: u32,
) -> ApiResult<Vec<Track>> {
    let artists = vec!["?"; artist_ids.len()].join(", ");
    let genre_marks = vec!["lower(?)"; genres.len()].join(", ");
    let clause = format!(
        "t.artist_id IN ({artists}) OR lower(t.genre) IN ({genre_marks}) ORDER BY t.popularity DESC, t.id LIMIT ?"
    );
    let mut params: Vec<Sql> = artist_ids.iter().chain(genres).map(|v| text(v)).collect();
    params.push(int(limit));
    tracks_where(db, &clause, &params)
}

pub struct Genre {
    pub id: String,
    pub name: String,
}

pub fn genres(db: &Connection) -> ApiResult<Vec<Genre>> {
    let r = db.execute("SELECT id, name FROM genres ORDER BY name", &[]).map_err(sql_error)?;
    decode(&r, |row| Ok(Genre { id: row.get("id")?, name: row.get("name")? }))
}

/// Empty every table (an import that replaces the catalog).
pub fn clear(db: &Connection) -> ApiResult<()> {
    for table in ["tracks", "albums", "artists", "genres"] {
        db.execute(&format!("DELETE FROM {table}"), &[]).map_err(sql_error)?;
    }
    Ok(())
}

/// How an import writes a row whose id exists: keep the old one (`INSERT OR IGNORE`, the demo)
/// or replace it (`INSERT OR REPLACE`, an admin import).
#[derive(Clone, Copy)]
pub enum Existing {
    Keep,
    Replace,
}

fn insert_rows(
    db: &Connection,
    existing: Existing,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Sql>>,
) -> ApiResult<()> {
    let verb = match existing {
        Existing::Keep => "INSERT OR IGNORE",
        Existing::Replace => "INSERT OR REPLACE",
    };
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

/// Write a whole catalog (the import format), then derive each artist's popularity.
pub fn load(db: &Connection, c: &Import, existing: Existing) -> ApiResult<()> {
    let genres = c.genres.iter().map(|g| vec![text(g), text(g)]).collect();
    insert_rows(db, existing, "genres", &["id", "name"], genres)?;
    let artists = c
        .artists
        .iter()
        .map(|a| {
            let genres = serde_json::to_string(&a.genres).unwrap_or_else(|_| "[]".into());
            vec![text(&a.id), text(&a.name), Sql::Text(genres), Sql::Integer(0)]
        })
        .collect();
    insert_rows(db, existing, "artists", &["id", "name", "genres", "popularity"], artists)?;
    let albums = c
        .albums
        .iter()
        .map(|a| {
            let year = a.release_year.map_or(Sql::Null, int);
            vec![text(&a.id), text(&a.name), text(&a.artist_id), year]
        })
        .collect();
    insert_rows(db, existing, "albums", &["id", "name", "artist_id", "release_year"], albums)?;
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
    insert_rows(db, existing, "tracks", &columns, tracks)?;
    // An artist is as popular as its most popular track.
    db.execute(
        "UPDATE artists SET popularity = COALESCE((SELECT MAX(popularity) FROM tracks t WHERE t.artist_id = artists.id), 0)",
        &[],
    )
    .map_err(sql_error)?;
    Ok(())
}
