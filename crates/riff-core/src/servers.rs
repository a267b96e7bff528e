//! Finding the servers that shared backends' tests run against (PostgreSQL, Redis, NATS on
//! loopback), and skipping — or, under `CI=true`, failing — when one is absent.
//!
//! A test that needs a server asks [`server_url`]: the URL from an environment variable (so a
//! developer can point the tests elsewhere), else the loopback default, if something listens
//! there. When nothing does, the test calls [`skip`], which records it in the skip log
//! (`RIFF_SKIP_LOG`) that `scripts/test.sh` prints, and panics instead when `CI=true`.
//! [`unique_name`] gives each test its own database, key prefix or stream.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The loopback servers the shared-backend tests use, and the variables that override them.
pub const POSTGRES: (&str, &str) = ("RIFF_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
pub const REDIS: (&str, &str) = ("RIFF_TEST_REDIS_URL", "redis://127.0.0.1:6379");
pub const NATS: (&str, &str) = ("RIFF_TEST_NATS_URL", "nats://127.0.0.1:4222");

/// The URL of `server` (one of [`POSTGRES`], [`REDIS`], [`NATS`]) if something accepts TCP
/// connections at its host and port; `None` otherwise.
pub fn server_url((variable, default): (&str, &str)) -> Option<String> {
    let url = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    let authority = url.split("://").nth(1)?.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let addr = host_port.to_socket_addrs().ok()?.next()?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok().map(|_| url)
}

/// Record that `test` did not run because of `reason`; under `CI=true`, fail instead.
pub fn skip(test: &str, reason: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: {reason} (required when CI=true)");
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os("RIFF_SKIP_LOG") {
        use std::io::Write;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}

/// A name no other test (in this or another process) uses: `prefix`, the process id, a counter
/// and the time. Lowercase ASCII letters, digits and `_`, so it is a valid database, key prefix
/// and stream name.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{nanos:x}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_identifiers() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{a}");
    }

    #[test]
    fn a_closed_port_is_no_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        std::env::set_var("RIFF_TEST_CLOSED_URL", format!("redis://127.0.0.1:{port}"));
        assert_eq!(server_url(("RIFF_TEST_CLOSED_URL", "")), None);
    }
}
