//! `riff:music/catalog`, the typed interface other services call (batch lookups, top tracks,
//! genres): the same storage as the HTTP routes, answered as WIT records.

use riff_guest::ApiError;

use crate::bindings::exports::riff::music::catalog as wit;
use crate::bindings::riff::music::types;
use crate::{import, storage};

fn internal(e: ApiError) -> types::Error {
    types::Error::Internal(e.message)
}

fn open() -> Result<spin_sdk::sqlite3::Connection, types::Error> {
    storage::open(import::load_demo).map_err(internal)
}

riff_guest::catalog_record_conversions!(types);

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct CatalogService;

impl wit::Guest for CatalogService {
    fn get_artists(ids: Vec<String>) -> Result<Vec<Option<types::Artist>>, types::Error> {
        let db = open()?;
        ids.iter()
            .map(|id| {
                let found = storage::artists_where(&db, "id = ?", &[storage::text(id)]).map_err(internal)?;
                Ok(found.into_iter().next().map(types::Artist::from))
            })
            .collect()
    }

    fn get_albums(ids: Vec<String>) -> Result<Vec<Option<types::Album>>, types::Error> {
        let db = open()?;
        ids.iter()
            .map(|id| {
                let found = storage::albums_where(&db, "a.id = ?", &[storage::text(id)]).map_err(internal)?;
                Ok(found.into_iter().next().map(types::Album::from))
            })
            .collect()
    }

    fn get_tracks(ids: Vec<String>) -> Result<Vec<Option<types::Track>>, types::Error> {
        let db = open()?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let found = storage::tracks_by_ids(&db, &refs).map_err(internal)?;
        Ok(found.into_iter().map(|t| t.map(types::Track::from)).collect())
    }

    fn top_tracks(
        artist_ids: Vec<String>,
        genres: Vec<String>,
        limit: u32,
    ) -> Result<Vec<types::Track>, types::Error> {
        if artist_ids.len() + genres.len() > 100 {
            return Err(types::Error::Invalid("at most 100 artists and genres".into()));
        }
        if artist_ids.is_empty() && genres.is_empty() {
            return Ok(Vec::new());
        }
        let db = open()?;
        let found = storage::top_tracks(&db, &artist_ids, &genres, limit.min(500)).map_err(internal)?;
        Ok(found.into_iter().map(types::Track::from).collect())
    }

    fn list_genres() -> Result<Vec<types::Genre>, types::Error> {
        let db = open()?;
        let genres = storage::genres(&db).map_err(internal)?;
        Ok(genres.into_iter().map(|g| types::Genre { id: g.id, name: g.name }).collect())
    }
}
