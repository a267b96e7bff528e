//! The behaviour every [`KeyValueBackend`] must have, as one async check a backend's own tests
//! call on a fresh, empty store: the embedded backend runs it in its unit tests, and a new
//! backend (Redis, say) is accepted when it passes it too.
//!
//! It panics, naming the broken expectation, at the first one that does not hold.

use std::sync::Arc;

use crate::{CasSnapshot, Error, KeyValueBackend};

/// Run every check against `store`, which must start empty.
pub async fn check(store: &dyn KeyValueBackend) {
    basic_operations(store).await;
    keys_are_sorted(store).await;
    increment(store).await;
    compare_and_swap(store).await;
    binary_values(store).await;
}

/// Run the checks that need concurrency (the same request 20 times at once) on a shared store.
pub async fn check_concurrent(store: Arc<dyn KeyValueBackend>) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.increment("concurrent-counter", 2).await }));
    }
    for t in tasks {
        t.await.expect("increment task").expect("increment");
    }
    assert_eq!(store.increment("concurrent-counter", 0).await.unwrap(), 40, "increments are atomic");

    // Twenty writers that all saw the key absent race to claim it: exactly one wins.
    let seen = store.snapshot("claimed").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let (s, seen) = (store.clone(), seen.clone());
        tasks.push(tokio::spawn(async move { s.compare_and_swap("claimed", &seen, &[i]).await.unwrap() }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += t.await.expect("cas task") as usize;
    }
    assert_eq!(winners, 1, "exactly one of 20 concurrent compare-and-swaps on an absent key wins");
}

async fn basic_operations(store: &dyn KeyValueBackend) {
    assert_eq!(store.get("missing").await.unwrap(), None, "an absent key reads as None");
    assert!(!store.exists("missing").await.unwrap(), "an absent key does not exist");
    store.delete("missing").await.expect("deleting an absent key is not an error");
    store.set("k", b"v1").await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]), "get returns what set wrote");
    assert!(store.exists("k").await.unwrap());
    store.set("k", b"v2").await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]), "set overwrites");
    store.delete("k").await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), None, "delete removes");
    assert!(!store.exists("k").await.unwrap());
}

async fn keys_are_sorted(store: &dyn KeyValueBackend) {
    for key in ["b", "a", "c"] {
        store.set(key, b"x").await.unwrap();
    }
    assert_eq!(store.keys().await.unwrap(), ["a", "b", "c"], "keys lists every key, sorted");
    for key in ["a", "b", "c"] {
        store.delete(key).await.unwrap();
    }
    assert!(store.keys().await.unwrap().is_empty());
}

async fn increment(store: &dyn KeyValueBackend) {
    assert_eq!(store.increment("n", 5).await.unwrap(), 5, "an absent counter starts at 0");
    assert_eq!(store.increment("n", -7).await.unwrap(), -2);
    assert_eq!(store.get("n").await.unwrap().as_deref(), Some(&b"-2"[..]), "counters are decimal text");
    store.set("text", b"hello").await.unwrap();
    assert_eq!(store.increment("text", 1).await, Err(Error::NotAnInteger("text".into())));
    assert_eq!(
        store.get("text").await.unwrap().as_deref(),
        Some(&b"hello"[..]),
        "a refused increment writes nothing"
    );
    store.set("big", i64::MAX.to_string().as_bytes()).await.unwrap();
    assert_eq!(store.increment("big", 1).await, Err(Error::Overflow));
    for key in ["n", "text", "big"] {
        store.delete(key).await.unwrap();
    }
}

async fn compare_and_swap(store: &dyn KeyValueBackend) {
    let absent = store.snapshot("c").await.unwrap();
    assert_eq!(absent, CasSnapshot::default(), "a snapshot of an absent key has no value");
    assert!(store.compare_and_swap("c", &absent, b"first").await.unwrap(), "swap on an unchanged absent key");
    assert!(!store.compare_and_swap("c", &absent, b"again").await.unwrap(), "a stale snapshot loses");
    let seen = store.snapshot("c").await.unwrap();
    assert_eq!(seen.current.as_deref(), Some(&b"first"[..]), "a snapshot carries the value");
    store.set("c", b"other").await.unwrap();
    assert!(!store.compare_and_swap("c", &seen, b"lost").await.unwrap(), "an interleaved write wins");
    assert_eq!(store.get("c").await.unwrap().as_deref(), Some(&b"other"[..]), "a lost swap writes nothing");
    let seen = store.snapshot("c").await.unwrap();
    assert!(store.compare_and_swap("c", &seen, b"won").await.unwrap());
    assert_eq!(store.get("c").await.unwrap().as_deref(), Some(&b"won"[..]));
    store.delete("c").await.unwrap();
}

async fn binary_values(store: &dyn KeyValueBackend) {
    let bytes: Vec<u8> = (0..=255).collect();
    store.set("bin", &bytes).await.unwrap();
    assert_eq!(store.get("bin").await.unwrap(), Some(bytes), "values are bytes, not text");
    store.set("empty", b"").await.unwrap();
    assert_eq!(store.get("empty").await.unwrap(), Some(Vec::new()), "an empty value is not an absent one");
    assert!(store.exists("empty").await.unwrap());
    store.set("unicode key ✓", b"1").await.unwrap();
    assert!(store.exists("unicode key ✓").await.unwrap());
    for key in ["bin", "empty", "unicode key ✓"] {
        store.delete(key).await.unwrap();
    }
}
