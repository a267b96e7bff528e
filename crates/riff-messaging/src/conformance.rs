//! The behaviour every [`QueueBackend`] must have, as one async check a backend's tests call on a
//! fresh, empty queue. It panics, naming the broken expectation, at the first one that fails.

use std::time::{Duration, Instant};

use crate::{QueueBackend, Subscription};

fn sub(topic: &str, component: &str) -> Subscription {
    Subscription { topic: topic.into(), component: component.into(), max_attempts: 3 }
}

const LEASE: Duration = Duration::from_secs(600);

/// Run every check against `queue`, which must start empty.
pub async fn check(queue: &dyn QueueBackend) {
    let (a, b, other) = (sub("t", "a"), sub("t", "b"), sub("u", "a"));
    queue.subscribe(&[a.clone(), b.clone(), other.clone()]).await.unwrap();

    // Fan-out: each subscription gets each message, until it acknowledges.
    let id = queue.publish("t", b"one").await.unwrap();
    let leased = queue.lease(&a, 10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1, "one message, one delivery per subscription");
    let d = &leased[0];
    assert_eq!((d.id.as_str(), d.payload.as_slice(), d.attempt), (id.as_str(), &b"one"[..], 1));
    assert_eq!((d.topic.as_str(), d.subscriber.as_str()), ("t", "a"));
    assert!(queue.lease(&a, 10, LEASE).await.unwrap().is_empty(), "a leased delivery is not leased twice");
    assert!(queue.lease(&other, 10, LEASE).await.unwrap().is_empty(), "topics are separate");
    queue.ack(d).await.unwrap();
    assert!(queue.lease(&a, 10, LEASE).await.unwrap().is_empty(), "an acknowledged delivery is gone");
    let for_b = queue.lease(&b, 10, LEASE).await.unwrap();
    assert_eq!(for_b.len(), 1, "b has not acknowledged: still there");
    queue.ack(&for_b[0]).await.unwrap();

    // Batches, oldest first.
    for n in 0..5u8 {
        queue.publish("t", &[n]).await.unwrap();
    }
    let batch = queue.lease(&a, 3, LEASE).await.unwrap();
    assert_eq!(
        batch.iter().map(|d| d.payload[0]).collect::<Vec<_>>(),
        [0, 1, 2],
        "a batch, in publish order"
    );
    let rest = queue.lease(&a, 10, LEASE).await.unwrap();
    assert_eq!(rest.iter().map(|d| d.payload[0]).collect::<Vec<_>>(), [3, 4]);
    for d in batch.iter().chain(&rest) {
        queue.ack(d).await.unwrap();
    }
    for d in queue.lease(&b, 10, LEASE).await.unwrap() {
        queue.ack(&d).await.unwrap();
    }

    // Nack with a delay: not due before it, due after, attempt counted.
    queue.publish("t", b"flaky").await.unwrap();
    let first = queue.lease(&a, 1, LEASE).await.unwrap().remove(0);
    queue.nack(&first, "boom", Duration::from_millis(300)).await.unwrap();
    assert!(queue.lease(&a, 1, LEASE).await.unwrap().is_empty(), "not due before its delay");
    let started = Instant::now();
    queue.watch(&a, Duration::from_secs(30)).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "watch returns when a retry falls due, not at its timeout"
    );
    let mut second = Vec::new();
    for _ in 0..50 {
        second = queue.lease(&a, 1, LEASE).await.unwrap();
        if !second.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(second.len(), 1, "due again after its delay");
    assert_eq!(second[0].attempt, 2, "attempts count");

    // Dead letters: kept, listed, never delivered again.
    queue.dead_letter(&second[0], "boom again").await.unwrap();
    let dead = queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].subscriber.as_str(),
            dead[0].last_error.as_str(),
            dead[0].attempts,
            dead[0].payload.as_str()
        ),
        ("a", "boom again", 2, "flaky")
    );
    assert!(queue.lease(&a, 10, LEASE).await.unwrap().is_empty(), "dead letters are not delivered");
    for d in queue.lease(&b, 10, LEASE).await.unwrap() {
        queue.ack(&d).await.unwrap();
    }

    // Watch wakes on publish.
    let waiting = async {
        let started = Instant::now();
        queue.watch(&other, Duration::from_secs(30)).await;
        started.elapsed()
    };
    let publishing = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        queue.publish("u", b"wake").await.unwrap();
    };
    let (waited, ()) = tokio::join!(waiting, publishing);
    assert!(
        waited < Duration::from_secs(30),
        "watch returns when something is published, not at its timeout"
    );
    assert_eq!(queue.lease(&other, 10, LEASE).await.unwrap().len(), 1);

    // A subscription added later gets only what is published after it.
    queue.subscribe(&[a.clone(), b.clone(), other.clone(), sub("t", "late")]).await.unwrap();
    queue.publish("t", b"after").await.unwrap();
    let late = queue.lease(&sub("t", "late"), 10, LEASE).await.unwrap();
    assert_eq!(late.len(), 1, "a new subscription receives new messages");
    assert_eq!(late[0].payload, b"after");
}
