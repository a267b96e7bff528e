//! The embedded queue: one SQLite file (WAL), two tables.
//!
//! `messages` holds each published message once; `deliveries` holds one row per (message,
//! subscriber) with its attempt count, when it is next due, whether it is leased, and whether it
//! is a dead letter. Publishing writes the message and its deliveries in one transaction;
//! acknowledging deletes the delivery (and the message once no delivery needs it). So after a
//! crash every message is either not published (the guest got an error) or still pending for
//! each subscriber that has not acknowledged it.
//!
//! The file belongs to one process, so when it is opened no lease can be held by anyone: leases
//! of a process that stopped are released at once, and their deliveries are due again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::Deserialize;
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;

use crate::{
    new_message_id, now_ms, DeadLetter, Delivery, MakeQueue, QueueBackend, QueueContext, Subscription,
};

pub struct SqliteQueue {
    pool: SqlitePool,
    subscriptions: RwLock<Vec<Subscription>>,
    /// Woken on every publish and subscription change.
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
        let pool = riff_core::sqlite::open_pool(path, 4, "the message queue").await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.context("creating the queue tables")?;
        // Files written before leases existed lack the column.
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('deliveries')").fetch_all(&pool).await?;
        if !columns.iter().any(|c| c == "leased") {
            sqlx::query("ALTER TABLE deliveries ADD COLUMN leased INTEGER NOT NULL DEFAULT 0")
                .execute(&pool)
                .await
                .context("adding leases to the queue")?;
        }
        sqlx::query("UPDATE deliveries SET leased = 0, due_ms = ? WHERE leased = 1")
            .bind(now_ms())
            .execute(&pool)
            .await
            .context("releasing the leases of the previous run")?;
        Ok(Self { pool, subscriptions: RwLock::new(Vec::new()), published: Notify::new() })
    }

    fn subscribers_of(&self, topic: &str) -> Vec<String> {
        let subs = self.subscriptions.read().expect("subscriptions lock");
        subs.iter().filter(|s| s.topic == topic).map(|s| s.component.clone()).collect()
    }
}

#[async_trait]
impl QueueBackend for SqliteQueue {
    async fn subscribe(&self, subscriptions: &[Subscription]) -> Result<()> {
        *self.subscriptions.write().expect("subscriptions lock") = subscriptions.to_vec();
        self.published.notify_waiters();
        Ok(())
    }

    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String> {
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

    async fn lease(&self, sub: &Subscription, max: usize, lease_for: Duration) -> Result<Vec<Delivery>> {
        let now = now_ms();
        let leased = sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, leased = 1, due_ms = ?
             WHERE (seq, subscriber) IN (
                SELECT d.seq, d.subscriber FROM deliveries d JOIN messages m ON m.seq = d.seq
                WHERE d.subscriber = ? AND m.topic = ? AND d.dead = 0 AND d.due_ms <= ?
                ORDER BY d.due_ms, d.seq LIMIT ?)
             RETURNING seq, attempts",
        )
        .bind(now + lease_for.as_millis() as i64)
        .bind(&sub.component)
        .bind(&sub.topic)
        .bind(now)
        .bind(max as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut deliveries = Vec::with_capacity(leased.len());
        for row in leased {
            let (seq, attempts): (i64, i64) = (row.get(0), row.get(1));
            let message = sqlx::query("SELECT id, topic, payload FROM messages WHERE seq = ?")
                .bind(seq)
                .fetch_one(&self.pool)
                .await?;
            deliveries.push(Delivery {
                seq,
                id: message.get(0),
                topic: message.get(1),
                subscriber: sub.component.clone(),
                payload: message.get(2),
                attempt: attempts as u32,
            });
        }
        deliveries.sort_by_key(|d| d.seq);
        Ok(deliveries)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM deliveries WHERE seq = ? AND subscriber = ?")
            .bind(delivery.seq)
            .bind(&delivery.subscriber)
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

    async fn nack(&self, delivery: &Delivery, error: &str, retry_in: Duration) -> Result<()> {
        self.settle(delivery, error, false, now_ms() + retry_in.as_millis() as i64).await
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<()> {
        self.settle(delivery, error, true, now_ms()).await
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
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

    async fn watch(&self, sub: &Subscription, timeout: Duration) {
        // Listen before looking, so a publish in between is not missed.
        let published = self.published.notified();
        tokio::pin!(published);
        published.as_mut().enable();
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(d.due_ms) FROM deliveries d JOIN messages m ON m.seq = d.seq
             WHERE d.subscriber = ? AND m.topic = ? AND d.dead = 0",
        )
        .bind(&sub.component)
        .bind(&sub.topic)
        .fetch_one(&self.pool)
        .await
        .unwrap_or(None);
        let wait = match due {
            Some(due) => Duration::from_millis((due - now_ms()).max(0) as u64).min(timeout),
            None => timeout,
        };
        if !wait.is_zero() {
            let _ = tokio::time::timeout(wait, published).await;
        }
    }
}

impl SqliteQueue {
    /// End a lease without acknowledging: due again at `due_ms`, or a dead letter.
    async fn settle(&self, delivery: &Delivery, error: &str, dead: bool, due_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE deliveries SET leased = 0, dead = ?, due_ms = ?, last_error = ? WHERE seq = ? AND subscriber = ?",
        )
        .bind(dead as i64)
        .bind(due_ms)
        .bind(error)
        .bind(delivery.seq)
        .bind(&delivery.subscriber)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// `[queue] type = "spin"` (or `"sqlite"`): `path` optional, relative to the runtime config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteQueueConfig {
    pub path: Option<PathBuf>,
}

/// Makes the embedded queue: the default.
pub struct MakeSqliteQueue;

#[async_trait]
impl MakeQueue for MakeSqliteQueue {
    const TYPES: &'static [&'static str] = &["spin", "sqlite"];
    type Config = SqliteQueueConfig;

    async fn make_queue(
        &self,
        config: SqliteQueueConfig,
        context: &QueueContext,
    ) -> Result<Arc<dyn QueueBackend>> {
        let path = match config.path {
            Some(path) => context.config_dir.join(path),
            None => context.default_path.clone(),
        };
        Ok(Arc::new(SqliteQueue::open(&path).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(&dir.path().join("q.db")).await.unwrap();
        crate::conformance::check(&q).await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE id NOT IN (SELECT m.id FROM messages m JOIN deliveries d ON d.seq = m.seq)")
            .fetch_one(&q.pool)
            .await
            .unwrap();
        assert_eq!(left, 0, "a message every subscriber acknowledged is deleted");
    }

    #[tokio::test]
    async fn unsettled_deliveries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let sub = Subscription { topic: "t".into(), component: "a".into(), max_attempts: 3 };
        {
            let q = SqliteQueue::open(&path).await.unwrap();
            q.subscribe(std::slice::from_ref(&sub)).await.unwrap();
            q.publish("t", b"kept").await.unwrap();
            // Leased but never settled (a crash mid-handling).
            assert_eq!(q.lease(&sub, 1, Duration::from_secs(600)).await.unwrap().len(), 1);
        }
        let q = SqliteQueue::open(&path).await.unwrap();
        q.subscribe(std::slice::from_ref(&sub)).await.unwrap();
        let again = q.lease(&sub, 1, Duration::from_secs(600)).await.unwrap();
        assert_eq!(again.len(), 1, "the stopped process's lease was released");
        assert_eq!((again[0].payload.as_slice(), again[0].attempt), (&b"kept"[..], 2));
    }
}
