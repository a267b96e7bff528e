//! The recommend service's data, in the `recommend` SQL database: plays learned from the
//! `plays` topic, and the trained model.
//!
//! The model is trained in the queue handler — off every request's path — once
//! [`RETRAIN_EVERY`] plays have arrived since the last training, and stored as a versioned
//! blob. Requests use whatever version is stored; an instance keeps the model it loaded in
//! memory and reloads only when the stored version changes. A restart loses neither plays nor
//! the model.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use riff_guest::events::Played;
use riff_guest::store::{decode, first_delivery, scalar, sql_error};
use riff_guest::{ApiError, ApiResult};
use riff_recommend::{Algorithm, Interactions, Model};
use serde::Serialize;
use spin_sdk::sqlite3::{Connection, Value as Sql};

const DATABASE: &str = "recommend";

/// New plays after which the model is trained again.
pub const RETRAIN_EVERY: i64 = 10;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS plays (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, artist_id TEXT NOT NULL, track_id TEXT NOT NULL, played_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS plays_user ON plays (user_id)",
    riff_guest::store::SEEN_TABLE,
    "CREATE TABLE IF NOT EXISTS model (k INTEGER PRIMARY KEY CHECK (k = 1), version INTEGER NOT NULL, trained_at INTEGER NOT NULL, plays INTEGER NOT NULL, algorithm TEXT NOT NULL, blob BLOB NOT NULL)",
];

/// The database, its tables created on an instance's first use.
pub fn open() -> ApiResult<Connection> {
    static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    riff_guest::store::open(DATABASE, SCHEMA, &READY)
}

/// Store one play, once however often its message is delivered.
pub fn record_play(db: &Connection, message_id: &str, play: &Played) -> ApiResult<()> {
    if !first_delivery(db, message_id)? {
        return Ok(());
    }
    db.execute(
        "INSERT INTO plays (user_id, artist_id, track_id, played_at) VALUES (?, ?, ?, ?)",
        &[
            Sql::Text(play.user_id.clone()),
            Sql::Text(play.artist_id.clone()),
            Sql::Text(play.track_id.clone()),
            Sql::Integer(play.played_at as i64),
        ],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// The algorithm for a data set of this size: the evaluation's winner while its training
/// stays well within a handler's time limit in Wasm, else the cheaper item kNN.
pub fn algorithm_for(data: &Interactions) -> Algorithm {
    if data.item_count() <= 1_000 {
        Algorithm::default()
    } else {
        Algorithm::ItemKnn { neighbours: 100, shrink: 10.0 }
    }
}

/// Train again when enough new plays arrived (or no model exists yet).
pub fn maybe_retrain(db: &Connection) -> ApiResult<()> {
    let total = scalar(db, "SELECT COUNT(*) FROM plays", &[])?;
    let trained_on = db.execute("SELECT plays FROM model WHERE k = 1", &[]).map_err(sql_error)?;
    let trained_on = trained_on.rows.first().and_then(|r| r.get::<i64>(0));
    if trained_on.is_some_and(|n| total - n < RETRAIN_EVERY) || total == 0 {
        return Ok(());
    }
    let rows = db
        .execute("SELECT user_id, artist_id FROM plays GROUP BY user_id, artist_id", &[])
        .map_err(sql_error)?;
    // Plays binarized (listened or not), as the offline evaluation measured the model.
    let data: Interactions =
        rows.rows.iter().filter_map(|r| Some((r.get::<&str>(0)?, r.get::<&str>(1)?, 1.0f32))).collect();
    let algorithm = algorithm_for(&data);
    let model = Model::train(&data, algorithm);
    db.execute(
        "INSERT INTO model (k, version, trained_at, plays, algorithm, blob) VALUES (1, 1, ?, ?, ?, ?)
         ON CONFLICT (k) DO UPDATE SET version = model.version + 1, trained_at = excluded.trained_at,
         plays = excluded.plays, algorithm = excluded.algorithm, blob = excluded.blob",
        &[
            Sql::Integer(riff_guest::time::now_ms() as i64),
            Sql::Integer(total),
            Sql::Text(format!("{algorithm:?}")),
            Sql::Blob(model.to_bytes()),
        ],
    )
    .map_err(sql_error)?;
    Ok(())
}

thread_local! {
    static LOADED: RefCell<Option<(i64, Model)>> = const { RefCell::new(None) };
}

/// Run `f` with the stored model (`None` before the first training), loading it when this
/// instance does not hold the stored version.
pub fn with_model<R>(db: &Connection, f: impl FnOnce(Option<&Model>) -> R) -> ApiResult<R> {
    let version = scalar(db, "SELECT COALESCE(MAX(version), 0) FROM model", &[])?;
    LOADED.with(|cell| {
        let mut slot = cell.borrow_mut();
        if version == 0 {
            return Ok(f(None));
        }
        if slot.as_ref().map(|(v, _)| *v) != Some(version) {
            let result = db.execute("SELECT version, blob FROM model WHERE k = 1", &[]).map_err(sql_error)?;
            let row = result.rows.first().ok_or_else(|| ApiError::internal("the model vanished"))?;
            let blob = row.get::<&[u8]>(1).unwrap_or_default();
            match Model::from_bytes(blob) {
                Ok(model) => *slot = Some((row.get::<i64>(0).unwrap_or(version), model)),
                // A model this build cannot read (an older format): serve without one until
                // the next training replaces it.
                Err(e) => {
                    eprintln!("stored model unreadable: {e}");
                    return Ok(f(None));
                }
            }
        }
        Ok(f(slot.as_ref().map(|(_, m)| m)))
    })
}

/// The artists a listener played, with how many plays each.
pub fn listened(db: &Connection, user: &str) -> ApiResult<HashMap<String, f32>> {
    let rows = db
        .execute(
            "SELECT artist_id, COUNT(*) FROM plays WHERE user_id = ? GROUP BY artist_id",
            &[Sql::Text(user.into())],
        )
        .map_err(sql_error)?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| Some((r.get::<&str>(0)?.to_string(), r.get::<i64>(1).unwrap_or(1) as f32)))
        .collect())
}

/// Every track a listener played.
pub fn played_tracks(db: &Connection, user: &str) -> ApiResult<HashSet<String>> {
    let rows = db
        .execute("SELECT DISTINCT track_id FROM plays WHERE user_id = ?", &[Sql::Text(user.into())])
        .map_err(sql_error)?;
    Ok(rows.rows.iter().filter_map(|r| r.get::<&str>(0).map(str::to_string)).collect())
}

/// What the model was trained on and when: `GET /v1/recommendations/status`.
#[derive(Serialize)]
pub struct Status {
    pub artists: i64,
    pub listeners: i64,
    /// `null` until a model is trained.
    pub model: Option<Trained>,
    pub plays: i64,
}

#[derive(Serialize)]
pub struct Trained {
    pub algorithm: String,
    pub trained_at: String,
    pub trained_on_plays: i64,
    pub version: i64,
}

pub fn status(db: &Connection) -> ApiResult<Status> {
    let plays = scalar(db, "SELECT COUNT(*) FROM plays", &[])?;
    let listeners = scalar(db, "SELECT COUNT(DISTINCT user_id) FROM plays", &[])?;
    let artists = scalar(db, "SELECT COUNT(DISTINCT artist_id) FROM plays", &[])?;
    let model = db
        .execute("SELECT version, trained_at, plays, algorithm FROM model WHERE k = 1", &[])
        .map_err(sql_error)?;
    let model = decode(&model, |row| {
        Ok(Trained {
            algorithm: row.get("algorithm")?,
            trained_at: riff_guest::time::rfc3339(row.get::<u64>("trained_at")?),
            trained_on_plays: row.get("plays")?,
            version: row.get("version")?,
        })
    })?;
    Ok(Status { artists, listeners, model: model.into_iter().next(), plays })
}
