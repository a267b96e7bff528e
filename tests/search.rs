//! The search service on the repository's spin.toml: the demo catalog found with typos,
//! prefixes and filters in Spotify's shapes; a newly imported artist found right after the
//! import (through the queue); plays raising popularity; bad queries answered 400.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

fn search_with(riff: &Riff, params: &[(&str, &str)]) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&riff.url("/v1/search"), params).unwrap();
    get_json(url.as_str())
}

/// A search that must succeed: its answer.
fn found(riff: &Riff, params: &[(&str, &str)]) -> Value {
    let (status, body) = search_with(riff, params);
    assert_eq!(status, 200, "{params:?}: {body}");
    body
}

fn field(page: &Value, name: &str) -> Vec<String> {
    let items = page["items"].as_array().unwrap_or_else(|| panic!("no items: {page}"));
    items.iter().map(|i| i[name].as_str().unwrap_or_else(|| panic!("no {name}: {i}")).to_string()).collect()
}

fn names(page: &Value) -> Vec<String> {
    field(page, "name")
}

fn ids(page: &Value) -> Vec<String> {
    field(page, "id")
}

/// Poll a search until `check` accepts its answer; returns how long that took.
fn until_found(riff: &Riff, params: &[(&str, &str)], check: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    eventually(
        &format!("a search for {params:?} matching"),
        Duration::from_secs(30),
        || riff.log(),
        || {
            let (status, body) = search_with(riff, params);
            assert_eq!(status, 200, "{body}");
            check(&body)
        },
    );
    start.elapsed()
}

#[test]
fn the_demo_catalog_is_found_with_typos_prefixes_and_filters() {
    let riff = Riff::start(&repo_manifest(""));
    // The first search wakes the catalog, which announces the demo; the index fills from it.
    until_found(&riff, &[("q", "sine waves"), ("type", "artist")], |b| {
        b["artists"]["total"].as_u64() == Some(1)
    });
    let body = found(&riff, &[("q", "sine waves"), ("type", "artist")]);
    assert_eq!(ids(&body["artists"]), ["ar01"], "{body}");

    let body = found(&riff, &[("q", "holow pines"), ("type", "artist,track")]);
    assert_eq!(names(&body["artists"]).first().map(String::as_str), Some("Hollow Pines"), "one typo: {body}");
    assert_eq!(body["artists"]["items"][0]["type"].as_str(), Some("artist"), "{body}");
    let mut tracks = ids(&body["tracks"]);
    tracks.sort();
    assert_eq!(tracks, ["tr09", "tr10"], "the artist's two tracks match too: {body}");
    assert_eq!(body["tracks"]["total"].as_u64(), Some(2), "{body}");

    // Both études (the demo has two), the more popular first.
    let body = found(&riff, &[("q", "etud"), ("type", "track")]);
    assert_eq!(names(&body["tracks"]), ["Etude in A", "Etude in E"], "prefix: {body}");
    let track = &body["tracks"]["items"][0];
    assert_eq!(
        track["artists"][0]["name"].as_str(),
        Some("Aria Lumen"),
        "full Spotify track objects: {track}"
    );
    assert_eq!(track["album"]["id"].as_str(), Some("al05"), "{track}");

    // The demo's three jazz tracks, two to a page.
    let body = found(&riff, &[("q", "genre:jazz"), ("type", "track"), ("limit", "2")]);
    assert_eq!(ids(&body["tracks"]), ["tr06", "tr07"], "by popularity: {body}");
    assert_eq!(body["tracks"]["total"].as_u64(), Some(3), "{body}");
    let next = body["tracks"]["next"].as_str().unwrap_or_else(|| panic!("no next page: {body}"));
    assert!(next.contains("offset=2"), "{body}");
    for t in body["tracks"]["items"].as_array().unwrap() {
        assert_eq!(t["artists"][0]["name"].as_str(), Some("Quartet Nine"), "{t}");
    }
    let body = found(&riff, &[("q", "genre:jazz"), ("type", "track"), ("limit", "2"), ("offset", "2")]);
    assert_eq!(ids(&body["tracks"]), ["tr08"], "the last page: {body}");
    assert!(body["tracks"]["next"].is_null(), "{body}");

    let body = found(&riff, &[("q", "artist:\"sine waves\" phasse"), ("type", "track")]);
    assert_eq!(names(&body["tracks"]), ["Phase"], "filter plus a one-typo word: {body}");

    let body = found(&riff, &[("q", "zzzzqqq"), ("type", "artist,album,track")]);
    for kind in ["artists", "albums", "tracks"] {
        assert_eq!(body[kind]["total"].as_u64(), Some(0), "{body}");
        assert_eq!(body[kind]["items"].as_array().map(Vec::len), Some(0), "{body}");
    }
}

#[test]
fn a_newly_imported_artist_is_found_right_after_the_import() {
    let riff =
        Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_CATALOG_ADMIN_TOKEN", "admin-secret")]);
    until_found(&riff, &[("q", "sine waves"), ("type", "artist")], |b| {
        b["artists"]["total"].as_u64() == Some(1)
    });
    let new = json!({
        "genres": ["rock"],
        "artists": [{ "id": "arNEW", "name": "Velvet Thunderclap", "genres": ["rock"] }],
        "albums": [{ "id": "alNEW", "name": "Static Bloom", "artist_id": "arNEW", "release_year": 2024 }],
        "tracks": [{ "id": "trNEW", "name": "Copper Skies", "album_id": "alNEW", "artist_id": "arNEW",
                     "genre": "rock", "track_number": 1, "duration_ms": 1000 }]
    });
    let imported = client()
        .post(riff.url("/v1/admin/catalog/import"))
        .bearer_auth("admin-secret")
        .json(&new)
        .send()
        .unwrap();
    assert_eq!(imported.status().as_u16(), 200, "{}", imported.text().unwrap());
    let took = until_found(&riff, &[("q", "velvet thunderclap"), ("type", "artist")], |b| {
        b["artists"]["items"][0]["id"].as_str() == Some("arNEW")
    });
    eprintln!("imported artist searchable after {took:?}");
    // Typos, a prefix, a year filter.
    let body = found(&riff, &[("q", "velvett thundercalp"), ("type", "artist")]);
    assert_eq!(body["artists"]["items"][0]["id"].as_str(), Some("arNEW"), "two typos in a long word: {body}");
    let body = found(&riff, &[("q", "copper sk"), ("type", "track")]);
    assert_eq!(body["tracks"]["items"][0]["id"].as_str(), Some("trNEW"), "{body}");
    let body = found(&riff, &[("q", "static year:2020-2025"), ("type", "album")]);
    assert_eq!(body["albums"]["items"][0]["id"].as_str(), Some("alNEW"), "{body}");
    let body = found(&riff, &[("q", "static year:1990"), ("type", "album")]);
    assert_eq!(body["albums"]["total"].as_u64(), Some(0), "{body}");
}

#[test]
fn plays_raise_a_track_above_its_equals() {
    let riff = Riff::start(&repo_manifest(""));
    let etude = [("q", "etude"), ("type", "track")];
    until_found(&riff, &etude, |b| b["tracks"]["total"].as_u64() == Some(2));
    // The demo's two études; the less popular one is played until it ranks first.
    let before = ids(&found(&riff, &etude)["tracks"]);
    assert_eq!(before, ["tr11", "tr12"], "by popularity");

    let fan = Listener::register(&riff, "fan");
    for _ in 0..50 {
        let (status, body) = fan.send("POST", "/v1/me/player/played", Some(json!({ "track_id": "tr12" })));
        assert_eq!(status, 204, "{body}");
    }
    until_found(&riff, &etude, |b| b["tracks"]["items"][0]["id"].as_str() == Some("tr12"));
}

#[test]
fn bad_queries_get_400_never_500() {
    let riff = Riff::start(&repo_manifest(""));
    // Over search's 512-byte limit, under the host's 8 KiB request-target limit (414 past it).
    let long = "a".repeat(2 * 1024);
    for (params, reason) in [
        (vec![("type", "track")], "q is required"),
        (vec![("q", ""), ("type", "track")], "q:"),
        (vec![("q", &long[..]), ("type", "track")], "q:"),
        (vec![("q", "artist:\"abba"), ("type", "track")], "q:"),
        (vec![("q", "year:2000-1990"), ("type", "track")], "q:"),
        (vec![("q", "abba")], "type is required"),
        (vec![("q", "abba"), ("type", "podcast")], "not searchable"),
        (vec![("q", "abba"), ("type", "track"), ("limit", "0")], "limit"),
        (vec![("q", "abba"), ("type", "track"), ("limit", "100")], "limit"),
        (vec![("q", "abba"), ("type", "track"), ("offset", "5000")], "offset"),
        (vec![("q", "abba"), ("type", "track"), ("offset", "x")], "offset"),
    ] {
        let (status, body) = search_with(&riff, &params);
        assert_eq!(status, 400, "{params:?}: {body}");
        assert_eq!(body["error"]["status"].as_u64(), Some(400), "{params:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {body}"));
        assert!(message.contains(reason), "{params:?}: {body}");
    }
}
