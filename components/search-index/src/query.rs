//! Query syntax, as Spotify's search box takes it: free words plus field filters.
//!
//! ```text
//! led zep                          free words; the last one is a prefix (search as you type)
//! stairway artist:"Led Zeppelin"   a filter value with spaces is quoted
//! genre:jazz year:1959             year:1990 or an inclusive range year:1990-1999
//! ```
//!
//! Rules worth knowing:
//! - Filters are `artist:`, `album:`, `track:`, `genre:` and `year:` (keys case-insensitive).
//!   Any other `key:value` is not a filter: it is searched as the free words `key value`
//!   (so a title such as "Re:Stacks" stays findable).
//! - `artist:`, `album:` and `track:` values must all be words of that field (typo-tolerant
//!   like free words, never as prefixes). `genre:` must equal one of the document's genres,
//!   ignoring case, diacritics and punctuation. Repeated filters must all hold.
//! - The last free word is matched as a prefix when it ends the query: not quoted, and not
//!   followed by a space or a filter (then the user has finished typing it).
//! - At most [`MAX_WORDS`] free words (and as many words per filter) are used; the rest are
//!   ignored, as Meilisearch does.

use std::fmt;
use std::str::FromStr;

use crate::text;

/// Longest accepted query, in bytes: longer input is rejected rather than searched slowly.
pub const MAX_QUERY_BYTES: usize = 512;
/// Free words (and words per filter) taken into account; later ones are ignored.
pub const MAX_WORDS: usize = 10;

/// Why a query string was rejected. Its `Display` is a message meant for the end user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Nothing to search for: blank, or only punctuation.
    Empty,
    /// Longer than [`MAX_QUERY_BYTES`].
    TooLong { len: usize, max: usize },
    /// A `"` without its closing partner, at this byte offset.
    UnbalancedQuote { at: usize },
    /// A filter such as `artist:` with no value (or only punctuation).
    EmptyFilter { key: String },
    /// A `year:` value that is not a year or a range of years.
    BadYear { value: String },
    /// `year:FROM-TO` with FROM after TO.
    ReversedYears { from: u16, to: u16 },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the search is empty: type a word to search for"),
            Self::TooLong { len, max } => {
                write!(f, "the search is too long ({len} bytes): shorten it to at most {max} bytes")
            }
            Self::UnbalancedQuote { at } => {
                write!(
                    f,
                    "the quote at character {} is never closed: add the closing \" or remove it",
                    at + 1
                )
            }
            Self::EmptyFilter { key } => {
                write!(f, "the filter {key}: has no value: write {key}:word or {key}:\"two words\", with no space after the colon")
            }
            Self::BadYear { value } => {
                write!(f, "\"{value}\" is not a year: write year:1990 or a range such as year:1990-1999")
            }
            Self::ReversedYears { from, to } => {
                write!(f, "the year range {from}-{to} ends before it starts: write year:{to}-{from}")
            }
        }
    }
}

impl std::error::Error for QueryError {}

/// A parsed query: folded free words and filters. Build one with [`Query::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub(crate) words: Vec<String>,
    pub(crate) prefix_last: bool,
    /// Folded filter words per field, indexed like `index::Field`: artist, album, track.
    pub(crate) fields: [Vec<String>; 3],
    /// Folded genre names, words joined by single spaces.
    pub(crate) genres: Vec<String>,
    /// Inclusive range; may be empty (from > to) when repeated year filters do not overlap.
    pub(crate) years: Option<(u16, u16)>,
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”' | '„')
}

/// Splits on whitespace outside quotes; quote characters stay in the chunks.
fn chunks(s: &str) -> Result<Vec<&str>, QueryError> {
    let (mut out, mut start, mut open) = (Vec::new(), None, None);
    for (i, c) in s.char_indices() {
        if is_quote(c) {
            open = if open.is_some() { None } else { Some(i) };
        }
        if c.is_whitespace() && open.is_none() {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(at) = open {
        return Err(QueryError::UnbalancedQuote { at });
    }
    out.extend(start.map(|st| &s[st..]));
    Ok(out)
}

fn parse_year(value: &str) -> Result<(u16, u16), QueryError> {
    let bad = || QueryError::BadYear { value: value.to_string() };
    let year = |s: &str| {
        if (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u16>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (from, to) = match value.split_once('-') {
        Some((a, b)) => (year(a.trim())?, year(b.trim())?),
        None => (year(value)?, year(value)?),
    };
    if from > to {
        return Err(QueryError::ReversedYears { from, to });
    }
    Ok((from, to))
}

impl Query {
    /// Parses a search box string. See the module docs for the syntax.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        if input.len() > MAX_QUERY_BYTES {
            return Err(QueryError::TooLong { len: input.len(), max: MAX_QUERY_BYTES });
        }
        let mut q = Query::default();
        let chunks = chunks(input)?;
        for (n, chunk) in chunks.iter().enumerate() {
            let filter = chunk.split_once(':').and_then(|(key, value)| {
                let key = key.to_ascii_lowercase();
                ["artist", "album", "track", "genre", "year"].contains(&key.as_str()).then_some((key, value))
            });
            let unquoted: String = chunk.chars().filter(|c| !is_quote(*c)).collect();
            let Some((key, value)) = filter else {
                q.words.extend(text::words(&unquoted));
                // Only the query's very last chunk, unquoted and not followed by a space, is
                // still being typed.
                q.prefix_last = n + 1 == chunks.len()
                    && unquoted.len() == chunk.len()
                    && !input.ends_with(char::is_whitespace);
                continue;
            };
            let value: String = value.chars().filter(|c| !is_quote(*c)).collect();
            let value = value.trim();
            let words = text::words(value);
            if words.is_empty() {
                return Err(QueryError::EmptyFilter { key });
            }
            match key.as_str() {
                "year" => {
                    let (from, to) = parse_year(value)?;
                    q.years = Some(match q.years {
                        Some((a, b)) => (a.max(from), b.min(to)),
                        None => (from, to),
                    });
                }
                "genre" => q.genres.push(words.join(" ")),
                _ => {
                    let field = match key.as_str() {
                        "artist" => 0,
                        "album" => 1,
                        _ => 2,
                    };
                    q.fields[field].extend(words.into_iter().take(MAX_WORDS));
                }
            }
        }
        if q.words.len() > MAX_WORDS {
            q.words.truncate(MAX_WORDS);
            q.prefix_last = false;
        }
        for f in &mut q.fields {
            f.truncate(MAX_WORDS);
        }
        q.prefix_last &= !q.words.is_empty();
        if q.words.is_empty()
            && q.fields.iter().all(Vec::is_empty)
            && q.genres.is_empty()
            && q.years.is_none()
        {
            return Err(QueryError::Empty);
        }
        Ok(q)
    }
}

impl FromStr for Query {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn free_words_and_prefix() {
        let a = q("Led  ZEP");
        assert_eq!(a.words, ["led", "zep"]);
        assert!(a.prefix_last);
        assert!(!q("led zep ").prefix_last, "a trailing space ends the word");
        assert!(!q("\"led zep\"").prefix_last, "quoted words are whole words");
        assert_eq!(q("\"led zep\"").words, ["led", "zep"]);
    }

    #[test]
    fn filters() {
        let a = q(r#"stairway artist:"Led Zeppelin" ALBUM:iv track:heaven genre:Hip-Hop year:1970-1979"#);
        assert_eq!(a.words, ["stairway"]);
        assert!(!a.prefix_last, "the last chunk is a filter");
        assert_eq!(a.fields, [vec!["led", "zeppelin"], vec!["iv"], vec!["heaven"]]);
        assert_eq!(a.genres, ["hip hop"]);
        assert_eq!(a.years, Some((1970, 1979)));
        assert_eq!(q("year:1999").years, Some((1999, 1999)));
        assert_eq!(q("artist:“AC/DC”").fields[0], ["ac", "dc"]);
        // repeated year filters intersect
        assert_eq!(q("year:1990-1999 year:1995-2005").years, Some((1995, 1999)));
    }

    #[test]
    fn unknown_filter_keys_are_free_words() {
        let a = q("foo:bar");
        let no_words: Vec<String> = Vec::new();
        assert_eq!(a.words, ["foo", "bar"]);
        assert!(a.prefix_last, "the last word is still being typed");
        assert_eq!(a.fields, [no_words.clone(), no_words.clone(), no_words.clone()]);
        assert_eq!((a.genres, a.years), (no_words, None));
    }

    #[test]
    fn errors() {
        use QueryError::*;
        assert_eq!(Query::parse(""), Err(Empty));
        assert_eq!(Query::parse(" \t\n "), Err(Empty));
        assert_eq!(Query::parse("?! --"), Err(Empty));
        let long = "a".repeat(10_000);
        assert_eq!(Query::parse(&long), Err(TooLong { len: 10_000, max: MAX_QUERY_BYTES }));
        assert!(Query::parse(&"ab ".repeat(170)).is_ok(), "510 bytes is fine");
        assert_eq!(Query::parse(r#"artist:"Led Zeppelin"#), Err(UnbalancedQuote { at: 7 }));
        assert_eq!(Query::parse(r#"say "hello" "world"#), Err(UnbalancedQuote { at: 12 }));
        assert_eq!(Query::parse("artist:"), Err(EmptyFilter { key: "artist".into() }));
        assert_eq!(Query::parse("love genre:\"\""), Err(EmptyFilter { key: "genre".into() }));
        assert_eq!(Query::parse("artist: led"), Err(EmptyFilter { key: "artist".into() }));
        assert_eq!(Query::parse("year:"), Err(EmptyFilter { key: "year".into() }));
        assert_eq!(Query::parse("year:199x"), Err(BadYear { value: "199x".into() }));
        assert_eq!(Query::parse("year:19999"), Err(BadYear { value: "19999".into() }));
        assert_eq!(Query::parse("year:1990-"), Err(BadYear { value: "1990-".into() }));
        assert_eq!(Query::parse("year:1999-1990"), Err(ReversedYears { from: 1999, to: 1990 }));
        // every message tells the user what to do
        let messages = [
            (Empty, "the search is empty: type a word to search for"),
            (TooLong { len: 600, max: 512 }, "the search is too long (600 bytes): shorten it to at most 512 bytes"),
            (UnbalancedQuote { at: 0 }, "the quote at character 1 is never closed: add the closing \" or remove it"),
            (
                EmptyFilter { key: "artist".into() },
                "the filter artist: has no value: write artist:word or artist:\"two words\", with no space after the colon",
            ),
            (BadYear { value: "x".into() }, "\"x\" is not a year: write year:1990 or a range such as year:1990-1999"),
            (ReversedYears { from: 1999, to: 1990 }, "the year range 1999-1990 ends before it starts: write year:1990-1999"),
        ];
        for (e, message) in messages {
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn word_limit() {
        let a = q("a b c d e f g h i j k l");
        assert_eq!(a.words.len(), MAX_WORDS);
        assert!(!a.prefix_last, "the typed last word was dropped");
    }
}
