//! The catalog's objects, in one place for every service: the records (what `riff:music/catalog`
//! returns and the catalog stores), the JSON the API answers with for them (Spotify's artist,
//! album and track objects), and [`objects`], which fetches that JSON from the catalog's own
//! batch endpoints (`GET /v1/{tracks,albums,artists}?ids=`, in-process through
//! `catalog.spin.internal`; the component needs
//! `allowed_outbound_hosts = ["http://catalog.spin.internal"]`).
//!
//! A service holding a record renders it with `TrackObject::from(&track)` (and likewise for
//! albums and artists), so an artist, album or track has the same JSON whichever service
//! answers. Fields are in alphabetical order, as in [`crate::model`].

use serde::Serialize;
use serde_json::Value;
use spin_sdk::http::{Request, Response};

use crate::model::{href, uri, ObjectRef, Page};
use crate::{ApiError, ApiResult};

/// An artist of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Artist {
    pub id: String,
    pub name: String,
    pub genres: Vec<String>,
    /// The popularity of the artist's most popular track.
    pub popularity: u32,
}

/// An album of the catalog (one artist per album).
#[derive(Debug, Clone, PartialEq)]
pub struct Album {
    pub id: String,
    pub name: String,
    pub artist_id: String,
    pub artist_name: String,
    pub release_year: Option<u32>,
    pub total_tracks: u32,
}

/// A track of the catalog (one artist per track).
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: String,
    pub name: String,
    pub album_id: String,
    pub album_name: String,
    pub artist_id: String,
    pub artist_name: String,
    pub genre: Option<String>,
    pub track_number: u32,
    pub duration_ms: u32,
    pub popularity: u32,
}

/// Spotify's artist object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtistObject {
    pub genres: Vec<String>,
    pub href: String,
    pub id: String,
    pub name: String,
    pub popularity: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: String,
}

impl From<&Artist> for ArtistObject {
    fn from(a: &Artist) -> Self {
        Self {
            genres: a.genres.clone(),
            href: href("artist", &a.id),
            id: a.id.clone(),
            name: a.name.clone(),
            popularity: a.popularity,
            kind: "artist",
            uri: uri("artist", &a.id),
        }
    }
}

/// Spotify's album object; `tracks`, the first page of its tracks, only where the album is
/// asked for by itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlbumObject {
    pub album_type: &'static str,
    pub artists: Vec<ObjectRef>,
    pub href: String,
    pub id: String,
    pub name: String,
    pub release_date: Option<String>,
    pub release_date_precision: &'static str,
    pub total_tracks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracks: Option<Page<TrackObject>>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: String,
}

impl From<&Album> for AlbumObject {
    fn from(a: &Album) -> Self {
        Self {
            album_type: "album",
            artists: vec![ObjectRef::new("artist", &a.artist_id, &a.artist_name)],
            href: href("album", &a.id),
            id: a.id.clone(),
            name: a.name.clone(),
            release_date: a.release_year.map(|y| y.to_string()),
            release_date_precision: "year",
            total_tracks: a.total_tracks,
            tracks: None,
            kind: "album",
            uri: uri("album", &a.id),
        }
    }
}

/// Spotify's track object, with where to stream it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackObject {
    pub album: ObjectRef,
    pub artists: Vec<ObjectRef>,
    pub duration_ms: u32,
    pub genre: Option<String>,
    pub href: String,
    pub id: String,
    pub name: String,
    pub popularity: u32,
    pub stream_url: String,
    pub track_number: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: String,
}

impl From<&Track> for TrackObject {
    fn from(t: &Track) -> Self {
        Self {
            album: ObjectRef::new("album", &t.album_id, &t.album_name),
            artists: vec![ObjectRef::new("artist", &t.artist_id, &t.artist_name)],
            duration_ms: t.duration_ms,
            genre: t.genre.clone(),
            href: href("track", &t.id),
            id: t.id.clone(),
            name: t.name.clone(),
            popularity: t.popularity,
            stream_url: format!("/v1/tracks/{}/stream", t.id),
            track_number: t.track_number,
            kind: "track",
            uri: uri("track", &t.id),
        }
    }
}

const CATALOG: &str = "http://catalog.spin.internal";

/// The objects for `ids` of `kind` (`track`, `album` or `artist`), in order, leaving out ids
/// the catalog does not know; one request per 50 ids.
pub async fn objects(kind: &str, ids: &[String]) -> ApiResult<Vec<Value>> {
    let plural = format!("{kind}s");
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(50) {
        let url = format!("{CATALOG}/v1/{plural}?ids={}", chunk.join(","));
        let response: Response = spin_sdk::http::send(Request::get(&url))
            .await
            .map_err(|e| ApiError::new(502, format!("the catalog did not answer: {e}")))?;
        if *response.status() != 200 {
            return Err(ApiError::new(
                502,
                format!("the catalog answered {} for {plural}", response.status()),
            ));
        }
        let mut body: Value = serde_json::from_slice(response.body())
            .map_err(|e| ApiError::new(502, format!("the catalog's answer is not JSON: {e}")))?;
        out.extend(
            body[plural.as_str()].take().as_array().into_iter().flatten().filter(|v| !v.is_null()).cloned(),
        );
    }
    Ok(out)
}

/// Wake the catalog (its first request loads and announces the demo catalog).
pub async fn wake() {
    let _ = spin_sdk::http::send::<_, Response>(Request::get(format!("{CATALOG}/v1/genres"))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same_bytes(new: &impl Serialize, old: Value) {
        assert_eq!(serde_json::to_string(new).unwrap(), serde_json::to_string(&old).unwrap());
    }

    fn object_ref(kind: &str, id: &str, name: &str) -> Value {
        json!({ "id": id, "name": name, "type": kind, "href": format!("/v1/{kind}s/{id}"), "uri": format!("riff:{kind}:{id}") })
    }

    // The objects as the catalog assembled them before they were types.

    #[test]
    fn artists() {
        let a = Artist {
            id: "ar01".into(),
            name: "Quartet Nine".into(),
            genres: vec!["jazz".into()],
            popularity: 7,
        };
        let mut old = object_ref("artist", "ar01", "Quartet Nine");
        old["genres"] = json!(["jazz"]);
        old["popularity"] = json!(7);
        same_bytes(&ArtistObject::from(&a), old);
    }

    #[test]
    fn albums() {
        let mut a = Album {
            id: "al01".into(),
            name: "Nine Lives".into(),
            artist_id: "ar01".into(),
            artist_name: "Quartet Nine".into(),
            release_year: Some(1999),
            total_tracks: 3,
        };
        let old = |year: Value| {
            let mut v = object_ref("album", "al01", "Nine Lives");
            v["album_type"] = json!("album");
            v["release_date"] = year;
            v["release_date_precision"] = json!("year");
            v["total_tracks"] = json!(3);
            v["artists"] = json!([object_ref("artist", "ar01", "Quartet Nine")]);
            v
        };
        same_bytes(&AlbumObject::from(&a), old(json!("1999")));
        a.release_year = None;
        same_bytes(&AlbumObject::from(&a), old(Value::Null));
        let mut with_tracks = AlbumObject::from(&a);
        with_tracks.tracks = Some(Page::new("/v1/albums/al01/tracks", vec![], 50, 0, 0));
        let mut expected = old(Value::Null);
        expected["tracks"] =
            serde_json::to_value(Page::<Value>::new("/v1/albums/al01/tracks", vec![], 50, 0, 0)).unwrap();
        same_bytes(&with_tracks, expected);
    }

    #[test]
    fn tracks() {
        let mut t = Track {
            id: "tr01".into(),
            name: "One".into(),
            album_id: "al01".into(),
            album_name: "Nine Lives".into(),
            artist_id: "ar01".into(),
            artist_name: "Quartet Nine".into(),
            genre: Some("jazz".into()),
            track_number: 1,
            duration_ms: 1000,
            popularity: 40,
        };
        let old = |genre: Value| {
            let mut v = object_ref("track", "tr01", "One");
            v["duration_ms"] = json!(1000);
            v["track_number"] = json!(1);
            v["popularity"] = json!(40);
            v["genre"] = genre;
            v["album"] = object_ref("album", "al01", "Nine Lives");
            v["artists"] = json!([object_ref("artist", "ar01", "Quartet Nine")]);
            v["stream_url"] = json!("/v1/tracks/tr01/stream");
            v
        };
        same_bytes(&TrackObject::from(&t), old(json!("jazz")));
        t.genre = None;
        same_bytes(&TrackObject::from(&t), old(Value::Null));
    }
}

/// Conversions both ways between the catalog records here and a component's generated
/// `riff:music` types (`Artist`, `Album`, `Track`), so no service writes them out again:
/// `riff_guest::catalog_record_conversions!(bindings::riff::music::types);`
#[macro_export]
macro_rules! catalog_record_conversions {
    ($($types:ident)::+) => {
        $crate::catalog_record_conversions!(@both $($types)::+, Artist { id, name, genres, popularity });
        $crate::catalog_record_conversions!(@both $($types)::+, Album {
            id, name, artist_id, artist_name, release_year, total_tracks
        });
        $crate::catalog_record_conversions!(@both $($types)::+, Track {
            id, name, album_id, album_name, artist_id, artist_name, genre, track_number, duration_ms, popularity
        });
    };
    (@both $($types:ident)::+, $record:ident { $($field:ident),* }) => {
        impl From<$($types)::+::$record> for $crate::catalog::$record {
            fn from(r: $($types)::+::$record) -> Self {
                Self { $($field: r.$field),* }
            }
        }
        impl From<$crate::catalog::$record> for $($types)::+::$record {
            fn from(r: $crate::catalog::$record) -> Self {
                Self { $($field: r.$field),* }
            }
        }
    };
}
