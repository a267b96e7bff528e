//! Offline evaluation: hold out part of every user's items, recommend, count the hits.
//!
//! No file access here: the caller loads the data (see `tests/hetrec.rs`).

use std::collections::HashSet;

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::{Interactions, Model, Query};

/// A per-user random split of interactions into training and held-out test items.
#[derive(Clone, Debug)]
pub struct Split {
    /// Every user's remaining items: what the models train on and the history they rank from.
    pub train: Interactions,
    /// Per evaluated user (key order), the held-out items.
    pub test: Vec<(String, Vec<String>)>,
}

impl Split {
    /// Holds out `round(test_fraction × n)` of each user's `n` items, chosen by a ChaCha8
    /// generator seeded with `seed` (users and items visited in key order, so the split only
    /// depends on the data and the seed). Users left with no test or no training item are
    /// trained on but not evaluated.
    pub fn per_user(data: &Interactions, test_fraction: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut users: Vec<&str> = data.users().collect();
        users.sort_unstable();
        let mut train = Interactions::new();
        let mut test = Vec::new();
        for user in users {
            let mut items = data.history(user);
            items.sort_unstable_by(|a, b| a.0.cmp(b.0));
            items.shuffle(&mut rng);
            let held = (items.len() as f64 * test_fraction).round() as usize;
            let held = if held == items.len() { 0 } else { held };
            let (held_out, kept) = items.split_at(held);
            kept.iter().for_each(|&(item, w)| train.add(user, item, w));
            if !held_out.is_empty() {
                test.push((user.to_owned(), held_out.iter().map(|&(item, _)| item.to_owned()).collect()));
            }
        }
        Self { train, test }
    }
}

/// Top-k accuracy averaged over the evaluated users (binary relevance).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Hits / k.
    pub precision: f64,
    /// Hits / number of held-out items.
    pub recall: f64,
    /// Discounted cumulative gain of the hits over the best achievable (`min(k, held-out)` hits
    /// at the top).
    pub ndcg: f64,
    /// Share of users with at least one hit.
    pub hit_rate: f64,
    /// Users evaluated.
    pub users: usize,
}

/// Ranks the top `k` items for every test user from their training history (which is left out
/// of the ranking) and averages the metrics.
pub fn evaluate(model: &Model, split: &Split, k: usize) -> Metrics {
    let mut sum = Metrics::default();
    let gain = |rank: usize| 1.0 / (rank as f64 + 2.0).log2();
    for (user, held_out) in &split.test {
        let held_out: HashSet<&str> = held_out.iter().map(String::as_str).collect();
        let recs = model.recommend(&split.train.history(user), &Query::top(k));
        let hits: Vec<usize> = recs
            .iter()
            .enumerate()
            .filter(|(_, (item, _))| held_out.contains(item.as_str()))
            .map(|(r, _)| r)
            .collect();
        let ideal: f64 = (0..k.min(held_out.len())).map(gain).sum();
        sum.precision += hits.len() as f64 / k as f64;
        sum.recall += hits.len() as f64 / held_out.len() as f64;
        sum.ndcg += hits.iter().map(|&r| gain(r)).sum::<f64>() / ideal;
        sum.hit_rate += f64::from(u8::from(!hits.is_empty()));
        sum.users += 1;
    }
    let n = sum.users.max(1) as f64;
    Metrics {
        precision: sum.precision / n,
        recall: sum.recall / n,
        ndcg: sum.ndcg / n,
        hit_rate: sum.hit_rate / n,
        users: sum.users,
    }
}
