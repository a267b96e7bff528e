//! Importing the Chinook catalog (../shared/data/chinook, MIT licence) through the catalog's
//! admin endpoint with scripts/import-chinook.py, then checking counts and known records over
//! HTTP. Skips with a message when the data set is absent; fails when CI=true.

use crate::common::*;

fn chinook(test: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("RIFF_CHINOOK")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().parent().unwrap().join("shared/data/chinook/Chinook_Sqlite.sqlite"));
    if path.exists() {
        return Some(path);
    }
    skip(test, &format!("Chinook data set not found at {} (set RIFF_CHINOOK)", path.display()));
    None
}

fn import(riff: &Riff, path: &std::path::Path, token: &str, replace: bool) -> std::process::Output {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(repo_root().join("scripts/import-chinook.py"));
    if replace {
        cmd.arg("--replace");
    }
    cmd.args([riff.base.as_str(), token]).arg(path).output().expect("running python3")
}

#[test]
fn import_chinook_and_browse_it() {
    let Some(path) = chinook("chinook::import_chinook_and_browse_it") else { return };
    let riff =
        Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_CATALOG_ADMIN_TOKEN", "admin-secret")]);

    // A wrong token is refused and changes nothing.
    let refused = import(&riff, &path, "wrong", true);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));
    assert_eq!(get_json(&riff.url("/v1/artists")).1["total"], 4, "the demo catalog is untouched");

    let out = import(&riff, &path, "admin-secret", true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counts, serde_json::json!({ "genres": 25, "artists": 275, "albums": 347, "tracks": 3503 }));

    assert_eq!(get_json(&riff.url("/v1/artists?limit=1")).1["total"], 275);
    let acdc = get_ok(&riff.url("/v1/artists/ckar1"));
    assert_eq!(acdc["name"], "AC/DC");
    let album = get_ok(&riff.url("/v1/albums/ckal1"));
    assert_eq!(album["name"], "For Those About To Rock We Salute You");
    assert_eq!(album["total_tracks"], 10);
    let track = get_ok(&riff.url("/v1/tracks/cktr1"));
    assert_eq!(track["name"], "For Those About To Rock (We Salute You)");
    assert_eq!(track["duration_ms"], 343719);
    assert_eq!(track["genre"], "Rock");
    assert_eq!(get_json(&riff.url("/v1/genres")).1["genres"].as_array().unwrap().len(), 25);

    // Importing again is idempotent.
    let again = import(&riff, &path, "admin-secret", false);
    assert!(again.status.success());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&again.stdout).unwrap()["tracks"], 3503);

    // Search took the import (it replaced the demo catalog) from the queue.
    let find = |q: &str, kind: &str| -> serde_json::Value {
        let url =
            reqwest::Url::parse_with_params(&riff.url("/v1/search"), &[("q", q), ("type", kind)]).unwrap();
        get_json(url.as_str()).1
    };
    eventually(
        "Chinook becoming searchable",
        std::time::Duration::from_secs(60),
        || riff.log(),
        || find("led zepelin", "artist")["artists"]["items"][0]["name"] == "Led Zeppelin",
    );
    let tracks = find("stairway to heavn", "track");
    assert_eq!(tracks["tracks"]["items"][0]["name"], "Stairway To Heaven", "{tracks}");
    assert_eq!(find("sine waves", "artist")["artists"]["total"], 0, "the replaced demo is gone from search");
    let acdc = find("artist:\"ac/dc\" for those", "track");
    assert_eq!(acdc["tracks"]["items"][0]["artists"][0]["name"], "AC/DC", "{acdc}");
}

#[test]
fn import_is_disabled_without_an_admin_token() {
    let riff = Riff::start(&repo_manifest(""));
    let resp = client().post(riff.url("/v1/admin/catalog/import")).body("{}").send().unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let resp = client()
        .post(riff.url("/v1/admin/catalog/import"))
        .bearer_auth("anything")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("disabled"));
}

#[test]
fn a_bad_import_is_refused_whole() {
    let riff =
        Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_CATALOG_ADMIN_TOKEN", "admin-secret")]);
    let dangling = serde_json::json!({
        "replace": true,
        "genres": ["x"],
        "artists": [{ "id": "a1", "name": "A", "genres": [] }],
        "albums": [{ "id": "b1", "name": "B", "artist_id": "missing", "release_year": null }],
        "tracks": [],
    });
    let resp = client()
        .post(riff.url("/v1/admin/catalog/import"))
        .bearer_auth("admin-secret")
        .json(&dangling)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().unwrap().contains("unknown artist"));
    let resp = client()
        .post(riff.url("/v1/admin/catalog/import"))
        .bearer_auth("admin-secret")
        .body("{\"genres\": 1}")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Nothing was replaced or added.
    assert_eq!(get_json(&riff.url("/v1/artists")).1["total"], 4);
}
