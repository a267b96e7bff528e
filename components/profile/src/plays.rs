//! Plays: recording one (and announcing it on the `plays` topic, from which recommendations
//! and search popularity learn) and reading a listener's history, cursor-paged by time as
//! Spotify's recently-played is.

use riff_guest::time::{now_ms, rfc3339};
use riff_guest::{ApiError, ApiResult};
use spin_sdk::sqlite3::Connection;

use crate::lookup::{self, track_id_from_uri};
use crate::model::{Cursors, Play, RecentlyPlayed};
use crate::storage::{self, PlayCursor};
use crate::User;

/// Record that `user` played `track` (an id or `riff:track:<id>` the catalog has).
pub fn record(db: &Connection, user: &User, track: &str) -> ApiResult<()> {
    let id = track_id_from_uri(track)?;
    let track = lookup::tracks(std::slice::from_ref(&id))?.remove(0);
    let played_at = now_ms();
    storage::insert_play(db, &user.id, &id, played_at)?;
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
    Ok(())
}

/// `before` or `after` of a query: a Unix time in milliseconds.
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

/// The cursor of a recently-played query (`before` or `after`, not both).
pub fn play_cursor(query: &[(String, String)]) -> ApiResult<PlayCursor> {
    match (cursor(query, "before")?, cursor(query, "after")?) {
        (Some(_), Some(_)) => Err(ApiError::bad_request("give before or after, not both")),
        (Some(b), None) => Ok(PlayCursor::Before(b)),
        (None, Some(a)) => Ok(PlayCursor::After(a)),
        (None, None) => Ok(PlayCursor::Newest),
    }
}

/// Up to `limit` plays around `cursor`, newest first, with the link to the older ones.
pub fn recently_played(
    db: &Connection,
    user: &User,
    limit: u32,
    cursor: PlayCursor,
) -> ApiResult<RecentlyPlayed> {
    let rows = storage::plays(db, &user.id, limit, cursor)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let tracks = lookup::track_objects(&ids)?;
    let items = rows
        .iter()
        .zip(tracks)
        .map(|(row, track)| Play { played_at: rfc3339(row.at as u64), played_at_ms: row.at, track })
        .collect();
    let newest = rows.first().map(|r| r.at);
    let oldest = rows.last().map(|r| r.at);
    let next = (rows.len() as u32 == limit)
        .then(|| oldest.map(|o| format!("/v1/me/player/recently-played?before={o}&limit={limit}")))
        .flatten();
    Ok(RecentlyPlayed {
        cursors: Cursors { after: newest.map(|n| n.to_string()), before: oldest.map(|o| o.to_string()) },
        href: "/v1/me/player/recently-played",
        items,
        limit,
        next,
    })
}
