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
