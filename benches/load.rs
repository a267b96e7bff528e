//! `riff-load`: an open-loop HTTP load client for loopback benchmarks.
//!
//! Requests are scheduled at fixed times (`--rate` per second) regardless of how fast answers
//! come back, and latency is measured from the *scheduled* time whenever the client was behind
//! schedule. A slow server therefore shows up as high latency instead of quietly lowering the
//! offered load (the "coordinated omission" of closed-loop tools). When the client is on time,
//! latency is measured from the actual send, so timer granularity does not inflate it.
//!
//! Offer more than the server can take (a very high `--rate`) and the requests completed per
//! second inside the measured window is its throughput (latencies then only show the backlog);
//! offer a rate every contender sustains and the percentiles compare their latency fairly.
//!
//! By default every request is a `GET` of `--url`. With `--mix FILE` the requests go round-robin
//! through the file's lines (scheduled slot `n` sends line `n mod lines`), each sent to `--url`'s
//! host:
//!
//! ```text
//! # comment; blank lines are skipped
//! GET /v1/artists/ar02
//! POST /v1/me/player/played {"track_id":"tr04"}
//! GET /v1/tracks/tr01/stream | Range: bytes=0-65535
//! ```
//!
//! That is `METHOD PATH [BODY]`, then any number of ` | Name: value` headers for that line alone.
//! A body is sent as `application/json`. `--header "Name: value"` (repeatable) goes on every
//! request, e.g. `--header "Authorization: Bearer $TOKEN"`.
//!
//! Output is one line of `key=value` pairs on stdout, easy to parse from a script. With `--mix`,
//! one more line per mix line goes to stderr (its own completed count, percentiles and non-2xx).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// URL to GET, e.g. http://127.0.0.1:3000/hello; with --mix only its host:port is used.
    #[arg(long)]
    url: String,
    /// File of requests sent round-robin instead of GET --url: lines of `METHOD PATH [BODY]`
    /// with optional ` | Name: value` headers (see the source's documentation).
    #[arg(long)]
    mix: Option<std::path::PathBuf>,
    /// A header sent with every request, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Offered requests per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds (same rate, not recorded).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// One kind of request the client sends.
#[derive(Debug, Clone)]
struct Shape {
    method: http::Method,
    path: String,
    body: Bytes,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

struct Shared {
    next: AtomicU64,
    interval_ns: u64,
    start: Instant,
    warmup_end: Instant,
    end: Instant,
    errors: AtomicU64,
    non_2xx: AtomicU64,
    shapes: Vec<Shape>,
}

/// What one worker (or the whole run) measured, per shape.
struct Tally {
    histograms: Vec<Histogram<u64>>,
    completed: Vec<u64>,
    non_2xx: Vec<u64>,
}

impl Tally {
    fn new(shapes: usize) -> Result<Self> {
        Ok(Self {
            histograms: (0..shapes)
                .map(|_| Histogram::<u64>::new_with_bounds(1, 60_000_000, 3))
                .collect::<Result<_, _>>()?,
            completed: vec![0; shapes],
            non_2xx: vec![0; shapes],
        })
    }

    fn add(&mut self, other: Tally) -> Result<()> {
        for (i, h) in other.histograms.into_iter().enumerate() {
            self.histograms[i].add(h)?;
            self.completed[i] += other.completed[i];
            self.non_2xx[i] += other.non_2xx[i];
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    runtime.block_on(run(args))
}

fn header(text: &str) -> Result<(http::HeaderName, http::HeaderValue)> {
    let (name, value) =
        text.split_once(':').with_context(|| format!("header {text:?}: want `Name: value`"))?;
    Ok((name.trim().parse().context("header name")?, value.trim().parse().context("header value")?))
}

/// The requests of a `--mix` file.
fn parse_mix(text: &str) -> Result<Vec<Shape>> {
    let mut shapes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("mix line {}", n + 1);
        let mut parts = line.split(" | ");
        let request = parts.next().unwrap_or_default();
        let (method, rest) =
            request.split_once(' ').with_context(|| format!("{}: want METHOD PATH", at()))?;
        let (path, body) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        if !path.starts_with('/') {
            bail!("{}: the path must start with /", at());
        }
        let mut headers = parts.map(header).collect::<Result<Vec<_>>>().with_context(at)?;
        let body = body.trim();
        if !body.is_empty() {
            headers.push((http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json")));
        }
        shapes.push(Shape {
            method: method.parse().with_context(|| format!("{}: method {method:?}", at()))?,
            path: path.to_string(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            headers,
        });
    }
    if shapes.is_empty() {
        bail!("the mix file has no requests");
    }
    Ok(shapes)
}

async fn run(args: Args) -> Result<()> {
    let uri: http::Uri = args.url.parse().context("parsing --url")?;
    let authority = uri.authority().context("--url needs a host")?.to_string();
    let common = args.headers.iter().map(|h| header(h)).collect::<Result<Vec<_>>>()?;
    let mut shapes = match &args.mix {
        Some(file) => {
            parse_mix(&std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?)?
        }
        None => vec![Shape {
            method: http::Method::GET,
            path: uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or("/".into()),
            body: Bytes::new(),
            headers: Vec::new(),
        }],
    };
    for shape in &mut shapes {
        shape.headers.extend(common.iter().cloned());
        shape.headers.push((http::header::HOST, authority.parse()?));
    }
    let start = Instant::now() + Duration::from_millis(200);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        interval_ns: 1_000_000_000 / args.rate.max(1),
        start,
        warmup_end: start + Duration::from_secs(args.warmup),
        end: start + Duration::from_secs(args.warmup + args.duration),
        errors: AtomicU64::new(0),
        non_2xx: AtomicU64::new(0),
        shapes,
    });
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (shared, authority) = (shared.clone(), authority.clone());
        workers.push(tokio::spawn(async move { worker(shared, authority).await }));
    }
    let mut tally = Tally::new(shared.shapes.len())?;
    for w in workers {
        tally.add(w.await??)?;
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for h in &tally.histograms {
        histogram.add(h)?;
    }
    let completed: u64 = tally.completed.iter().sum();
    let rps = completed as f64 / args.duration as f64;
    println!(
        "offered={} completed={} rps={:.0} p50_us={} p90_us={} p99_us={} max_us={} errors={} non_2xx={}",
        args.rate,
        completed,
        rps,
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.90),
        histogram.value_at_quantile(0.99),
        histogram.max(),
        shared.errors.load(Ordering::Relaxed),
        shared.non_2xx.load(Ordering::Relaxed),
    );
    if args.mix.is_some() {
        for (i, shape) in shared.shapes.iter().enumerate() {
            let h = &tally.histograms[i];
            eprintln!(
                "mix {} {} completed={} p50_us={} p99_us={} max_us={} non_2xx={}",
                shape.method,
                shape.path,
                tally.completed[i],
                h.value_at_quantile(0.50),
                h.value_at_quantile(0.99),
                h.max(),
                tally.non_2xx[i],
            );
        }
    }
    Ok(())
}

async fn connect(authority: &str) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn worker(shared: Arc<Shared>, authority: String) -> Result<Tally> {
    let mut tally = Tally::new(shared.shapes.len())?;
    let mut sender = connect(&authority).await?;
    loop {
        let slot = shared.next.fetch_add(1, Ordering::Relaxed);
        let scheduled = shared.start + Duration::from_nanos(slot * shared.interval_ns);
        if scheduled >= shared.end || Instant::now() >= shared.end {
            break;
        }
        let measured_from = if Instant::now() < scheduled {
            tokio::time::sleep_until(scheduled.into()).await;
            Instant::now()
        } else {
            scheduled // behind schedule: the wait counts
        };
        let which = (slot % shared.shapes.len() as u64) as usize;
        let shape = &shared.shapes[which];
        let mut request = http::Request::builder()
            .method(shape.method.clone())
            .uri(&shape.path)
            .body(Full::new(shape.body.clone()))?;
        request.headers_mut().extend(shape.headers.iter().cloned());
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await;
                if !status.is_success() {
                    shared.non_2xx.fetch_add(1, Ordering::Relaxed);
                    tally.non_2xx[which] += 1;
                }
                body.is_ok()
            }
            Err(_) => false,
        };
        if !ok {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            sender = connect(&authority).await?;
        }
        // Count what completes inside the measured window (by the clock, so an overloaded
        // server's backlog does not push everything out of the window).
        let now = Instant::now();
        if now >= shared.warmup_end && now < shared.end {
            tally.histograms[which]
                .saturating_record(now.duration_since(measured_from).as_micros().max(1) as u64);
            tally.completed[which] += 1;
        }
    }
    Ok(tally)
}
