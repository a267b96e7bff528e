//! A live recommender: a trained model plus the interactions that keep arriving.

use std::sync::Arc;

use crate::{Algorithm, Interactions, Model, Query};

/// A [`Model`] together with the listening history it serves.
///
/// New plays go into the history at once ([`Recommender::observe`]), so the next recommendation
/// for that user already builds on them and leaves them out; the learned weights take them in at
/// the next retrain. Retraining never blocks readers: train on a snapshot
/// ([`Recommender::interactions`]`.clone()`) anywhere, then swap the result in with
/// [`Recommender::set_model`]; [`Recommender::retrain`] does both in one blocking call.
#[derive(Clone, Debug)]
pub struct Recommender {
    model: Arc<Model>,
    data: Interactions,
}

impl Recommender {
    /// Trains a model on `data` and serves it.
    pub fn train(data: Interactions, algorithm: Algorithm) -> Self {
        Self::new(Arc::new(Model::train(&data, algorithm)), data)
    }

    /// Serves an already trained model (e.g. one read back with [`Model::from_bytes`]) with
    /// the current interactions.
    pub fn new(model: Arc<Model>, data: Interactions) -> Self {
        Self { model, data }
    }

    /// Records a play (or save, or a negative weight to retract one).
    pub fn observe(&mut self, user: &str, item: &str, weight: f32) {
        self.data.add(user, item, weight);
    }

    /// Recommends items for a known user from their whole history, including plays observed
    /// since the last training. An unknown user gets the popularity fallback.
    pub fn recommend(&self, user: &str, query: &Query) -> Vec<(String, f32)> {
        self.model.recommend(&self.data.history(user), query)
    }

    /// The model being served.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// All interactions so far; clone it to train a new model in the background.
    pub fn interactions(&self) -> &Interactions {
        &self.data
    }

    /// Serves a newly trained model.
    pub fn set_model(&mut self, model: Arc<Model>) {
        self.model = model;
    }

    /// Retrains the same algorithm on all interactions so far (blocking).
    pub fn retrain(&mut self) {
        self.model = Arc::new(Model::train(&self.data, self.model.algorithm()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_plays_count_at_once_and_are_learned_at_retrain() {
        let plays: Interactions = [
            ("ann", "a"),
            ("ann", "b"),
            ("bob", "a"),
            ("bob", "b"),
            ("cat", "c"),
            ("cat", "d"),
            ("dan", "c"),
        ]
        .into_iter()
        .map(|(u, i)| (u, i, 1.0))
        .collect();
        let mut rec = Recommender::train(plays, Algorithm::default());
        let top = |rec: &Recommender, user| rec.recommend(user, &Query::top(1))[0].0.clone();
        assert_eq!(top(&rec, "zoe"), "a", "unknown user: most popular");

        rec.observe("zoe", "d", 2.0);
        assert_eq!(top(&rec, "zoe"), "c", "the new play steers the next recommendation");
        rec.observe("zoe", "c", 1.0);
        assert!(!rec.recommend("zoe", &Query::top(5)).iter().any(|(i, _)| i == "c" || i == "d"));

        // A new item is unknown to the model until it is retrained.
        rec.observe("eve", "new", 1.0);
        rec.observe("eve", "a", 1.0);
        let before = Arc::clone(rec.model());
        assert!(before.recommend_from_seeds(&["a"], &Query::top(3)).iter().all(|(i, _)| i != "new"));
        let snapshot = rec.interactions().clone();
        rec.set_model(Arc::new(Model::train(&snapshot, Algorithm::default())));
        let after = rec.model().recommend_from_seeds(&["new"], &Query::top(1));
        assert_eq!(after[0].0, "a");
        assert_eq!(before.item_count() + 1, rec.model().item_count());
        rec.retrain();
        assert_eq!(rec.model().item_count(), 5);
    }
}
