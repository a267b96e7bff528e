//! Native, in-process search latency: builds the synthetic 100k-track catalog (and Chinook
//! when present), runs a few hundred varied queries against each, prints p50/p95/p99/max.
//!
//! ```sh
//! cargo run -p riff-search --release --features synthetic --example latency \
//!     --target x86_64-unknown-linux-gnu      # SLOWEST=1 also lists the slowest queries
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use riff_search::{synthetic, Doc, Index, Kind, Query};

/// Queries a user might type about the catalog's items: whole names, prefixes as typed,
/// one or two typos, filters, very short prefixes.
fn queries(docs: &[Doc], n: usize, seed: u64) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let typo = |w: &str, rng: &mut fastrand::Rng| {
        let mut c: Vec<char> = w.chars().collect();
        if c.len() >= 5 {
            let i = rng.usize(1..c.len() - 1);
            if rng.bool() {
                c.swap(i, i + 1);
            } else {
                c.remove(i);
            }
        }
        c.into_iter().collect::<String>()
    };
    (0..n)
        .map(|i| {
            let d = &docs[rng.usize(..docs.len())];
            let words: Vec<&str> = d.name.split_whitespace().collect();
            let genre = d.genres.first().cloned().unwrap_or_else(|| "Rock".into());
            match i % 10 {
                0 | 1 => d.name.clone(),
                2 | 3 => {
                    // prefix as typed: cut inside the last word
                    let mut s = d.name.clone();
                    let cut = s.chars().count().saturating_sub(rng.usize(0..3)).max(1);
                    s = s.chars().take(cut).collect();
                    s
                }
                4 => words.iter().map(|w| typo(w, &mut rng)).collect::<Vec<_>>().join(" "),
                5 => format!("{} {}", d.artist, words[0]),
                6 => format!("{} artist:\"{}\"", words[0], d.artist),
                7 => format!("{} genre:\"{genre}\" year:1970-1999", words[0]),
                8 => d.name.chars().take(rng.usize(1..=3)).collect(),
                _ => format!("{} {}", typo(&d.artist, &mut rng), typo(words[0], &mut rng)),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Resident memory in MB (Linux), to estimate the index's footprint.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|kb| kb.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

fn measure(name: &str, docs: Vec<Doc>) {
    let n_docs = docs.len();
    let (started, rss) = (Instant::now(), rss_mb());
    let mut index: Index = docs.iter().cloned().collect();
    let build = started.elapsed();
    let grown = rss_mb() - rss;
    let started = Instant::now();
    let bytes = index.to_bytes();
    let save = started.elapsed();
    let started = Instant::now();
    let loaded = Index::from_bytes(&bytes).expect("round trip");
    let load = started.elapsed();
    assert_eq!(loaded.len(), index.len());

    // Each query is timed once as it comes (what a caller sees on this shared, noisy
    // machine) and as the best of 5 runs (its CPU cost without preemption by neighbours).
    let queries = queries(&docs, 500, 42);
    let (mut once, mut best) = (Vec::new(), Vec::new());
    let mut hits = 0;
    let mut slowest = Vec::new();
    for q in &queries {
        let query = Query::parse(q).expect("generated queries are valid");
        let mut runs = [Duration::ZERO; 5];
        for run in &mut runs {
            let started = Instant::now();
            let res = index.search(&query, &Kind::ALL, 10, 0);
            *run = started.elapsed();
            hits += res.iter().map(|h| h.total).sum::<usize>();
        }
        once.push(runs[0]);
        best.push(*runs.iter().min().unwrap());
        slowest.push((runs[0], q.clone()));
    }
    once.sort();
    best.sort();

    // incremental updates: replace then remove 1,000 tracks
    let tracks: Vec<&Doc> = docs.iter().filter(|d| d.kind == Kind::Track).take(1000).collect();
    let started = Instant::now();
    for d in &tracks {
        let mut d = (*d).clone();
        d.name.push_str(" (Remastered)");
        index.upsert(d);
    }
    let upsert = started.elapsed() / tracks.len() as u32;
    let started = Instant::now();
    for d in &tracks {
        index.remove(d.kind, &d.id);
    }
    let remove = started.elapsed() / tracks.len() as u32;

    println!(
        "{name}: {n_docs} docs, build {build:.1?} (resident memory +{grown:.0} MB), to_bytes {save:.1?} ({:.1} MB), from_bytes {load:.1?}",
        bytes.len() as f64 / 1e6
    );
    for (label, times) in [("once", &once), ("best of 5", &best)] {
        println!(
            "  {} queries, all kinds, limit 10, {label:>9}: p50 {:.2?}  p95 {:.2?}  p99 {:.2?}  max {:.2?}",
            times.len(),
            percentile(times, 0.5),
            percentile(times, 0.95),
            percentile(times, 0.99),
            times.last().unwrap(),
        );
    }
    println!("  (on average {} matching documents per query)", hits / (5 * queries.len()));
    if std::env::var_os("SLOWEST").is_some() {
        slowest.sort();
        for (t, q) in slowest.iter().rev().take(25) {
            println!("    {t:.2?} {q}");
        }
    }
    println!("  upsert (replace) {upsert:.1?} per track, remove {remove:.1?} per track");
}

fn main() {
    measure("synthetic 100k tracks", synthetic::catalog(100_000, 1));
    if let Some(docs) = common::chinook() {
        measure("Chinook", docs);
    }
}
