//! Folding and tokenization: the one place that decides what a "word" is, used alike for
//! documents and queries so that both sides always agree.
//!
//! Folding lowercases and strips diacritics (Unicode NFKD, then combining marks dropped),
//! plus the few Latin letters that do not decompose (`ø`, `ł`, `ß`, `æ`, ...), so
//! "Beyoncé" and "beyonce", "MOTÖRHEAD" and "motorhead" are the same word.
//!
//! Tokens are runs of letters and digits. Apostrophes are dropped *inside* a token rather
//! than splitting it ("Don't" is `dont`, "Guns N' Roses" is `guns n roses`), because a user
//! types "dont" far more often than "don t". A whitespace-free chunk that punctuation splits
//! into several tokens is also indexed glued together ("AC/DC" gives `ac`, `dc` and `acdc`,
//! "R.E.M." gives `r`, `e`, `m` and `rem`), so either spelling finds it.

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// Lowercases `s` and strips its diacritics ("Beyoncé" → "beyonce").
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd().filter(|c| !is_combining_mark(*c)) {
        for l in c.to_lowercase().filter(|c| !is_combining_mark(*c)) {
            match l {
                'ø' => out.push('o'),
                'ł' => out.push('l'),
                'đ' | 'ð' => out.push('d'),
                'ı' => out.push('i'),
                'ß' => out.push_str("ss"),
                'æ' => out.push_str("ae"),
                'œ' => out.push_str("oe"),
                'þ' => out.push_str("th"),
                _ => out.push(l),
            }
        }
    }
    out
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`' | '´')
}

/// The tokens of an already folded, whitespace-free chunk, in order.
fn chunk_tokens(chunk: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for c in chunk.chars() {
        if c.is_alphanumeric() {
            cur.push(c);
        } else if !is_apostrophe(c) && !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// Query-side tokens of `s`: folded words, in order.
pub fn words(s: &str) -> Vec<String> {
    fold(s).split_whitespace().flat_map(chunk_tokens).collect()
}

/// Document-side tokens of a field: the words (whose count is the field's length) and the
/// extra glued forms of punctuated chunks ("acdc"), which do not count in the length.
pub fn index_tokens(s: &str) -> (Vec<String>, Vec<String>) {
    let (mut words, mut glued) = (Vec::new(), Vec::new());
    for chunk in fold(s).split_whitespace() {
        let tokens = chunk_tokens(chunk);
        if tokens.len() > 1 {
            glued.push(tokens.concat());
        }
        words.extend(tokens);
    }
    (words, glued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_diacritics() {
        assert_eq!(fold("Beyoncé"), "beyonce");
        assert_eq!(fold("MOTÖRHEAD"), "motorhead");
        assert_eq!(fold("Sigur Rós"), "sigur ros");
        assert_eq!(fold("Mötley Crüe"), "motley crue");
        assert_eq!(fold("Ægir Øresund Łódź Straße"), "aegir oresund lodz strasse");
        assert_eq!(fold("İstanbul"), "istanbul");
        assert_eq!(fold("ｆｕｌｌ"), "full");
    }

    #[test]
    fn tokenizes_on_punctuation_and_joins_apostrophes() {
        assert_eq!(words("Guns N' Roses"), ["guns", "n", "roses"]);
        assert_eq!(words("Don’t Stop Me Now!"), ["dont", "stop", "me", "now"]);
        assert_eq!(words("Rock 'n' Roll"), ["rock", "n", "roll"]);
        assert_eq!(words("  Hello,world  (live)"), ["hello", "world", "live"]);
        assert!(words("-- !! --").is_empty());
    }

    #[test]
    fn index_tokens_glue_punctuated_chunks() {
        let (words, glued) = index_tokens("AC/DC and R.E.M.");
        assert_eq!(words, ["ac", "dc", "and", "r", "e", "m"]);
        assert_eq!(glued, ["acdc", "rem"]);
    }
}
