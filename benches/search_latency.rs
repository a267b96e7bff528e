//! `riff-search-latency`: search query latency through HTTP on a real `riff up` of the music
//! app, on the Chinook catalog and on a generated catalog of (by default) 100,000 tracks.
//!
//! For each catalog: start riff with a fresh state directory, import the catalog through the
//! catalog's admin endpoint, wait until the search index has taken all of it (through the
//! queue), then send queries one after another over one keep-alive connection and report
//! p50/p95/p99 of the round trip. Queries mix exact names, one- and two-typo misspellings,
//! prefixes as typed, filters and genre-only queries, drawn from the catalog with a fixed seed.
//!
//! ```sh
//! cargo build --release -p riff -p riff-bench
//! target/release/riff-search-latency --chinook ../shared/data/chinook/Chinook_Sqlite.sqlite
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;

mod running;
use riff_search::{Doc, Kind};
use running::Running;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/riff")]
    riff: PathBuf,
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Chinook's SQLite file; skipped when absent.
    #[arg(long)]
    chinook: Option<PathBuf>,
    /// Tracks in the generated catalog (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    tracks: usize,
    /// Queries measured per catalog.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
}

const ADMIN: &str = "search-latency";

/// A riff with its own state directory (removed when both are dropped).
struct App {
    running: Running,
    _state: tempfile::TempDir,
}

fn start(args: &Args) -> Result<App> {
    let state = tempfile::tempdir()?;
    let mut command = Command::new(&args.riff);
    command
        .args(["up", "--listen", "127.0.0.1:0", "--no-admin", "-f"])
        .arg(&args.manifest)
        .arg("--state-dir")
        .arg(state.path())
        .env("RIFF_VARIABLE_CATALOG_ADMIN_TOKEN", ADMIN)
        .env("RIFF_LOG", "warn");
    Ok(App { running: Running::start(command)?, _state: state })
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build().expect("client")
}

fn import(base: &str, body: &Value) -> Result<()> {
    let resp =
        client().post(format!("{base}/v1/admin/catalog/import")).bearer_auth(ADMIN).json(body).send()?;
    if !resp.status().is_success() {
        bail!("import refused: {} {}", resp.status(), resp.text().unwrap_or_default());
    }
    Ok(())
}

/// Import a catalog given as search docs (the generated one), in batches the catalog accepts.
fn import_docs(base: &str, docs: &[Doc]) -> Result<()> {
    let artist_id: HashMap<&str, &str> =
        docs.iter().filter(|d| d.kind == Kind::Artist).map(|d| (d.name.as_str(), d.id.as_str())).collect();
    let album_id: HashMap<(&str, &str), &str> = docs
        .iter()
        .filter(|d| d.kind == Kind::Album)
        .map(|d| ((d.artist.as_str(), d.name.as_str()), d.id.as_str()))
        .collect();
    let genres: Vec<&str> = {
        let mut g: Vec<&str> = docs.iter().flat_map(|d| d.genres.iter().map(String::as_str)).collect();
        g.sort();
        g.dedup();
        g
    };
    let tracks: Vec<&Doc> = docs.iter().filter(|d| d.kind == Kind::Track).collect();
    for (n, batch) in tracks.chunks(10_000).enumerate() {
        let mut artists = HashMap::new();
        let mut albums = HashMap::new();
        let mut rows = Vec::new();
        for t in batch {
            let (Some(&ar), Some(album)) = (artist_id.get(t.artist.as_str()), t.album.as_deref()) else {
                continue;
            };
            let Some(&al) = album_id.get(&(t.artist.as_str(), album)) else { continue };
            artists.insert(ar, json!({ "id": ar, "name": t.artist, "genres": t.genres }));
            albums.insert(al, json!({ "id": al, "name": album, "artist_id": ar, "release_year": t.year }));
            rows.push(json!({ "id": t.id, "name": t.name, "album_id": al, "artist_id": ar,
                "genre": t.genres.first(), "track_number": 1, "duration_ms": 180_000,
                "popularity": t.popularity.min(100) }));
        }
        let body = json!({ "replace": n == 0, "genres": genres, "artists": artists.values().collect::<Vec<_>>(),
                           "albums": albums.values().collect::<Vec<_>>(), "tracks": rows });
        import(base, &body)?;
    }
    Ok(())
}

/// Wait until a search for `name` (the last item imported) finds it.
fn wait_indexed(base: &str, name: &str, kind: &str) -> Result<Duration> {
    let started = Instant::now();
    let url = reqwest::Url::parse_with_params(&format!("{base}/v1/search"), &[("q", name), ("type", kind)])?;
    loop {
        let body: Value = client().get(url.clone()).send()?.json()?;
        let items = body[format!("{kind}s")]["items"].as_array().cloned().unwrap_or_default();
        if items.iter().any(|i| i["name"] == name) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("the index never caught up");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A word with one letter replaced or two swapped: a typo.
fn typo(word: &str, rng: &mut fastrand::Rng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() < 5 {
        return word.to_string();
    }
    let i = rng.usize(1..chars.len() - 1);
    if rng.bool() {
        chars.swap(i, i + 1);
    } else {
        chars[i] = if chars[i] == 'e' { 'a' } else { 'e' };
    }
    chars.into_iter().collect()
}

fn queries(names: &[(String, &'static str)], genres: &[String], n: usize) -> Names {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n)
        .map(|i| {
            let (name, kind) = &names[rng.usize(..names.len())];
            let q = match i % 6 {
                0 => name.clone(),
                1 => name.split_whitespace().map(|w| typo(w, &mut rng)).collect::<Vec<_>>().join(" "),
                2 => name.chars().take(name.chars().count().clamp(1, 4)).collect(),
                3 => format!(
                    "{} genre:\"{}\"",
                    name.split_whitespace().next().unwrap_or("a"),
                    genres[i % genres.len()]
                ),
                4 => format!("genre:\"{}\"", genres[i % genres.len()]),
                _ => name.split_whitespace().take(2).map(|w| typo(w, &mut rng)).collect::<Vec<_>>().join(" "),
            };
            (q, *kind)
        })
        .collect()
}

fn measure(base: &str, queries: &[(String, &'static str)]) -> Result<Vec<Duration>> {
    let client = client();
    let mut times = Vec::with_capacity(queries.len());
    for (i, (q, kind)) in queries.iter().enumerate() {
        let types = if i % 2 == 0 { "track,artist,album" } else { kind };
        let url = reqwest::Url::parse_with_params(
            &format!("{base}/v1/search"),
            &[("q", q.as_str()), ("type", types)],
        )?;
        let started = Instant::now();
        let resp = client.get(url).send()?;
        let status = resp.status();
        let _ = resp.bytes()?;
        times.push(started.elapsed());
        if status != 200 {
            bail!("{q:?} answered {status}");
        }
    }
    times.sort();
    Ok(times)
}

fn report(label: &str, times: &[Duration], indexed: Duration) {
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{label:<34} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  (n={}; indexed {:.1} s after the import)",
        p(0.5),
        p(0.95),
        p(0.99),
        times.len(),
        indexed.as_secs_f64()
    );
}

/// (name, kind) of every searchable item.
type Names = Vec<(String, &'static str)>;

fn chinook_names(path: &Path) -> Result<(Names, Vec<String>)> {
    // python3's sqlite3 reads the file; no SQLite library in this crate.
    let script = "import sqlite3,sys,json; d=sqlite3.connect(sys.argv[1]); \
        print(json.dumps({'artists':[r[0] for r in d.execute('select Name from Artist')], \
        'albums':[r[0] for r in d.execute('select Title from Album')], \
        'tracks':[r[0] for r in d.execute('select Name from Track')], \
        'genres':[r[0] for r in d.execute('select Name from Genre')]}))";
    let out = Command::new("python3").args(["-c", script]).arg(path).output()?;
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let list = |k: &str| -> Vec<String> {
        v[k].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    let mut names = Vec::new();
    names.extend(list("artists").into_iter().map(|n| (n, "artist")));
    names.extend(list("albums").into_iter().map(|n| (n, "album")));
    names.extend(list("tracks").into_iter().map(|n| (n, "track")));
    Ok((names, list("genres")))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(path) = args.chinook.as_ref().filter(|p| p.exists()) {
        let app = start(&args)?;
        let script = args.manifest.parent().unwrap_or(Path::new(".")).join("scripts/import-chinook.py");
        let status = Command::new("python3")
            .arg(script)
            .arg("--replace")
            .args([app.running.base.as_str(), ADMIN])
            .arg(path)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("importing Chinook failed");
        }
        let (names, genres) = chinook_names(path)?;
        let last = names.iter().rfind(|(_, k)| *k == "track").expect("tracks").0.clone();
        let indexed = wait_indexed(&app.running.base, &last, "track")?;
        measure(&app.running.base, &queries(&names, &genres, 100))?; // warm-up
        let times = measure(&app.running.base, &queries(&names, &genres, args.queries))?;
        report("Chinook (3,503 tracks)", &times, indexed);
    }
    if args.tracks > 0 {
        let app = start(&args)?;
        let docs = riff_search::synthetic::catalog(args.tracks, 42);
        let began = Instant::now();
        import_docs(&app.running.base, &docs)?;
        let imported = began.elapsed();
        let last = docs.iter().rfind(|d| d.kind == Kind::Track).expect("tracks");
        let indexed = wait_indexed(&app.running.base, &last.name, "track")?;
        let names: Vec<(String, &'static str)> = docs
            .iter()
            .map(|d| {
                let kind = match d.kind {
                    Kind::Track => "track",
                    Kind::Album => "album",
                    Kind::Artist => "artist",
                };
                (d.name.clone(), kind)
            })
            .collect();
        let mut genres: Vec<String> = docs.iter().flat_map(|d| d.genres.clone()).collect();
        genres.sort();
        genres.dedup();
        measure(&app.running.base, &queries(&names, &genres, 100))?;
        let times = measure(&app.running.base, &queries(&names, &genres, args.queries))?;
        println!("(generated catalog imported in {:.1} s)", imported.as_secs_f64());
        report(&format!("generated ({} tracks)", args.tracks), &times, indexed);
    }
    Ok(())
}
