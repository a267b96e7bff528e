//! The embedded queue: one SQLite file (WAL), two tables.
//!
//! `messages` holds each published message once; `deliveries` holds one row per (message,
//! subscriber) with its attempt count, when it is next due, and whether it is a dead letter.
//! Publishing writes the message and its deliveries in one transaction; acknowledging deletes
//! the delivery (and the message once no delivery needs it). So after a crash every message is
//! either not published (the guest got an error) or still pending for each subscriber that has
//! not acknowledged it.

use std::path::Path;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;

use super::{now_ms, DeadLetter, Delivery, QueueBackend, Subscription};

pub struct SqliteQueue {
    pool: SqlitePool,
    subscriptions: RwLock<Vec<Subscription>>,
    published: Notify,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    published_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER NOT NULL REFERENCES messages(seq),
    subscriber TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_ms INTEGER NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (seq, subscriber)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (subscriber, dead, due_ms, seq);
";

impl SqliteQueue {
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = crate::sqlite::open_pool(path, 4, "the message queue").await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.context("creating the queue tables")?;
        Ok(Self { pool, subscriptions: RwLock::new(Vec::new()), published: Notify::new() })
    }

    fn subscribers_of(&self, topic: &str) -> Vec<String> {
        let subs = self.subscriptions.read().expect("subscriptions lock");
        subs.iter().filter(|s| s.topic == topic).map(|s| s.component.clone()).collect()
    }
}

fn new_message_id() -> String {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).expect("the OS random source");
    format!("msg_{}", hex::encode(raw))
}

fn to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl QueueBackend for SqliteQueue {
    fn set_subscriptions(&self, subscriptions: Vec<Subscription>) {
        *self.subscriptions.write().expect("subscriptions lock") = subscriptions;
        self.published.notify_waiters();
    }

    fn publish<'a>(&'a self, topic: &'a str, payload: &'a [u8]) -> BoxFuture<'a, Result<String>> {
        async move {
            let id = new_message_id();
            let now = now_ms();
            let subscribers = self.subscribers_of(topic);
            let mut tx = self.pool.begin().await?;
            let seq: i64 = sqlx::query(
                "INSERT INTO messages (id, topic, payload, published_ms) VALUES (?, ?, ?, ?) RETURNING seq",
            )
            .bind(&id)
            .bind(topic)
            .bind(payload)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            for subscriber in &subscribers {
                sqlx::query("INSERT INTO deliveries (seq, subscriber, due_ms) VALUES (?, ?, ?)")
                    .bind(seq)
                    .bind(subscriber)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if subscribers.is_empty() {
                tracing::debug!("published {id} to {topic}, which has no subscribers");
            }
            self.published.notify_waiters();
            Ok(id)
        }
        .boxed()
    }

    fn next_due<'a>(
        &'a self,
        topic: &'a str,
        subscriber: &'a str,
    ) -> BoxFuture<'a, Result<Option<Delivery>>> {
        async move {
            let row = sqlx::query(
                "UPDATE deliveries SET attempts = attempts + 1
                 WHERE (seq, subscriber) = (
                    SELECT d.seq, d.subscriber FROM deliveries d JOIN messages m ON m.seq = d.seq
                    WHERE d.subscriber = ? AND m.topic = ? AND d.dead = 0 AND d.due_ms <= ?
                    ORDER BY d.due_ms, d.seq LIMIT 1)
                 RETURNING seq, attempts",
            )
            .bind(subscriber)
            .bind(topic)
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let (seq, attempts): (i64, i64) = (row.get(0), row.get(1));
            let message = sqlx::query("SELECT id, topic, payload FROM messages WHERE seq = ?")
                .bind(seq)
                .fetch_one(&self.pool)
                .await?;
            Ok(Some(Delivery {
                seq,
                id: message.get(0),
                topic: message.get(1),
                payload: message.get(2),
                attempt: attempts as u32,
            }))
        }
        .boxed()
    }

    fn next_due_at<'a>(
        &'a self,
        topic: &'a str,
        subscriber: &'a str,
    ) -> BoxFuture<'a, Result<Option<SystemTime>>> {
        async move {
            let due: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(d.due_ms) FROM deliveries d JOIN messages m ON m.seq = d.seq
                 WHERE d.subscriber = ? AND m.topic = ? AND d.dead = 0",
            )
            .bind(subscriber)
            .bind(topic)
            .fetch_one(&self.pool)
            .await?;
            Ok(due.map(to_time))
        }
        .boxed()
    }

    fn ack<'a>(&'a self, delivery: &'a Delivery, subscriber: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM deliveries WHERE seq = ? AND subscriber = ?")
                .bind(delivery.seq)
                .bind(subscriber)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM messages WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = ?)",
            )
            .bind(delivery.seq)
            .bind(delivery.seq)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .boxed()
    }

    fn fail<'a>(
        &'a self,
        delivery: &'a Delivery,
        subscriber: &'a str,
        error: &'a str,
        retry_in: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let (dead, due) = match retry_in {
                Some(wait) => (0, now_ms() + wait.as_millis() as i64),
                None => (1, now_ms()),
            };
            sqlx::query(
                "UPDATE deliveries SET dead = ?, due_ms = ?, last_error = ? WHERE seq = ? AND subscriber = ?",
            )
            .bind(dead)
            .bind(due)
            .bind(error)
            .bind(delivery.seq)
            .bind(subscriber)
            .execute(&self.pool)
            .await?;
            Ok(())
        }
        .boxed()
    }

    fn dead_letters(&self, limit: u32) -> BoxFuture<'_, Result<Vec<DeadLetter>>> {
        async move {
            let rows = sqlx::query(
                "SELECT m.id, m.topic, d.subscriber, d.attempts, d.last_error, m.published_ms, m.payload
                 FROM deliveries d JOIN messages m ON m.seq = d.seq
                 WHERE d.dead = 1 ORDER BY d.seq DESC LIMIT ?",
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| DeadLetter {
                    id: r.get(0),
                    topic: r.get(1),
                    subscriber: r.get(2),
                    attempts: r.get::<i64, _>(3) as u32,
                    last_error: r.get(4),
                    published_ms: r.get(5),
                    payload: String::from_utf8_lossy(&r.get::<Vec<u8>, _>(6)).into_owned(),
                })
                .collect())
        }
        .boxed()
    }

    fn wait_for_publish(&self, timeout: Duration) -> BoxFuture<'_, ()> {
        async move {
            let _ = tokio::time::timeout(timeout, self.published.notified()).await;
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn queue() -> (tempfile::TempDir, SqliteQueue) {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(&dir.path().join("q.db")).await.unwrap();
        q.set_subscriptions(vec![
            Subscription { topic: "t".into(), component: "a".into(), max_attempts: 3 },
            Subscription { topic: "t".into(), component: "b".into(), max_attempts: 3 },
        ]);
        (dir, q)
    }

    #[tokio::test]
    async fn each_subscriber_gets_each_message_until_it_acks() {
        let (_dir, q) = queue().await;
        let id = q.publish("t", b"one").await.unwrap();
        let a = q.next_due("t", "a").await.unwrap().unwrap();
        assert_eq!((a.id.as_str(), a.payload.as_slice(), a.attempt), (id.as_str(), &b"one"[..], 1));
        q.ack(&a, "a").await.unwrap();
        assert!(q.next_due("t", "a").await.unwrap().is_none());
        // b has not acknowledged: still there, and the message with it.
        let b = q.next_due("t", "b").await.unwrap().unwrap();
        assert_eq!(b.id, id);
        q.ack(&b, "b").await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(&q.pool).await.unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn failures_back_off_then_become_dead_letters() {
        let (_dir, q) = queue().await;
        q.publish("t", b"{}").await.unwrap();
        let d = q.next_due("t", "a").await.unwrap().unwrap();
        q.fail(&d, "a", "boom", Some(Duration::from_secs(60))).await.unwrap();
        assert!(q.next_due("t", "a").await.unwrap().is_none(), "not due before its backoff");
        assert!(q.next_due_at("t", "a").await.unwrap().unwrap() > SystemTime::now());
        q.fail(&d, "a", "boom again", None).await.unwrap();
        let dead = q.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].subscriber.as_str(), dead[0].last_error.as_str()), ("a", "boom again"));
        assert!(q.next_due("t", "a").await.unwrap().is_none(), "dead letters are not delivered");
    }

    #[tokio::test]
    async fn messages_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let subs = vec![Subscription { topic: "t".into(), component: "a".into(), max_attempts: 3 }];
        {
            let q = SqliteQueue::open(&path).await.unwrap();
            q.set_subscriptions(subs.clone());
            q.publish("t", b"kept").await.unwrap();
            // Delivered once but never acknowledged (a crash mid-handling).
            q.next_due("t", "a").await.unwrap().unwrap();
        }
        let q = SqliteQueue::open(&path).await.unwrap();
        q.set_subscriptions(subs);
        let again = q.next_due("t", "a").await.unwrap().unwrap();
        assert_eq!((again.payload.as_slice(), again.attempt), (&b"kept"[..], 2));
    }
}
