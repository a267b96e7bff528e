//! Listening history: who played what, how much.

use std::collections::HashMap;

/// A mutable set of user–item interactions (plays, saves), keyed by the service's string ids.
///
/// Weights accumulate: adding `(u, i, 3.0)` twice records 6 plays. The models only use whether an
/// item's total weight is positive, so a negative weight can retract an interaction (an "unsave").
/// Keys are interned once; a clone is a cheap-enough snapshot to train on while this one keeps
/// taking new plays.
#[derive(Clone, Debug, Default)]
pub struct Interactions {
    user_ids: HashMap<String, usize>,
    user_keys: Vec<String>,
    item_ids: HashMap<String, u32>,
    item_keys: Vec<String>,
    /// Per user, `(item id, total weight)` sorted by item id.
    rows: Vec<Vec<(u32, f32)>>,
}

impl Interactions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `weight` to the user's interaction with the item. Non-finite weights are ignored.
    pub fn add(&mut self, user: &str, item: &str, weight: f32) {
        if !weight.is_finite() {
            return;
        }
        let u = match self.user_ids.get(user) {
            Some(&u) => u,
            None => {
                self.user_ids.insert(user.to_owned(), self.user_keys.len());
                self.user_keys.push(user.to_owned());
                self.rows.push(Vec::new());
                self.user_keys.len() - 1
            }
        };
        let i = match self.item_ids.get(item) {
            Some(&i) => i,
            None => {
                let i = self.item_keys.len() as u32;
                self.item_ids.insert(item.to_owned(), i);
                self.item_keys.push(item.to_owned());
                i
            }
        };
        let row = &mut self.rows[u];
        match row.binary_search_by_key(&i, |&(j, _)| j) {
            Ok(at) => row[at].1 += weight,
            Err(at) => row.insert(at, (i, weight)),
        }
    }

    /// The items the user has interacted with (positive total weight), with their weights.
    pub fn history(&self, user: &str) -> Vec<(&str, f32)> {
        self.user_ids.get(user).map_or_else(Vec::new, |&u| self.positive(u).collect())
    }

    /// User keys, in the order they were first seen.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.user_keys.iter().map(String::as_str)
    }

    /// Number of distinct users.
    pub fn user_count(&self) -> usize {
        self.user_keys.len()
    }

    /// Number of distinct items.
    pub fn item_count(&self) -> usize {
        self.item_keys.len()
    }

    /// Number of (user, item) pairs with a positive weight.
    pub fn len(&self) -> usize {
        self.rows.iter().map(|r| r.iter().filter(|&&(_, w)| w > 0.0).count()).sum()
    }

    /// Whether there is no positive interaction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The positive interactions of user `u` (an internal index).
    pub(crate) fn positive(&self, u: usize) -> impl Iterator<Item = (&str, f32)> {
        self.rows[u].iter().filter(|&&(_, w)| w > 0.0).map(|&(i, w)| (self.item_keys[i as usize].as_str(), w))
    }

    pub(crate) fn item_keys(&self) -> &[String] {
        &self.item_keys
    }

    /// Per user (internal index order), the `(item id, weight)` pairs, item ids indexing
    /// [`Self::item_keys`].
    pub(crate) fn rows(&self) -> &[Vec<(u32, f32)>] {
        &self.rows
    }
}

impl<U: AsRef<str>, I: AsRef<str>> FromIterator<(U, I, f32)> for Interactions {
    fn from_iter<T: IntoIterator<Item = (U, I, f32)>>(iter: T) -> Self {
        let mut data = Self::new();
        data.extend(iter);
        data
    }
}

impl<U: AsRef<str>, I: AsRef<str>> Extend<(U, I, f32)> for Interactions {
    fn extend<T: IntoIterator<Item = (U, I, f32)>>(&mut self, iter: T) {
        for (user, item, weight) in iter {
            self.add(user.as_ref(), item.as_ref(), weight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_accumulate_and_retract() {
        let mut data: Interactions =
            [("ann", "a", 2.0), ("ann", "b", 1.0), ("bob", "a", 1.0)].into_iter().collect();
        data.add("ann", "a", 3.0);
        data.add("ann", "b", -1.0);
        data.add("ann", "c", f32::NAN);
        assert_eq!(data.history("ann"), vec![("a", 5.0)]);
        assert_eq!(data.history("nobody"), vec![]);
        assert_eq!((data.len(), data.user_count(), data.item_count()), (2, 2, 2));
    }
}
