//! The recommendation service on the repository's spin.toml: seeds, a listener's own history,
//! a model learned from everyone's plays (through the queue), the model surviving a restart,
//! and bad input answered 400.
//!
//! Demo catalog: ar01 electronic (tr01–tr05, the most popular), ar02 jazz (tr06–tr08),
//! ar03 folk (tr09–tr10), ar04 classical (tr11–tr12, the least popular).

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

fn play(riff: &Riff, token: &str, track: &str) {
    let resp = client()
        .post(riff.url("/v1/me/player/played"))
        .bearer_auth(token)
        .json(&json!({ "track_id": track }))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
}

fn mine(riff: &Riff, token: &str) -> Vec<String> {
    let resp = client().get(riff.url("/v1/me/recommendations?limit=10")).bearer_auth(token).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().unwrap();
    ids(&body)
}

fn ids(body: &Value) -> Vec<String> {
    body["tracks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

fn status(riff: &Riff) -> Value {
    get_json(&riff.url("/v1/recommendations/status")).1
}

fn wait_for(riff: &Riff, what: &str, check: impl Fn(&Value) -> bool) {
    let context = || format!("{}\n{}", status(riff), riff.log());
    eventually(what, Duration::from_secs(30), context, || check(&status(riff)));
}

#[test]
fn seeds_lead_to_their_genre_and_artist() {
    let riff = Riff::start(&repo_manifest(""));
    let (code, body) = get_json(&riff.url("/v1/recommendations?seed_genres=classical&limit=2"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(ids(&body), ["tr11", "tr12"], "cold start: popularity within the genre");
    assert_eq!(body["seeds"][0]["type"], "GENRE");
    assert_eq!(body["tracks"][0]["artists"][0]["name"], "Aria Lumen", "full track objects");

    let (_, body) = get_json(&riff.url("/v1/recommendations?seed_tracks=tr09&limit=3"));
    assert_eq!(ids(&body)[0], "tr10", "the seed's artist first, the seed itself left out: {body}");
    assert!(!ids(&body).contains(&"tr09".to_string()));
    assert!(body["seeds"][0]["initialPoolSize"].as_u64().unwrap() >= 2, "{body}");
}

#[test]
fn a_listener_of_one_genre_gets_it_back_without_what_they_played() {
    let riff = Riff::start(&repo_manifest(""));
    let token = Listener::register(&riff, "jazzfan").token;
    let cold = mine(&riff, &token);
    assert_eq!(cold[0], "tr01", "no history: the most popular first: {cold:?}");
    play(&riff, &token, "tr06");
    let recs = mine(&riff, &token);
    assert_eq!(&recs[..2], ["tr07", "tr08"], "jazz first: {recs:?}");
    assert!(!recs.contains(&"tr06".to_string()), "the played track is left out: {recs:?}");
    let resp = client()
        .get(riff.url("/v1/me/recommendations?include_history=true"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert!(ids(&resp.json().unwrap()).contains(&"tr06".to_string()), "unless asked");
}

#[test]
fn the_model_learns_from_everyones_plays_and_survives_a_restart() {
    let riff = Riff::start(&repo_manifest(""));
    // Three listeners play jazz (ar02) and classical (ar04) together.
    for name in ["annie", "bobby", "cyril"] {
        let token = Listener::register(&riff, name).token;
        for track in ["tr06", "tr07", "tr11", "tr12"] {
            play(&riff, &token, track);
        }
    }
    wait_for(&riff, "a trained model", |s| s["model"]["trained_on_plays"].as_i64() >= Some(10));
    let model = status(&riff)["model"].clone();
    assert!(model["algorithm"].as_str().unwrap().len() > 2, "{model}");

    // A new listener plays jazz only: classical, which goes with it, comes before the far more
    // popular electronic music.
    let token = Listener::register(&riff, "deedee").token;
    play(&riff, &token, "tr06");
    let recs = mine(&riff, &token);
    let pos = |id: &str| recs.iter().position(|r| r == id).unwrap_or(usize::MAX);
    assert!(pos("tr11") < pos("tr01"), "learned artist above popular ones: {recs:?}");
    assert!(pos("tr07") < pos("tr11"), "own artist first: {recs:?}");

    let dir = riff.stop();
    let riff = Riff::start_in(dir, &[], &[]);
    assert_eq!(status(&riff)["model"], model, "the model is kept");
    let after = mine(&riff, &token);
    assert_eq!(after, recs, "same recommendations after a restart");
}

#[test]
fn bad_requests_get_400() {
    let riff = Riff::start(&repo_manifest(""));
    for (query, reason) in [
        ("", "at least one"),
        ("seed_genres=a,b,c&seed_artists=ar01,ar02,ar03", "at most 5"),
        ("seed_genres=jazz&limit=0", "limit"),
        ("seed_genres=jazz&limit=101", "limit"),
        ("seed_artists=nope", "unknown seed artist"),
        ("seed_tracks=..%2Fx", "not an id"),
    ] {
        let (code, body) = get_json(&riff.url(&format!("/v1/recommendations?{query}")));
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(reason), "{query}: {body}");
    }
    let (code, _) = get_json(&riff.url("/v1/me/recommendations"));
    assert_eq!(code, 401);
}
