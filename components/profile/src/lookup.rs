//! What the profile asks the catalog (`riff:music/catalog`): that track and artist ids exist
//! before they are stored, and the objects to show for stored ids.

use riff_guest::catalog::{Artist, ArtistObject, Track, TrackObject};
use riff_guest::{ApiError, ApiResult};

use crate::bindings::riff::music::{catalog, types};
use crate::service_error;

riff_guest::catalog_record_conversions!(types);

/// Parse `riff:track:<id>` (or a bare id).
pub fn track_id_from_uri(uri: &str) -> ApiResult<String> {
    let id = uri.strip_prefix("riff:track:").unwrap_or(uri);
    if id.is_empty() || id.contains(':') {
        return Err(ApiError::bad_request(format!("not a track uri: {uri:?} (expected riff:track:<id>)")));
    }
    Ok(id.to_string())
}

/// Catalog tracks for `ids`, in order; unknown ids are a 404.
pub fn tracks(ids: &[String]) -> ApiResult<Vec<Track>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = catalog::get_tracks(ids).map_err(service_error)?;
    ids.iter()
        .zip(found)
        .map(|(id, t)| {
            t.map(Track::from).ok_or_else(|| ApiError::not_found(format!("no track with id {id:?}")))
        })
        .collect()
}

/// Track objects to show for stored ids: ids the catalog no longer has become null rather
/// than failing.
pub fn track_objects(ids: &[String]) -> ApiResult<Vec<Option<TrackObject>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = catalog::get_tracks(ids).map_err(service_error)?;
    Ok(found.into_iter().map(|t| t.map(|t| TrackObject::from(&Track::from(t)))).collect())
}

/// Check that every artist of `ids` exists; the first unknown one is a 404.
pub fn check_artists(ids: &[String]) -> ApiResult<()> {
    let found = catalog::get_artists(ids).map_err(service_error)?;
    match ids.iter().zip(&found).find(|(_, a)| a.is_none()) {
        Some((id, _)) => Err(ApiError::not_found(format!("no artist with id {id:?}"))),
        None => Ok(()),
    }
}

/// Artist objects to show for stored ids, leaving out ids the catalog no longer has.
pub fn artist_objects(ids: &[String]) -> ApiResult<Vec<ArtistObject>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = catalog::get_artists(ids).map_err(service_error)?;
    Ok(found.into_iter().flatten().map(|a| ArtistObject::from(&Artist::from(a))).collect())
}

#[cfg(test)]
mod tests {
    use super::track_id_from_uri;

    #[test]
    fn track_uris() {
        assert_eq!(track_id_from_uri("riff:track:tr01").unwrap(), "tr01");
        assert_eq!(track_id_from_uri("tr01").unwrap(), "tr01");
        assert!(track_id_from_uri("spotify:track:x").is_err());
        assert!(track_id_from_uri("riff:track:").is_err());
    }
}
