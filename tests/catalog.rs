//! The catalog service on the repository's spin.toml with the demo catalog: browsing in
//! Spotify's shapes, batch lookups, bad input, and streaming with ranges behind a token.

use crate::common::*;
use serde_json::{json, Value};

#[test]
fn browse_the_demo_catalog() {
    let riff = Riff::start(&repo_manifest(""));
    let (status, page) = get_json(&riff.url("/v1/artists?limit=2"));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], "/v1/artists?offset=2&limit=2");
    assert!(page["previous"].is_null());
    assert_eq!(page["items"][0]["type"], "artist");

    let (status, artist) = get_json(&riff.url("/v1/artists/ar01"));
    assert_eq!(status, 200);
    assert_eq!(artist["name"], "The Sine Waves");
    assert_eq!(artist["uri"], "riff:artist:ar01");
    assert_eq!(artist["genres"], json!(["electronic", "ambient"]));

    let albums = get_ok(&riff.url("/v1/artists/ar01/albums"));
    assert_eq!(albums["total"], 2);
    assert_eq!(albums["items"][0]["name"], "Oscillations");

    let top = get_ok(&riff.url("/v1/artists/ar01/top-tracks"));
    let popularity: Vec<u64> =
        top["tracks"].as_array().unwrap().iter().map(|t| t["popularity"].as_u64().unwrap()).collect();
    assert_eq!(popularity.len(), 5);
    assert!(popularity.windows(2).all(|w| w[0] >= w[1]), "{popularity:?}");

    let album = get_ok(&riff.url("/v1/albums/al01"));
    assert_eq!(album["total_tracks"], 3);
    assert_eq!(album["artists"][0]["id"], "ar01");
    assert_eq!(album["tracks"]["items"][2]["name"], "Phase");

    let tracks = get_ok(&riff.url("/v1/albums/al01/tracks?limit=2&offset=1"));
    assert_eq!(tracks["total"], 3);
    assert_eq!(tracks["items"][0]["track_number"], 2);

    let track = get_ok(&riff.url("/v1/tracks/tr06"));
    assert_eq!(track["name"], "Minor Third");
    assert_eq!(track["album"]["name"], "Blue Intervals");
    assert_eq!(track["artists"][0]["name"], "Quartet Nine");
    assert_eq!(track["duration_ms"], 4000);

    let batch = get_ok(&riff.url("/v1/tracks?ids=tr02,nope,tr01"));
    assert_eq!(batch["tracks"][0]["id"], "tr02");
    assert_eq!(batch["tracks"][1], Value::Null);
    assert_eq!(batch["tracks"][2]["id"], "tr01");

    let genres = get_ok(&riff.url("/v1/genres"));
    assert_eq!(genres["genres"].as_array().unwrap().len(), 6);
}

#[test]
fn bad_requests_get_spotify_shaped_errors() {
    let riff = Riff::start(&repo_manifest(""));
    for (path, status) in [
        ("/v1/artists/nobody", 404),
        ("/v1/albums/nothing/tracks", 404),
        ("/v1/tracks/none", 404),
        ("/v1/tracks?ids=", 400),
        ("/v1/artists?limit=0", 400),
        ("/v1/artists?limit=51", 400),
        ("/v1/artists?offset=x", 400),
    ] {
        let (got, body) = get_json(&riff.url(path));
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"]["status"], status, "{path}");
    }
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    assert_eq!(get(&riff.url(&format!("/v1/tracks?ids={}", too_many.join(",")))).0, 400);
    assert_eq!(client().post(riff.url("/v1/artists")).body("{}").send().unwrap().status().as_u16(), 405);
}

#[test]
fn streaming_needs_a_token_and_honours_ranges() {
    let riff = Riff::start(&repo_manifest(""));
    let url = riff.url("/v1/tracks/tr01/stream");
    assert_eq!(client().get(&url).send().unwrap().status().as_u16(), 401);
    assert_eq!(client().get(&url).bearer_auth("forged.token.here").send().unwrap().status().as_u16(), 401);

    let token = Listener::register(&riff, "listener").token;
    let full = client().get(&url).bearer_auth(&token).send().unwrap();
    assert_eq!(full.status().as_u16(), 200);
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.headers()["content-type"], "audio/wav");
    let audio = full.bytes().unwrap();
    assert_eq!(&audio[..4], b"RIFF");
    let total = audio.len();

    let part = client().get(&url).bearer_auth(&token).header("range", "bytes=100-199").send().unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 100-199/{total}").as_str());
    assert_eq!(part.bytes().unwrap(), audio.slice(100..200));

    let tail = client().get(&url).bearer_auth(&token).header("range", "bytes=-10").send().unwrap();
    assert_eq!(tail.status().as_u16(), 206);
    assert_eq!(tail.bytes().unwrap(), audio.slice(total - 10..));

    let head = client().head(&url).bearer_auth(&token).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], total.to_string().as_str());

    let beyond = client()
        .get(&url)
        .bearer_auth(&token)
        .header("range", format!("bytes={}-", total + 10))
        .send()
        .unwrap();
    assert_eq!(beyond.status().as_u16(), 416);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{total}").as_str());

    assert_eq!(
        client()
            .get(riff.url("/v1/tracks/nope/stream"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

/// Swapping the implementation behind an interface is a manifest edit: catalog, unchanged, checks
/// stream tokens with whatever component `spin.toml` wires to `riff:music/auth`.
#[test]
fn another_auth_implementation_is_wired_by_the_manifest_alone() {
    let manifest = repo_manifest("[component.stub]\nsource = \"{wasm}/auth_stub.wasm\"\n").replace(
        "[component.catalog.dependencies]\n\"riff:music/auth\" = { component = \"auth\" }",
        "[component.catalog.dependencies]\n\"riff:music/auth\" = { component = \"stub\" }",
    );
    assert!(manifest.contains("{ component = \"stub\" }"), "the repo manifest changed shape");
    let riff = Riff::start(&manifest);
    let url = riff.url("/v1/tracks/tr01/stream");
    // The stub accepts exactly the token "good"; the real auth service's tokens mean nothing to it.
    assert_eq!(client().get(&url).bearer_auth("good").send().unwrap().status().as_u16(), 200);
    let real = Listener::register(&riff, "listener").token;
    assert_eq!(client().get(&url).bearer_auth(&real).send().unwrap().status().as_u16(), 401);
}
