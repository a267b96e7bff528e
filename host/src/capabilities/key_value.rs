//! Key-value: `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch).
//!
//! Each store label is one SQLite file under the state directory, written through sqlx. The
//! store's contents are also mirrored in memory: every write goes to SQLite first and then to the
//! mirror, under a per-store write lock, and reads are answered from the mirror. That keeps a
//! key-value read about as cheap as a hash-map lookup (no round trip to SQLite's worker thread)
//! while SQLite stays the durable copy; a restart reloads the mirror from the file. The mirror is
//! why the embedded backend is for one host process: replicas share state through the external
//! backends (Redis) that the runtime config selects.
//!
//! Access control: a component opens only the labels in its `key_value_stores`; any other label
//! gives `access-denied`, whether or not some other component has it (as in Spin: whether a store
//! exists elsewhere is not the component's business).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, RwLock};
use wasmtime::component::Resource;

use super::bindings::fermyon::spin::key_value as spin_kv;
use super::bindings::wasi::keyvalue::{atomics as wasi_atomics, batch as wasi_batch, store as wasi_store};
use crate::state::RequestState;

/// One labelled store: durable SQLite file plus in-memory mirror.
pub struct KvStore {
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

impl KvStore {
    /// Open (creating if needed) the SQLite file at `path` and load the mirror.
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = crate::sqlite::open_pool(path, 1, "key-value store").await?;
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

    pub async fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        self.mirror.read().await.get(key).map(|e| e.value.clone())
    }

    async fn get_versioned(&self, key: &str) -> Option<Entry> {
        self.mirror.read().await.get(key).cloned()
    }

    pub async fn exists(&self, key: &str) -> bool {
        self.mirror.read().await.contains_key(key)
    }

    pub async fn keys(&self) -> Vec<String> {
        self.mirror.read().await.keys().cloned().collect()
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let _w = self.write_lock.lock().await;
        self.write(key, value).await
    }

    /// Write to SQLite, then the mirror. Caller holds `write_lock`.
    async fn write(&self, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        let mut mirror = self.mirror.write().await;
        let version = mirror.get(key).map_or(0, |e| e.version) + 1;
        mirror.insert(key.to_string(), Entry { value: value.into(), version });
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        let _w = self.write_lock.lock().await;
        sqlx::query("DELETE FROM kv WHERE key = ?1").bind(key).execute(&self.pool).await?;
        self.mirror.write().await.remove(key);
        Ok(())
    }

    /// Atomically add `delta` to the decimal integer stored at `key` (absent counts as 0).
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, String> {
        let _w = self.write_lock.lock().await;
        let current = match self.get(key).await {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| format!("value at {key:?} is not an integer"))?,
        };
        let next = current.checked_add(delta).ok_or_else(|| "integer overflow".to_string())?;
        self.write(key, next.to_string().as_bytes()).await.map_err(|e| e.to_string())?;
        Ok(next)
    }

    /// Write `value` only if `key` is still at `expected_version` (`None`: still absent).
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected_version: Option<u64>,
        value: &[u8],
    ) -> Result<bool> {
        let _w = self.write_lock.lock().await;
        let current = self.get_versioned(key).await.map(|e| e.version);
        if current != expected_version {
            return Ok(false);
        }
        self.write(key, value).await?;
        Ok(true)
    }
}

/// All stores of an app, by label.
#[derive(Default, Clone)]
pub struct KvStores {
    stores: HashMap<String, Arc<KvStore>>,
}

impl KvStores {
    pub fn insert(&mut self, label: String, store: Arc<KvStore>) {
        self.stores.insert(label, store);
    }

    pub fn get(&self, label: &str) -> Option<&Arc<KvStore>> {
        self.stores.get(label)
    }

    pub fn contains(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }
}

/// A store a guest has opened: the resource behind `store` (Spin) and `bucket` (WASI).
pub struct KvHandle {
    store: Arc<KvStore>,
}

/// The resource behind `wasi:keyvalue/atomics.cas`.
pub struct CasHandle {
    store: Arc<KvStore>,
    key: String,
    version: Option<u64>,
}

/// A label the component was not granted.
struct AccessDenied;

impl RequestState {
    fn open_kv(&mut self, label: &str) -> Result<Arc<KvStore>, AccessDenied> {
        self.component.kv_stores.get(label).cloned().ok_or(AccessDenied)
    }

    fn kv(&self, handle: &Resource<KvHandle>) -> wasmtime::Result<Arc<KvStore>> {
        Ok(self.table.get(handle)?.store.clone())
    }
}

fn spin_other(e: impl std::fmt::Display) -> spin_kv::Error {
    spin_kv::Error::Other(e.to_string())
}

impl spin_kv::Host for RequestState {}

impl spin_kv::HostStore for RequestState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvHandle>, spin_kv::Error>> {
        Ok(match self.open_kv(&label) {
            Ok(store) => Ok(self.table.push(KvHandle { store })?),
            Err(AccessDenied) => Err(spin_kv::Error::AccessDenied),
        })
    }

    async fn get(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(Ok(self.kv(&h)?.get(&key).await.map(|v| v.to_vec())))
    }

    async fn set(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(self.kv(&h)?.set(&key, &value).await.map_err(spin_other))
    }

    async fn delete(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(self.kv(&h)?.delete(&key).await.map_err(spin_other))
    }

    async fn exists(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        Ok(Ok(self.kv(&h)?.exists(&key).await))
    }

    async fn get_keys(
        &mut self,
        h: Resource<KvHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        Ok(Ok(self.kv(&h)?.keys().await))
    }

    async fn drop(&mut self, h: Resource<KvHandle>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

fn wasi_other(e: impl std::fmt::Display) -> wasi_store::Error {
    wasi_store::Error::Other(e.to_string())
}

impl wasi_store::Host for RequestState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvHandle>, wasi_store::Error>> {
        Ok(match self.open_kv(&identifier) {
            Ok(store) => Ok(self.table.push(KvHandle { store })?),
            Err(AccessDenied) => Err(wasi_store::Error::AccessDenied),
        })
    }
}

impl wasi_store::HostBucket for RequestState {
    async fn get(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(Ok(self.kv(&h)?.get(&key).await.map(|v| v.to_vec())))
    }

    async fn set(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        Ok(self.kv(&h)?.set(&key, &value).await.map_err(wasi_other))
    }

    async fn delete(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        Ok(self.kv(&h)?.delete(&key).await.map_err(wasi_other))
    }

    async fn exists(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        Ok(Ok(self.kv(&h)?.exists(&key).await))
    }

    async fn list_keys(
        &mut self,
        h: Resource<KvHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        // One page holds everything; the cursor, if any, is the last key already seen.
        let keys = self.kv(&h)?.keys().await;
        let keys = match cursor {
            Some(after) => keys.into_iter().filter(|k| *k > after).collect(),
            None => keys,
        };
        Ok(Ok(wasi_store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, h: Resource<KvHandle>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl wasi_atomics::Host for RequestState {
    async fn increment(
        &mut self,
        h: Resource<KvHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        Ok(self.kv(&h)?.increment(&key, delta).await.map_err(wasi_store::Error::Other))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        match handle.store.compare_and_swap(&handle.key, handle.version, &value).await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Hand the guest a fresh CAS on the current value so it can retry.
                let version = handle.store.get_versioned(&handle.key).await.map(|e| e.version);
                let retry = self.table.push(CasHandle { version, ..handle })?;
                Ok(Err(wasi_atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(wasi_atomics::CasError::StoreError(wasi_other(e)))),
        }
    }
}

impl wasi_atomics::HostCas for RequestState {
    async fn new(
        &mut self,
        bucket: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_store::Error>> {
        let store = self.kv(&bucket)?;
        let version = store.get_versioned(&key).await.map(|e| e.version);
        Ok(Ok(self.table.push(CasHandle { store, key, version })?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let handle = self.table.get(&cas)?;
        let (store, key, version) = (handle.store.clone(), handle.key.clone(), handle.version);
        // The value as of when the CAS was taken; if it moved on since, the swap will fail anyway.
        let entry = store.get_versioned(&key).await;
        Ok(Ok(match entry {
            Some(e) if Some(e.version) == version => Some(e.value.to_vec()),
            Some(e) => Some(e.value.to_vec()),
            None => None,
        }))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl wasi_batch::Host for RequestState {
    async fn get_many(
        &mut self,
        h: Resource<KvHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        let store = self.kv(&h)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value = store.get(&key).await.map(|v| v.to_vec());
            out.push((key, value));
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        h: Resource<KvHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.kv(&h)?;
        for (key, value) in key_values {
            if let Err(e) = store.set(&key, &value).await {
                return Ok(Err(wasi_other(e)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        h: Resource<KvHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.kv(&h)?;
        for key in keys {
            if let Err(e) = store.delete(&key).await {
                return Ok(Err(wasi_other(e)));
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn survives_reopen_and_counts_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let store = Arc::new(KvStore::open(&path).await.unwrap());
        store.set("a", b"1").await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move { s.increment("n", 2).await.unwrap() }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.increment("n", 0).await.unwrap(), 100);
        store.delete("a").await.unwrap();
        drop(store);
        let reopened = KvStore::open(&path).await.unwrap();
        assert_eq!(reopened.get("n").await.as_deref(), Some(&b"100"[..]));
        assert!(!reopened.exists("a").await);
    }

    #[tokio::test]
    async fn compare_and_swap_detects_interleaved_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(&dir.path().join("kv.db")).await.unwrap();
        assert!(store.compare_and_swap("k", None, b"first").await.unwrap());
        let v = store.get_versioned("k").await.unwrap().version;
        store.set("k", b"other").await.unwrap();
        assert!(!store.compare_and_swap("k", Some(v), b"lost").await.unwrap());
        assert_eq!(store.get("k").await.as_deref(), Some(&b"other"[..]));
        assert!(store.increment("k", 1).await.is_err());
    }
}
