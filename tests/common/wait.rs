//! Waiting on conditions instead of sleeping, and requests released at the same moment.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Poll `done` every 20 ms until it holds; panic after `limit` naming `what` (and `context()`,
/// e.g. riff's log, evaluated only on failure).
pub fn eventually(what: &str, limit: Duration, context: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}\n{}", context());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `n` copies of `f` (given their index) on threads released at the same moment.
pub fn all_at_once<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (start, f) = (&start, &f);
                s.spawn(move || {
                    start.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// How many of `statuses` are `status`.
pub fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}
