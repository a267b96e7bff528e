//! The offline comparison on HetRec Last.fm-2k, with timings:
//!
//! ```text
//! cargo run -p riff-recommend --release --target x86_64-unknown-linux-gnu --example evaluate [-- --tune --repeat]
//! ```
//!
//! `--tune` first searches each candidate's hyperparameters on validation splits carved out of
//! the training part, so the test items never steer the choice; `--repeat` also runs every
//! candidate on five more random splits (mean ± sd).

#[allow(dead_code)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use riff_recommend::eval::{evaluate, Metrics, Split};
use riff_recommend::{Algorithm, Interactions, Model};

fn main() {
    let start = Instant::now();
    let Some(data) = common::load_or_skip() else { return };
    let split = Split::per_user(&data, common::TEST_FRACTION, common::SEED);
    let held_out: usize = split.test.iter().map(|(_, items)| items.len()).sum();
    println!(
        "HetRec Last.fm-2k: {} users, {} artists, {} user-artist pairs (loaded in {:.2} s)",
        data.user_count(),
        data.item_count(),
        data.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "split: per user, {:.0}% held out at random (ChaCha8, seed {}): {} training pairs, {} held out over {} users\n",
        common::TEST_FRACTION * 100.0,
        common::SEED,
        split.train.len(),
        held_out,
        split.test.len()
    );
    if std::env::args().any(|a| a == "--tune") {
        tune(&split);
    }
    if std::env::args().any(|a| a == "--repeat") {
        repeat(&data, 5);
    }
    let rows: Vec<_> =
        common::candidates().into_iter().map(|(name, a)| common::run(name, a, &split)).collect();
    println!("{}", common::table(&rows));
    let base = rows[0].metrics;
    for r in &rows[1..] {
        println!("{}: NDCG@10 = {:.2} × MostPop's", r.name, r.metrics.ndcg / base.ndcg);
    }

    // What the service would store: the default model trained on everything.
    let start = Instant::now();
    let model = Model::train(&data, Algorithm::default());
    let train = start.elapsed();
    let start = Instant::now();
    let blob = model.to_bytes();
    let save = start.elapsed();
    let start = Instant::now();
    Model::from_bytes(&blob).expect("a fresh blob reads back");
    println!(
        "\ndefault model {:?} on all {} pairs: trained in {:.2} s, {} weights, blob {:.2} MB \
         (written in {:.0} ms, read in {:.0} ms)",
        model.algorithm(),
        data.len(),
        train.as_secs_f64(),
        model.weight_count(),
        blob.len() as f64 / 1e6,
        save.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64() * 1e3
    );
}

/// Grid search on validation splits of the training part (three re-splits, averaged), so the
/// test items never steer the choice. Prints each setting and the best per family.
fn tune(split: &Split) {
    let seeds = [1, 2, 3].map(|s| common::SEED + s);
    let valid: Vec<Split> =
        seeds.iter().map(|&s| Split::per_user(&split.train, common::TEST_FRACTION, s)).collect();
    let mut families: Vec<Vec<Algorithm>> = vec![Vec::new(); 3];
    for neighbours in [50, 100, 200, 400] {
        for shrink in [0.0, 5.0, 10.0, 20.0, 50.0] {
            families[0].push(Algorithm::ItemKnn { neighbours, shrink });
        }
    }
    for neighbours in [100, 200, 400] {
        for alpha in [0.6, 0.8, 1.0] {
            for beta in [0.2, 0.3, 0.4] {
                families[1].push(Algorithm::Rp3Beta { neighbours, alpha, beta });
            }
        }
    }
    for max_items in [1500, 2500] {
        for neighbours in [100, 200] {
            for lambda in [50.0, 100.0, 200.0] {
                families[2].push(Algorithm::Ease { neighbours, lambda, max_items });
            }
        }
    }
    println!("validation: the training part re-split with seeds {seeds:?}, mean NDCG@10 / HR@10:");
    for family in families {
        let mut best = (f64::MIN, Algorithm::MostPopular);
        for algorithm in family {
            let start = Instant::now();
            let (mut ndcg, mut hr) = (0.0, 0.0);
            for v in &valid {
                let m = evaluate(&Model::train(&v.train, algorithm), v, common::K);
                ndcg += m.ndcg / valid.len() as f64;
                hr += m.hit_rate / valid.len() as f64;
            }
            println!("  {algorithm:?}: {ndcg:.4} / {hr:.4} ({:.1} s)", start.elapsed().as_secs_f64());
            if ndcg > best.0 {
                best = (ndcg, algorithm);
            }
        }
        println!("  best: {:?} ({:.4})\n", best.1, best.0);
    }
}

/// Every candidate on `n` further random splits (other seeds): mean ± standard deviation, and
/// on how many splits each was the best, to tell a real difference from the luck of one split.
fn repeat(data: &Interactions, n: u64) {
    let splits: Vec<Split> = (1..=n).map(|seed| Split::per_user(data, common::TEST_FRACTION, seed)).collect();
    let results: Vec<(&str, Vec<Metrics>)> = common::candidates()
        .into_iter()
        .map(|(name, a)| {
            (name, splits.iter().map(|s| evaluate(&Model::train(&s.train, a), s, common::K)).collect())
        })
        .collect();
    let ndcg = |r: usize, s: usize| results[r].1[s].ndcg;
    println!("repeated splits (seeds 1..={n}): mean ± sd over the splits");
    println!("| model | NDCG@10 | HR@10 | NDCG@10 / MostPop's | best NDCG@10 on |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (r, (name, runs)) in results.iter().enumerate() {
        let (n_mean, n_sd) = mean_sd(&runs.iter().map(|m| m.ndcg).collect::<Vec<_>>());
        let (h_mean, h_sd) = mean_sd(&runs.iter().map(|m| m.hit_rate).collect::<Vec<_>>());
        let ratio = mean_sd(&(0..runs.len()).map(|s| ndcg(r, s) / ndcg(0, s)).collect::<Vec<_>>()).0;
        let wins = (0..runs.len()).filter(|&s| (0..results.len()).all(|o| ndcg(o, s) <= ndcg(r, s))).count();
        println!("| {name} | {n_mean:.4} ± {n_sd:.4} | {h_mean:.4} ± {h_sd:.4} | {ratio:.2} | {wins}/{n} |");
    }
    println!();
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len().max(2) - 1) as f64;
    (mean, var.sqrt())
}
