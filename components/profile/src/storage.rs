//! The profile's SQL: playlists (a playlist's items are one JSON column, changed only by a
//! conditional `UPDATE` on its snapshot number), saved tracks, followed artists and plays.
//! Rows are read by column name into the structs below.

use riff_guest::store::{self, decode, sql_error, Row};
use riff_guest::time::now_ms;
use riff_guest::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use spin_sdk::sqlite3::{Connection, Value as Sql};

const DATABASE: &str = "profile";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS playlists (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', public INTEGER NOT NULL DEFAULT 1, items TEXT NOT NULL DEFAULT '[]', snapshot INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS playlists_owner ON playlists(owner, created_at)",
    "CREATE TABLE IF NOT EXISTS saved_tracks (user_id TEXT NOT NULL, track_id TEXT NOT NULL, added_at INTEGER NOT NULL, PRIMARY KEY (user_id, track_id))",
    "CREATE TABLE IF NOT EXISTS follows (user_id TEXT NOT NULL, artist_id TEXT NOT NULL, followed_at INTEGER NOT NULL, PRIMARY KEY (user_id, artist_id))",
    "CREATE TABLE IF NOT EXISTS plays (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, track_id TEXT NOT NULL, played_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS plays_user ON plays(user_id, played_at)",
];

/// The database, its tables created on an instance's first use.
pub fn open() -> ApiResult<Connection> {
    static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    store::open(DATABASE, SCHEMA, &READY)
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn int(n: impl Into<i64>) -> Sql {
    Sql::Integer(n.into())
}

/// One entry of a playlist (its `items` column is a JSON array of these).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Item {
    pub track_id: String,
    pub added_at: u64,
}

pub struct Playlist {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub description: String,
    pub public: bool,
    pub items: Vec<Item>,
    pub snapshot: i64,
}

const PLAYLIST_COLUMNS: &str = "id, owner, name, description, public, items, snapshot";

fn playlist(row: &Row) -> ApiResult<Playlist> {
    Ok(Playlist {
        id: row.get("id")?,
        owner: row.get("owner")?,
        name: row.get("name")?,
        description: row.get("description")?,
        public: row.get("public")?,
        items: row.json("items")?,
        snapshot: row.get("snapshot")?,
    })
}

pub fn load_playlist(db: &Connection, id: &str) -> ApiResult<Option<Playlist>> {
    let r = db
        .execute(&format!("SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE id = ?"), &[text(id)])
        .map_err(sql_error)?;
    Ok(decode(&r, playlist)?.into_iter().next())
}

/// A page of `owner`'s playlists, oldest first, and how many they have in all.
pub fn playlists_of(
    db: &Connection,
    owner: &str,
    limit: u32,
    offset: u32,
) -> ApiResult<(Vec<Playlist>, u64)> {
    let total = store::count(db, "SELECT COUNT(*) FROM playlists WHERE owner = ?", &[text(owner)])?;
    let r = db
        .execute(
            &format!(
                "SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE owner = ? ORDER BY created_at, id LIMIT ? OFFSET ?"
            ),
            &[text(owner), int(limit), int(offset)],
        )
        .map_err(sql_error)?;
    Ok((decode(&r, playlist)?, total))
}

pub fn insert_playlist(
    db: &Connection,
    id: &str,
    owner: &str,
    name: &str,
    description: &str,
    public: bool,
) -> ApiResult<()> {
    db.execute(
        "INSERT INTO playlists (id, owner, name, description, public, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        &[text(id), text(owner), text(name), text(description), int(public), int(now_ms() as i64)],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// Set a playlist's details (a new snapshot).
pub fn update_playlist(
    db: &Connection,
    id: &str,
    name: &str,
    description: &str,
    public: bool,
) -> ApiResult<()> {
    db.execute(
        "UPDATE playlists SET name = ?, description = ?, public = ?, snapshot = snapshot + 1 WHERE id = ?",
        &[text(name), text(description), int(public), text(id)],
    )
    .map_err(sql_error)?;
    Ok(())
}

pub fn delete_playlist(db: &Connection, id: &str, owner: &str) -> ApiResult<()> {
    db.execute("DELETE FROM playlists WHERE id = ? AND owner = ?", &[text(id), text(owner)])
        .map_err(sql_error)?;
    Ok(())
}

/// Write new items if nobody changed the playlist since it was read; the new snapshot.
pub fn store_items(db: &Connection, p: &Playlist, items: &[Item]) -> ApiResult<i64> {
    let json = serde_json::to_string(items).map_err(|e| ApiError::internal(e.to_string()))?;
    db.execute(
        "UPDATE playlists SET items = ?, snapshot = snapshot + 1 WHERE id = ? AND snapshot = ?",
        &[Sql::Text(json), text(&p.id), int(p.snapshot)],
    )
    .map_err(sql_error)?;
    if db.changes() == 0 {
        return Err(ApiError::conflict("the playlist changed meanwhile; read it again and retry"));
    }
    Ok(p.snapshot + 1)
}

/// A user's links to tracks or artists: `(user_id, <id>, <time>)` rows.
#[derive(Clone, Copy)]
pub enum Links {
    SavedTracks,
    Follows,
}

impl Links {
    /// Table, linked id column, time column.
    fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Links::SavedTracks => ("saved_tracks", "track_id", "added_at"),
            Links::Follows => ("follows", "artist_id", "followed_at"),
        }
    }
}

/// Link `ids` to the user; existing links stay (with their time).
pub fn link(db: &Connection, links: Links, user_id: &str, ids: &[String]) -> ApiResult<()> {
    let (table, column, at) = links.table();
    let now = now_ms() as i64;
    let placeholders = vec!["(?, ?, ?)"; ids.len()].join(", ");
    let params: Vec<Sql> = ids.iter().flat_map(|id| [text(user_id), text(id), int(now)]).collect();
    db.execute(
        &format!("INSERT OR IGNORE INTO {table} (user_id, {column}, {at}) VALUES {placeholders}"),
        &params,
    )
    .map_err(sql_error)?;
    Ok(())
}

/// Remove the user's links to `ids`.
pub fn unlink(db: &Connection, links: Links, user_id: &str, ids: &[String]) -> ApiResult<()> {
    let (table, column, _) = links.table();
    let placeholders = vec!["?"; ids.len()].join(", ");
    let mut params = vec![text(user_id)];
    params.extend(ids.iter().map(|i| text(i)));
    db.execute(&format!("DELETE FROM {table} WHERE user_id = ? AND {column} IN ({placeholders})"), &params)
        .map_err(sql_error)?;
    Ok(())
}

/// A linked id and when it was linked (Unix ms).
pub struct Linked {
    pub id: String,
    pub at: i64,
}

/// A page of the user's saved tracks, newest first, and how many they saved in all.
pub fn saved_tracks(
    db: &Connection,
    user_id: &str,
    limit: u32,
    offset: u32,
) -> ApiResult<(Vec<Linked>, u64)> {
    let total = store::count(db, "SELECT COUNT(*) FROM saved_tracks WHERE user_id = ?", &[text(user_id)])?;
    let r = db
        .execute(
            "SELECT track_id, added_at FROM saved_tracks WHERE user_id = ? ORDER BY added_at DESC, track_id LIMIT ? OFFSET ?",
            &[text(user_id), int(limit), int(offset)],
        )
        .map_err(sql_error)?;
    let rows = decode(&r, |row| Ok(Linked { id: row.get("track_id")?, at: row.get("added_at")? }))?;
    Ok((rows, total))
}

/// The artists the user follows, newest first (then by id).
pub fn followed(db: &Connection, user_id: &str) -> ApiResult<Vec<String>> {
    ids(
        db,
        "SELECT artist_id AS id FROM follows WHERE user_id = ? ORDER BY followed_at DESC, artist_id",
        user_id,
    )
}

/// For the typed interface: every saved track, newest first.
pub fn all_saved(db: &Connection, user_id: &str) -> ApiResult<Vec<String>> {
    ids(db, "SELECT track_id AS id FROM saved_tracks WHERE user_id = ? ORDER BY added_at DESC", user_id)
}

/// For the typed interface: every followed artist, newest first.
pub fn all_followed(db: &Connection, user_id: &str) -> ApiResult<Vec<String>> {
    ids(db, "SELECT artist_id AS id FROM follows WHERE user_id = ? ORDER BY followed_at DESC", user_id)
}

/// The `id` column of a query whose one parameter is the user id.
fn ids(db: &Connection, sql: &str, user_id: &str) -> ApiResult<Vec<String>> {
    let r = db.execute(sql, &[text(user_id)]).map_err(sql_error)?;
    decode(&r, |row| row.get("id"))
}

pub fn insert_play(db: &Connection, user_id: &str, track_id: &str, played_at: u64) -> ApiResult<()> {
    db.execute(
        "INSERT INTO plays (user_id, track_id, played_at) VALUES (?, ?, ?)",
        &[text(user_id), text(track_id), int(played_at as i64)],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// Which plays to read: the newest, or the `limit` just before or just after a time.
pub enum PlayCursor {
    Newest,
    Before(i64),
    After(i64),
}

/// Up to `limit` of the user's plays around `cursor`, newest first (track id, Unix ms).
pub fn plays(db: &Connection, user_id: &str, limit: u32, cursor: PlayCursor) -> ApiResult<Vec<Linked>> {
    let (sql, params) = match cursor {
        PlayCursor::Before(b) => (
            "SELECT track_id, played_at FROM plays WHERE user_id = ? AND played_at < ? ORDER BY played_at DESC, id DESC LIMIT ?",
            vec![text(user_id), int(b), int(limit)],
        ),
        PlayCursor::After(a) => (
            // The `limit` plays right after the cursor, shown newest first.
            "SELECT track_id, played_at FROM (SELECT track_id, played_at, id FROM plays WHERE user_id = ? AND played_at > ? ORDER BY played_at ASC, id ASC LIMIT ?) ORDER BY played_at DESC, id DESC",
            vec![text(user_id), int(a), int(limit)],
        ),
        PlayCursor::Newest => (
            "SELECT track_id, played_at FROM plays WHERE user_id = ? ORDER BY played_at DESC, id DESC LIMIT ?",
            vec![text(user_id), int(limit)],
        ),
    };
    let r = db.execute(sql, &params).map_err(sql_error)?;
    decode(&r, |row| Ok(Linked { id: row.get("track_id")?, at: row.get("played_at")? }))
}
