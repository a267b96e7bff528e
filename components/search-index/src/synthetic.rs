//! A generated catalog for benchmarks and load tests (feature `synthetic`).
//!
//! Real catalogs have a skewed vocabulary (a few words such as "love" or "the" everywhere,
//! a long tail of rare names), artists with several albums of about a dozen tracks, and
//! a heavy-tailed popularity. The generator imitates that so that posting list lengths and
//! typo neighbourhoods, which decide search latency, look like the real thing.

use crate::{Doc, Kind};

const COMMON: &[&str] = &[
    "the", "love", "of", "you", "me", "my", "in", "night", "heart", "a", "to", "on", "baby", "time", "life",
    "dream", "fire", "blue", "light", "day", "world", "home", "man", "girl", "rock", "soul", "road", "gone",
    "moon", "rain", "sun", "dance", "black", "money", "live", "song", "wild", "sweet", "new", "run", "dark",
    "summer", "city", "angel", "river", "ghost", "golden", "street", "heaven", "down", "star", "blood",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ve", "to", "sha", "el", "dor", "in", "ar", "um", "bel", "zi", "qua", "ne", "ri",
    "sto", "vin", "ga", "mor", "tel", "ul", "fa", "nik", "ol", "pre", "sa", "thu", "bri", "den", "cas", "lu",
    "mon", "ter", "vo", "wy", "xe", "yor", "ze", "han", "ig", "jo", "ké", "lö", "ná", "ox", "pi", "ru",
    "sen",
];
const GENRES: &[&str] = &[
    "Rock",
    "Pop",
    "Jazz",
    "Metal",
    "Blues",
    "Latin",
    "Alternative & Punk",
    "Classical",
    "Hip Hop/Rap",
    "Electronica/Dance",
    "Reggae",
    "Soundtrack",
    "R&B/Soul",
    "World",
    "Easy Listening",
    "Heavy Metal",
    "Country",
    "Folk",
    "Soul",
    "Funk",
];

struct Gen {
    rng: fastrand::Rng,
    vocab: Vec<String>,
}

impl Gen {
    fn id(&mut self) -> String {
        const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..22).map(|_| B62[self.rng.usize(..B62.len())] as char).collect()
    }

    /// A skewed pick in `0..n`: low indexes are much more likely.
    fn skewed(&mut self, n: usize) -> usize {
        let u = self.rng.f64();
        ((u * u * u) * n as f64) as usize
    }

    fn word(&mut self) -> String {
        if self.rng.u8(..100) < 45 {
            COMMON[self.skewed(COMMON.len())].to_string()
        } else {
            let i = self.skewed(self.vocab.len());
            self.vocab[i].clone()
        }
    }

    fn title(&mut self, min: usize, max: usize) -> String {
        let n = self.rng.usize(min..=max);
        let words: Vec<String> = (0..n)
            .map(|_| {
                let w = self.word();
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            })
            .collect();
        words.join(" ")
    }

    /// Heavy-tailed (Pareto-like) popularity.
    fn popularity(&mut self, scale: f64) -> u64 {
        (scale / (1.0 - self.rng.f64()).powf(1.3)) as u64
    }
}

/// A catalog of `n_tracks` tracks with their albums (6–16 tracks each) and artists (1–8
/// albums each): word-like names, 20 genres, years 1955–2025, heavy-tailed popularity.
/// The same `seed` gives the same catalog. Artists come first, then albums, then tracks.
pub fn catalog(n_tracks: usize, seed: u64) -> Vec<Doc> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let vocab = (0..(n_tracks / 3).max(200))
        .map(|_| (0..rng.usize(2..=4)).map(|_| SYLLABLES[rng.usize(..SYLLABLES.len())]).collect())
        .collect();
    let mut g = Gen { rng, vocab };
    let (mut artists, mut albums, mut tracks) = (Vec::new(), Vec::new(), Vec::new());
    while tracks.len() < n_tracks {
        let name = match g.rng.u8(..10) {
            0 => format!("The {}", g.title(1, 2)),
            _ => g.title(1, 3),
        };
        let genre = GENRES[g.skewed(GENRES.len())].to_string();
        let fame = g.popularity(10.0) as f64;
        let mut year = g.rng.u16(1955..=2020);
        let mut artist_pop = 0;
        for _ in 0..g.rng.usize(1..=8) {
            let album = g.title(1, 4);
            let mut album_pop = 0;
            for _ in 0..g.rng.usize(6..=16) {
                if tracks.len() == n_tracks {
                    break;
                }
                let popularity = g.popularity(fame);
                album_pop += popularity;
                tracks.push(Doc {
                    kind: Kind::Track,
                    id: g.id(),
                    name: g.title(1, 5),
                    artist: name.clone(),
                    album: Some(album.clone()),
                    genres: vec![genre.clone()],
                    year: Some(year),
                    popularity,
                });
            }
            artist_pop += album_pop;
            albums.push(Doc {
                kind: Kind::Album,
                id: g.id(),
                name: album,
                artist: name.clone(),
                album: None,
                genres: vec![genre.clone()],
                year: Some(year),
                popularity: album_pop,
            });
            year = (year + g.rng.u16(1..=4)).min(2025);
        }
        artists.push(Doc {
            kind: Kind::Artist,
            id: g.id(),
            artist: name.clone(),
            name,
            album: None,
            genres: vec![genre],
            year: None,
            popularity: artist_pop,
        });
    }
    artists.extend(albums);
    artists.extend(tracks);
    artists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Index, Query};

    #[test]
    fn deterministic_and_searchable() {
        let docs = catalog(2_000, 7);
        assert_eq!(docs, catalog(2_000, 7));
        assert_eq!(docs.iter().filter(|d| d.kind == Kind::Track).count(), 2_000);
        assert!(docs.iter().all(|d| d.id.len() == 22));
        let index: Index = docs.iter().cloned().collect();
        let t = docs.iter().find(|d| d.kind == Kind::Track && d.year.is_some()).unwrap();
        let year = t.year.unwrap();
        let q = Query::parse(&format!("\"{}\" year:{}-{}", t.name, year, year)).unwrap();
        let hits = index.search(&q, &[Kind::Track], 1000, 0).remove(0);
        assert!(hits.ids.contains(&t.id));
        // the year filter holds on every hit
        for id in &hits.ids {
            assert_eq!(index.get(Kind::Track, id).unwrap().year, Some(year));
        }
    }
}
