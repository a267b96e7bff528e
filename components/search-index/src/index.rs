//! The inverted index: documents, postings per folded term, ranking, and persistence.
//!
//! Each document has up to three searchable fields: artist, album and track name (an
//! album's title is its album field, an artist's name its artist field). A posting records,
//! per (term, document), how often the term occurs in each field, which is all BM25F needs.
//! Postings are plain vectors: an upsert appends, a removal finds and swap-removes, so the
//! index follows catalog change events one document at a time and a new document is
//! searchable as soon as `upsert` returns.
//!
//! A search runs word by word: the dictionary yields the terms within the word's typo
//! budget, their postings update a dense per-document accumulator (words matched, typos,
//! score), and each requested kind keeps its best `offset + limit` by a partial sort.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dict::{Dict, Match};
use crate::query::Query;
use crate::text;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Track,
    Album,
    Artist,
}

impl Kind {
    /// Every kind, in the order results are usually shown.
    pub const ALL: [Kind; 3] = [Kind::Track, Kind::Album, Kind::Artist];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A searchable catalog item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    pub kind: Kind,
    /// The catalog id (Spotify-like base62); unique per kind.
    pub id: String,
    /// The track title, album title or artist name.
    pub name: String,
    /// The performing artist (ignored for an artist: its name is its artist field).
    pub artist: String,
    /// The album a track is on (ignored for albums and artists).
    pub album: Option<String>,
    /// Genre names, e.g. "Rock"; for albums and artists those of their tracks.
    pub genres: Vec<String>,
    /// Release year (ignored for artists).
    pub year: Option<u16>,
    /// Play or purchase count: the last tie-break.
    pub popularity: u64,
}

impl Doc {
    /// The text of each field, indexed like `FIELD_WEIGHTS`: artist, album, track name.
    fn fields(&self) -> [Option<&str>; 3] {
        match self.kind {
            Kind::Track => [Some(&self.artist), self.album.as_deref(), Some(&self.name)],
            Kind::Album => [Some(&self.artist), Some(&self.name), None],
            Kind::Artist => [Some(&self.name), None, None],
        }
    }

    fn year(&self) -> Option<u16> {
        self.year.filter(|_| self.kind != Kind::Artist)
    }
}

/// BM25F weights: a match in the artist field counts more than in the album field, which
/// counts more than in the track name.
const FIELD_WEIGHTS: [f32; 3] = [3.0, 2.0, 1.0];
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// The most typos allowed in a word of `chars` characters, as Meilisearch: none up to 4
/// characters, one from 5, two from 9.
pub fn max_typos(chars: usize) -> u8 {
    match chars {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Posting {
    doc: u32,
    /// Occurrences in each field (saturating).
    tf: [u8; 3],
}

#[derive(Debug, Clone, Default)]
struct Term {
    text: String,
    postings: Vec<Posting>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    doc: Doc,
    /// Words per field (BM25 length normalisation).
    lens: [u16; 3],
    /// Folded genres, words joined by single spaces (as `Query` folds `genre:`).
    genres: Vec<String>,
}

/// Per-document facts read in the hot loop, kept dense apart from the `Slot`s.
#[derive(Debug, Clone, Copy)]
struct Meta {
    kind_bit: u8, // 0 for a free slot
    lens: [u16; 3],
    popularity: u64,
}

/// One kind's results: how many documents match, and the requested page of their ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hits {
    pub kind: Kind,
    pub total: usize,
    pub ids: Vec<String>,
}

/// Why [`Index::from_bytes`] could not load a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The bytes do not start like a serialized index.
    NotAnIndex,
    /// Written by another version of the format: rebuild the index from the catalog.
    Version { found: u16, supported: u16 },
    /// Truncated or damaged.
    Corrupt(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnIndex => write!(f, "not a serialized search index"),
            Self::Version { found, supported } => {
                write!(f, "search index format version {found} is not supported (this build reads version {supported}): rebuild the index")
            }
            Self::Corrupt(why) => write!(f, "corrupt search index: {why}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The search index. Build it with [`Index::upsert`] (or `collect()` an iterator of
/// [`Doc`]s), query it with [`Index::search`], save it with [`Index::to_bytes`].
#[derive(Debug, Clone, Default)]
pub struct Index {
    slots: Vec<Option<Slot>>,
    meta: Vec<Meta>,
    free: Vec<u32>,
    /// Slot of each id, per kind.
    keys: [HashMap<String, u32>; 3],
    terms: Vec<Term>,
    dict: Dict,
    /// Total words and number of documents having each field (for average lengths).
    field_words: [u64; 3],
    field_docs: [u64; 3],
}

/// Folded terms of a document with their per-field counts, and the field lengths.
fn analyze(doc: &Doc) -> (Vec<(String, [u8; 3])>, [u16; 3]) {
    let mut tf: HashMap<String, [u8; 3]> = HashMap::new();
    let mut lens = [0u16; 3];
    for (f, value) in doc.fields().into_iter().enumerate() {
        let Some(value) = value else { continue };
        let (words, mut glued) = text::index_tokens(value);
        lens[f] = words.len().min(u16::MAX as usize) as u16;
        // an artist of three words or more is also found by its initials ("rhcp", "soad")
        if f == 0 && words.len() >= 3 {
            glued.push(words.iter().filter_map(|w| w.chars().next()).collect());
        }
        for w in words.into_iter().chain(glued) {
            let c = &mut tf.entry(w).or_default()[f];
            *c = c.saturating_add(1);
        }
    }
    (tf.into_iter().collect(), lens)
}

fn fold_genre(g: &str) -> String {
    text::words(g).join(" ")
}

/// Roman numerals from 2 to 20 (1 is left out: "i" is a word).
const ROMAN: [&str; 19] = [
    "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii",
    "xviii", "xix", "xx",
];
const ARABIC: [&str; 19] = [
    "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20",
];

/// The other spelling of a number from 2 to 20: "4" gives "iv", "iv" gives "4".
fn numeral_alternate(word: &str) -> Option<&'static str> {
    if let Some(i) = ARABIC.iter().position(|a| *a == word) {
        return Some(ROMAN[i]);
    }
    ROMAN.iter().position(|r| *r == word).map(|i| ARABIC[i])
}

/// The ways to cut `word` in two halves of at least two characters each.
fn splits(word: &str) -> impl Iterator<Item = (&str, &str)> {
    let n = word.chars().count();
    word.char_indices().skip(2).take(n.saturating_sub(3)).map(move |(i, _)| word.split_at(i))
}

/// Accumulated match of one document: over the words done so far, and for the current word.
#[derive(Debug, Clone, Copy)]
struct Acc {
    words: u16, // bit i: query word i matched
    typos: u8,
    word_typos: u8, // UNSEEN: the current word has not matched (yet)
    score: f32,
    word_score: f32,
}

const UNSEEN: u8 = u8::MAX;

impl Default for Acc {
    fn default() -> Self {
        Self { words: 0, typos: 0, word_typos: UNSEEN, score: 0.0, word_score: 0.0 }
    }
}

/// Documents passing the field filters.
struct FieldFilter {
    /// Per document, the filter words it matched (all of them when `== needed`).
    passed: Vec<u8>,
    needed: u8,
    docs: Vec<u32>,
}

impl FieldFilter {
    fn passes(&self, d: usize) -> bool {
        self.passed[d] == self.needed
    }
}

/// A candidate and its rank packed into one integer, greater is better: words matched,
/// then fewer typos, then score (a non-negative f32's bits order like its value), then
/// popularity.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    key: u128,
    doc: u32,
}

impl Ranked {
    fn new(doc: u32, acc: Acc, popularity: u64) -> Self {
        let key = u128::from(acc.words.count_ones()) << 120
            | u128::from(u8::MAX - acc.typos) << 112
            | u128::from(acc.score.max(0.0).to_bits()) << 64
            | u128::from(popularity);
        Self { key, doc }
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.keys.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.iter().all(HashMap::is_empty)
    }

    /// The document of this kind and id.
    pub fn get(&self, kind: Kind, id: &str) -> Option<&Doc> {
        let slot = *self.keys[kind as usize].get(id)?;
        self.slots[slot as usize].as_ref().map(|s| &s.doc)
    }

    /// Adds `doc`, or replaces the document of the same kind and id.
    pub fn upsert(&mut self, doc: Doc) {
        let slot = match self.keys[doc.kind as usize].get(&doc.id) {
            Some(&slot) => {
                self.unindex(slot);
                slot
            }
            None => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    self.meta.push(Meta { kind_bit: 0, lens: [0; 3], popularity: 0 });
                    (self.slots.len() - 1) as u32
                });
                self.keys[doc.kind as usize].insert(doc.id.clone(), slot);
                slot
            }
        };
        let (terms, lens) = analyze(&doc);
        for (text, tf) in terms {
            let id = self.dict.get_or_insert(&text, self.terms.len() as u32) as usize;
            if id == self.terms.len() {
                self.terms.push(Term { text, postings: Vec::new() });
            }
            self.terms[id].postings.push(Posting { doc: slot, tf });
        }
        self.count_fields(&doc, lens, true);
        self.meta[slot as usize] = Meta { kind_bit: doc.kind.bit(), lens, popularity: doc.popularity };
        let genres = doc.genres.iter().map(|g| fold_genre(g)).collect();
        self.slots[slot as usize] = Some(Slot { doc, lens, genres });
    }

    /// Removes the document of this kind and id; false if there was none.
    pub fn remove(&mut self, kind: Kind, id: &str) -> bool {
        let Some(slot) = self.keys[kind as usize].remove(id) else { return false };
        self.unindex(slot);
        self.slots[slot as usize] = None;
        self.meta[slot as usize].kind_bit = 0;
        self.free.push(slot);
        true
    }

    /// Sets a document's popularity (play count); false if there is no such document.
    pub fn set_popularity(&mut self, kind: Kind, id: &str, popularity: u64) -> bool {
        let Some(&slot) = self.keys[kind as usize].get(id) else { return false };
        match &mut self.slots[slot as usize] {
            Some(s) => s.doc.popularity = popularity,
            None => return false,
        }
        self.meta[slot as usize].popularity = popularity;
        true
    }

    /// Drops the postings of the document in `slot` (re-analysing it to find its terms).
    fn unindex(&mut self, slot: u32) {
        let Some(old) = self.slots[slot as usize].take() else { return };
        for (text, _) in analyze(&old.doc).0 {
            if let Some(t) = self.dict.get(&text) {
                let postings = &mut self.terms[t as usize].postings;
                if let Some(i) = postings.iter().position(|p| p.doc == slot) {
                    postings.swap_remove(i);
                }
            }
        }
        self.count_fields(&old.doc, old.lens, false);
    }

    fn count_fields(&mut self, doc: &Doc, lens: [u16; 3], add: bool) {
        for (f, value) in doc.fields().iter().enumerate() {
            if value.is_some() {
                let (words, docs) = (&mut self.field_words[f], &mut self.field_docs[f]);
                if add {
                    *words += u64::from(lens[f]);
                    *docs += 1;
                } else {
                    *words -= u64::from(lens[f]);
                    *docs -= 1;
                }
            }
        }
    }

    fn lookup(&self, word: &str, prefix: bool) -> Vec<Match> {
        let mut out = Vec::new();
        let chars = word.chars().count();
        self.dict.lookup(word, max_typos(chars), prefix, &mut out);
        // a number from 2 to 20 and its Roman numeral are one word ("led zeppelin 4" = "IV")
        if let Some(alt) = numeral_alternate(word) {
            if let Some(term) = self.dict.get(alt) {
                if !out.iter().any(|m| m.term == term) {
                    out.push(Match { term, typos: 0, len: chars as u16 });
                }
            }
        }
        out
    }

    /// Searches `kinds` and returns, per kind in the order given, the total number of
    /// matches and the ids of the `limit` best from `offset`.
    ///
    /// Ranking, as Meilisearch's rules: more query words matched first (a document must
    /// match at least one), then fewer typos, then the BM25F score (field weight artist >
    /// album > track name, term rarity, field length; a prefix completion scores a little
    /// less than the whole word), then popularity. Filters only restrict.
    pub fn search(&self, query: &Query, kinds: &[Kind], limit: usize, offset: usize) -> Vec<Hits> {
        let kind_mask = kinds.iter().fold(0u8, |m, k| m | k.bit());
        let wanted = |d: usize| self.meta[d].kind_bit & kind_mask != 0;
        let filter = self.field_filter(query, &wanted);
        let ok = |d: usize| wanted(d) && filter.as_ref().is_none_or(|f| f.passes(d));
        let (acc, candidates) = if !query.words.is_empty() {
            self.match_words(query, ok)
        } else if let Some(f) = filter.as_ref() {
            (Vec::new(), f.docs.clone())
        } else {
            (Vec::new(), (0..self.slots.len() as u32).filter(|&d| wanted(d as usize)).collect())
        };

        // Filters on stored values, then rank each kind.
        let mut per_kind: Vec<Vec<Ranked>> = vec![Vec::new(); kinds.len()];
        let stored_filters = query.years.is_some() || !query.genres.is_empty();
        for d in candidates {
            if stored_filters {
                let slot = self.slots[d as usize].as_ref().expect("candidates are live");
                if let Some((from, to)) = query.years {
                    if !slot.doc.year().is_some_and(|y| (from..=to).contains(&y)) {
                        continue;
                    }
                }
                if !query.genres.iter().all(|g| slot.genres.contains(g)) {
                    continue;
                }
            }
            let meta = self.meta[d as usize];
            let ranked = Ranked::new(d, acc.get(d as usize).copied().unwrap_or_default(), meta.popularity);
            if let Some(k) = kinds.iter().position(|k| k.bit() == meta.kind_bit) {
                per_kind[k].push(ranked);
            }
        }
        kinds.iter().zip(per_kind).map(|(&kind, ranked)| self.page(kind, ranked, limit, offset)).collect()
    }

    /// The documents passing the query's `artist:`/`album:`/`track:` filters, if any.
    fn field_filter(&self, query: &Query, wanted: &impl Fn(usize) -> bool) -> Option<FieldFilter> {
        let words: Vec<(usize, &String)> =
            query.fields.iter().enumerate().flat_map(|(f, ws)| ws.iter().map(move |w| (f, w))).collect();
        if words.is_empty() {
            return None;
        }
        // passed[d] counts the filter words matched so far, in order: each word only
        // advances documents that matched all the previous ones.
        let mut filter =
            FieldFilter { passed: vec![0; self.slots.len()], needed: words.len() as u8, docs: Vec::new() };
        for (j, &(field, word)) in words.iter().enumerate() {
            for m in self.lookup(word, false) {
                for p in &self.terms[m.term as usize].postings {
                    let d = p.doc as usize;
                    if p.tf[field] > 0 && filter.passed[d] as usize == j && wanted(d) {
                        filter.passed[d] += 1;
                        if j == 0 {
                            filter.docs.push(p.doc);
                        }
                    }
                }
            }
        }
        let passed = &filter.passed;
        filter.docs.retain(|&d| passed[d as usize] == filter.needed);
        Some(filter)
    }

    /// Matches the free words against the documents that are `ok`: per document its words
    /// matched, typos and score, and the list of documents that matched any word.
    fn match_words(&self, query: &Query, ok: impl Fn(usize) -> bool) -> (Vec<Acc>, Vec<u32>) {
        // BM25F length normalisation per field, tabulated for the usual short fields.
        let avg: [f32; 3] =
            std::array::from_fn(|f| (self.field_words[f] as f32 / self.field_docs[f].max(1) as f32).max(1.0));
        let norm = |f: usize, len: u16| FIELD_WEIGHTS[f] / (1.0 - B + B * f32::from(len) / avg[f]);
        let table: [[f32; 32]; 3] = std::array::from_fn(|f| std::array::from_fn(|len| norm(f, len as u16)));
        let n_docs = self.len() as f32;

        let idf = |df: f32| (1.0 + (n_docs - df + 0.5) / (df + 0.5)).ln();
        // a posting's BM25F score for a term of this weight
        let score = |weight: f32, p: &Posting| {
            let lens = self.meta[p.doc as usize].lens;
            let tf: f32 = (0..3)
                .map(|f| {
                    let len = lens[f];
                    let n = if len < 32 { table[f][len as usize] } else { norm(f, len) };
                    f32::from(p.tf[f]) * n
                })
                .sum();
            weight * tf * (K1 + 1.0) / (K1 + tf)
        };
        let mut acc = vec![Acc::default(); self.slots.len()];
        let (mut touched, mut candidates) = (Vec::new(), Vec::new());
        for (i, word) in query.words.iter().enumerate() {
            let prefix = query.prefix_last && i + 1 == query.words.len();
            let typed = word.chars().count() as f32;
            let matches = self.lookup(word, prefix);
            for &m in &matches {
                let postings = &self.terms[m.term as usize].postings;
                let mut weight = idf(postings.len() as f32);
                if prefix && f32::from(m.len) > typed {
                    weight *= 0.5 + 0.5 * typed / f32::from(m.len);
                }
                for p in postings {
                    let d = p.doc as usize;
                    if !ok(d) {
                        continue;
                    }
                    let a = &mut acc[d];
                    if a.word_typos == UNSEEN {
                        touched.push(p.doc);
                    } else if m.typos > a.word_typos {
                        continue; // no need to score it
                    }
                    let score = score(weight, p);
                    if m.typos < a.word_typos || score > a.word_score {
                        (a.word_typos, a.word_score) = (m.typos, score);
                    }
                }
            }
            // A word that matches no term may be two glued ones ("machinehead", "gaga"):
            // documents having both halves match it with one typo.
            if matches.is_empty() {
                for (left, right) in splits(word) {
                    let (Some(l), Some(r)) = (self.dict.get(left), self.dict.get(right)) else { continue };
                    let (l, r) = (&self.terms[l as usize].postings, &self.terms[r as usize].postings);
                    let (wl, wr) = (idf(l.len() as f32), idf(r.len() as f32));
                    let left: HashMap<u32, f32> =
                        l.iter().filter(|p| ok(p.doc as usize)).map(|p| (p.doc, score(wl, p))).collect();
                    for p in r {
                        let Some(sl) = left.get(&p.doc) else { continue };
                        let (a, score) = (&mut acc[p.doc as usize], sl + score(wr, p));
                        if a.word_typos == UNSEEN {
                            touched.push(p.doc);
                            (a.word_typos, a.word_score) = (1, score);
                        } else if a.word_typos == 1 && score > a.word_score {
                            a.word_score = score;
                        }
                    }
                }
            }
            for d in touched.drain(..) {
                let a = &mut acc[d as usize];
                if a.words == 0 {
                    candidates.push(d);
                }
                a.words |= 1 << i;
                a.typos = a.typos.saturating_add(a.word_typos);
                a.score += a.word_score;
                (a.word_typos, a.word_score) = (UNSEEN, 0.0);
            }
        }
        (acc, candidates)
    }

    /// The page `offset..offset + limit` of `ranked`, best first.
    fn page(&self, kind: Kind, mut ranked: Vec<Ranked>, limit: usize, offset: usize) -> Hits {
        let total = ranked.len();
        let end = offset.saturating_add(limit).min(total);
        let cmp = |a: &Ranked, b: &Ranked| self.rank(a, b);
        if end < total && end > 0 {
            ranked.select_nth_unstable_by(end - 1, cmp);
        }
        ranked.truncate(end);
        ranked.sort_unstable_by(cmp);
        let ids = ranked
            .iter()
            .skip(offset)
            .map(|r| self.slots[r.doc as usize].as_ref().expect("ranked documents are live").doc.id.clone())
            .collect();
        Hits { kind, total, ids }
    }

    /// Best first; equal ranks in id order, so pages are stable.
    fn rank(&self, a: &Ranked, b: &Ranked) -> Ordering {
        b.key.cmp(&a.key).then_with(|| {
            let id = |r: &Ranked| &self.slots[r.doc as usize].as_ref().expect("live").doc.id;
            id(a).cmp(id(b))
        })
    }
}

impl Extend<Doc> for Index {
    fn extend<I: IntoIterator<Item = Doc>>(&mut self, docs: I) {
        docs.into_iter().for_each(|d| self.upsert(d));
    }
}

impl FromIterator<Doc> for Index {
    fn from_iter<I: IntoIterator<Item = Doc>>(docs: I) -> Self {
        let mut index = Index::new();
        index.extend(docs);
        index
    }
}

// ---------------------------------------------------------------------------------------
// Persistence.
//
// Format: the 8 bytes `RIFFSIDX`, the format version as a little-endian u16, the CRC-32 of
// the rest as a little-endian u32 (a damaged blob is reported, never half-loaded), then a
// postcard-encoded `Snapshot`: the live documents (with their field lengths and folded
// genres) and every non-empty term with its postings, sorted by document and with
// document numbers delta-encoded (postcard's varints then take a byte or two each).
// Loading rebuilds only the cheap derived parts: the trie, the key map, the field totals.

const MAGIC: &[u8; 8] = b"RIFFSIDX";
/// The persistence format version written by this build.
pub const FORMAT_VERSION: u16 = 2;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    docs: Vec<Slot>,
    terms: Vec<(String, Vec<Posting>)>,
}

impl Index {
    /// Serializes the index (see [`FORMAT_VERSION`]); free slots and emptied terms are dropped.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut renumber = vec![u32::MAX; self.slots.len()];
        let mut docs = Vec::with_capacity(self.len());
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(s) = slot {
                renumber[i] = docs.len() as u32;
                docs.push(s.clone());
            }
        }
        let terms = self
            .terms
            .iter()
            .filter(|t| !t.postings.is_empty())
            .map(|t| {
                let mut ps: Vec<Posting> =
                    t.postings.iter().map(|p| Posting { doc: renumber[p.doc as usize], tf: p.tf }).collect();
                ps.sort_unstable_by_key(|p| p.doc);
                let mut prev = 0;
                for p in &mut ps {
                    (p.doc, prev) = (p.doc - prev, p.doc);
                }
                (t.text.clone(), ps)
            })
            .collect();
        let payload =
            postcard::to_allocvec(&Snapshot { docs, terms }).expect("serializing to a Vec cannot fail");
        let mut out = Vec::with_capacity(payload.len() + 14);
        out.extend_from_slice(MAGIC);
        out.extend(FORMAT_VERSION.to_le_bytes());
        out.extend(crc32fast::hash(&payload).to_le_bytes());
        out.extend(payload);
        out
    }

    /// Loads an index saved by [`Index::to_bytes`]. A blob of another format version, or a
    /// damaged one, is an error: rebuild from the catalog then.
    pub fn from_bytes(bytes: &[u8]) -> Result<Index, LoadError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(LoadError::NotAnIndex)?;
        let (version, rest) = rest.split_first_chunk::<2>().ok_or(LoadError::NotAnIndex)?;
        let found = u16::from_le_bytes(*version);
        if found != FORMAT_VERSION {
            return Err(LoadError::Version { found, supported: FORMAT_VERSION });
        }
        let corrupt = |why: &str| LoadError::Corrupt(why.to_string());
        let (crc, rest) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("truncated"))?;
        if crc32fast::hash(rest) != u32::from_le_bytes(*crc) {
            return Err(corrupt("checksum mismatch (truncated or damaged)"));
        }
        let (snap, left): (Snapshot, _) =
            postcard::take_from_bytes(rest).map_err(|e| LoadError::Corrupt(e.to_string()))?;
        if !left.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        let mut index = Index::new();
        for (i, slot) in snap.docs.into_iter().enumerate() {
            if index.keys[slot.doc.kind as usize].insert(slot.doc.id.clone(), i as u32).is_some() {
                return Err(corrupt("duplicate document"));
            }
            index.count_fields(&slot.doc, slot.lens, true);
            index.meta.push(Meta {
                kind_bit: slot.doc.kind.bit(),
                lens: slot.lens,
                popularity: slot.doc.popularity,
            });
            index.slots.push(Some(slot));
        }
        index.terms.reserve(snap.terms.len());
        for (text, mut postings) in snap.terms {
            let id = index.terms.len() as u32;
            if text.is_empty() || index.dict.get_or_insert(&text, id) != id {
                return Err(corrupt("bad or duplicate term"));
            }
            let mut doc = None;
            for p in &mut postings {
                // deltas: the first may be 0, later ones must move forward
                let next = match doc {
                    None => Some(p.doc),
                    Some(d) if p.doc > 0 => p.doc.checked_add(d),
                    Some(_) => None,
                };
                p.doc = next
                    .filter(|&d| (d as usize) < index.slots.len())
                    .ok_or_else(|| corrupt("bad posting"))?;
                doc = Some(p.doc);
            }
            index.terms.push(Term { text, postings });
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(kind: Kind, id: &str, name: &str, artist: &str, album: Option<&str>) -> Doc {
        Doc {
            kind,
            id: id.into(),
            name: name.into(),
            artist: artist.into(),
            album: album.map(Into::into),
            genres: vec!["Rock".into()],
            year: Some(1971),
            popularity: 0,
        }
    }

    fn track(id: &str, name: &str, artist: &str, album: &str) -> Doc {
        doc(Kind::Track, id, name, artist, Some(album))
    }

    fn ids(index: &Index, q: &str, kind: Kind) -> Vec<String> {
        let q = Query::parse(q).unwrap();
        index.search(&q, &[kind], 10, 0).remove(0).ids
    }

    fn sample() -> Index {
        [
            track("t1", "Stairway to Heaven", "Led Zeppelin", "Led Zeppelin IV"),
            track("t2", "Black Dog", "Led Zeppelin", "Led Zeppelin IV"),
            track("t3", "Paranoid", "Black Sabbath", "Paranoid"),
            track("t4", "Heaven and Hell", "Black Sabbath", "Heaven and Hell"),
            track("t5", "Crazy in Love", "Beyoncé", "Dangerously in Love"),
            track("t6", "Ace of Spades", "Motörhead", "Ace of Spades"),
            track("t7", "Sweet Child O' Mine", "Guns N' Roses", "Appetite for Destruction"),
            track("t8", "Highway to Hell", "AC/DC", "Highway to Hell"),
            doc(Kind::Album, "a1", "Led Zeppelin IV", "Led Zeppelin", None),
            doc(Kind::Album, "a2", "Paranoid", "Black Sabbath", None),
            doc(Kind::Artist, "r1", "Led Zeppelin", "", None),
            doc(Kind::Artist, "r2", "Black Sabbath", "", None),
            doc(Kind::Artist, "r3", "Motörhead", "", None),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn typo_thresholds() {
        assert_eq!((1..=12).map(max_typos).collect::<Vec<_>>(), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        let index: Index = [
            doc(Kind::Artist, "1", "Abba", "", None),
            doc(Kind::Artist, "2", "Queen", "", None),
            doc(Kind::Artist, "3", "Metallica", "", None),
        ]
        .into_iter()
        .collect();
        // finished words (a trailing space): no prefix matching
        let found = |q: &str| ids(&index, &format!("{q} "), Kind::Artist);
        let none: [&str; 0] = [];
        assert_eq!((found("abba"), found("abbe")), (vec!["1".to_string()], vec![]), "4 letters: no typo");
        for q in ["queen", "quuen", "qeuen"] {
            assert_eq!(found(q), ["2"], "5 letters: one typo, a swap is one ({q})");
        }
        assert_eq!(found("quuun"), none, "5 letters: not two");
        for q in ["metallica", "metalica", "mettalica", "mteallcia"] {
            assert_eq!(found(q), ["3"], "9 letters: two typos, a swap counting one ({q})");
        }
        assert_eq!(found("mteallcai"), none, "three swaps are too many");
        assert_eq!(
            (found("metallca"), found("metalic")),
            (vec!["3".to_string()], vec![]),
            "7 letters: one typo"
        );
    }

    #[test]
    fn folding_and_apostrophes() {
        let index = sample();
        assert_eq!(ids(&index, "beyonce", Kind::Track), ["t5"]);
        assert_eq!(ids(&index, "MOTORHEAD", Kind::Artist), ["r3"]);
        assert_eq!(ids(&index, "guns n roses", Kind::Track), ["t7"]);
        assert_eq!(ids(&index, "acdc", Kind::Track), ["t8"]);
        assert_eq!(ids(&index, "ac/dc", Kind::Track), ["t8"]);
    }

    #[test]
    fn initials_numerals_and_glued_words() {
        let index: Index = [
            doc(Kind::Artist, "rhcp", "Red Hot Chili Peppers", "", None),
            doc(Kind::Artist, "two", "Black Sabbath", "", None),
            doc(Kind::Album, "iv", "IV", "Led Zeppelin", None),
            doc(Kind::Album, "i", "Led Zeppelin I", "Led Zeppelin", None),
            doc(Kind::Album, "v4", "Vol. 4", "Black Sabbath", None),
            doc(Kind::Album, "mh", "Machine Head", "Deep Purple", None),
            doc(Kind::Album, "m", "Machine", "X", None),
        ]
        .into_iter()
        .collect();
        assert_eq!(ids(&index, "rhcp", Kind::Artist), ["rhcp"], "an artist of 3+ words by its initials");
        assert!(ids(&index, "bs ", Kind::Artist).is_empty(), "not one of two words");
        assert_eq!(ids(&index, "led zeppelin 4", Kind::Album), ["iv", "i", "v4"], "4 is IV (and 4)");
        assert_eq!(ids(&index, "vol iv", Kind::Album), ["v4", "iv"], "and IV is 4");
        // "Machine" alone has one half only
        assert_eq!(ids(&index, "machinehead", Kind::Album), ["mh"], "a glued word, split in two");
    }

    #[test]
    fn last_word_is_a_typo_tolerant_prefix() {
        let index = sample();
        assert_eq!(ids(&index, "stair", Kind::Track), ["t1"]);
        assert!(ids(&index, "stair ", Kind::Track).is_empty(), "finished word: no prefix");
        assert_eq!(ids(&index, "stair heaven", Kind::Track), ["t4", "t1"], "only the last word is a prefix");
        assert_eq!(ids(&index, "zepel", Kind::Artist), ["r1"], "prefix with one typo");
        assert!(ids(&index, "zpe", Kind::Artist).is_empty(), "a 3-letter prefix gets no typo");
    }

    #[test]
    fn ranking_rules_in_order() {
        let index: Index = [
            track("one-word", "Heaven", "X", "Y"),
            track("two-words-typo", "Stairwya Heaven", "X", "Y"),
            track("two-words", "Stairway Heaven Extra Words Here", "X", "Y"),
        ]
        .into_iter()
        .collect();
        // more words matched beats fewer typos, fewer typos beat a better score
        assert_eq!(ids(&index, "stairway heaven", Kind::Track), ["two-words", "two-words-typo", "one-word"]);

        let index: Index = [
            track("in-name", "Paranoid", "X", "Y"),
            track("in-album", "Y", "X", "Paranoid"),
            track("in-artist", "Y", "Paranoid", "X"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            ids(&index, "paranoid", Kind::Track),
            ["in-artist", "in-album", "in-name"],
            "field weight"
        );

        let pop = |id: &str, p| {
            let mut d = track(id, "Love", "X", "Y");
            d.popularity = p;
            d
        };
        let index: Index = [pop("a", 5), pop("b", 50), pop("c", 7)].into_iter().collect();
        assert_eq!(ids(&index, "love", Kind::Track), ["b", "c", "a"], "popularity breaks ties");
    }

    #[test]
    fn filters_restrict() {
        let mut index = sample();
        let mut jazz = track("j1", "So What", "Miles Davis", "Kind of Blue");
        jazz.genres = vec!["Jazz".into()];
        jazz.year = Some(1959);
        index.upsert(jazz);
        assert_eq!(ids(&index, "heaven artist:\"led zeppelin\"", Kind::Track), ["t1"]);
        assert_eq!(ids(&index, "artist:zeppelni", Kind::Artist), ["r1"], "typo in a filter");
        assert_eq!(ids(&index, "album:paranoid", Kind::Album), ["a2"]);
        assert!(ids(&index, "album:paranoid", Kind::Artist).is_empty(), "artists have no album field");
        assert_eq!(ids(&index, "track:paranoid", Kind::Track), ["t3"]);
        assert!(ids(&index, "track:paranoid", Kind::Album).is_empty());
        assert_eq!(ids(&index, "genre:JAZZ", Kind::Track), ["j1"]);
        assert_eq!(ids(&index, "what genre:jazz", Kind::Track), ["j1"]);
        assert!(ids(&index, "what genre:rock", Kind::Track).is_empty());
        assert_eq!(ids(&index, "year:1950-1959", Kind::Track), ["j1"]);
        assert_eq!(ids(&index, "year:1959", Kind::Track), ["j1"]);
        assert!(ids(&index, "so what year:1960-1970", Kind::Track).is_empty());
        assert_eq!(ids(&index, "year:1971", Kind::Track).len(), 8, "inclusive single year");
        assert!(ids(&index, "year:1971", Kind::Artist).is_empty(), "artists have no year");
    }

    #[test]
    fn kinds_totals_and_paging() {
        let index: Index = (0..25).map(|i| track(&format!("{i:02}"), "Love", "X", "Y")).collect();
        let q = Query::parse("love").unwrap();
        let page = |offset| index.search(&q, &[Kind::Track], 10, offset).remove(0);
        let (p0, p2, p3) = (page(0), page(20), page(30));
        assert_eq!((p0.total, p0.ids.len(), p2.ids.len(), p3.ids.len()), (25, 10, 5, 0));
        assert_eq!(p0.ids[0], "00");
        assert_eq!(p2.ids, ["20", "21", "22", "23", "24"]);

        let index = sample();
        let q = Query::parse("paranoid").unwrap();
        let all = index.search(&q, &[Kind::Artist, Kind::Album, Kind::Track], 10, 0);
        let got: Vec<_> = all.iter().map(|h| (h.kind, h.total)).collect();
        assert_eq!(got, [(Kind::Artist, 0), (Kind::Album, 1), (Kind::Track, 1)]);
    }

    #[test]
    fn upsert_replaces_and_remove_removes() {
        let mut index = sample();
        assert_eq!(index.len(), 13);
        index.upsert(track("t3", "War Pigs", "Black Sabbath", "Paranoid"));
        assert_eq!(index.len(), 13);
        assert!(ids(&index, "track:paranoid", Kind::Track).is_empty());
        assert_eq!(ids(&index, "war pigs", Kind::Track), ["t3"]);
        assert!(index.remove(Kind::Track, "t3"));
        assert!(!index.remove(Kind::Track, "t3"));
        assert!(!index.remove(Kind::Album, "t1"), "kind is part of the key");
        assert!(ids(&index, "war pigs", Kind::Track).is_empty());
        assert_eq!(index.len(), 12);
        index.upsert(track("new", "Brand New Song", "Someone", "Debut"));
        assert_eq!(ids(&index, "brand new", Kind::Track), ["new"], "findable at once");
        assert!(index.set_popularity(Kind::Track, "new", 9));
        assert_eq!(index.get(Kind::Track, "new").unwrap().popularity, 9);
        assert!(!index.set_popularity(Kind::Track, "t3", 9));
    }

    #[test]
    fn persistence_round_trip() {
        let mut index = sample();
        index.remove(Kind::Track, "t2"); // leaves a free slot and emptied terms behind
        let bytes = index.to_bytes();
        let loaded = Index::from_bytes(&bytes).unwrap();
        assert_eq!(loaded.len(), index.len());
        // (query, totals per kind: track, album, artist), so that no comparison is of two empty results
        // but "dog", whose only document was removed before saving
        let cases = [
            ("led zep", [1, 1, 1]),
            ("beyonce", [1, 0, 0]),
            ("artist:sabbath", [2, 1, 1]),
            ("genre:rock year:1971", [7, 2, 0]),
            ("dog", [0, 0, 0]),
            ("heavem", [2, 0, 0]),
        ];
        for (q, totals) in cases {
            let q = Query::parse(q).unwrap();
            let hits = index.search(&q, &Kind::ALL, 10, 0);
            assert_eq!(hits.iter().map(|h| h.total).collect::<Vec<_>>(), totals, "{q:?}");
            assert_eq!(loaded.search(&q, &Kind::ALL, 10, 0), hits, "{q:?}");
        }
        assert_eq!(loaded.to_bytes(), bytes, "stable");
    }

    #[test]
    fn unreadable_blobs_are_errors() {
        let bytes = sample().to_bytes();
        assert_eq!(Index::from_bytes(b"").unwrap_err(), LoadError::NotAnIndex);
        assert_eq!(Index::from_bytes(b"{\"json\": true}").unwrap_err(), LoadError::NotAnIndex);
        let mut old = bytes.clone();
        old[8..10].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            Index::from_bytes(&old).unwrap_err(),
            LoadError::Version { found: 0, supported: FORMAT_VERSION }
        );
        assert!(matches!(Index::from_bytes(&bytes[..bytes.len() / 2]), Err(LoadError::Corrupt(_))));
        // flipping any byte is reported (the checksum covers everything after it), never a panic
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xA5;
            match (i, Index::from_bytes(&b)) {
                (0..8, Err(LoadError::NotAnIndex))
                | (8..10, Err(LoadError::Version { .. }))
                | (10.., Err(LoadError::Corrupt(_))) => {}
                (i, other) => panic!("byte {i} flipped: {:?}", other.map(|_| "loaded")),
            }
        }
    }
}
