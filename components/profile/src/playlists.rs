//! Playlists: who may see and change one (its owner; others see a public one, and another
//! user's private playlist does not exist for them), what a valid name and description are,
//! and the item operations — add, reorder, remove — each written as one conditional update on
//! the snapshot it read, so never half-applied and never a lost update.

use riff_guest::model::{href, uri};
use riff_guest::time::{now_ms, rfc3339};
use riff_guest::{new_id, ApiError, ApiResult};
use spin_sdk::sqlite3::Connection;

use crate::lookup::{self, track_id_from_uri};
use crate::model::{
    AddItems, ItemsRef, NewPlaylist, PlaylistChange, PlaylistItem, PlaylistObject, RemoveItems, Reorder,
    UserObject,
};
use crate::storage::{self, Item, Playlist};
use crate::User;

/// Spotify's cap on playlist length.
const MAX_PLAYLIST_ITEMS: usize = 10_000;

/// A playlist the user may see (own, or someone's public one); others' private ones are 404.
pub fn visible(db: &Connection, user: &User, id: &str) -> ApiResult<Playlist> {
    match storage::load_playlist(db, id)? {
        Some(p) if p.owner == user.id || p.public => Ok(p),
        _ => Err(ApiError::not_found(format!("no playlist with id {id:?}"))),
    }
}

/// A playlist the user may change: their own.
pub fn owned(db: &Connection, user: &User, id: &str) -> ApiResult<Playlist> {
    let p = visible(db, user, id)?;
    if p.owner != user.id {
        return Err(ApiError::forbidden("only the playlist's owner can change it"));
    }
    Ok(p)
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

/// The playlist's JSON; the owner is shown by name when it is `owner_name`'s, else by id.
pub fn object(p: &Playlist, owner_name: Option<&str>) -> PlaylistObject {
    PlaylistObject {
        description: p.description.clone(),
        href: href("playlist", &p.id),
        id: p.id.clone(),
        items: ItemsRef { href: format!("/v1/playlists/{}/items", p.id), total: p.items.len() },
        name: p.name.clone(),
        owner: UserObject::new(&p.owner, owner_name.unwrap_or(&p.owner)),
        public: p.public,
        snapshot_id: p.snapshot.to_string(),
        kind: "playlist",
        uri: uri("playlist", &p.id),
    }
}

/// The playlist as `user` sees it.
pub fn get(db: &Connection, user: &User, id: &str) -> ApiResult<PlaylistObject> {
    let p = visible(db, user, id)?;
    let own = (p.owner == user.id).then_some(user.name.as_str());
    Ok(object(&p, own))
}

pub fn create(db: &Connection, user: &User, body: NewPlaylist) -> ApiResult<PlaylistObject> {
    check_name(&body.name)?;
    check_description(&body.description)?;
    let id = new_id()?;
    storage::insert_playlist(db, &id, &user.id, body.name.trim(), &body.description, body.public)?;
    let p = storage::load_playlist(db, &id)?.ok_or_else(|| ApiError::internal("playlist vanished"))?;
    Ok(object(&p, Some(&user.name)))
}

pub fn change(db: &Connection, user: &User, id: &str, change: PlaylistChange) -> ApiResult<PlaylistObject> {
    let p = owned(db, user, id)?;
    if let Some(name) = &change.name {
        check_name(name)?;
    }
    if let Some(d) = &change.description {
        check_description(d)?;
    }
    storage::update_playlist(
        db,
        id,
        change.name.as_deref().map(str::trim).unwrap_or(&p.name),
        change.description.as_deref().unwrap_or(&p.description),
        change.public.unwrap_or(p.public),
    )?;
    get(db, user, id)
}

pub fn delete(db: &Connection, user: &User, id: &str) -> ApiResult<()> {
    owned(db, user, id)?;
    storage::delete_playlist(db, id, &user.id)
}

/// One page of a playlist's items.
pub fn items(p: &Playlist, limit: u32, offset: u32) -> ApiResult<Vec<PlaylistItem>> {
    let page: Vec<&Item> = p.items.iter().skip(offset as usize).take(limit as usize).collect();
    let ids: Vec<String> = page.iter().map(|i| i.track_id.clone()).collect();
    let tracks = lookup::track_objects(&ids)?;
    Ok(page
        .iter()
        .zip(tracks)
        .map(|(item, track)| PlaylistItem {
            added_at: rfc3339(item.added_at),
            added_by: UserObject::new(&p.owner, &p.owner),
            track,
        })
        .collect())
}

/// Add tracks (all must exist) at `position` (the end by default); the new snapshot.
pub fn add_items(db: &Connection, user: &User, id: &str, body: AddItems) -> ApiResult<i64> {
    if body.uris.is_empty() || body.uris.len() > 100 {
        return Err(ApiError::bad_request("uris must list 1 to 100 track uris"));
    }
    let p = owned(db, user, id)?;
    let ids = body.uris.iter().map(|u| track_id_from_uri(u)).collect::<ApiResult<Vec<_>>>()?;
    lookup::tracks(&ids)?; // every id must exist in the catalog
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
    storage::store_items(db, &p, &items)
}

/// Move a range of items (refused when `snapshot_id` is given and stale); the new snapshot.
pub fn reorder_items(db: &Connection, user: &User, id: &str, body: Reorder) -> ApiResult<i64> {
    let p = owned(db, user, id)?;
    if let Some(s) = &body.snapshot_id {
        if *s != p.snapshot.to_string() {
            return Err(ApiError::conflict("snapshot_id is stale; read the playlist again"));
        }
    }
    let items = reorder(&p.items, body.range_start, body.insert_before, body.range_length)
        .map_err(ApiError::bad_request)?;
    storage::store_items(db, &p, &items)
}

/// Remove every occurrence of the given tracks; the new snapshot.
pub fn remove_items(db: &Connection, user: &User, id: &str, body: RemoveItems) -> ApiResult<i64> {
    if body.tracks.is_empty() || body.tracks.len() > 100 {
        return Err(ApiError::bad_request("tracks must list 1 to 100 {uri} objects"));
    }
    let p = owned(db, user, id)?;
    let remove = body.tracks.iter().map(|t| track_id_from_uri(&t.uri)).collect::<ApiResult<Vec<_>>>()?;
    let items: Vec<Item> = p.items.iter().filter(|i| !remove.contains(&i.track_id)).cloned().collect();
    storage::store_items(db, &p, &items)
}

/// Move `len` items starting at `start` so they sit before the item that was at `before`.
pub fn reorder(items: &[Item], start: usize, before: usize, len: usize) -> Result<Vec<Item>, String> {
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
}
