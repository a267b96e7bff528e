//! Offline evaluation on HetRec Last.fm-2k (see `docs/recommendation.md`): the default model
//! must reach NDCG@10 ≥ 2.5 × MostPop's and HR@10 ≥ 0.75, and be the best candidate.

mod common;

use riff_recommend::eval::Split;
use riff_recommend::Algorithm;

#[test]
fn default_model_beats_popularity_on_hetrec() {
    let Some(data) = common::load_or_skip() else { return };
    let split = Split::per_user(&data, common::TEST_FRACTION, common::SEED);
    let rows: Vec<_> =
        common::candidates().into_iter().map(|(name, a)| common::run(name, a, &split)).collect();
    println!(
        "{} users, {} items, {} interactions\n{}",
        data.user_count(),
        data.item_count(),
        data.len(),
        common::table(&rows)
    );

    let baseline = rows.iter().find(|r| r.algorithm == Algorithm::MostPopular).unwrap().metrics;
    let chosen =
        rows.iter().find(|r| r.algorithm == Algorithm::default()).expect("the default is a candidate");
    let best = rows.iter().max_by(|a, b| a.metrics.ndcg.total_cmp(&b.metrics.ndcg)).unwrap();
    assert_eq!(best.name, chosen.name, "the default model should be the best by NDCG@10");
    assert!(
        chosen.metrics.ndcg >= 2.5 * baseline.ndcg,
        "NDCG@10 {:.4} < 2.5 × MostPop's {:.4}",
        chosen.metrics.ndcg,
        baseline.ndcg
    );
    assert!(chosen.metrics.hit_rate >= 0.75, "HR@10 {:.4} < 0.75", chosen.metrics.hit_rate);
}
