//! The recommendation model behind the recommend service, learned from listening history.
//!
//! Why this shape:
//! - **Item-item weights.** Every model here learns, for each item, a short list of related
//!   items with weights; a user's score for an item is the sum of the weights reaching it from
//!   their history. That makes recommending cheap (a few hundred additions), works for a user
//!   the model never saw (any history, or a handful of seed tracks, is enough), and keeps the
//!   model small enough for a database blob (neighbour lists are pruned to the top few).
//! - **Chosen by the numbers.** [`Algorithm`] offers the baseline ([`Algorithm::MostPopular`])
//!   and three learned candidates (item kNN, RP3β, EASE); the default is the best one on the
//!   HetRec Last.fm offline evaluation (`docs/recommendation.md`, `tests/hetrec.rs`).
//! - **Immutable models, live history.** [`Model::train`] turns a snapshot of [`Interactions`]
//!   into a new [`Model`]; [`Recommender`] pairs it with interactions that keep arriving, so a
//!   new play counts at once and is learned from at the next retrain, which never blocks
//!   requests.
//! - **Popularity fallback.** Cold-start users, and lists the personal scores cannot fill, get
//!   the most popular items among the allowed candidates ([`Query::allow`]).
//! - **Plain Rust.** No threads, files or C: the same code runs natively and in a
//!   `wasm32-wasip2` component. [`Model::to_bytes`] writes a versioned, compact blob;
//!   [`Model::from_bytes`] rejects old or damaged ones with an [`Error`], never a panic.
//!
//! ```
//! use riff_recommend::{Algorithm, Interactions, Model, Query};
//!
//! let plays: Interactions =
//!     [("ann", "a", 3.0), ("ann", "b", 1.0), ("bob", "a", 2.0), ("bob", "b", 5.0), ("bob", "c", 1.0)]
//!         .into_iter()
//!         .collect();
//! let model = Model::train(&plays, Algorithm::default());
//! let recs = model.recommend(&[("a", 1.0)], &Query::top(2));
//! assert_eq!(recs[0].0, "b");
//! let model = Model::from_bytes(&model.to_bytes()).unwrap();
//! assert_eq!(model.recommend_from_seeds(&["a"], &Query::top(1))[0].0, "b");
//! ```

pub mod eval;
mod interactions;
mod model;
mod recommender;
mod train;

pub use interactions::Interactions;
pub use model::{Algorithm, Error, Model, Query};
pub use recommender::Recommender;
