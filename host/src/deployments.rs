//! The shared record of deployed versions: what `[deployments]` in the runtime config holds,
//! so every replica serves what `riff deploy` made live (see `reload::cluster` for how replicas
//! write and follow it).
//!
//! * `artifact:<sha256>` — the bytes of every version a deploy made live, and of the version it
//!   replaced (so a rollback can be followed anywhere);
//! * `live` — one JSON document, `{component: {version, previous}}`, updated by
//!   compare-and-swap so deploys of different components from different replicas never lose
//!   each other's record.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use riff_key_value::KeyValueBackend;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::component::{LoadedComponent, Origin};

const LIVE: &str = "live";

/// One component's entry in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    pub version: String,
    pub previous: Option<String>,
}

/// The shared record of what every replica serves.
pub struct Deployments {
    store: Arc<dyn KeyValueBackend>,
}

impl Deployments {
    pub fn new(store: Arc<dyn KeyValueBackend>) -> Self {
        Self { store }
    }

    /// Take `key` for this replica if no replica took it: the cluster's once-only guard (a
    /// cron tick). `Ok(false)` when another replica has it.
    pub async fn claim_once(&self, key: &str, holder: &[u8]) -> Result<bool> {
        let seen = self.store.snapshot(key).await?;
        if seen.current.is_some() {
            return Ok(false);
        }
        Ok(self.store.compare_and_swap(key, &seen, holder).await?)
    }

    /// The versions that should be serving, by component.
    pub async fn live(&self) -> Result<BTreeMap<String, Live>> {
        match self.store.get(LIVE).await? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes).context("reading the deployment record"),
        }
    }

    /// Set `component`'s entry, keeping every other one (compare-and-swap, retried).
    pub async fn record(&self, component: &str, live: Live) -> Result<()> {
        loop {
            let seen = self.store.snapshot(LIVE).await?;
            let mut record: BTreeMap<String, Live> = match &seen.current {
                None => BTreeMap::new(),
                Some(bytes) => serde_json::from_slice(bytes).context("reading the deployment record")?,
            };
            record.insert(component.to_string(), live.clone());
            if self.store.compare_and_swap(LIVE, &seen, &serde_json::to_vec(&record)?).await? {
                return Ok(());
            }
        }
    }

    pub async fn put_artifact(&self, version: &str, bytes: &[u8]) -> Result<()> {
        let key = format!("artifact:{version}");
        if !self.store.exists(&key).await? {
            self.store.set(&key, bytes).await?;
        }
        Ok(())
    }

    pub async fn artifact(&self, version: &str) -> Result<Vec<u8>> {
        let bytes = self.store.get(&format!("artifact:{version}")).await?;
        let bytes = bytes.ok_or_else(|| {
            anyhow!("version {} is recorded but its artifact is missing", &version[..version.len().min(12)])
        })?;
        anyhow::ensure!(
            hex::encode(Sha256::digest(&bytes)) == version,
            "the stored artifact of version {} does not match its digest",
            &version[..version.len().min(12)]
        );
        Ok(bytes)
    }

    /// Store the bytes of `replaced` (the version a deploy replaced) if they can be had: an
    /// upload was stored when it was deployed; a manifest file is read now.
    pub async fn keep_replaced(&self, replaced: &LoadedComponent) -> Result<()> {
        if let Origin::File(path) = &replaced.origin {
            if let Ok(bytes) = std::fs::read(path) {
                if hex::encode(Sha256::digest(&bytes)) == replaced.version {
                    self.put_artifact(&replaced.version, &bytes).await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riff_key_value::sqlite::SqliteKeyValue;

    #[tokio::test]
    async fn concurrent_records_keep_every_component() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn KeyValueBackend> =
            Arc::new(SqliteKeyValue::open(&dir.path().join("d.db")).await.unwrap());
        let replicas: Vec<Arc<Deployments>> =
            (0..3).map(|_| Arc::new(Deployments::new(store.clone()))).collect();
        let mut tasks = Vec::new();
        for n in 0..20 {
            let replica = replicas[n % 3].clone();
            tasks.push(tokio::spawn(async move {
                let live = Live { version: format!("v{n}"), previous: None };
                replica.record(&format!("c{n}"), live).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let record = replicas[0].live().await.unwrap();
        assert_eq!(record.len(), 20, "no deploy of another component was lost: {record:?}");
        assert_eq!(record["c7"].version, "v7");
    }

    #[tokio::test]
    async fn artifacts_are_checked_against_their_version() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn KeyValueBackend> =
            Arc::new(SqliteKeyValue::open(&dir.path().join("d.db")).await.unwrap());
        let deployments = Deployments::new(store.clone());
        let bytes = b"\0asm component bytes".to_vec();
        let version = hex::encode(Sha256::digest(&bytes));
        deployments.put_artifact(&version, &bytes).await.unwrap();
        assert_eq!(deployments.artifact(&version).await.unwrap(), bytes);
        store.set(&format!("artifact:{version}"), b"tampered").await.unwrap();
        let err = deployments.artifact(&version).await.unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
        let missing = deployments.artifact(&"0".repeat(64)).await.unwrap_err().to_string();
        assert!(missing.contains("artifact is missing"), "{missing}");
    }
}
