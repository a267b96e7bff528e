//! The trained, immutable model: item keys, popularity and pruned item-item weights.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::train::{self, Incidence, Neighbours};
use crate::Interactions;

/// How a [`Model`] learns item-item weights. The default is the one that won the offline
/// evaluation (see `docs/recommendation.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Algorithm {
    /// No learning: the most played items first. The baseline, and every model's fallback.
    MostPopular,
    /// Item-based k-nearest neighbours: cosine similarity of the items' listener sets,
    /// `|U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)`, keeping each item's `neighbours` best.
    ItemKnn {
        /// Neighbours kept per item.
        neighbours: u32,
        /// Shrinks similarities supported by few co-listeners toward 0.
        shrink: f32,
    },
    /// RP3β (Paudel et al. 2017): a three-step random walk item → user → item whose transition
    /// probabilities are raised to `alpha`, with the destination's popularity divided out as
    /// `popularity^beta` so that the long tail gets its share.
    Rp3Beta {
        /// Neighbours kept per item.
        neighbours: u32,
        /// Exponent on the transition probabilities.
        alpha: f32,
        /// Popularity penalty exponent.
        beta: f32,
    },
    /// EASE (Steck 2019): a closed-form linear item-item model. Its dense inverse costs
    /// O(n³), so only the `max_items` most played items are learned.
    Ease {
        /// Neighbours kept per item.
        neighbours: u32,
        /// L2 regularisation (> 0).
        lambda: f32,
        /// How many of the most played items take part.
        max_items: u32,
    },
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Ease { neighbours: 200, lambda: 100.0, max_items: 2500 }
    }
}

/// Which items a recommendation may return, and how many.
///
/// Items in the history (or the seeds) are left out unless [`Query::include_history`] is set.
#[derive(Clone, Copy)]
pub struct Query<'a> {
    k: usize,
    include_history: bool,
    exclude: Option<&'a HashSet<String>>,
    allow: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> Query<'a> {
    /// Up to `k` items.
    pub fn top(k: usize) -> Self {
        Self { k, include_history: false, exclude: None, allow: None }
    }

    /// Never return these items (e.g. the user's saved tracks).
    pub fn exclude(self, items: &'a HashSet<String>) -> Self {
        Self { exclude: Some(items), ..self }
    }

    /// Only return items for which `allow` is true (a candidate set: a genre, a market, ...).
    pub fn allow(self, allow: &'a dyn Fn(&str) -> bool) -> Self {
        Self { allow: Some(allow), ..self }
    }

    /// Items from the history (or seeds) may be returned too.
    pub fn include_history(self) -> Self {
        Self { include_history: true, ..self }
    }
}

impl fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("k", &self.k)
            .field("include_history", &self.include_history)
            .field("exclude", &self.exclude)
            .field("allow", &self.allow.map(|_| ".."))
            .finish()
    }
}

/// Why a blob could not be read back as a [`Model`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes do not start like a model blob.
    NotAModel,
    /// A model blob in a format version this build does not read (retrain to replace it).
    UnsupportedVersion(u16),
    /// Truncated or inconsistent contents.
    Corrupt(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAModel => f.write_str("not a recommendation model blob"),
            Error::UnsupportedVersion(v) => {
                write!(f, "recommendation model format v{v} is not supported (this build reads v{VERSION})")
            }
            Error::Corrupt(why) => write!(f, "corrupt recommendation model: {why}"),
        }
    }
}

impl std::error::Error for Error {}

const MAGIC: &[u8; 8] = b"RIFFREC\0";
const VERSION: u16 = 1;

/// A trained recommendation model. Immutable: retraining builds a new one (see
/// [`crate::Recommender`]), so readers never wait for training.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    algorithm: Algorithm,
    /// Item keys, sorted; an item's index is its position.
    items: Vec<String>,
    index: HashMap<String, u32>,
    /// Number of users who played each item.
    popularity: Vec<u32>,
    /// Number of users trained on.
    users: u32,
    /// Item indices, most popular first.
    by_popularity: Vec<u32>,
    neighbours: Neighbours,
}

impl Model {
    /// Learns a model from every positive interaction in `data`. Deterministic: the same
    /// interactions, in any order, give the same model.
    pub fn train(data: &Interactions, algorithm: Algorithm) -> Self {
        let m = Incidence::new(data);
        let neighbours = train::train(&m, &algorithm);
        let (popularity, users) = (m.popularity(), m.user_items.len() as u32);
        Self::assemble(algorithm, m.items, popularity, users, neighbours)
    }

    fn assemble(
        algorithm: Algorithm,
        items: Vec<String>,
        popularity: Vec<u32>,
        users: u32,
        neighbours: Neighbours,
    ) -> Self {
        let index = items.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect();
        let mut by_popularity: Vec<u32> = (0..items.len() as u32).collect();
        by_popularity.sort_by_key(|&i| std::cmp::Reverse(popularity[i as usize]));
        Self { algorithm, items, index, popularity, users, by_popularity, neighbours }
    }

    /// The algorithm this model was trained with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Number of items the model knows.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Number of item-item weights kept.
    pub fn weight_count(&self) -> usize {
        self.neighbours.len()
    }

    /// Recommends items for a listening history of `(item, weight)` pairs.
    ///
    /// An item scores the sum of the learned weights from the history's items to it. Only
    /// whether a weight is positive matters: the models are trained on binary data. Items the
    /// model does not know are ignored. When fewer than `k` items score (a short or unknown
    /// history, a narrow candidate filter) the rest is filled with the most popular allowed
    /// items, whose score is their share of listeners scaled below the last personal score;
    /// an empty history therefore gives the popularity ranking (the cold-start fallback).
    /// Results are ordered by score, best first.
    pub fn recommend<K: AsRef<str>>(&self, history: &[(K, f32)], query: &Query) -> Vec<(String, f32)> {
        let history: Vec<u32> = history
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .filter_map(|(key, _)| self.index.get(key.as_ref()).copied())
            .collect();
        self.rank(history, query)
    }

    /// Recommends items like the seed items (Spotify's `seed_tracks`): the same as a history
    /// made of the seeds, so the seeds themselves are not returned unless
    /// [`Query::include_history`] is set. For `seed_artists`/`seed_genres`, pass the matching
    /// items as seeds and/or restrict the candidates with [`Query::allow`].
    pub fn recommend_from_seeds<K: AsRef<str>>(&self, seeds: &[K], query: &Query) -> Vec<(String, f32)> {
        let seeds: Vec<u32> = seeds.iter().filter_map(|key| self.index.get(key.as_ref()).copied()).collect();
        self.rank(seeds, query)
    }

    fn rank(&self, mut history: Vec<u32>, query: &Query) -> Vec<(String, f32)> {
        // Sorted, so that the sums do not depend on the history's order.
        history.sort_unstable();
        history.dedup();
        let eligible = |i: u32| {
            let key = self.items[i as usize].as_str();
            (query.include_history || history.binary_search(&i).is_err())
                && !query.exclude.is_some_and(|ex| ex.contains(key))
                && query.allow.is_none_or(|allow| allow(key))
        };
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for &i in &history {
            for (j, w) in self.neighbours.row(i as usize) {
                *scores.entry(j).or_default() += w;
            }
        }
        let scored = scores.into_iter().filter(|&(i, s)| s > 0.0 && eligible(i)).collect();
        let mut picked = train::best(scored, query.k);
        if picked.len() < query.k {
            let floor = picked.last().map_or(1.0, |&(_, s)| s);
            let chosen: HashSet<u32> = picked.iter().map(|&(i, _)| i).collect();
            let users = self.users.max(1) as f32;
            let fill = self.by_popularity.iter().copied().filter(|&i| !chosen.contains(&i) && eligible(i));
            picked.extend(
                fill.take(query.k - picked.len())
                    .map(|i| (i, floor * self.popularity[i as usize] as f32 / users)),
            );
        }
        picked.into_iter().map(|(i, s)| (self.items[i as usize].clone(), s)).collect()
    }

    /// Serialises the model into a versioned blob (for a database column).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = &self.neighbours;
        // Each row is sorted by target, so storing gaps makes the varints short.
        let gaps = (0..self.items.len())
            .flat_map(|i| {
                let row = &n.targets[n.offsets[i] as usize..n.offsets[i + 1] as usize];
                row.iter().scan(0, |prev, &t| Some(t - std::mem::replace(prev, t)))
            })
            .collect();
        let stored = Stored {
            algorithm: self.algorithm,
            users: self.users,
            items: self.items.clone(),
            popularity: self.popularity.clone(),
            row_lengths: n.offsets.windows(2).map(|w| w[1] - w[0]).collect(),
            target_gaps: gaps,
            weights: n.weights.clone(),
        };
        let mut out = MAGIC.to_vec();
        out.extend(VERSION.to_le_bytes());
        postcard::to_extend(&stored, out).expect("serialising into a Vec cannot fail")
    }

    /// Reads a blob written by [`Model::to_bytes`]. A blob from another format version, or
    /// a damaged one, is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let body = bytes.strip_prefix(MAGIC).ok_or(Error::NotAModel)?;
        let (version, body) = body.split_first_chunk::<2>().ok_or(Error::NotAModel)?;
        match u16::from_le_bytes(*version) {
            VERSION => {}
            other => return Err(Error::UnsupportedVersion(other)),
        }
        let corrupt = |why: &str| Error::Corrupt(why.to_owned());
        let (s, rest) =
            postcard::take_from_bytes::<Stored>(body).map_err(|e| Error::Corrupt(e.to_string()))?;
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        let n = s.items.len();
        if s.popularity.len() != n || s.row_lengths.len() != n {
            return Err(corrupt("item tables disagree in length"));
        }
        if s.target_gaps.len() != s.weights.len() || s.weights.iter().any(|w| !w.is_finite()) {
            return Err(corrupt("bad weights"));
        }
        if !s.items.windows(2).all(|w| w[0] < w[1]) {
            return Err(corrupt("item keys not sorted and unique"));
        }
        let mut neighbours =
            Neighbours { offsets: vec![0], targets: Vec::with_capacity(s.weights.len()), weights: s.weights };
        let mut gaps = s.target_gaps.into_iter();
        for len in s.row_lengths {
            let mut target = 0u32;
            for _ in 0..len {
                let gap = gaps.next().ok_or_else(|| corrupt("rows longer than the weights"))?;
                target = target
                    .checked_add(gap)
                    .filter(|&t| (t as usize) < n)
                    .ok_or_else(|| corrupt("bad target"))?;
                neighbours.targets.push(target);
            }
            neighbours.offsets.push(neighbours.targets.len() as u32);
        }
        if gaps.next().is_some() {
            return Err(corrupt("rows shorter than the weights"));
        }
        Ok(Self::assemble(s.algorithm, s.items, s.popularity, s.users, neighbours))
    }
}

/// The persisted form of a [`Model`] (format [`VERSION`]).
#[derive(Serialize, Deserialize)]
struct Stored {
    algorithm: Algorithm,
    users: u32,
    items: Vec<String>,
    popularity: Vec<u32>,
    row_lengths: Vec<u32>,
    target_gaps: Vec<u32>,
    weights: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a and b go together; c sits with b; d, e, f form a second cluster; b is the most played.
    fn plays() -> Interactions {
        [
            ("ann", "a"),
            ("ann", "b"),
            ("ann", "c"),
            ("bob", "a"),
            ("bob", "b"),
            ("cat", "b"),
            ("cat", "c"),
            ("cat", "d"),
            ("dan", "d"),
            ("dan", "e"),
            ("eve", "e"),
            ("eve", "f"),
            ("fay", "a"),
            ("fay", "b"),
            ("gus", "d"),
            ("gus", "e"),
            ("gus", "f"),
        ]
        .into_iter()
        .map(|(u, i)| (u, i, 1.0))
        .collect()
    }

    const LEARNED: [Algorithm; 3] = [
        Algorithm::ItemKnn { neighbours: 10, shrink: 0.0 },
        Algorithm::Rp3Beta { neighbours: 10, alpha: 0.8, beta: 0.3 },
        Algorithm::Ease { neighbours: 10, lambda: 10.0, max_items: 10 },
    ];

    fn keys(recs: &[(String, f32)]) -> Vec<&str> {
        recs.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn similar_items_come_first() {
        for algorithm in LEARNED {
            let model = Model::train(&plays(), algorithm);
            let recs = model.recommend_from_seeds(&["a"], &Query::top(2));
            assert_eq!(keys(&recs)[0], "b", "{algorithm:?}");
            let recs = model.recommend_from_seeds(&["f"], &Query::top(2));
            assert_eq!(keys(&recs), ["e", "d"], "{algorithm:?}");
            assert!(recs.windows(2).all(|w| w[0].1 >= w[1].1));
        }
    }

    #[test]
    fn history_and_excluded_items_are_left_out_unless_asked() {
        let model = Model::train(&plays(), Algorithm::default());
        let history = [("a", 1.0), ("b", 3.0)];
        let all = model.recommend(&history, &Query::top(10));
        assert_eq!(all.len(), 4);
        assert!(!keys(&all).contains(&"a") && !keys(&all).contains(&"b"));
        assert_eq!(keys(&all)[0], "c");

        let saved: HashSet<String> = ["c".to_owned()].into();
        let recs = model.recommend(&history, &Query::top(10).exclude(&saved));
        assert!(!keys(&recs).contains(&"c"));
        let recs = model.recommend(&history, &Query::top(10).include_history());
        assert_eq!(recs.len(), 6);
        // A zero or negative weight is not an interaction.
        let recs = model.recommend(&[("a", 1.0), ("b", 0.0)], &Query::top(1));
        assert_eq!(keys(&recs), ["b"]);
    }

    #[test]
    fn seeds_are_not_returned_and_unknown_seeds_are_ignored() {
        let model = Model::train(&plays(), Algorithm::default());
        let recs = model.recommend_from_seeds(&["e", "nope"], &Query::top(3));
        let mut first_two = keys(&recs)[..2].to_vec();
        first_two.sort_unstable();
        assert_eq!(first_two, ["d", "f"]);
        assert!(!keys(&recs).contains(&"e"));
        let recs = model.recommend_from_seeds(&["e"], &Query::top(6).include_history());
        assert!(keys(&recs).contains(&"e"));
    }

    #[test]
    fn cold_start_falls_back_to_popularity_within_the_candidates() {
        let model = Model::train(&plays(), Algorithm::default());
        let none: [(&str, f32); 0] = [];
        let recs = model.recommend(&none, &Query::top(3));
        assert_eq!(keys(&recs), ["b", "a", "d"]);
        assert_eq!(recs[0].1, 4.0 / 7.0, "share of listeners");
        let second_cluster = |item: &str| "def".contains(item);
        let recs = model.recommend(&[("unknown", 1.0)], &Query::top(5).allow(&second_cluster));
        assert_eq!(keys(&recs), ["d", "e", "f"]);
        // A personal list too short for k is topped up the same way, below the personal scores.
        let knn = Model::train(&plays(), LEARNED[0]);
        let recs = knn.recommend_from_seeds(&["f"], &Query::top(4));
        assert_eq!(keys(&recs), ["e", "d", "b", "a"]);
        assert!(recs.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(
            Model::train(&plays(), Algorithm::MostPopular).recommend_from_seeds(&["f"], &Query::top(1))[0].0,
            "b"
        );
    }

    #[test]
    fn round_trips_through_bytes() {
        for algorithm in LEARNED {
            let model = Model::train(&plays(), algorithm);
            let back = Model::from_bytes(&model.to_bytes()).unwrap();
            assert_eq!(back, model);
            assert_eq!(
                back.recommend(&[("c", 1.0)], &Query::top(5)),
                model.recommend(&[("c", 1.0)], &Query::top(5))
            );
        }
    }

    #[test]
    fn nonsensical_hyperparameters_still_give_a_usable_model() {
        for algorithm in [
            Algorithm::Ease { neighbours: 10, lambda: 0.0, max_items: 10 },
            Algorithm::ItemKnn { neighbours: 10, shrink: -1.0 },
            Algorithm::Rp3Beta { neighbours: 0, alpha: 1.0, beta: 1.0 },
        ] {
            let model = Model::train(&plays(), algorithm);
            assert_eq!(Model::from_bytes(&model.to_bytes()).unwrap(), model);
            assert_eq!(model.recommend(&[("a", 1.0)], &Query::top(3)).len(), 3);
        }
    }

    #[test]
    fn corrupt_or_old_blobs_are_errors() {
        let blob = Model::train(&plays(), Algorithm::default()).to_bytes();
        assert_eq!(Model::from_bytes(b"").unwrap_err(), Error::NotAModel);
        assert_eq!(Model::from_bytes(b"{\"json\": true}").unwrap_err(), Error::NotAModel);
        let mut old = blob.clone();
        old[8] = 0;
        assert_eq!(Model::from_bytes(&old).unwrap_err(), Error::UnsupportedVersion(0));
        let mut longer = blob.clone();
        longer.push(0);
        assert!(matches!(Model::from_bytes(&longer), Err(Error::Corrupt(_))));
        for len in 0..blob.len() {
            assert!(Model::from_bytes(&blob[..len]).is_err(), "truncated to {len}");
        }
        // Flipping any byte must never panic (it may still decode to some valid model).
        for at in 0..blob.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = blob.clone();
                bad[at] ^= flip;
                let _ = Model::from_bytes(&bad);
            }
        }
    }

    #[test]
    fn training_is_deterministic_and_order_independent() {
        let mut reversed: Vec<(String, f32)> = Vec::new();
        let data = plays();
        let mut shuffled = Interactions::new();
        for user in data.users().collect::<Vec<_>>().into_iter().rev() {
            reversed.extend(data.history(user).into_iter().rev().map(|(i, w)| (format!("{user}\t{i}"), w)));
        }
        for (key, w) in &reversed {
            let (user, item) = key.split_once('\t').unwrap();
            shuffled.add(user, item, *w);
        }
        for algorithm in LEARNED {
            let a = Model::train(&data, algorithm).to_bytes();
            assert_eq!(a, Model::train(&data, algorithm).to_bytes());
            assert_eq!(a, Model::train(&shuffled, algorithm).to_bytes(), "{algorithm:?}");
        }
    }
}
