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
//! Output is one line of `key=value` pairs, easy to parse from a script.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// URL to GET, e.g. http://127.0.0.1:3000/hello
    #[arg(long)]
    url: String,
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

struct Shared {
    next: AtomicU64,
    interval_ns: u64,
    start: Instant,
    warmup_end: Instant,
    end: Instant,
    errors: AtomicU64,
    non_2xx: AtomicU64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let uri: http::Uri = args.url.parse().context("parsing --url")?;
    let authority = uri.authority().context("--url needs a host")?.to_string();
    let start = Instant::now() + Duration::from_millis(200);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        interval_ns: 1_000_000_000 / args.rate.max(1),
        start,
        warmup_end: start + Duration::from_secs(args.warmup),
        end: start + Duration::from_secs(args.warmup + args.duration),
        errors: AtomicU64::new(0),
        non_2xx: AtomicU64::new(0),
    });
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (shared, uri, authority) = (shared.clone(), uri.clone(), authority.clone());
        workers.push(tokio::spawn(async move { worker(shared, uri, authority).await }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut completed = 0u64;
    for w in workers {
        let (h, n) = w.await??;
        histogram.add(h)?;
        completed += n;
    }
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
    Ok(())
}

async fn connect(authority: &str) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn worker(shared: Arc<Shared>, uri: http::Uri, authority: String) -> Result<(Histogram<u64>, u64)> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut completed = 0u64;
    let mut sender = connect(&authority).await?;
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or("/".into());
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
        let request = http::Request::get(&path).header("host", &authority).body(Empty::new())?;
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await;
                if !status.is_success() {
                    shared.non_2xx.fetch_add(1, Ordering::Relaxed);
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
            histogram.saturating_record(now.duration_since(measured_from).as_micros().max(1) as u64);
            completed += 1;
        }
    }
    Ok((histogram, completed))
}
