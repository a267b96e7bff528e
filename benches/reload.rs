//! `riff-reload-timing`: how fast riff starts and swaps, measured end to end over loopback.
//!
//! * **Start**: from spawning `riff up` to the first answered request on a component route,
//!   with an empty compiled cache (every component compiled) and with a warm one.
//! * **Swap**: from starting the upload of a new `.wasm` through the admin API to the new
//!   version serving (the upload returns once it serves), for an artifact the cache has seen
//!   and for a new one (a copy with a unique custom section, so its hash is new and it must be
//!   compiled).
//!
//! ```sh
//! cargo build --release -p riff -p riff-bench
//! target/release/riff-reload-timing --riff target/release/riff --manifest spin.toml --component catalog
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

mod running;
use running::Running;

#[derive(Parser)]
struct Args {
    /// The riff binary (a release build).
    #[arg(long, default_value = "target/release/riff")]
    riff: PathBuf,
    /// The app to start.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// A route to request once started.
    #[arg(long, default_value = "/hello")]
    route: String,
    /// The component to swap.
    #[arg(long, default_value = "catalog")]
    component: String,
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const TOKEN: &str = "reload-timing";

fn start(args: &Args, state: &Path, cache: &Path) -> Result<Running> {
    let mut command = Command::new(&args.riff);
    command
        .args(["up", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "-f"])
        .arg(&args.manifest)
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(cache)
        .env("RIFF_ADMIN_TOKEN", TOKEN)
        .env("RIFF_LOG", "warn");
    Running::start(command)
}

/// Start riff and time until `route` answers 200.
fn time_start(
    args: &Args,
    state: &Path,
    cache: &Path,
    client: &reqwest::blocking::Client,
) -> Result<Duration> {
    let began = Instant::now();
    let running = start(args, state, cache)?;
    loop {
        if let Ok(resp) = client.get(format!("{}{}", running.base, args.route)).send() {
            if resp.status().is_success() {
                return Ok(began.elapsed());
            }
        }
        if began.elapsed() > Duration::from_secs(600) {
            bail!("{} never answered", args.route);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A copy of a component with a unique custom section appended: same behaviour, new hash.
fn variant(wasm: &[u8], nonce: u64) -> Vec<u8> {
    let name = b"riff-timing";
    let payload = nonce.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // LEB128, < 128
    out.extend_from_slice(&section);
    out
}

fn deploy(
    client: &reqwest::blocking::Client,
    admin: &str,
    component: &str,
    bytes: Vec<u8>,
) -> Result<(Duration, bool)> {
    let began = Instant::now();
    let resp =
        client.put(format!("{admin}/v1/components/{component}")).bearer_auth(TOKEN).body(bytes).send()?;
    let took = began.elapsed();
    let status = resp.status();
    let report: serde_json::Value = resp.json()?;
    if !status.is_success() {
        bail!("deploy refused: {report}");
    }
    Ok((took, report["from_cache"].as_bool().unwrap_or(false)))
}

fn summary(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<44} median {:>8.1} ms   min {:>8.1} ms   max {:>8.1} ms   (n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let scratch = tempfile::tempdir()?;

    // Start with a cold cache: a fresh cache directory each run (state kept, so the catalog's
    // first-start demo import is not counted).
    let state = scratch.path().join("state");
    let warm_cache = scratch.path().join("cache-warm");
    drop(start(&args, &state, &warm_cache)?); // first start: imports, fills the warm cache
    let mut cold = Vec::new();
    for run in 0..args.runs {
        cold.push(time_start(&args, &state, &scratch.path().join(format!("cache-cold-{run}")), &client)?);
    }
    let mut warm = Vec::new();
    for _ in 0..args.runs {
        warm.push(time_start(&args, &state, &warm_cache, &client)?);
    }
    summary("riff up -> first response, cold cache", &mut cold);
    summary("riff up -> first response, warm cache", &mut warm);

    // Swaps on a running app.
    let running = start(&args, &state, &warm_cache)?;
    let manifest = std::fs::read_to_string(&args.manifest)?;
    let source = source_of(&manifest, &args.component, args.manifest.parent().unwrap_or(Path::new(".")))?;
    let wasm = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
    let nonce = std::process::id() as u64 * 1000;
    let (a, b) = (variant(&wasm, nonce), variant(&wasm, nonce + 1));
    let mut uncached = Vec::new();
    for run in 0..args.runs {
        let (took, from_cache) =
            deploy(&client, &running.admin, &args.component, variant(&wasm, nonce + 10 + run as u64))?;
        assert!(!from_cache, "a new artifact must be compiled");
        uncached.push(took);
    }
    deploy(&client, &running.admin, &args.component, a.clone())?;
    deploy(&client, &running.admin, &args.component, b.clone())?;
    let mut cached = Vec::new();
    for run in 0..args.runs * 4 {
        let bytes = if run % 2 == 0 { a.clone() } else { b.clone() };
        let (took, from_cache) = deploy(&client, &running.admin, &args.component, bytes)?;
        assert!(from_cache, "a known artifact comes from the cache");
        cached.push(took);
    }
    let size = wasm.len() as f64 / 1024.0;
    summary(&format!("swap {} ({size:.0} KiB), new artifact", args.component), &mut uncached);
    summary(&format!("swap {} ({size:.0} KiB), cached artifact", args.component), &mut cached);
    drop(running);
    Ok(())
}

/// The `source` of `[component.<id>]`, resolved against the manifest's directory.
fn source_of(manifest: &str, id: &str, dir: &Path) -> Result<PathBuf> {
    let doc: toml::Value = manifest.parse()?;
    let source =
        doc["component"][id]["source"].as_str().with_context(|| format!("no [component.{id}] source"))?;
    Ok(dir.join(source))
}
