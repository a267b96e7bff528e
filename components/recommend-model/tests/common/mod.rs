//! Shared by `tests/hetrec.rs` and `examples/evaluate.rs`: loading HetRec Last.fm-2k and running
//! one model through the offline evaluation.
//!
//! The data is third-party (non-commercial research licence): it is read from
//! `$RIFF_HETREC` or `../shared/data/hetrec-lastfm-2k/` beside the checkout, never copied here.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use riff_recommend::eval::{evaluate, Metrics, Split};
use riff_recommend::{Algorithm, Interactions, Model};

/// Ranking cut-off of the metrics.
pub const K: usize = 10;
/// Share of each user's artists held out.
pub const TEST_FRACTION: f64 = 0.2;
/// Seed of the train/test split.
pub const SEED: u64 = 2026;

/// `user_artists.dat`: `$RIFF_HETREC` (the directory or the file), else the shared data
/// directory beside the repository.
pub fn data_file() -> PathBuf {
    let path = std::env::var_os("RIFF_HETREC").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/hetrec-lastfm-2k")
    });
    if path.is_dir() {
        path.join("user_artists.dat")
    } else {
        path
    }
}

/// The user–artist play counts, binarised, or why they could not be read.
pub fn load() -> Result<Interactions, String> {
    let file = data_file();
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut data = Interactions::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [user, artist, plays] = fields[..] else {
            return Err(format!("{}:{}: expected 3 tab-separated fields", file.display(), n + 1));
        };
        let plays: f64 = plays.trim().parse().map_err(|e| format!("{}:{}: {e}", file.display(), n + 1))?;
        if plays > 0.0 {
            data.add(user, artist, 1.0);
        }
    }
    Ok(data)
}

/// The data, or `None` after saying why the caller should skip; panics under `CI=true`.
pub fn load_or_skip() -> Option<Interactions> {
    match load() {
        Ok(data) => Some(data),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("HetRec Last.fm-2k is required under CI=true: {e}")
        }
        Err(e) => {
            let reason = format!("HetRec Last.fm-2k not found ({e}); set RIFF_HETREC to its directory");
            println!("skipping: {reason}");
            if let Some(path) = std::env::var_os("RIFF_SKIP_LOG") {
                use std::io::Write;
                if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                    let _ = writeln!(file, "recommend-model evaluation: {reason}");
                }
            }
            None
        }
    }
}

/// The baseline and the learned candidates, with the hyperparameters chosen on a validation
/// split (`cargo run --example evaluate -- --tune`).
pub fn candidates() -> Vec<(&'static str, Algorithm)> {
    vec![
        ("MostPop", Algorithm::MostPopular),
        ("ItemKNN cosine", Algorithm::ItemKnn { neighbours: 400, shrink: 5.0 }),
        ("RP3beta", Algorithm::Rp3Beta { neighbours: 400, alpha: 0.8, beta: 0.3 }),
        ("EASE", Algorithm::Ease { neighbours: 200, lambda: 100.0, max_items: 2500 }),
    ]
}

/// One model's results.
pub struct Row {
    pub name: String,
    pub algorithm: Algorithm,
    pub metrics: Metrics,
    pub train: Duration,
    pub eval: Duration,
    pub weights: usize,
    pub blob_bytes: usize,
}

/// Trains `algorithm` on the split's training part and evaluates it.
pub fn run(name: &str, algorithm: Algorithm, split: &Split) -> Row {
    let start = Instant::now();
    let model = Model::train(&split.train, algorithm);
    let train = start.elapsed();
    let start = Instant::now();
    let metrics = evaluate(&model, split, K);
    let eval = start.elapsed();
    let blob_bytes = model.to_bytes().len();
    Row { name: name.to_owned(), algorithm, metrics, train, eval, weights: model.weight_count(), blob_bytes }
}

/// A Markdown table of the results.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| model | P@10 | R@10 | NDCG@10 | HR@10 | train | eval | weights | blob |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let m = &r.metrics;
        out += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} s | {:.2} s | {} | {:.1} MB |\n",
            r.name,
            m.precision,
            m.recall,
            m.ndcg,
            m.hit_rate,
            r.train.as_secs_f64(),
            r.eval.as_secs_f64(),
            r.weights,
            r.blob_bytes as f64 / 1e6
        );
    }
    out
}
