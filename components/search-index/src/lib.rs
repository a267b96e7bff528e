//! The search service's index: Spotify-style query syntax, Meilisearch-style typo
//! tolerance and ranking, over an in-memory inverted index of tracks, albums and artists.
//!
//! Why a library of our own rather than a search server: the search service is a WASI
//! component (no threads, no filesystem, no sockets of its own), the catalog is small enough
//! to keep in memory (100k tracks take tens of MB), and it changes one item at a time from
//! catalog events, so a mutable in-process index answers in well under a millisecond to a
//! few milliseconds and a cold instance loads a saved blob ([`Index::from_bytes`]) instead
//! of rebuilding.
//!
//! ```
//! use riff_search::{Doc, Index, Kind, Query};
//!
//! let mut index = Index::new();
//! index.upsert(Doc {
//!     kind: Kind::Artist,
//!     id: "36QJpDe2go2KgaRleHCDTp".into(),
//!     name: "Led Zeppelin".into(),
//!     artist: String::new(),
//!     album: None,
//!     genres: vec!["Rock".into()],
//!     year: None,
//!     popularity: 42,
//! });
//! let query = Query::parse("led zepel").unwrap(); // a typo, still being typed
//! let hits = index.search(&query, &[Kind::Artist], 10, 0);
//! assert_eq!(hits[0].ids, ["36QJpDe2go2KgaRleHCDTp"]);
//! ```
//!
//! Modules: `text` folds and tokenizes, `dict` finds terms within a typo budget, `query`
//! parses the search box, `index` ranks and persists.

mod dict;
mod index;
mod query;
#[cfg(feature = "synthetic")]
pub mod synthetic;
mod text;

pub use index::{max_typos, Doc, Hits, Index, Kind, LoadError, FORMAT_VERSION};
pub use query::{Query, QueryError, MAX_QUERY_BYTES, MAX_WORDS};
pub use text::fold;
