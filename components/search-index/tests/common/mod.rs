//! Loads the Chinook sample catalog (shared by the quality test and the latency example).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use riff_search::{Doc, Kind};

/// `$RIFF_CHINOOK`, else `<repo root>/../shared/data/chinook/Chinook_Sqlite.sqlite`.
fn path() -> PathBuf {
    std::env::var_os("RIFF_CHINOOK").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/chinook/Chinook_Sqlite.sqlite")
    })
}

/// Chinook's artists, albums and tracks as documents, popularity = purchases. `None` (after
/// printing "skipping: ...") when the file is absent; under `CI=true` its absence panics.
pub fn chinook() -> Option<Vec<Doc>> {
    let path = path();
    if !path.exists() {
        let msg = format!("Chinook not found at {} (set RIFF_CHINOOK)", path.display());
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        println!("skipping: {msg}");
        note_skip(&msg);
        return None;
    }
    let db = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open Chinook");
    let rows = |sql: &str| -> Vec<(i64, String, i64, String, i64)> {
        let mut stmt = db.prepare(sql).expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let artists: BTreeMap<i64, String> =
        rows("SELECT ArtistId, Name, 0, '', 0 FROM Artist").into_iter().map(|r| (r.0, r.1)).collect();
    let albums: BTreeMap<i64, (String, i64)> = rows("SELECT AlbumId, Title, ArtistId, '', 0 FROM Album")
        .into_iter()
        .map(|r| (r.0, (r.1, r.2)))
        .collect();
    let tracks = rows(
        "SELECT t.TrackId, t.Name, t.AlbumId, COALESCE(g.Name, ''),
                (SELECT COALESCE(SUM(Quantity), 0) FROM InvoiceLine il WHERE il.TrackId = t.TrackId)
         FROM Track t LEFT JOIN Genre g ON g.GenreId = t.GenreId",
    );

    let mut docs = Vec::new();
    // per album and artist: genres and popularity, summed over their tracks
    let mut album_agg: HashMap<i64, (Vec<String>, u64)> = HashMap::new();
    let mut artist_agg: HashMap<i64, (Vec<String>, u64)> = HashMap::new();
    for (id, name, album_id, genre, popularity) in tracks {
        let (album, artist_id) = &albums[&album_id];
        for agg in [album_agg.entry(album_id).or_default(), artist_agg.entry(*artist_id).or_default()] {
            if !genre.is_empty() && !agg.0.contains(&genre) {
                agg.0.push(genre.clone());
            }
            agg.1 += popularity as u64;
        }
        docs.push(Doc {
            kind: Kind::Track,
            id: format!("tr{id}"),
            name,
            artist: artists[artist_id].clone(),
            album: Some(album.clone()),
            genres: vec![genre],
            year: None,
            popularity: popularity as u64,
        });
    }
    for (id, (title, artist_id)) in &albums {
        let (genres, popularity) = album_agg.remove(id).unwrap_or_default();
        let (name, artist) = (title.clone(), artists[artist_id].clone());
        docs.push(Doc {
            kind: Kind::Album,
            id: format!("al{id}"),
            name,
            artist,
            album: None,
            genres,
            year: None,
            popularity,
        });
    }
    for (id, name) in &artists {
        let (genres, popularity) = artist_agg.remove(id).unwrap_or_default();
        let artist = name.clone();
        docs.push(Doc {
            kind: Kind::Artist,
            id: format!("ar{id}"),
            name: name.clone(),
            artist,
            album: None,
            genres,
            year: None,
            popularity,
        });
    }
    Some(docs)
}

/// Record a skip in `RIFF_SKIP_LOG` (set by scripts/test.sh, which lists skips in its summary).
fn note_skip(reason: &str) {
    if let Some(path) = std::env::var_os("RIFF_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "search-index quality: {reason}");
        }
    }
}
