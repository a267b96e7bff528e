//! The profile API's types: the JSON bodies it accepts (each refusing unknown fields) and the
//! ones it answers with. Tracks and artists inside answers are the catalog's shared objects
//! (`riff_guest::catalog`). Answer fields are in alphabetical order, as in `riff_guest::model`.

use riff_guest::catalog::{ArtistObject, TrackObject};
use riff_guest::model::{href, uri};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Request bodies

/// `POST /v1/me/playlists`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlaylist {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub public: bool,
}

fn yes() -> bool {
    true
}

/// `PUT /v1/playlists/{id}`: what to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaylistChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub public: Option<bool>,
}

/// `POST /v1/playlists/{id}/items`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItems {
    pub uris: Vec<String>,
    pub position: Option<usize>,
}

/// `PUT /v1/playlists/{id}/items`: move `range_length` items from `range_start` to before
/// `insert_before`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    pub range_start: usize,
    pub insert_before: usize,
    #[serde(default = "one")]
    pub range_length: usize,
    pub snapshot_id: Option<String>,
}

fn one() -> usize {
    1
}

/// `DELETE /v1/playlists/{id}/items`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveItems {
    pub tracks: Vec<TrackRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRef {
    pub uri: String,
}

/// `PUT`/`DELETE /v1/me/tracks` and `/v1/me/following`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ids {
    pub ids: Vec<String>,
}

/// `POST /v1/me/player/played`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Played {
    pub track_id: String,
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A user: `{display_name, href, id, type, uri}`.
#[derive(Serialize)]
pub struct UserObject {
    pub display_name: String,
    pub href: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: String,
}

impl UserObject {
    pub fn new(id: &str, display_name: &str) -> Self {
        Self {
            display_name: display_name.to_string(),
            href: href("user", id),
            id: id.to_string(),
            kind: "user",
            uri: uri("user", id),
        }
    }
}

/// A playlist, with where its items are and how many.
#[derive(Serialize)]
pub struct PlaylistObject {
    pub description: String,
    pub href: String,
    pub id: String,
    pub items: ItemsRef,
    pub name: String,
    pub owner: UserObject,
    pub public: bool,
    pub snapshot_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: String,
}

#[derive(Serialize)]
pub struct ItemsRef {
    pub href: String,
    pub total: usize,
}

/// One item of a playlist; `track` is null for a track the catalog no longer has.
#[derive(Serialize)]
pub struct PlaylistItem {
    pub added_at: String,
    pub added_by: UserObject,
    pub track: Option<TrackObject>,
}

/// A playlist's version after a change: `{snapshot_id}`.
#[derive(Serialize)]
pub struct Snapshot {
    pub snapshot_id: String,
}

/// One saved track.
#[derive(Serialize)]
pub struct SavedTrack {
    pub added_at: String,
    pub track: Option<TrackObject>,
}

/// `GET /v1/me/following?type=artist`: `{"artists": {href, items, total}}`.
#[derive(Serialize)]
pub struct Following {
    pub artists: FollowedArtists,
}

#[derive(Serialize)]
pub struct FollowedArtists {
    pub href: &'static str,
    pub items: Vec<ArtistObject>,
    pub total: usize,
}

/// `GET /v1/me/player/recently-played`: plays, newest first, cursor-paged.
#[derive(Serialize)]
pub struct RecentlyPlayed {
    pub cursors: Cursors,
    pub href: &'static str,
    pub items: Vec<Play>,
    pub limit: u32,
    pub next: Option<String>,
}

/// The newest (`after`) and oldest (`before`) play's time on the page, in Unix ms.
#[derive(Serialize)]
pub struct Cursors {
    pub after: Option<String>,
    pub before: Option<String>,
}

#[derive(Serialize)]
pub struct Play {
    pub played_at: String,
    pub played_at_ms: i64,
    pub track: Option<TrackObject>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn same_bytes(new: &impl Serialize, old: Value) {
        assert_eq!(serde_json::to_string(new).unwrap(), serde_json::to_string(&old).unwrap());
    }

    // The answers as the service assembled them before they were types.

    fn user_json(id: &str, name: &str) -> Value {
        json!({ "id": id, "display_name": name, "type": "user", "href": format!("/v1/users/{id}"), "uri": format!("riff:user:{id}") })
    }

    #[test]
    fn users_and_playlists() {
        same_bytes(&UserObject::new("u1", "ada"), user_json("u1", "ada"));
        let p = PlaylistObject {
            description: "d".into(),
            href: "/v1/playlists/p1".into(),
            id: "p1".into(),
            items: ItemsRef { href: "/v1/playlists/p1/items".into(), total: 2 },
            name: "n".into(),
            owner: UserObject::new("u1", "ada"),
            public: true,
            snapshot_id: "3".into(),
            kind: "playlist",
            uri: "riff:playlist:p1".into(),
        };
        same_bytes(
            &p,
            json!({
                "id": "p1", "name": "n", "description": "d", "public": true, "type": "playlist",
                "href": "/v1/playlists/p1", "uri": "riff:playlist:p1", "snapshot_id": "3",
                "owner": user_json("u1", "ada"),
                "items": { "href": "/v1/playlists/p1/items", "total": 2 },
            }),
        );
        same_bytes(
            &PlaylistItem { added_at: "t".into(), added_by: UserObject::new("u1", "u1"), track: None },
            json!({ "added_at": "t", "added_by": user_json("u1", "u1"), "track": null }),
        );
        same_bytes(&Snapshot { snapshot_id: "4".into() }, json!({ "snapshot_id": "4" }));
        same_bytes(
            &SavedTrack { added_at: "t".into(), track: None },
            json!({ "added_at": "t", "track": null }),
        );
    }

    #[test]
    fn following_and_plays() {
        same_bytes(
            &Following {
                artists: FollowedArtists { href: "/v1/me/following?type=artist", items: vec![], total: 0 },
            },
            json!({ "artists": { "items": [], "total": 0, "href": "/v1/me/following?type=artist" } }),
        );
        let recent = RecentlyPlayed {
            cursors: Cursors { after: Some("2".into()), before: Some("1".into()) },
            href: "/v1/me/player/recently-played",
            items: vec![Play { played_at: "t".into(), played_at_ms: 2, track: None }],
            limit: 1,
            next: Some("/v1/me/player/recently-played?before=1&limit=1".into()),
        };
        same_bytes(
            &recent,
            json!({
                "href": "/v1/me/player/recently-played",
                "items": [{ "track": null, "played_at": "t", "played_at_ms": 2 }],
                "limit": 1,
                "next": "/v1/me/player/recently-played?before=1&limit=1",
                "cursors": { "after": "2", "before": "1" },
            }),
        );
    }
}
