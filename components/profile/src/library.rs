//! A listener's library: saved tracks and followed artists. Ids are checked against the
//! catalog before they are stored (saving an unknown track is a 404) and shown as the
//! catalog's objects.

use riff_guest::time::rfc3339;
use riff_guest::{ApiError, ApiResult};
use spin_sdk::sqlite3::Connection;

use crate::lookup;
use crate::model::{FollowedArtists, Following, SavedTrack};
use crate::storage::{self, Links};
use crate::User;

/// 1 to 50 non-empty ids, as Spotify's library endpoints take them.
pub fn check_ids(ids: &[String]) -> ApiResult<()> {
    if ids.is_empty() || ids.len() > 50 || ids.iter().any(|i| i.trim().is_empty()) {
        return Err(ApiError::bad_request("ids must list 1 to 50 non-empty ids"));
    }
    Ok(())
}

pub fn save_tracks(db: &Connection, user: &User, ids: &[String]) -> ApiResult<()> {
    check_ids(ids)?;
    lookup::tracks(ids)?;
    storage::link(db, Links::SavedTracks, &user.id, ids)
}

pub fn unsave_tracks(db: &Connection, user: &User, ids: &[String]) -> ApiResult<()> {
    check_ids(ids)?;
    storage::unlink(db, Links::SavedTracks, &user.id, ids)
}

/// A page of saved tracks, newest first, and how many there are.
pub fn saved(db: &Connection, user: &User, limit: u32, offset: u32) -> ApiResult<(Vec<SavedTrack>, u64)> {
    let (rows, total) = storage::saved_tracks(db, &user.id, limit, offset)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let tracks = lookup::track_objects(&ids)?;
    let items = rows
        .iter()
        .zip(tracks)
        .map(|(row, track)| SavedTrack { added_at: rfc3339(row.at as u64), track })
        .collect();
    Ok((items, total))
}

pub fn follow(db: &Connection, user: &User, ids: &[String]) -> ApiResult<()> {
    check_ids(ids)?;
    lookup::check_artists(ids)?;
    storage::link(db, Links::Follows, &user.id, ids)
}

pub fn unfollow(db: &Connection, user: &User, ids: &[String]) -> ApiResult<()> {
    check_ids(ids)?;
    storage::unlink(db, Links::Follows, &user.id, ids)
}

/// Every followed artist the catalog still has.
pub fn following(db: &Connection, user: &User) -> ApiResult<Following> {
    let items = lookup::artist_objects(&storage::followed(db, &user.id)?)?;
    Ok(Following {
        artists: FollowedArtists { href: "/v1/me/following?type=artist", total: items.len(), items },
    })
}
