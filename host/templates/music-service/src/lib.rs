//! {{project-name}}: an implementation of riff's `riff:music/search` interface (`wit/services.wit`),
//! the one the music app's `search` component exports, plus the HTTP route it serves
//! (`GET /v1/search?q=&type=&limit=&offset=`).
//!
//! It searches a few built-in tracks by substring, so it runs on its own with `riff up`. Make it
//! yours (an index, a database through `sqlite_databases`, ...), build it, and swap it into a
//! running music app in place of `search` with `riff deploy search <this .wasm>`: riff checks
//! that it still exports `riff:music/search` with the same types before it goes live, and, since
//! the app delivers `catalog.changed` messages to `search` (`[[trigger.queue]]`), that it exports
//! `riff:platform/queue-handler` too. The app's `search` also declares a dependency on
//! `riff:music/catalog`: import it in the world below (or drop that dependency) before swapping.

mod bindings {
    wit_bindgen::generate!({
        path: ["wit/music", "wit/platform"],
        inline: "
            package local:service;
            world service {
                export riff:music/search@0.1.0;
                export riff:platform/queue-handler@0.1.0;
            }
        ",
        world: "local:service/service",
        generate_all,
    });
}

use bindings::exports::riff::music::search::{Guest, Results};
use bindings::riff::music::types::{Album, Artist, Error, Track};
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// The catalog this example searches: (track, album, artist, genre, year).
const TRACKS: &[(&str, &str, &str, &str, u32)] = &[
    ("Clair de lune", "Suite bergamasque", "Claude Debussy", "Classical", 1905),
    ("Gymnopédie No. 1", "Trois Gymnopédies", "Erik Satie", "Classical", 1888),
    ("Moonlight Sonata", "Piano Sonata No. 14", "Ludwig van Beethoven", "Classical", 1802),
    ("The Entertainer", "Ragtime Classics", "Scott Joplin", "Ragtime", 1902),
    ("Maple Leaf Rag", "Ragtime Classics", "Scott Joplin", "Ragtime", 1899),
];

/// An id made from a name: lowercase letters and digits, the rest `-`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect()
}

fn matches(text: &str, query: &str) -> bool {
    text.to_lowercase().contains(&query.to_lowercase())
}

/// The search itself: every track, album and artist whose name contains `query`.
fn find(query: &str, kinds: &[String], limit: u32, offset: u32) -> Result<Results, Error> {
    let query = query.trim();
    if query.is_empty() {
        return Err(Error::Invalid("the query is empty".into()));
    }
    if let Some(bad) = kinds.iter().find(|k| !["artist", "album", "track"].contains(&k.as_str())) {
        return Err(Error::Invalid(format!("unknown type {bad:?}: use artist, album or track")));
    }
    let wants = |kind: &str| kinds.is_empty() || kinds.iter().any(|k| k == kind);
    let page = |n: usize| n >= offset as usize && n < offset as usize + limit.clamp(1, 50) as usize;
    let mut results = Results { artists: Vec::new(), albums: Vec::new(), tracks: Vec::new() };
    let mut seen_albums = Vec::new();
    let mut seen_artists = Vec::new();
    for (i, (track, album, artist, genre, year)) in TRACKS.iter().enumerate() {
        if wants("track") && matches(track, query) && page(results.tracks.len()) {
            results.tracks.push(Track {
                id: format!("tr{i}"),
                name: track.to_string(),
                album_id: slug(album),
                album_name: album.to_string(),
                artist_id: slug(artist),
                artist_name: artist.to_string(),
                genre: Some(genre.to_string()),
                duration_ms: 180_000,
                track_number: 1,
                popularity: 50,
            });
        }
        if wants("album") && matches(album, query) && !seen_albums.contains(album) {
            seen_albums.push(album);
            results.albums.push(Album {
                id: slug(album),
                name: album.to_string(),
                artist_id: slug(artist),
                artist_name: artist.to_string(),
                release_year: Some(*year),
                total_tracks: TRACKS.iter().filter(|t| t.1 == *album).count() as u32,
            });
        }
        if wants("artist") && matches(artist, query) && !seen_artists.contains(artist) {
            seen_artists.push(artist);
            results.artists.push(Artist {
                id: slug(artist),
                name: artist.to_string(),
                genres: vec![genre.to_string()],
                popularity: 50,
            });
        }
    }
    Ok(results)
}

struct Service;

/// `riff:music/search`: what other components call with a typed call.
impl Guest for Service {
    fn search(
        query: String,
        kinds: Vec<String>,
        limit: u32,
        offset: u32,
    ) -> Result<Results, Error> {
        find(&query, &kinds, limit, offset)
    }
}

/// `riff:platform/queue-handler`: the music app's catalog announces changes (`catalog.changed`)
/// to its search service. A real index applies them; this example's catalog is built in, so it
/// acknowledges them (`Ok`); an `Err` would have the message delivered again later.
impl bindings::exports::riff::platform::queue_handler::Guest for Service {
    fn handle(
        message: bindings::exports::riff::platform::queue_handler::Message,
    ) -> Result<(), String> {
        println!(
            "{{project-name}}: {} message {} (ignored by this example)",
            message.topic, message.id
        );
        Ok(())
    }
}

bindings::export!(Service with_types_in bindings);

/// `GET /v1/search?q=&type=track,artist&limit=&offset=`: the same search over HTTP.
#[http_component]
fn handle(req: Request) -> Response {
    let mut query = String::new();
    let mut kinds = Vec::new();
    let (mut limit, mut offset) = (20, 0);
    for pair in req.query().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.replace('+', " ");
        match key {
            "q" => query = percent_decode(&value),
            "type" => kinds = value.split(',').map(str::to_string).collect(),
            "limit" => limit = value.parse().unwrap_or(limit),
            "offset" => offset = value.parse().unwrap_or(offset),
            _ => {}
        }
    }
    match find(&query, &kinds, limit, offset) {
        Ok(r) => {
            let tracks: Vec<Value> = r
                .tracks
                .iter()
                .map(|t| json!({ "id": t.id, "name": t.name, "album": t.album_name, "artist": t.artist_name }))
                .collect();
            let albums: Vec<Value> = r
                .albums
                .iter()
                .map(|a| json!({ "id": a.id, "name": a.name, "artist": a.artist_name, "release_year": a.release_year }))
                .collect();
            let artists: Vec<Value> = r
                .artists
                .iter()
                .map(|a| json!({ "id": a.id, "name": a.name, "genres": a.genres }))
                .collect();
            answer(200, json!({ "albums": albums, "artists": artists, "tracks": tracks }))
        }
        Err(Error::Invalid(message)) => {
            answer(400, json!({ "error": { "status": 400, "message": message } }))
        }
        Err(_) => answer(500, json!({ "error": { "status": 500, "message": "search failed" } })),
    }
}

fn answer(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
