//! The user journey on the repository's spin.toml, and authorization on every profile route:
//! register → login → browse → stream a range → playlist → play → recently played → logout.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

/// Milliseconds since the epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn listener_journey() {
    let riff = Riff::start(&repo_manifest(""));
    let me = Listener::register(&riff, "journey");

    let (status, profile) = me.send("GET", "/v1/me", None);
    assert_eq!((status, profile["display_name"].as_str()), (200, Some("journey")), "{profile}");

    // Browse: artist → album → tracks.
    let (status, artist) = get_json(&riff.url("/v1/artists/ar02"));
    assert_eq!((status, artist["id"].as_str()), (200, Some("ar02")), "{artist}");
    let (status, albums) = get_json(&riff.url("/v1/artists/ar02/albums"));
    assert_eq!(status, 200, "{albums}");
    let album_id = albums["items"][0]["id"].as_str().expect("an album").to_string();
    let (status, tracks) = get_json(&riff.url(&format!("/v1/albums/{album_id}/tracks")));
    assert_eq!(status, 200, "{tracks}");
    let track_ids: Vec<String> =
        tracks["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(track_ids.len(), 3);

    // Stream the first with a range.
    let part = client()
        .get(riff.url(&format!("/v1/tracks/{}/stream", track_ids[0])))
        .bearer_auth(&me.token)
        .header("range", "bytes=0-1023")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().unwrap().len(), 1024);

    // Playlist: create, add, reorder, rename, read back.
    let (status, playlist) =
        me.send("POST", "/v1/me/playlists", Some(json!({ "name": "Night drive", "public": false })));
    assert_eq!(status, 201, "{playlist}");
    let pid = playlist["id"].as_str().unwrap().to_string();
    let uris: Vec<String> = track_ids.iter().map(|t| format!("riff:track:{t}")).collect();
    let (status, snap) =
        me.send("POST", &format!("/v1/playlists/{pid}/items"), Some(json!({ "uris": uris })));
    assert_eq!(status, 201, "{snap}");
    let (status, _) = me.send(
        "PUT",
        &format!("/v1/playlists/{pid}/items"),
        Some(json!({ "range_start": 2, "insert_before": 0 })),
    );
    assert_eq!(status, 200);
    let (status, items) = me.send("GET", &format!("/v1/playlists/{pid}/items"), None);
    assert_eq!(status, 200, "{items}");
    let order: Vec<&str> =
        items["items"].as_array().unwrap().iter().map(|i| i["track"]["id"].as_str().unwrap()).collect();
    assert_eq!(order, [track_ids[2].as_str(), track_ids[0].as_str(), track_ids[1].as_str()]);
    let (status, renamed) =
        me.send("PUT", &format!("/v1/playlists/{pid}"), Some(json!({ "name": "Late drive" })));
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Late drive")));
    let (status, mine) = me.send("GET", "/v1/me/playlists", None);
    assert_eq!((status, mine["total"].as_u64()), (200, Some(1)), "{mine}");
    let (status, _) = me.send(
        "DELETE",
        &format!("/v1/playlists/{pid}/items"),
        Some(json!({ "tracks": [{ "uri": uris[0] }] })),
    );
    assert_eq!(status, 200);
    let (status, items) = me.send("GET", &format!("/v1/playlists/{pid}/items"), None);
    assert_eq!((status, items["total"].as_u64()), (200, Some(2)), "{items}");

    // Saved tracks and follows.
    assert_eq!(me.send("PUT", "/v1/me/tracks", Some(json!({ "ids": [track_ids[1]] }))).0, 204);
    let (status, saved) = me.send("GET", "/v1/me/tracks", None);
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["items"].as_array().map(Vec::len), Some(1), "{saved}");
    assert_eq!(saved["items"][0]["track"]["id"], track_ids[1].as_str());
    assert_eq!(me.send("PUT", "/v1/me/following?type=artist", Some(json!({ "ids": ["ar02"] }))).0, 204);
    let (status, following) = me.send("GET", "/v1/me/following?type=artist", None);
    assert_eq!(status, 200, "{following}");
    assert_eq!(following["artists"]["items"].as_array().map(Vec::len), Some(1), "{following}");
    assert_eq!(following["artists"]["items"][0]["name"], "Quartet Nine");

    // Plays and recently played, newest first, with cursors. A cursor is a play's time (in ms),
    // so each play is recorded only once the clock has passed the one before, as riff reports it.
    for t in &track_ids {
        assert_eq!(me.send("POST", "/v1/me/player/played", Some(json!({ "track_id": t }))).0, 204);
        let (status, newest) = me.send("GET", "/v1/me/player/recently-played?limit=1", None);
        assert_eq!((status, newest["items"][0]["track"]["id"].as_str()), (200, Some(t.as_str())), "{newest}");
        let played_at = newest["items"][0]["played_at_ms"].as_u64().expect("played_at_ms");
        eventually("the clock to pass the last play", Duration::from_secs(10), String::new, || {
            unix_ms() > played_at
        });
    }
    let (status, recent) = me.send("GET", "/v1/me/player/recently-played?limit=2", None);
    assert_eq!(status, 200, "{recent}");
    let recent_ids: Vec<&str> =
        recent["items"].as_array().unwrap().iter().map(|i| i["track"]["id"].as_str().unwrap()).collect();
    assert_eq!(recent_ids, [track_ids[2].as_str(), track_ids[1].as_str()]);
    let before = recent["cursors"]["before"].as_str().expect("a before cursor").to_string();
    let (status, older) = me.send("GET", &format!("/v1/me/player/recently-played?before={before}"), None);
    assert_eq!(status, 200, "{older}");
    let older_ids: Vec<&str> =
        older["items"].as_array().unwrap().iter().map(|i| i["track"]["id"].as_str().unwrap()).collect();
    assert_eq!(older_ids, [track_ids[0].as_str()]);

    // Logout: the old token is refused everywhere.
    let resp = client().post(riff.url("/v1/auth/logout")).bearer_auth(&me.token).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (status, body) = me.send("GET", "/v1/me", None);
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"));
}

#[test]
fn every_profile_route_refuses_missing_forged_and_foreign_tokens() {
    let riff = Riff::start(&repo_manifest(""));
    let alice = Listener::register(&riff, "alice");
    let bob = Listener::register(&riff, "bob");
    let (status, private) =
        alice.send("POST", "/v1/me/playlists", Some(json!({ "name": "Mine", "public": false })));
    assert_eq!(status, 201, "{private}");
    let (status, public) = alice.send("POST", "/v1/me/playlists", Some(json!({ "name": "Shared" })));
    assert_eq!(status, 201, "{public}");
    let private_id = private["id"].as_str().expect("a playlist id");
    let public_id = public["id"].as_str().expect("a playlist id");

    let routes = [
        ("GET", "/v1/me".to_string()),
        ("GET", "/v1/me/playlists".to_string()),
        ("POST", "/v1/me/playlists".to_string()),
        ("GET", "/v1/me/tracks".to_string()),
        ("PUT", "/v1/me/tracks".to_string()),
        ("GET", "/v1/me/following?type=artist".to_string()),
        ("POST", "/v1/me/player/played".to_string()),
        ("GET", "/v1/me/player/recently-played".to_string()),
        ("GET", format!("/v1/playlists/{private_id}")),
        ("GET", format!("/v1/playlists/{private_id}/items")),
    ];
    let forged = format!("{}x", &alice.token[..alice.token.len() - 1]);
    for (method, path) in &routes {
        let anonymous = client().request(method.parse().unwrap(), riff.url(path)).send().unwrap();
        assert_eq!(anonymous.status().as_u16(), 401, "{method} {path} without a token");
        let bad = Listener::with_token(&riff, &forged.clone());
        assert_eq!(bad.send(method, path, Some(json!({}))).0, 401, "{method} {path} with a forged token");
        let garbage = Listener::with_token(&riff, "not-a-token");
        assert_eq!(garbage.send(method, path, Some(json!({}))).0, 401, "{method} {path} with garbage");
    }

    // Bob cannot see Alice's private playlist, nor change her public one.
    assert_eq!(bob.send("GET", &format!("/v1/playlists/{private_id}"), None).0, 404);
    assert_eq!(bob.send("PUT", &format!("/v1/playlists/{private_id}"), Some(json!({ "name": "x" }))).0, 404);
    assert_eq!(bob.send("GET", &format!("/v1/playlists/{public_id}"), None).0, 200);
    assert_eq!(bob.send("PUT", &format!("/v1/playlists/{public_id}"), Some(json!({ "name": "x" }))).0, 403);
    assert_eq!(bob.send("DELETE", &format!("/v1/playlists/{public_id}"), None).0, 403);
    let add = json!({ "uris": ["riff:track:tr01"] });
    assert_eq!(bob.send("POST", &format!("/v1/playlists/{public_id}/items"), Some(add)).0, 403);
    let (status, unchanged) = alice.send("GET", &format!("/v1/playlists/{public_id}"), None);
    assert_eq!(status, 200, "{unchanged}");
    assert_eq!((unchanged["name"].as_str(), unchanged["items"]["total"].as_u64()), (Some("Shared"), Some(0)));
}

#[test]
fn profile_writes_validate_input_and_write_nothing_on_error() {
    let riff = Riff::start(&repo_manifest(""));
    let me = Listener::register(&riff, "careful");
    let (status, p) = me.send("POST", "/v1/me/playlists", Some(json!({ "name": "Valid" })));
    assert_eq!(status, 201, "{p}");
    let pid = p["id"].as_str().expect("a playlist id").to_string();
    let items = format!("/v1/playlists/{pid}/items");
    for (method, path, body, status) in [
        ("POST", "/v1/me/playlists", json!({}), 400),
        ("POST", "/v1/me/playlists", json!({ "name": "" }), 400),
        ("POST", "/v1/me/playlists", json!({ "name": 5 }), 400),
        ("POST", "/v1/me/playlists", json!({ "name": "x", "colour": "red" }), 400),
        ("POST", items.as_str(), json!({ "uris": [] }), 400),
        ("POST", items.as_str(), json!({ "uris": ["riff:track:nope"] }), 404),
        ("POST", items.as_str(), json!({ "uris": ["riff:track:tr01", "riff:track:nope"] }), 404),
        ("POST", items.as_str(), json!({ "uris": ["spotify:track:x"] }), 400),
        ("POST", items.as_str(), json!({ "uris": ["riff:track:tr01"], "position": 9 }), 400),
        ("PUT", items.as_str(), json!({ "range_start": 5, "insert_before": 0 }), 400),
        ("PUT", "/v1/me/tracks", json!({ "ids": ["nope"] }), 404),
        ("PUT", "/v1/me/following?type=artist", json!({ "ids": ["nobody"] }), 404),
        ("PUT", "/v1/me/following", json!({ "ids": ["ar01"] }), 400),
        ("POST", "/v1/me/player/played", json!({ "track_id": "nope" }), 404),
        ("POST", "/v1/me/player/played", json!({ "track": "tr01" }), 400),
    ] {
        let (got, body) = me.send(method, path, Some(body));
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(body["error"]["status"], status, "{method} {path}");
    }
    let resp =
        client().post(riff.url("/v1/me/playlists")).bearer_auth(&me.token).body("{oops").send().unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Nothing was written by the refused requests.
    let (status, mine) = me.send("GET", "/v1/me/playlists", None);
    assert_eq!((status, mine["total"].as_u64()), (200, Some(1)), "{mine}");
    let (status, items) = me.send("GET", &items, None);
    assert_eq!((status, items["total"].as_u64()), (200, Some(0)), "{items}");
    let (status, saved) = me.send("GET", "/v1/me/tracks", None);
    assert_eq!((status, saved["total"].as_u64()), (200, Some(0)), "{saved}");
    let (status, recent) = me.send("GET", "/v1/me/player/recently-played", None);
    assert_eq!((status, &recent["items"]), (200, &json!([])), "{recent}");
}

fn mint(key: &[u8], user_id: &str, exp: u64) -> String {
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({ "sub": user_id, "name": "minted", "iat": exp.saturating_sub(3600), "exp": exp, "jti": format!("j{exp}") });
    let payload = b64url(claims.to_string().as_bytes());
    let signature = b64url(&hmac_sha256(key, format!("{header}.{payload}").as_bytes()));
    format!("{header}.{payload}.{signature}")
}

#[test]
fn expired_tokens_are_refused_and_valid_ones_accepted() {
    let key = "test-signing-key-0123456789";
    let riff = Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_AUTH_SIGNING_KEY", key)]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // A token minted with the configured key and a future expiry is accepted: the check is real.
    let valid = Listener::with_token(&riff, &mint(key.as_bytes(), "u-minted", now + 600));
    assert_eq!(valid.send("GET", "/v1/me", None).0, 200);
    let expired = Listener::with_token(&riff, &mint(key.as_bytes(), "u-minted", now - 1));
    for path in ["/v1/me", "/v1/me/playlists", "/v1/me/player/recently-played"] {
        let (status, body) = expired.send("GET", path, None);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
    }
    let stream = client().get(riff.url("/v1/tracks/tr01/stream")).bearer_auth(&expired.token).send().unwrap();
    assert_eq!(stream.status().as_u16(), 401);
    let wrong_key = Listener::with_token(&riff, &mint(b"another key", "u-minted", now + 600));
    assert_eq!(wrong_key.send("GET", "/v1/me", None).0, 401);
}
