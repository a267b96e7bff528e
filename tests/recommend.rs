//! The recommendation service on the repository's spin.toml: seeds, a listener's own history,
//! a model learned from everyone's plays (through the queue), the model surviving a restart,
//! and bad input answered 400. How often the model retrains is the service's choice: the tests
//! read what it was trained on from its status endpoint.
//!
//! Demo catalog: ar01 electronic (tr01–tr05, the most popular), ar02 jazz (tr06–tr08),
//! ar03 folk (tr09–tr10), ar04 classical (tr11–tr12, the least popular).

use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn play(riff: &Riff, token: &str, track: &str) {
    let resp = client()
        .post(riff.url("/v1/me/player/played"))
        .bearer_auth(token)
        .json(&json!({ "track_id": track }))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "playing {track}");
}

fn recommendations(riff: &Riff, token: &str, query: &str) -> Vec<String> {
    let resp =
        client().get(riff.url(&format!("/v1/me/recommendations?{query}"))).bearer_auth(token).send().unwrap();
    let (status, body) = json_reply(resp);
    assert_eq!(status, 200, "{body}");
    ids(&body)
}

fn mine(riff: &Riff, token: &str) -> Vec<String> {
    recommendations(riff, token, "limit=10")
}

fn ids(body: &Value) -> Vec<String> {
    let tracks = body["tracks"].as_array().unwrap_or_else(|| panic!("no tracks: {body}"));
    tracks
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_else(|| panic!("a track without id: {t}")).to_string())
        .collect()
}

fn status(riff: &Riff) -> Value {
    let (code, body) = get_json(&riff.url("/v1/recommendations/status"));
    assert_eq!(code, 200, "{body}");
    body
}

/// The repository's app, with a probe (the queue tests' subscriber) allowed to publish on
/// `plays`, and recommend's `plays` subscription giving up after one attempt — so a marker that
/// is not a play becomes a dead letter as soon as recommend's handler has run on it.
fn app() -> String {
    let subscription = "topic = \"plays\"\ncomponent = \"recommend\"\n";
    let manifest = repo_manifest(
        r#"
[[trigger.http]]
route = "/sub/..."
component = "probe"
[component.probe]
source = "{wasm}/subscriber.wasm"
[component.probe.tool.riff]
publish_topics = ["plays"]
"#,
    );
    assert_eq!(manifest.matches(subscription).count(), 1, "recommend's plays subscription in spin.toml");
    manifest.replace(subscription, &format!("{subscription}max_attempts = 1\n"))
}

/// Wait until recommend has handled every play published so far, and check that the API counts
/// the `posted` plays: publish a marker that is not a play and wait until recommend refused it.
/// Deliveries come one at a time, oldest first, so every earlier play's handler — storing the
/// play and any retraining it started — has finished by then. Returns the status.
fn settled(riff: &Riff, posted: u64) -> Value {
    let resp = client().post(riff.url("/sub/publish/plays")).json(&json!({"marker": true})).send().unwrap();
    let (code, marker) = (resp.status().as_u16(), resp.text().unwrap());
    assert_eq!(code, 200, "publishing a marker: {marker}");
    let refused = || {
        let (code, body) = riff.admin_call(Method::GET, "/v1/dead-letters", None);
        assert_eq!(code, 200, "{body}");
        let letters = body["dead_letters"].as_array().unwrap_or_else(|| panic!("{body}")).clone();
        letters
            .iter()
            .any(|l| l["id"].as_str() == Some(&marker) && l["subscriber"].as_str() == Some("recommend"))
    };
    eventually("recommend refusing the marker", Duration::from_secs(60), || riff.log(), refused);
    let status = status(riff);
    assert_eq!(status["plays"].as_u64(), Some(posted), "every play posted, stored once: {status}");
    status
}

#[test]
fn seeds_lead_to_their_genre_and_artist() {
    let riff = Riff::start(&repo_manifest(""));
    let (code, body) = get_json(&riff.url("/v1/recommendations?seed_genres=classical&limit=2"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(ids(&body), ["tr11", "tr12"], "cold start: popularity within the genre");
    assert_eq!(body["seeds"][0]["type"].as_str(), Some("GENRE"), "{body}");
    assert_eq!(body["tracks"][0]["artists"][0]["name"].as_str(), Some("Aria Lumen"), "full track objects");

    let (code, body) = get_json(&riff.url("/v1/recommendations?seed_tracks=tr09&limit=3"));
    assert_eq!(code, 200, "{body}");
    let found = ids(&body);
    assert_eq!(found.len(), 3, "{body}");
    assert_eq!(found[0], "tr10", "the seed's artist first: {body}");
    assert!(!found.contains(&"tr09".to_string()), "the seed itself left out: {body}");
    assert!(body["seeds"][0]["initialPoolSize"].as_u64().unwrap() >= 2, "{body}");
}

#[test]
fn a_listener_of_one_genre_gets_it_back_without_what_they_played() {
    let riff = Riff::start(&repo_manifest(""));
    let token = Listener::register(&riff, "jazzfan").token;
    let cold = mine(&riff, &token);
    assert_eq!(
        cold.first().map(String::as_str),
        Some("tr01"),
        "no history: the most popular first: {cold:?}"
    );
    play(&riff, &token, "tr06");
    let recs = mine(&riff, &token);
    assert_eq!(recs.get(..2), Some(&["tr07".to_string(), "tr08".to_string()][..]), "jazz first: {recs:?}");
    assert!(!recs.contains(&"tr06".to_string()), "the played track is left out: {recs:?}");
    let all = recommendations(&riff, &token, "include_history=true");
    assert!(all.contains(&"tr06".to_string()), "unless asked: {all:?}");
}

#[test]
fn the_model_learns_from_everyones_plays_and_survives_a_restart() {
    let riff = Riff::start(&app());
    // Three listeners play jazz (ar02) and classical (ar04) together.
    let together = ["tr06", "tr07", "tr11", "tr12"];
    let listeners: Vec<Listener> =
        ["annie", "bobby", "cyril"].iter().map(|name| Listener::register(&riff, name)).collect();
    let mut posted = 0;
    for listener in &listeners {
        for track in together {
            play(&riff, &listener.token, track);
            posted += 1;
        }
    }
    // The service retrains after some number of new plays, its own choice: replay the same
    // tracks (which teaches nothing new) until the API reports a model trained on every play.
    let mut again = together.iter().cycle();
    let model = loop {
        let status = settled(&riff, posted);
        if status["model"]["trained_on_plays"].as_u64() == Some(posted) {
            break status["model"].clone();
        }
        assert!(posted < 500, "no model trained on every play after {posted} plays: {status}");
        play(&riff, &listeners[0].token, again.next().unwrap());
        posted += 1;
    };
    assert!(model["version"].as_u64().is_some_and(|v| v >= 1), "{model}");
    assert!(model["algorithm"].as_str().is_some_and(|a| a.len() > 2), "{model}");

    // A new listener plays jazz only: classical, which goes with it, comes before the far more
    // popular electronic music.
    let token = Listener::register(&riff, "deedee").token;
    play(&riff, &token, "tr06");
    posted += 1;
    // Whether that play started a retraining or not, it has finished: nothing is in flight.
    let before = settled(&riff, posted);
    assert_eq!(before["listeners"].as_u64(), Some(4), "{before}");
    assert_eq!(before["artists"].as_u64(), Some(2), "jazz and classical: {before}");
    let recs = mine(&riff, &token);
    let pos = |id: &str| recs.iter().position(|r| r == id).unwrap_or(usize::MAX);
    assert!(pos("tr11") < pos("tr01"), "learned artist above popular ones: {recs:?}");
    assert!(pos("tr07") < pos("tr11"), "own artist first: {recs:?}");

    let dir = riff.stop();
    let riff = Riff::start_in(dir, &[], &[]);
    assert_eq!(status(&riff), before, "the plays and the model are kept");
    assert_eq!(mine(&riff, &token), recs, "same recommendations after a restart");
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
