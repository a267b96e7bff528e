//! Ranking candidate tracks: plain Rust, tested natively.
//!
//! A track scores by its artist: the listener's (or the seeds') own artists first, ordered by
//! how much they were played; then the artists the model learned go with them, by model score;
//! then tracks that only share a genre; then anything else (filler). Ties go to popularity.

use std::collections::{HashMap, HashSet};

/// What ranking needs to know about a track.
pub struct Candidate<'a> {
    pub id: &'a str,
    pub artist_id: &'a str,
    pub genre: Option<&'a str>,
    pub popularity: u32,
}

#[derive(Debug)]
pub struct Plan {
    scores: HashMap<String, f32>,
    pub genres: Vec<String>,
    exclude: HashSet<String>,
}

const GENRE_ONLY: f32 = 0.1;

impl Plan {
    /// `own`: artists from the history or seeds, with weights; `learned`: the model's artists
    /// with scores; `genres`: lowercase genre names; `exclude`: track ids never to return.
    pub fn new(
        own: &HashMap<String, f32>,
        learned: &[(String, f32)],
        genres: Vec<String>,
        exclude: HashSet<String>,
    ) -> Self {
        let mut scores = HashMap::new();
        let top = learned.iter().map(|(_, s)| *s).fold(f32::MIN_POSITIVE, f32::max);
        for (artist, score) in learned {
            // Learned artists land in (0.2, 1]: above genre-only tracks.
            scores.insert(artist.clone(), 0.2 + 0.8 * (score / top).clamp(0.0, 1.0));
        }
        let heaviest = own.values().copied().fold(f32::MIN_POSITIVE, f32::max);
        for (artist, weight) in own {
            scores.insert(artist.clone(), 1.0 + weight / heaviest);
        }
        let mut seen = HashSet::new();
        let genres = genres.into_iter().filter(|g| seen.insert(g.clone())).collect();
        Self { scores, genres, exclude }
    }

    /// Artists whose tracks are candidates.
    pub fn artists(&self) -> impl Iterator<Item = &String> {
        self.scores.keys()
    }

    /// The best `limit` of `pool` (duplicates and excluded tracks dropped).
    pub fn rank<T>(&self, pool: Vec<T>, limit: usize, view: impl Fn(&T) -> Candidate<'_>) -> Vec<T> {
        let mut seen = HashSet::new();
        let mut scored: Vec<(f32, u32, String, T)> = pool
            .into_iter()
            .filter_map(|t| {
                let c = view(&t);
                if self.exclude.contains(c.id) || !seen.insert(c.id.to_string()) {
                    return None;
                }
                let score = self.scores.get(c.artist_id).copied().unwrap_or_else(|| {
                    let in_genre =
                        c.genre.is_some_and(|g| self.genres.iter().any(|x| x.eq_ignore_ascii_case(g)));
                    if in_genre {
                        GENRE_ONLY
                    } else {
                        0.0
                    }
                });
                Some((score, c.popularity, c.id.to_string(), t))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then_with(|| a.2.cmp(&b.2)));
        scored.into_iter().take(limit).map(|(_, _, _, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T(&'static str, &'static str, &'static str, u32);

    fn pool() -> Vec<T> {
        vec![
            T("t1", "pop-star", "pop", 99),
            T("t2", "jazz-band", "jazz", 10),
            T("t3", "jazz-band", "jazz", 20),
            T("t4", "pianist", "classical", 5),
            T("t5", "other-jazz", "jazz", 50),
            T("t3", "jazz-band", "jazz", 20),
        ]
    }

    fn ids(plan: &Plan, limit: usize) -> Vec<&'static str> {
        plan.rank(pool(), limit, |t| Candidate { id: t.0, artist_id: t.1, genre: Some(t.2), popularity: t.3 })
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    #[test]
    fn own_artists_then_learned_then_genre_then_popularity() {
        let own = HashMap::from([("jazz-band".to_string(), 3.0)]);
        let learned = vec![("pianist".to_string(), 0.5)];
        let plan = Plan::new(&own, &learned, vec!["jazz".into()], HashSet::from(["t2".to_string()]));
        assert_eq!(ids(&plan, 10), ["t3", "t4", "t5", "t1"], "t2 excluded, t3 once");
        assert_eq!(ids(&plan, 2), ["t3", "t4"]);
    }

    #[test]
    fn without_history_popularity_within_the_genres_leads() {
        let plan = Plan::new(&HashMap::new(), &[], vec!["jazz".into(), "jazz".into()], HashSet::new());
        assert_eq!(plan.genres, ["jazz"]);
        assert_eq!(ids(&plan, 3), ["t5", "t3", "t2"]);
    }
}
