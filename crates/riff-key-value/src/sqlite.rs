//! The embedded backend: one SQLite file per store label, written through sqlx, mirrored in memory.
//!
//! Every write goes to SQLite first and then to the mirror, under a per-store write lock, and
//! reads are answered from the mirror. That keeps a read about as cheap as a hash-map lookup (no
//! round trip to SQLite's worker thread) while SQLite stays the durable copy; a restart reloads
//! the mirror from the file. The mirror is why this backend is for one host process: replicas
//! share state through a server backend, which the runtime config selects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, RwLock};

use crate::{CasSnapshot, Error, KeyValueBackend, MakeKeyValueStore, StoreContext};

/// One labelled store: durable SQLite file plus in-memory mirror.
pub struct SqliteKeyValue {
    pool: SqlitePool,
    mirror: RwLock<BTreeMap<String, Entry>>,
    /// Serializes writers so read-modify-write operations (increment, CAS) are atomic.
    write_lock: Mutex<()>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    /// Bumped on every write; compare-and-swap compares versions.
    version: u64,
}

impl SqliteKeyValue {
    /// Open (creating if needed) the SQLite file at `path` and load the mirror.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let pool = riff_core::sqlite::open_pool(path, 1, "key-value store").await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
        )
        .execute(&pool)
        .await?;
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key, value FROM kv").fetch_all(&pool).await?;
        let mirror = rows.into_iter().map(|(k, v)| (k, Entry { value: v.into(), version: 0 })).collect();
        Ok(Self { pool, mirror: RwLock::new(mirror), write_lock: Mutex::new(()) })
    }

    /// Write to SQLite, then the mirror. Caller holds `write_lock`.
    async fn write(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        sqlx::query("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(Error::unavailable)?;
        let mut mirror = self.mirror.write().await;
        let version = mirror.get(key).map_or(0, |e| e.version) + 1;
        mirror.insert(key.to_string(), Entry { value: value.into(), version });
        Ok(())
    }
}

#[async_trait]
impl KeyValueBackend for SqliteKeyValue {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.mirror.read().await.get(key).map(|e| e.value.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        let _w = self.write_lock.lock().await;
        self.write(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let _w = self.write_lock.lock().await;
        sqlx::query("DELETE FROM kv WHERE key = ?1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(Error::unavailable)?;
        self.mirror.write().await.remove(key);
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.mirror.read().await.contains_key(key))
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.mirror.read().await.keys().cloned().collect())
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let _w = self.write_lock.lock().await;
        let current = match self.mirror.read().await.get(key) {
            None => 0,
            Some(entry) => std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| Error::NotAnInteger(key.to_string()))?,
        };
        let next = current.checked_add(delta).ok_or(Error::Overflow)?;
        self.write(key, next.to_string().as_bytes()).await?;
        Ok(next)
    }

    async fn snapshot(&self, key: &str) -> Result<CasSnapshot, Error> {
        Ok(match self.mirror.read().await.get(key) {
            Some(e) => CasSnapshot { current: Some(e.value.to_vec()), version: Some(e.version) },
            None => CasSnapshot::default(),
        })
    }

    async fn compare_and_swap(&self, key: &str, seen: &CasSnapshot, value: &[u8]) -> Result<bool, Error> {
        let _w = self.write_lock.lock().await;
        let version = self.mirror.read().await.get(key).map(|e| e.version);
        if version != seen.version {
            return Ok(false);
        }
        self.write(key, value).await?;
        Ok(true)
    }
}

/// `type = "spin"` (or `"sqlite"`): `path` is optional, relative to the runtime config's directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteKeyValueConfig {
    pub path: Option<PathBuf>,
}

/// Makes [`SqliteKeyValue`] stores: the default backend of every label.
pub struct MakeSqliteKeyValue;

#[async_trait]
impl MakeKeyValueStore for MakeSqliteKeyValue {
    const TYPES: &'static [&'static str] = &["spin", "sqlite"];
    type Config = SqliteKeyValueConfig;

    async fn make_store(
        &self,
        config: SqliteKeyValueConfig,
        context: &StoreContext,
    ) -> anyhow::Result<Arc<dyn KeyValueBackend>> {
        let path = match config.path {
            Some(path) => context.config_dir.join(path),
            None => context.default_path.clone(),
        };
        Ok(Arc::new(SqliteKeyValue::open(&path).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteKeyValue::open(&dir.path().join("kv.db")).await.unwrap();
        crate::conformance::check(&store).await;
        crate::conformance::check_concurrent(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let store = SqliteKeyValue::open(&path).await.unwrap();
        store.set("a", b"1").await.unwrap();
        store.increment("n", 100).await.unwrap();
        store.delete("a").await.unwrap();
        drop(store);
        let reopened = SqliteKeyValue::open(&path).await.unwrap();
        assert_eq!(reopened.get("n").await.unwrap().as_deref(), Some(&b"100"[..]));
        assert!(!reopened.exists("a").await.unwrap());
    }
}
