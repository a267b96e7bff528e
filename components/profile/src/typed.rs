//! `riff:music/profile`, the typed interface the recommend service reads a listener's history
//! through: plays, saved tracks, followed artists (ids only).

use riff_guest::ApiError;

use crate::bindings::exports::riff::music::profile as wit;
use crate::bindings::riff::music::types;
use crate::storage::{self, PlayCursor};

fn internal(e: ApiError) -> types::Error {
    types::Error::Internal(e.message)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct ProfileService;

impl wit::Guest for ProfileService {
    fn recently_played(user_id: String, limit: u32) -> Result<Vec<wit::Play>, types::Error> {
        let db = storage::open().map_err(internal)?;
        let rows =
            storage::plays(&db, &user_id, limit.clamp(1, 1000), PlayCursor::Newest).map_err(internal)?;
        Ok(rows.into_iter().map(|r| wit::Play { track_id: r.id, played_at: r.at.max(0) as u64 }).collect())
    }

    fn saved_tracks(user_id: String) -> Result<Vec<String>, types::Error> {
        let db = storage::open().map_err(internal)?;
        storage::all_saved(&db, &user_id).map_err(internal)
    }

    fn followed_artists(user_id: String) -> Result<Vec<String>, types::Error> {
        let db = storage::open().map_err(internal)?;
        storage::all_followed(&db, &user_id).map_err(internal)
    }
}
