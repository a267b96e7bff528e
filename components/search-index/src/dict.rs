//! The term dictionary: a character trie that finds every term within a few typos of a
//! word, optionally as a prefix, in one walk.
//!
//! Why a trie: it is mutable (a new term costs a few node pushes, so upserts stay cheap,
//! unlike an FST that must be rebuilt) and a bounded Damerau–Levenshtein (OSA) walk over it
//! shares the dynamic-programming rows of common prefixes and prunes a branch as soon as
//! every cell of its row exceeds the typo budget, so a lookup visits a few hundred nodes
//! rather than scanning the vocabulary. Prefix search falls out of the same walk: once the
//! typed word is within budget of a node's path, the node's whole subtree matches.
//!
//! Nodes live in one `Vec` as first-child/next-sibling links: no allocation per node.

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    ch: char,
    first_child: u32,
    next_sibling: u32,
    term: u32,
}

/// A term found by [`Dict::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub term: u32,
    /// Edits between the searched word and the term (or, for a prefix search, the closest
    /// prefix of the term).
    pub typos: u8,
    /// The term's length in characters.
    pub len: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct Dict {
    nodes: Vec<Node>,
}

impl Default for Dict {
    fn default() -> Self {
        Self { nodes: vec![Node { ch: '\0', first_child: NONE, next_sibling: NONE, term: NONE }] }
    }
}

impl Dict {
    fn child(&self, node: u32, ch: char) -> Option<u32> {
        let mut c = self.nodes[node as usize].first_child;
        while c != NONE {
            let n = &self.nodes[c as usize];
            if n.ch == ch {
                return Some(c);
            }
            c = n.next_sibling;
        }
        None
    }

    fn find_node(&self, word: &str) -> Option<u32> {
        word.chars().try_fold(0, |node, ch| self.child(node, ch))
    }

    /// The id of `word`, if it is in the dictionary.
    pub fn get(&self, word: &str) -> Option<u32> {
        self.find_node(word).map(|n| self.nodes[n as usize].term).filter(|&t| t != NONE)
    }

    /// The id of `word`, giving it `new_id` if it was not there yet.
    pub fn get_or_insert(&mut self, word: &str, new_id: u32) -> u32 {
        let mut node = 0;
        for ch in word.chars() {
            node = match self.child(node, ch) {
                Some(c) => c,
                None => {
                    let id = self.nodes.len() as u32;
                    let parent = &mut self.nodes[node as usize];
                    let next_sibling = std::mem::replace(&mut parent.first_child, id);
                    self.nodes.push(Node { ch, first_child: NONE, next_sibling, term: NONE });
                    id
                }
            };
        }
        let term = &mut self.nodes[node as usize].term;
        if *term == NONE {
            *term = new_id;
        }
        *term
    }

    /// Appends to `out` every term within `max_typos` edits of `word` (insertions, deletions,
    /// substitutions and swaps of adjacent letters each count one), or, when `prefix`, every
    /// term that has a prefix within `max_typos` edits of `word`.
    pub fn lookup(&self, word: &str, max_typos: u8, prefix: bool, out: &mut Vec<Match>) {
        let q: Vec<char> = word.chars().collect();
        if max_typos == 0 {
            match self.find_node(word) {
                Some(n) if prefix => self.collect(n, q.len(), 0, out),
                Some(n) => self.emit(n, q.len(), 0, out),
                None => {}
            }
            return;
        }
        let width = q.len() + 1;
        let mut walk = Walk {
            dict: self,
            q: &q,
            k: max_typos,
            prefix,
            rows: (0..width).map(|j| j.min(max_typos as usize + 1) as u8).collect(),
            path: vec!['\0'],
            out,
        };
        walk.visit(0, 0, u8::MAX);
    }

    fn emit(&self, node: u32, len: usize, typos: u8, out: &mut Vec<Match>) {
        let term = self.nodes[node as usize].term;
        if term != NONE {
            out.push(Match { term, typos, len: len.min(u16::MAX as usize) as u16 });
        }
    }

    /// Emits every term in the subtree of `node` (at depth `depth`) with `typos`.
    fn collect(&self, node: u32, depth: usize, typos: u8, out: &mut Vec<Match>) {
        let mut stack = vec![(node, depth)];
        while let Some((n, d)) = stack.pop() {
            self.emit(n, d, typos, out);
            let mut c = self.nodes[n as usize].first_child;
            while c != NONE {
                stack.push((c, d + 1));
                c = self.nodes[c as usize].next_sibling;
            }
        }
    }
}

/// One bounded OSA walk. `rows` holds one DP row per depth of the current path (cells
/// capped at `k + 1`: only "within budget or not" matters), `path` the path's characters.
struct Walk<'a> {
    dict: &'a Dict,
    q: &'a [char],
    k: u8,
    prefix: bool,
    rows: Vec<u8>,
    path: Vec<char>,
    out: &'a mut Vec<Match>,
}

impl Walk<'_> {
    /// Visits the children of `node` at `depth`; `best` is the smallest distance between the
    /// query and a prefix of the path so far (prefix mode).
    fn visit(&mut self, node: u32, depth: usize, best: u8) {
        let (w, cap) = (self.q.len() + 1, self.k + 1);
        let mut c = self.dict.nodes[node as usize].first_child;
        while c != NONE {
            let ch = self.dict.nodes[c as usize].ch;
            let d = depth + 1;
            self.rows.resize((d + 1) * w, 0);
            self.path.truncate(d);
            self.path.push(ch);
            let (prev, cur) = self.rows.split_at_mut(d * w);
            let (grand, prev) = if d >= 2 { prev.split_at(w * (d - 1)) } else { (&[][..], &prev[..]) };
            let (grand, prev) = (&grand[grand.len().saturating_sub(w)..], &prev[prev.len() - w..]);
            cur[0] = d.min(cap as usize) as u8;
            let mut row_min = cur[0];
            for j in 1..w {
                let mut v =
                    (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + u8::from(self.q[j - 1] != ch));
                if d >= 2 && j >= 2 && self.q[j - 2] == ch && self.q[j - 1] == self.path[d - 1] {
                    v = v.min(grand[j - 2] + 1);
                }
                cur[j] = v.min(cap);
                row_min = row_min.min(cur[j]);
            }
            let dist = cur[w - 1];
            if self.prefix {
                let best = best.min(dist);
                if row_min > self.k {
                    if best <= self.k {
                        self.dict.collect(c, d, best, self.out);
                    }
                } else {
                    if best <= self.k {
                        self.dict.emit(c, d, best, self.out);
                    }
                    self.visit(c, d, best);
                }
            } else if row_min <= self.k {
                if dist <= self.k {
                    self.dict.emit(c, d, dist, self.out);
                }
                self.visit(c, d, best);
            }
            c = self.dict.nodes[c as usize].next_sibling;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(words: &[&str]) -> Dict {
        let mut d = Dict::default();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(d.get_or_insert(w, i as u32), i as u32);
        }
        d
    }

    fn found(d: &Dict, words: &[&str], q: &str, k: u8, prefix: bool) -> Vec<(String, u8)> {
        let mut out = Vec::new();
        d.lookup(q, k, prefix, &mut out);
        let mut v: Vec<_> = out.iter().map(|m| (words[m.term as usize].to_string(), m.typos)).collect();
        v.sort();
        v
    }

    /// Plain OSA distance, the reference the walk must agree with.
    fn osa(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        d[0] = (0..=b.len()).collect();
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
                }
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn exact_and_prefix_without_typos() {
        let w = ["love", "lover", "lovely", "glove", "live"];
        let d = dict(&w);
        assert_eq!(d.get("lover"), Some(1));
        assert_eq!(d.get("lov"), None);
        assert_eq!(found(&d, &w, "love", 0, false), [("love".into(), 0)]);
        let p = found(&d, &w, "lov", 0, true);
        assert_eq!(p, [("love".into(), 0), ("lovely".into(), 0), ("lover".into(), 0)]);
    }

    #[test]
    fn walk_agrees_with_reference_distance() {
        let w = [
            "zeppelin",
            "zepelin",
            "zeppelni",
            "zepplin",
            "led",
            "metallica",
            "metalica",
            "mettalica",
            "stairway",
            "staiwray",
            "sabbath",
            "sabath",
            "abc",
            "acb",
            "bac",
            "ca",
        ];
        let d = dict(&w);
        for q in ["zeppelin", "zepelin", "metallica", "stairway", "sabbath", "abc", "ca", "xyz"] {
            for k in 0..=2u8 {
                let mut want: Vec<(String, u8)> = w
                    .iter()
                    .map(|t| (t.to_string(), osa(q, t) as u8))
                    .filter(|(_, dist)| *dist <= k)
                    .collect();
                want.sort();
                assert_eq!(found(&d, &w, q, k, false), want, "query {q} k {k}");
            }
        }
    }

    #[test]
    fn prefix_walk_takes_closest_prefix() {
        let w = ["zeppelin", "zebra", "zapping", "sabbath"];
        let d = dict(&w);
        // "zepel" is one typo from "zeppel" (a prefix of "zeppelin").
        assert_eq!(found(&d, &w, "zepel", 1, true), [("zeppelin".into(), 1)]);
        // swapped letters in the typed prefix count one typo
        assert_eq!(found(&d, &w, "sabbta", 1, true), [("sabbath".into(), 1)]);
        // exact prefix wins over a typo'd one on the same path
        assert_eq!(found(&d, &w, "zeppe", 1, true), [("zeppelin".into(), 0)]);
    }
}
