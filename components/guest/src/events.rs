//! Events the music services exchange through riff's durable queue (`riff:platform/messaging`),
//! and the one function that publishes them.
//!
//! | topic             | publisher | payload          | subscribers        |
//! |-------------------|-----------|------------------|--------------------|
//! | `catalog.changed` | catalog   | [`CatalogChanged`] | search           |
//! | `plays`           | profile   | [`Played`]       | search, recommend  |
//!
//! Delivery is at least once and a retried message may arrive after later ones, so handlers
//! must be idempotent and order-tolerant: catalog changes carry a `generation` (the time of the
//! write) for that reason.

use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiResult};

mod platform {
    wit_bindgen::generate!({
        path: "../../wit/platform",
        world: "riff:platform/publisher",
    });
}

pub const CATALOG_CHANGED: &str = "catalog.changed";
pub const PLAYS: &str = "plays";

/// Publish `event` as JSON on `topic` (the component needs `tool.riff.publish_topics`).
pub fn publish<T: Serialize>(topic: &str, event: &T) -> ApiResult<String> {
    use platform::riff::platform::messaging::{publish, Error};
    let payload =
        serde_json::to_vec(event).map_err(|e| ApiError::internal(format!("encoding an event: {e}")))?;
    publish(topic, &payload).map_err(|e| {
        ApiError::internal(match e {
            Error::AccessDenied(m) | Error::Invalid(m) | Error::Unavailable(m) => {
                format!("publishing to {topic}: {m}")
            }
        })
    })
}

/// Something in the catalog changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CatalogChanged {
    /// Items were added or replaced.
    Upserted { generation: u64, docs: Vec<CatalogDoc> },
    /// The catalog was replaced: items written before `generation` are gone.
    Cleared { generation: u64 },
}

/// One searchable catalog item, flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogDoc {
    /// `artist`, `album` or `track`.
    pub kind: String,
    pub id: String,
    pub name: String,
    /// The artist's name (for an artist, its own).
    pub artist: String,
    #[serde(default)]
    pub album: Option<String>,
    #[serde(default)]
    pub genres: Vec<String>,
    #[serde(default)]
    pub year: Option<u16>,
    #[serde(default)]
    pub popularity: u64,
}

/// A listener played a track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Played {
    pub user_id: String,
    pub track_id: String,
    pub artist_id: String,
    /// Milliseconds since the Unix epoch.
    pub played_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_json() {
        let event = CatalogChanged::Cleared { generation: 7 };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(text, r#"{"op":"cleared","generation":7}"#);
        assert_eq!(serde_json::from_str::<CatalogChanged>(&text).unwrap(), event);
        let doc: CatalogDoc =
            serde_json::from_str(r#"{"kind":"artist","id":"a","name":"AC/DC","artist":"AC/DC"}"#).unwrap();
        assert_eq!((doc.album, doc.genres.len(), doc.popularity), (None, 0, 0));
    }
}
