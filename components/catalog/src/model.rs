//! The catalog's own API types: the import format (the demo file's, and the admin import's
//! body) and the envelopes its answers wrap objects in. The artist, album and track objects
//! themselves are shared by every service: `riff_guest::catalog`.

use riff_guest::catalog::{AlbumObject, ArtistObject, TrackObject};
use serde::{Deserialize, Serialize};

/// A whole catalog, as `/demo/catalog.json` and `POST /v1/admin/catalog/import` hold it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// Replace the catalog (delete what the import does not hold) instead of adding to it.
    #[serde(default)]
    pub replace: bool,
    pub genres: Vec<String>,
    pub artists: Vec<ImportArtist>,
    pub albums: Vec<ImportAlbum>,
    pub tracks: Vec<ImportTrack>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportArtist {
    pub id: String,
    pub name: String,
    pub genres: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportAlbum {
    pub id: String,
    pub name: String,
    pub artist_id: String,
    pub release_year: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTrack {
    pub id: String,
    pub name: String,
    pub album_id: String,
    pub artist_id: String,
    pub genre: Option<String>,
    pub track_number: u32,
    pub duration_ms: u32,
    #[serde(default)]
    pub popularity: u32,
    /// A path under the audio directory.
    pub audio: Option<String>,
}

/// `{"artists": [...]}` (a batch: `null` for an unknown id).
#[derive(Serialize)]
pub struct Artists {
    pub artists: Vec<Option<ArtistObject>>,
}

/// `{"albums": [...]}` (a batch: `null` for an unknown id).
#[derive(Serialize)]
pub struct Albums {
    pub albums: Vec<Option<AlbumObject>>,
}

/// `{"tracks": [...]}` (a batch, `null` for an unknown id; or an artist's top tracks).
#[derive(Serialize)]
pub struct Tracks<T = Option<TrackObject>> {
    pub tracks: Vec<T>,
}

/// `{"genres": [names]}`.
#[derive(Serialize)]
pub struct Genres {
    pub genres: Vec<String>,
}

/// What an import left in the catalog: `{albums, artists, genres, tracks}`.
#[derive(Serialize)]
pub struct Counts {
    pub albums: u64,
    pub artists: u64,
    pub genres: u64,
    pub tracks: u64,
}
