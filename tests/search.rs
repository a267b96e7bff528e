//! The search service on the repository's spin.toml: the demo catalog found with typos,
//! prefixes and filters in Spotify's shapes; a newly imported artist found right after the
//! import (through the queue); plays raising popularity; bad queries answered 400.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

fn search(riff: &Riff, query: &str) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&riff.url("/v1/search"), &[("q", query)]).unwrap();
    get_json(url.as_str())
}

fn search_with(riff: &Riff, params: &[(&str, &str)]) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&riff.url("/v1/search"), params).unwrap();
    get_json(url.as_str())
}

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect()
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
        b["artists"]["total"].as_u64() > Some(0)
    });

    let (_, body) = search_with(&riff, &[("q", "holow pines"), ("type", "artist,track")]);
    assert_eq!(names(&body["artists"])[0], "Hollow Pines", "one typo: {body}");
    assert_eq!(body["artists"]["items"][0]["type"], "artist");
    assert!(body["tracks"]["total"].as_u64().unwrap() >= 1, "the artist's tracks match too: {body}");

    let (_, body) = search_with(&riff, &[("q", "etud"), ("type", "track")]);
    let found = names(&body["tracks"]);
    assert!(found.iter().all(|n| n.starts_with("Etude")) && found.len() >= 2, "prefix: {found:?}");
    let track = &body["tracks"]["items"][0];
    assert_eq!(track["artists"][0]["name"], "Aria Lumen", "full Spotify track objects: {track}");
    assert!(track["album"]["id"].is_string(), "{track}");

    let (_, body) = search_with(&riff, &[("q", "genre:jazz"), ("type", "track"), ("limit", "2")]);
    assert_eq!(body["tracks"]["items"].as_array().unwrap().len(), 2);
    assert!(body["tracks"]["total"].as_u64().unwrap() >= 3, "{body}");
    assert!(body["tracks"]["next"].as_str().unwrap().contains("offset=2"), "{body}");
    for t in body["tracks"]["items"].as_array().unwrap() {
        assert_eq!(t["artists"][0]["name"], "Quartet Nine", "{t}");
    }

    let (_, body) = search_with(&riff, &[("q", "artist:\"sine waves\" phasse"), ("type", "track")]);
    assert_eq!(names(&body["tracks"]), ["Phase"], "filter plus a one-typo word: {body}");

    let (_, body) = search_with(&riff, &[("q", "zzzzqqq"), ("type", "artist,album,track")]);
    for kind in ["artists", "albums", "tracks"] {
        assert_eq!(body[kind]["total"], 0, "{body}");
    }
}

#[test]
fn a_newly_imported_artist_is_found_right_after_the_import() {
    let riff =
        Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_CATALOG_ADMIN_TOKEN", "admin-secret")]);
    until_found(&riff, &[("q", "sine waves"), ("type", "artist")], |b| {
        b["artists"]["total"].as_u64() > Some(0)
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
        b["artists"]["items"][0]["id"] == "arNEW"
    });
    eprintln!("imported artist searchable after {took:?}");
    // Typos, a prefix, a year filter.
    let (_, body) = search_with(&riff, &[("q", "velvett thundercalp"), ("type", "artist")]);
    assert_eq!(body["artists"]["items"][0]["id"], "arNEW", "two typos in a long word: {body}");
    let (_, body) = search_with(&riff, &[("q", "copper sk"), ("type", "track")]);
    assert_eq!(body["tracks"]["items"][0]["id"], "trNEW", "{body}");
    let (_, body) = search_with(&riff, &[("q", "static year:2020-2025"), ("type", "album")]);
    assert_eq!(body["albums"]["items"][0]["id"], "alNEW", "{body}");
    let (_, body) = search_with(&riff, &[("q", "static year:1990"), ("type", "album")]);
    assert_eq!(body["albums"]["total"], 0, "{body}");
}

#[test]
fn plays_raise_a_track_above_its_equals() {
    let riff = Riff::start(&repo_manifest(""));
    until_found(&riff, &[("q", "etude"), ("type", "track")], |b| b["tracks"]["total"].as_u64() >= Some(2));
    let (_, body) = search_with(&riff, &[("q", "etude"), ("type", "track")]);
    let items = body["tracks"]["items"].as_array().unwrap();
    let last = items.last().unwrap()["id"].as_str().unwrap().to_string();
    let first = items[0]["id"].as_str().unwrap().to_string();
    assert_ne!(first, last);

    let creds = json!({ "username": "fan", "password": "a long password" });
    assert_eq!(post_json(&riff.url("/v1/auth/register"), &creds).0, 201);
    let token =
        post_json(&riff.url("/v1/auth/login"), &creds).1["access_token"].as_str().unwrap().to_string();
    for _ in 0..50 {
        let resp = client()
            .post(riff.url("/v1/me/player/played"))
            .bearer_auth(&token)
            .json(&json!({ "track_id": last }))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
    }
    until_found(&riff, &[("q", "etude"), ("type", "track")], |b| {
        b["tracks"]["items"][0]["id"] == last.as_str()
    });
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
        assert_eq!(body["error"]["status"], 400);
        assert!(body["error"]["message"].as_str().unwrap().contains(reason), "{params:?}: {body}");
    }
    let (status, _) = search(&riff, "abba");
    assert_eq!(status, 400);
}
