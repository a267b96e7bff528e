//! The index's durable side, in the `search` SQL database, and the in-memory index each
//! instance keeps in step with it.
//!
//! * `docs`: every searchable item (the JSON of a [`CatalogDoc`]) with the `generation` of the
//!   catalog write that produced it;
//! * `changes`: an append-only log of which items changed, so a warm instance applies only
//!   what changed since it last looked (one `MAX(seq)` query per request when nothing did);
//! * `snapshot`: the whole index serialized at some `seq`, so a cold instance loads it instead
//!   of rebuilding, after which the log up to that `seq` is dropped;
//! * `plays` and `seen`: play counts (popularity) and the ids of play events already counted,
//!   because delivery is at least once.
//!
//! Event handlers only write SQL; the instance that handled an event, like every other, then
//! catches up from the log. Handlers are idempotent and tolerate reordering (a retried message
//! can arrive after later ones): a doc is replaced only by a write of the same or a later
//! generation, "cleared" removes only docs of earlier generations, and writes older than the
//! latest "cleared" are ignored.

use std::cell::RefCell;

use riff_guest::events::{CatalogChanged, CatalogDoc, Played};
use riff_guest::store::{first_delivery, scalar, sql_error};
use riff_guest::{ApiError, ApiResult};
use riff_search::{Doc, Index, Kind};
use spin_sdk::sqlite3::{Connection, Value as Sql};

const DATABASE: &str = "search";

/// Log entries after which the handler writes a new snapshot and drops the log up to it.
const SNAPSHOT_EVERY: i64 = 5_000;

/// Rows per multi-row statement.
const CHUNK: usize = 200;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, generation INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, id))",
    "CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshot (k INTEGER PRIMARY KEY CHECK (k = 1), seq INTEGER NOT NULL, blob BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS plays (track_id TEXT PRIMARY KEY, count INTEGER NOT NULL)",
    riff_guest::store::SEEN_TABLE,
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
];

/// The database, its tables created on an instance's first use.
pub fn open() -> ApiResult<Connection> {
    static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    riff_guest::store::open(DATABASE, SCHEMA, &READY)
}

/// Has the index never received a document?
pub fn is_empty(db: &Connection) -> bool {
    scalar(db, "SELECT NOT EXISTS (SELECT 1 FROM docs) AND NOT EXISTS (SELECT 1 FROM changes)", &[])
        .unwrap_or(0)
        == 1
}

/// The in-memory index of this instance and the log position it reflects.
struct Loaded {
    index: Index,
    seq: i64,
}

thread_local! {
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

/// Run `f` on this instance's index, brought up to date with the database first.
pub fn with_index<R>(db: &Connection, f: impl FnOnce(&Index) -> R) -> ApiResult<R> {
    LOADED.with(|cell| {
        let mut slot = cell.borrow_mut();
        catch_up(db, &mut slot)?;
        Ok(f(&slot.as_ref().expect("loaded by catch_up").index))
    })
}

fn catch_up(db: &Connection, slot: &mut Option<Loaded>) -> ApiResult<()> {
    let result = db
        .execute("SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT COALESCE(MAX(seq), 0) FROM snapshot)", &[])
        .map_err(sql_error)?;
    let row = result.rows.first();
    let latest = row.and_then(|r| r.get::<i64>(0)).unwrap_or(0);
    let snapshot_seq = row.and_then(|r| r.get::<i64>(1)).unwrap_or(0);
    // A fresh instance, or one so far behind that the log it needs was dropped: start over.
    if slot.as_ref().is_none_or(|l| l.seq < snapshot_seq) {
        *slot = Some(load_base(db, latest)?);
    }
    let loaded = slot.as_mut().expect("set above");
    if latest > loaded.seq {
        let result = db
            .execute(
                "SELECT c.seq, c.kind, c.id, d.doc, COALESCE(p.count, 0) FROM changes c
                 LEFT JOIN docs d ON d.kind = c.kind AND d.id = c.id
                 LEFT JOIN plays p ON c.kind = 'track' AND p.track_id = c.id
                 WHERE c.seq > ? ORDER BY c.seq",
                &[Sql::Integer(loaded.seq)],
            )
            .map_err(sql_error)?;
        for row in &result.rows {
            let kind = row.get::<&str>(1).and_then(parse_kind);
            match (row.get::<&str>(3), kind) {
                (Some(json), _) => {
                    if let Some(doc) = decode(json, row.get::<i64>(4).unwrap_or(0)) {
                        loaded.index.upsert(doc);
                    }
                }
                (None, Some(kind)) => {
                    loaded.index.remove(kind, row.get::<&str>(2).unwrap_or_default());
                }
                (None, None) => {}
            }
            loaded.seq = loaded.seq.max(row.get::<i64>(0).unwrap_or(0));
        }
    }
    Ok(())
}

/// The index from the snapshot when there is one, else rebuilt from every doc.
fn load_base(db: &Connection, latest: i64) -> ApiResult<Loaded> {
    let result = db.execute("SELECT seq, blob FROM snapshot WHERE k = 1", &[]).map_err(sql_error)?;
    if let Some(row) = result.rows.first() {
        let seq = row.get::<i64>(0).unwrap_or(0);
        match row.get::<&[u8]>(1).map(Index::from_bytes) {
            Some(Ok(index)) => return Ok(Loaded { index, seq }),
            // An unreadable snapshot (say, an older format) is rebuilt from the docs.
            other => eprintln!("ignoring the search snapshot: {:?}", other.map(|r| r.err())),
        }
    }
    let result = db
        .execute(
            "SELECT d.doc, COALESCE(p.count, 0) FROM docs d LEFT JOIN plays p ON d.kind = 'track' AND p.track_id = d.id",
            &[],
        )
        .map_err(sql_error)?;
    let index: Index = result
        .rows
        .iter()
        .filter_map(|row| decode(row.get::<&str>(0)?, row.get::<i64>(1).unwrap_or(0)))
        .collect();
    Ok(Loaded { index, seq: latest })
}

pub fn parse_kind(kind: &str) -> Option<Kind> {
    match kind {
        "track" => Some(Kind::Track),
        "album" => Some(Kind::Album),
        "artist" => Some(Kind::Artist),
        _ => None,
    }
}

/// A stored doc as the index takes it, its popularity raised by the plays counted here.
pub fn decode(json: &str, plays: i64) -> Option<Doc> {
    let doc: CatalogDoc = serde_json::from_str(json).ok()?;
    Some(Doc {
        kind: parse_kind(&doc.kind)?,
        id: doc.id,
        name: doc.name,
        artist: doc.artist,
        album: doc.album,
        genres: doc.genres,
        year: doc.year,
        popularity: doc.popularity.saturating_add(plays.max(0) as u64),
    })
}

/// Apply one `catalog.changed` event.
pub fn apply_catalog_change(db: &Connection, event: &CatalogChanged) -> ApiResult<()> {
    match event {
        CatalogChanged::Upserted { generation, docs } => {
            // Written before a later "cleared" (a retried message arriving late): already gone.
            let cleared_before =
                scalar(db, "SELECT COALESCE(MAX(value), 0) FROM meta WHERE key = 'cleared_before'", &[])?;
            if (*generation as i64) < cleared_before {
                return Ok(());
            }
            let docs: Vec<&CatalogDoc> = docs.iter().filter(|d| parse_kind(&d.kind).is_some()).collect();
            for chunk in docs.chunks(CHUNK) {
                let mut params = Vec::with_capacity(chunk.len() * 4);
                for doc in chunk {
                    let json = serde_json::to_string(doc).map_err(|e| ApiError::internal(e.to_string()))?;
                    params.extend([
                        Sql::Text(doc.kind.clone()),
                        Sql::Text(doc.id.clone()),
                        Sql::Integer(*generation as i64),
                        Sql::Text(json),
                    ]);
                }
                let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
                db.execute(
                    &format!(
                        "INSERT INTO docs (kind, id, generation, doc) VALUES {rows}
                         ON CONFLICT (kind, id) DO UPDATE SET generation = excluded.generation, doc = excluded.doc
                         WHERE excluded.generation >= docs.generation"
                    ),
                    &params,
                )
                .map_err(sql_error)?;
                let keys: Vec<Sql> =
                    chunk.iter().flat_map(|d| [Sql::Text(d.kind.clone()), Sql::Text(d.id.clone())]).collect();
                let rows = vec!["(?, ?)"; chunk.len()].join(", ");
                db.execute(&format!("INSERT INTO changes (kind, id) VALUES {rows}"), &keys)
                    .map_err(sql_error)?;
            }
        }
        CatalogChanged::Cleared { generation } => {
            let generation = Sql::Integer(*generation as i64);
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('cleared_before', ?)
                 ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)",
                std::slice::from_ref(&generation),
            )
            .map_err(sql_error)?;
            db.execute(
                "INSERT INTO changes (kind, id) SELECT kind, id FROM docs WHERE generation < ?",
                std::slice::from_ref(&generation),
            )
            .map_err(sql_error)?;
            db.execute("DELETE FROM docs WHERE generation < ?", &[generation]).map_err(sql_error)?;
        }
    }
    Ok(())
}

/// Count one play (once per message, however often it is delivered).
pub fn apply_play(db: &Connection, message_id: &str, play: &Played) -> ApiResult<()> {
    if !first_delivery(db, message_id)? {
        return Ok(());
    }
    let track = Sql::Text(play.track_id.clone());
    db.execute(
        "INSERT INTO plays (track_id, count) VALUES (?, 1) ON CONFLICT (track_id) DO UPDATE SET count = count + 1",
        std::slice::from_ref(&track),
    )
    .map_err(sql_error)?;
    db.execute("INSERT INTO changes (kind, id) VALUES ('track', ?)", &[track]).map_err(sql_error)?;
    Ok(())
}

/// Snapshot the index and drop the log up to it, once the log has grown long.
pub fn maybe_snapshot(db: &Connection) -> ApiResult<()> {
    let pending = scalar(
        db,
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes) - (SELECT COALESCE(MAX(seq), 0) FROM snapshot)",
        &[],
    )?;
    if pending < SNAPSHOT_EVERY {
        return Ok(());
    }
    LOADED.with(|cell| {
        let mut slot = cell.borrow_mut();
        catch_up(db, &mut slot)?;
        let loaded = slot.as_ref().expect("loaded by catch_up");
        db.execute(
            "INSERT INTO snapshot (k, seq, blob) VALUES (1, ?, ?) ON CONFLICT (k) DO UPDATE SET seq = excluded.seq, blob = excluded.blob",
            &[Sql::Integer(loaded.seq), Sql::Blob(loaded.index.to_bytes())],
        )
        .map_err(sql_error)?;
        db.execute("DELETE FROM changes WHERE seq <= ?", &[Sql::Integer(loaded.seq)]).map_err(sql_error)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_docs_decode_with_plays_added_to_popularity() {
        let json = r#"{"kind":"track","id":"t1","name":"Song","artist":"Band","album":"LP","genres":["Rock"],"year":1990,"popularity":5}"#;
        let doc = decode(json, 3).unwrap();
        assert_eq!((doc.kind, doc.popularity, doc.year), (Kind::Track, 8, Some(1990)));
        assert!(decode(r#"{"kind":"playlist","id":"p","name":"x","artist":""}"#, 0).is_none());
        assert!(decode("not json", 0).is_none());
    }
}
