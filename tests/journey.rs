//! The user journey on the repository's spin.toml, and authorization on every profile route:
//! register → login → browse → stream a range → playlist → play → recently played → logout.

use crate::common::*;
use serde_json::json;

#[test]
fn listener_journey() {
    let riff = Riff::start(&repo_manifest(""));
    let me = Listener::register(&riff, "journey");

    let (_, profile) = me.send("GET", "/v1/me", None);
    assert_eq!(profile["display_name"], "journey");

    // Browse: artist → album → tracks.
    let (_, artist) = get_json(&riff.url("/v1/artists/ar02"));
    let (_, albums) = get_json(&riff.url(&format!("/v1/artists/{}/albums", artist["id"].as_str().unwrap())));
    let album_id = albums["items"][0]["id"].as_str().unwrap().to_string();
    let (_, tracks) = get_json(&riff.url(&format!("/v1/albums/{album_id}/tracks")));
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
    let (_, items) = me.send("GET", &format!("/v1/playlists/{pid}/items"), None);
    let order: Vec<&str> =
        items["items"].as_array().unwrap().iter().map(|i| i["track"]["id"].as_str().unwrap()).collect();
    assert_eq!(order, [track_ids[2].as_str(), track_ids[0].as_str(), track_ids[1].as_str()]);
    let (status, renamed) =
        me.send("PUT", &format!("/v1/playlists/{pid}"), Some(json!({ "name": "Late drive" })));
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Late drive")));
    let (_, mine) = me.send("GET", "/v1/me/playlists", None);
    assert_eq!(mine["total"], 1);
    let (status, _) = me.send(
        "DELETE",
        &format!("/v1/playlists/{pid}/items"),
        Some(json!({ "tracks": [{ "uri": uris[0] }] })),
    );
    assert_eq!(status, 200);
    let (_, items) = me.send("GET", &format!("/v1/playlists/{pid}/items"), None);
    assert_eq!(items["total"], 2);

    // Saved tracks and follows.
    assert_eq!(me.send("PUT", "/v1/me/tracks", Some(json!({ "ids": [track_ids[1]] }))).0, 204);
    let (_, saved) = me.send("GET", "/v1/me/tracks", None);
    assert_eq!(saved["items"][0]["track"]["id"], track_ids[1].as_str());
    assert_eq!(me.send("PUT", "/v1/me/following?type=artist", Some(json!({ "ids": ["ar02"] }))).0, 204);
    let (_, following) = me.send("GET", "/v1/me/following?type=artist", None);
    assert_eq!(following["artists"]["items"][0]["name"], "Quartet Nine");

    // Plays and recently played, newest first, with cursors.
    for t in &track_ids {
        assert_eq!(me.send("POST", "/v1/me/player/played", Some(json!({ "track_id": t }))).0, 204);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (_, recent) = me.send("GET", "/v1/me/player/recently-played?limit=2", None);
    let recent_ids: Vec<&str> =
        recent["items"].as_array().unwrap().iter().map(|i| i["track"]["id"].as_str().unwrap()).collect();
    assert_eq!(recent_ids, [track_ids[2].as_str(), track_ids[1].as_str()]);
    let before = recent["cursors"]["before"].as_str().unwrap().to_string();
    let (_, older) = me.send("GET", &format!("/v1/me/player/recently-played?before={before}"), None);
    assert_eq!(older["items"][0]["track"]["id"], track_ids[0].as_str());

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
    let (_, private) =
        alice.send("POST", "/v1/me/playlists", Some(json!({ "name": "Mine", "public": false })));
    let (_, public) = alice.send("POST", "/v1/me/playlists", Some(json!({ "name": "Shared" })));
    let private_id = private["id"].as_str().unwrap();
    let public_id = public["id"].as_str().unwrap();

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
    let (_, unchanged) = alice.send("GET", &format!("/v1/playlists/{public_id}"), None);
    assert_eq!((unchanged["name"].as_str(), unchanged["items"]["total"].as_u64()), (Some("Shared"), Some(0)));
}

#[test]
fn profile_writes_validate_input_and_write_nothing_on_error() {
    let riff = Riff::start(&repo_manifest(""));
    let me = Listener::register(&riff, "careful");
    let (_, p) = me.send("POST", "/v1/me/playlists", Some(json!({ "name": "Valid" })));
    let pid = p["id"].as_str().unwrap().to_string();
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
    let (_, mine) = me.send("GET", "/v1/me/playlists", None);
    assert_eq!(mine["total"], 1);
    let (_, items) = me.send("GET", &items, None);
    assert_eq!(items["total"], 0);
    let (_, saved) = me.send("GET", "/v1/me/tracks", None);
    assert_eq!(saved["total"], 0);
    let (_, recent) = me.send("GET", "/v1/me/player/recently-played", None);
    assert_eq!(recent["items"], json!([]));
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
