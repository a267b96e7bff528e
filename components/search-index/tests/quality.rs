//! Search quality on the Chinook catalog, held to golden ranks.
//!
//! Two query sets, each a file in `tests/queries/` (query, kind searched, the record a user
//! expects): `known.tsv`, written alongside the index's rules, and `listeners.tsv`, written as
//! listeners type (misspellings, partial titles, accents, artist + title mixed) before the
//! index was run on it. For each query the rank of the expected record among the top 10 is
//! compared with the one recorded in `tests/golden/<set>.tsv`: any query ranking worse fails
//! the test (all regressions are listed), and so does a drop in the top-1 or top-5 count.
//! Improvements are printed; `RIFF_UPDATE_GOLDEN=1` rewrites the golden file with the ranks
//! found. Every run prints the table and the top-1 / top-5 / not-found figures
//! (docs/search.md reports them).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use riff_search::{fold, Doc, Index, Kind, Query};

/// Ranks are positions among this many results; beyond, the record is "not found".
const LIMIT: usize = 10;

/// One query and the record it should find.
struct Case {
    query: String,
    kind: Kind,
    /// Acceptable names (compared folded), as written in the file.
    names: Vec<String>,
    /// The record's artist, when the name alone is ambiguous.
    artist: Option<String>,
}

impl Case {
    /// The expected record as the golden file and the table show it.
    fn expected(&self) -> String {
        let names = self.names.join(" | ");
        match &self.artist {
            Some(a) => format!("{names} ({a})"),
            None => names,
        }
    }

    fn key(&self) -> (String, String, String) {
        (self.query.clone(), kind_name(self.kind).to_string(), self.expected())
    }

    fn matches(&self, doc: &Doc) -> bool {
        self.names.iter().any(|n| fold(n) == fold(&doc.name))
            && self.artist.as_deref().is_none_or(|a| doc.artist == a)
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Track => "track",
        Kind::Album => "album",
        Kind::Artist => "artist",
    }
}

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(sub)
}

/// Lines of a tab-separated file, without comments and blank lines.
fn rows(path: &PathBuf) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn cases(set: &str) -> Vec<Case> {
    let path = dir("queries").join(format!("{set}.tsv"));
    let cases: Vec<Case> = rows(&path)
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), 4, "{}: not 4 columns: {r:?}", path.display());
            let kind = match r[1].as_str() {
                "track" => Kind::Track,
                "album" => Kind::Album,
                "artist" => Kind::Artist,
                other => panic!("{}: unknown kind {other:?}", path.display()),
            };
            Case {
                query: r[0].clone(),
                kind,
                names: r[2].split(" | ").map(str::to_string).collect(),
                artist: Some(r[3].clone()).filter(|a| !a.is_empty()),
            }
        })
        .collect();
    let mut seen = HashSet::new();
    for c in &cases {
        assert!(
            seen.insert((c.query.clone(), c.kind)),
            "{set}: `{}` ({:?}) is listed twice",
            c.query,
            c.kind
        );
    }
    cases
}

/// Golden ranks: (query, kind, expected) -> rank from 1, `None` when not in the top 10.
type Golden = BTreeMap<(String, String, String), Option<usize>>;

fn golden_path(set: &str) -> PathBuf {
    dir("golden").join(format!("{set}.tsv"))
}

fn read_golden(set: &str) -> Golden {
    let path = golden_path(set);
    if !path.exists() {
        return Golden::new();
    }
    rows(&path)
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), 4, "{}: not 4 columns: {r:?}", path.display());
            let rank = match r[3].as_str() {
                "-" => None,
                n => Some(n.parse().unwrap_or_else(|_| panic!("{}: bad rank in {r:?}", path.display()))),
            };
            ((r[0].clone(), r[1].clone(), r[2].clone()), rank)
        })
        .collect()
}

fn write_golden(set: &str, cases: &[Case], ranks: &[Option<usize>]) {
    let mut out = format!(
        "# Golden ranks of tests/queries/{set}.tsv, written by `RIFF_UPDATE_GOLDEN=1 cargo test -p riff-search\n\
         # --test quality`: query, kind, expected record, its rank among the top {LIMIT} (- : not there).\n\
         # tests/quality.rs fails when a query ranks worse than here.\n"
    );
    for (c, r) in cases.iter().zip(ranks) {
        let rank = r.map_or("-".to_string(), |r| r.to_string());
        writeln!(out, "{}\t{}\t{}\t{rank}", c.query, kind_name(c.kind), c.expected()).unwrap();
    }
    std::fs::create_dir_all(dir("golden")).unwrap();
    std::fs::write(golden_path(set), out).unwrap();
}

/// Chinook's documents and their index, built once for both sets.
fn chinook() -> Option<&'static (Vec<Doc>, Index)> {
    static DATA: OnceLock<Option<(Vec<Doc>, Index)>> = OnceLock::new();
    DATA.get_or_init(|| common::chinook().map(|docs| (docs.clone(), docs.into_iter().collect()))).as_ref()
}

/// Counts of a set's ranks: (top-1, top-5, not in the top 10).
fn shares(ranks: impl Iterator<Item = Option<usize>> + Clone) -> (usize, usize, usize) {
    let top1 = ranks.clone().filter(|r| *r == Some(1)).count();
    let top5 = ranks.clone().filter(|r| r.is_some_and(|r| r <= 5)).count();
    (top1, top5, ranks.filter(Option::is_none).count())
}

fn pct(n: usize, of: usize) -> f64 {
    n as f64 * 100.0 / of as f64
}

fn check_set(set: &str) {
    let Some((docs, index)) = chinook() else { return };
    let cases = cases(set);
    let mut table =
        "| query | kind | expected | rank | first hit, when not the expected |\n| --- | --- | --- | --- | --- |\n"
            .to_string();
    let mut ranks = Vec::new();
    for c in &cases {
        let query = Query::parse(&c.query).unwrap_or_else(|e| panic!("{}: {e}", c.query));
        let hits = index.search(&query, &[c.kind], LIMIT, 0).remove(0);
        let doc = |id: &String| index.get(c.kind, id).expect("a hit is in the index");
        let rank = hits.ids.iter().position(|id| c.matches(doc(id))).map(|r| r + 1);
        let first = match rank {
            Some(1) => String::new(),
            _ => hits.ids.first().map_or("-".into(), |id| format!("{} ({})", doc(id).name, doc(id).artist)),
        };
        let shown = rank.map_or(format!("not in top {LIMIT}"), |r| r.to_string());
        writeln!(table, "| `{}` | {:?} | {} | {shown} | {first} |", c.query, c.kind, c.expected()).unwrap();
        ranks.push(rank);
    }
    println!("{table}");
    let n = cases.len();
    let (top1, top5, missing) = shares(ranks.iter().copied());
    println!(
        "{set}: {n} queries: top-1 {top1} ({:.1}%), top-5 {top5} ({:.1}%), not in top {LIMIT} {missing}",
        pct(top1, n),
        pct(top5, n)
    );

    // Every expected record is in the catalog (else a query can never find it).
    let absent: Vec<String> = cases
        .iter()
        .filter(|c| !docs.iter().any(|d| d.kind == c.kind && c.matches(d)))
        .map(|c| format!("`{}`: {}", c.query, c.expected()))
        .collect();
    assert!(absent.is_empty(), "{set}: expected records missing from Chinook:\n{}", absent.join("\n"));

    if std::env::var("RIFF_UPDATE_GOLDEN").as_deref() == Ok("1") {
        write_golden(set, &cases, &ranks);
        println!("{set}: wrote {}", golden_path(set).display());
        return;
    }
    let golden = read_golden(set);
    let (mut worse, mut better, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    let show = |r: Option<usize>| r.map_or(format!("not in top {LIMIT}"), |r| r.to_string());
    for (c, &now) in cases.iter().zip(&ranks) {
        let Some(&was) = golden.get(&c.key()) else {
            unknown.push(format!("`{}` ({})", c.query, c.expected()));
            continue;
        };
        // None (not found) ranks below every position
        let order = |r: Option<usize>| r.unwrap_or(usize::MAX);
        let line = format!("`{}` ({}): golden {}, now {}", c.query, c.expected(), show(was), show(now));
        if order(now) > order(was) {
            worse.push(line);
        } else if order(now) < order(was) {
            better.push(line);
        }
    }
    let keys: HashSet<_> = cases.iter().map(Case::key).collect();
    let stale: Vec<String> =
        golden.keys().filter(|k| !keys.contains(*k)).map(|k| format!("`{}` ({})", k.0, k.2)).collect();
    let update = "cd components && RIFF_UPDATE_GOLDEN=1 cargo test -p riff-search --release \
                  --target x86_64-unknown-linux-gnu --test quality (your host's triple)";
    if !better.is_empty() {
        println!(
            "{set}: {} queries rank better than golden; record them with `{update}`:\n{}",
            better.len(),
            better.join("\n")
        );
    }
    assert!(
        unknown.is_empty() && stale.is_empty(),
        "{set}: the golden file does not match the queries (record with `{update}`):\n\
         queries without a golden rank:\n{}\ngolden ranks without a query:\n{}",
        unknown.join("\n"),
        stale.join("\n")
    );
    assert!(worse.is_empty(), "{set}: {} queries rank worse than golden:\n{}", worse.len(), worse.join("\n"));
    let (g1, g5, _) = shares(golden.values().copied());
    assert!(top1 >= g1, "{set}: top-1 {top1} is below the golden {g1}");
    assert!(top5 >= g5, "{set}: top-5 {top5} is below the golden {g5}");
}

/// The first set: 53 queries written alongside the index's rules.
#[test]
fn known_queries_keep_their_golden_ranks() {
    check_set("known");
}

/// The second set: queries as listeners type them, written before seeing results.
#[test]
fn listener_queries_keep_their_golden_ranks() {
    check_set("listeners");
}
