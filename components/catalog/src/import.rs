//! Filling the catalog: the demo catalog loaded on first use, and the admin import. Both write
//! the same format ([`Import`]) and then announce what they wrote on `catalog.changed`, which
//! is how search learns of it; an import is checked for dangling references before anything
//! is written.

use std::collections::{HashMap, HashSet};

use riff_guest::events::{publish, CatalogChanged, CatalogDoc, CATALOG_CHANGED};
use riff_guest::{ApiError, ApiResult};
use spin_sdk::sqlite3::Connection;

use crate::model::{Counts, Import, ImportAlbum};
use crate::storage::{self, Existing};

/// Where the demo catalog and every track's audio are mounted.
pub const DEMO_DIR: &str = "/demo";

/// Catalog items per `catalog.changed` message (well under the queue's 1 MiB payload limit).
const DOCS_PER_EVENT: usize = 500;

/// Load `/demo/catalog.json` (idempotent: existing rows are kept).
pub fn load_demo(db: &Connection) -> ApiResult<()> {
    let Ok(bytes) = std::fs::read(format!("{DEMO_DIR}/catalog.json")) else {
        return Ok(()); // no demo mounted: start empty
    };
    let demo: Import =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(format!("demo catalog: {e}")))?;
    storage::load(db, &demo, Existing::Keep)?;
    // The catalog works without a queue grant; search then just does not see the demo.
    if let Err(e) = publish_changes(&demo) {
        eprintln!("demo catalog loaded, but not announced: {}", e.message);
    }
    Ok(())
}

/// Write an admin import (replacing the catalog when it says so), announce it, and count what
/// the catalog holds now.
pub fn apply(db: &Connection, catalog: &Import) -> ApiResult<Counts> {
    validate(catalog)?;
    if catalog.replace {
        storage::clear(db)?;
    }
    storage::load(db, catalog, Existing::Replace)?;
    // The import is idempotent: if announcing it fails, importing again repairs search.
    publish_changes(catalog).map_err(|e| {
        ApiError::new(503, format!("catalog imported, but search was not told ({}); import again", e.message))
    })?;
    Ok(Counts {
        genres: storage::count_all(db, "genres")?,
        artists: storage::count_all(db, "artists")?,
        albums: storage::count_all(db, "albums")?,
        tracks: storage::count_all(db, "tracks")?,
    })
}

/// Refuse an import that would leave dangling references, before writing anything.
fn validate(c: &Import) -> ApiResult<()> {
    let bad = |m: String| Err(ApiError::bad_request(m));
    let artists: HashSet<&str> = c.artists.iter().map(|a| a.id.as_str()).collect();
    let albums: HashSet<&str> = c.albums.iter().map(|a| a.id.as_str()).collect();
    if c.artists.iter().any(|a| a.id.is_empty() || a.name.is_empty()) {
        return bad("every artist needs an id and a name".into());
    }
    if let Some(a) = c.albums.iter().find(|a| !artists.contains(a.artist_id.as_str())) {
        return bad(format!("album {:?} names unknown artist {:?}", a.id, a.artist_id));
    }
    if let Some(t) = c
        .tracks
        .iter()
        .find(|t| !albums.contains(t.album_id.as_str()) || !artists.contains(t.artist_id.as_str()))
    {
        return bad(format!("track {:?} names an unknown album or artist", t.id));
    }
    if let Some(t) = c.tracks.iter().find(|t| t.audio.as_deref().is_some_and(|a| a.contains(".."))) {
        return bad(format!("track {:?}: audio paths may not leave the audio directory", t.id));
    }
    Ok(())
}

/// Announce written items on `catalog.changed` (search indexes them), in messages of
/// [`DOCS_PER_EVENT`] items; a replacing import first announces that older items are gone.
fn publish_changes(c: &Import) -> ApiResult<()> {
    let generation = riff_guest::time::now_ms();
    if c.replace {
        publish(CATALOG_CHANGED, &CatalogChanged::Cleared { generation })?;
    }
    for chunk in docs(c).chunks(DOCS_PER_EVENT) {
        publish(CATALOG_CHANGED, &CatalogChanged::Upserted { generation, docs: chunk.to_vec() })?;
    }
    Ok(())
}

/// Every item of an import as search indexes it: artists, then albums, then tracks.
fn docs(c: &Import) -> Vec<CatalogDoc> {
    let artist_name: HashMap<&str, &str> =
        c.artists.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
    let album_of: HashMap<&str, &ImportAlbum> = c.albums.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut album_genres: HashMap<&str, Vec<String>> = HashMap::new();
    let mut artist_popularity: HashMap<&str, u64> = HashMap::new();
    for t in &c.tracks {
        if let Some(g) = &t.genre {
            let genres = album_genres.entry(t.album_id.as_str()).or_default();
            if !genres.contains(g) {
                genres.push(g.clone());
            }
        }
        let p = artist_popularity.entry(t.artist_id.as_str()).or_default();
        *p = (*p).max(t.popularity as u64);
    }
    let year =
        |album: Option<&&ImportAlbum>| album.and_then(|a| a.release_year).and_then(|y| u16::try_from(y).ok());
    let mut docs = Vec::with_capacity(c.artists.len() + c.albums.len() + c.tracks.len());
    docs.extend(c.artists.iter().map(|a| CatalogDoc {
        kind: "artist".into(),
        id: a.id.clone(),
        name: a.name.clone(),
        artist: a.name.clone(),
        album: None,
        genres: a.genres.clone(),
        year: None,
        popularity: artist_popularity.get(a.id.as_str()).copied().unwrap_or(0),
    }));
    docs.extend(c.albums.iter().map(|a| CatalogDoc {
        kind: "album".into(),
        id: a.id.clone(),
        name: a.name.clone(),
        artist: artist_name.get(a.artist_id.as_str()).unwrap_or(&"").to_string(),
        album: Some(a.name.clone()),
        genres: album_genres.remove(a.id.as_str()).unwrap_or_default(),
        year: year(Some(&a)),
        popularity: 0,
    }));
    docs.extend(c.tracks.iter().map(|t| {
        let album = album_of.get(t.album_id.as_str());
        CatalogDoc {
            kind: "track".into(),
            id: t.id.clone(),
            name: t.name.clone(),
            artist: artist_name.get(t.artist_id.as_str()).unwrap_or(&"").to_string(),
            album: album.map(|a| a.name.clone()),
            genres: t.genre.iter().cloned().collect(),
            year: year(album),
            popularity: t.popularity as u64,
        }
    }));
    docs
}
