//! Hot reload: replace one component, roll it back, or apply a changed manifest while the app
//! keeps serving.
//!
//! Every change — an upload through the admin API ([`admin`]), a rebuilt `.wasm` or an edited
//! `spin.toml` seen by the watcher ([`watch`]) — goes through one path, under one lock that only
//! changes take (requests never do):
//!
//! 1. compile the artifact, or fetch it from the compiled cache, on tokio's blocking pool, off
//!    the request path;
//! 2. link and pre-instantiate it under the component's own grants ([`Loader::prepare`]), which
//!    refuses a missing import or a component that can no longer serve its route;
//! 3. check that the components depending on it still find every function they import, with
//!    the same types;
//! 4. instantiate it once in a throwaway store, which catches what only instantiation finds;
//! 5. store a new [`Snapshot`] with that one entry replaced.
//!
//! A request takes the snapshot when it starts and finishes on it, so requests already running
//! finish on the old version and every request that starts after step 5 gets the new one; typed
//! calls look their callee up in the current snapshot, so they switch too. Nothing is dropped.
//! The replaced version stays loaded, so a rollback is one more swap.

pub mod admin;
pub mod client;
pub mod cluster;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::app::{App, ReloadState};
use crate::component::{LoadedComponent, Origin, Snapshot};
use crate::loader::file_digest;
use riff_manifest::Manifest;

/// Why a swap did not happen. The running version keeps serving in every case.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("no component named {0:?}")]
    UnknownComponent(String),
    #[error("component {0:?} has no previous version to roll back to")]
    NoPrevious(String),
    /// The artifact is not a component, does not compile, does not link, or breaks a dependent.
    #[error("{0}")]
    Refused(String),
}

impl SwapError {
    fn refused(component: &str, error: anyhow::Error) -> Self {
        let chain: Vec<String> = error.chain().map(|c| c.to_string()).collect();
        SwapError::Refused(format!("refused new version of {component:?}: {}", chain.join(": ")))
    }
}

/// The outcome of a swap or rollback.
#[derive(Debug, Clone, Serialize)]
pub struct SwapReport {
    pub component: String,
    /// The version now serving (SHA-256 of its `.wasm`).
    pub version: String,
    /// The version it replaced, kept for rollback.
    pub previous_version: String,
    /// False when the artifact was the version already serving (nothing was swapped).
    pub swapped: bool,
    /// Whether compilation was skipped thanks to the compiled cache.
    pub from_cache: bool,
    /// Time from receiving the artifact to the new version serving, in milliseconds.
    pub took_ms: f64,
}

/// What a manifest reload changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ManifestChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub routes_changed: bool,
}

impl ManifestChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && !self.routes_changed
    }
}

impl std::fmt::Display for ManifestChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing changed");
        }
        let mut parts = Vec::new();
        for (label, ids) in [("added", &self.added), ("removed", &self.removed), ("reloaded", &self.changed)]
        {
            if !ids.is_empty() {
                parts.push(format!("{label} {}", ids.join(", ")));
            }
        }
        if self.routes_changed {
            parts.push("routes updated".into());
        }
        f.write_str(&parts.join("; "))
    }
}

/// One component as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub id: String,
    pub version: String,
    /// `file` or `upload`.
    pub origin: &'static str,
    pub source: String,
    /// RFC 3339, UTC.
    pub loaded_at: String,
    /// Requests and typed calls served by this version, and how many failed.
    pub requests: u64,
    pub failures: u64,
    pub routes: Vec<String>,
    pub previous_version: Option<String>,
}

impl App {
    /// Replace component `id` with the uploaded component `bytes`.
    /// With `[deployments]` configured, every replica follows ([`cluster`]).
    pub async fn replace(&self, id: &str, bytes: Vec<u8>) -> Result<SwapReport, SwapError> {
        let mut state = self.reload.lock().await;
        let replaced = self.current.load_full().components.get(id).cloned();
        let kept = self.deployments.is_some().then(|| bytes.clone());
        let report = self.swap_in(&mut state, id, bytes, Origin::Upload).await?;
        if let (Some(bytes), Some(replaced), true) = (kept, replaced, report.swapped) {
            self.publish_deploy(&mut state, id, &bytes, replaced, &report).await?;
        }
        Ok(report)
    }

    /// Replace component `id` with what its manifest source file holds now.
    pub async fn replace_from_file(&self, id: &str) -> Result<SwapReport, SwapError> {
        let mut state = self.reload.lock().await;
        let component =
            state.loader.manifest.component(id).ok_or_else(|| SwapError::UnknownComponent(id.to_string()))?;
        let path = component.source.clone();
        let bytes = std::fs::read(&path)
            .map_err(|e| SwapError::Refused(format!("reading {}: {e}", path.display())))?;
        state.file_digests.insert(id.to_string(), hex::encode(Sha256::digest(&bytes)));
        self.swap_in(&mut state, id, bytes, Origin::File(path)).await
    }

    async fn swap_in(
        &self,
        state: &mut ReloadState,
        id: &str,
        bytes: Vec<u8>,
        origin: Origin,
    ) -> Result<SwapReport, SwapError> {
        let started = Instant::now();
        let current = self.current.load_full();
        let running =
            current.components.get(id).cloned().ok_or_else(|| SwapError::UnknownComponent(id.to_string()))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest == running.version {
            return Ok(SwapReport {
                component: id.to_string(),
                version: digest,
                previous_version: running.version.clone(),
                swapped: false,
                from_cache: true,
                took_ms: millis(started),
            });
        }
        let engine = self.engine.clone();
        let artifact = tokio::task::spawn_blocking(move || engine.load_component_bytes(&bytes))
            .await
            .map_err(|e| SwapError::Refused(format!("compiling failed: {e}")))?
            .map_err(|e| SwapError::refused(id, e))?;
        let from_cache = artifact.from_cache;
        let candidate = state
            .loader
            .prepare(id, artifact, origin, &current.components, Some(&running))
            .map_err(|e| SwapError::refused(id, e))?;
        self.admit(state, id, Arc::new(candidate), &current, running, started, from_cache).await
    }

    /// Roll component `id` back to the version it replaced; the version rolled back from
    /// becomes the previous one, so a second rollback rolls forward.
    /// With `[deployments]` configured, every replica follows ([`cluster`]).
    pub async fn rollback(&self, id: &str) -> Result<SwapReport, SwapError> {
        let mut state = self.reload.lock().await;
        let report = self.rollback_locked(&mut state, id).await?;
        self.publish_rollback(id, &report).await?;
        Ok(report)
    }

    /// [`App::rollback`] on this replica only, under the reload lock held by the caller.
    async fn rollback_locked(&self, state: &mut ReloadState, id: &str) -> Result<SwapReport, SwapError> {
        let started = Instant::now();
        let current = self.current.load_full();
        let running =
            current.components.get(id).cloned().ok_or_else(|| SwapError::UnknownComponent(id.to_string()))?;
        let previous =
            current.previous.get(id).cloned().ok_or_else(|| SwapError::NoPrevious(id.to_string()))?;
        self.admit(state, id, previous, &current, running, started, true).await
    }

    /// Checks 3 and 4 of the module docs, then the swap itself.
    #[allow(clippy::too_many_arguments)]
    async fn admit(
        &self,
        state: &mut ReloadState,
        id: &str,
        candidate: Arc<LoadedComponent>,
        current: &Snapshot,
        running: Arc<LoadedComponent>,
        started: Instant,
        from_cache: bool,
    ) -> Result<SwapReport, SwapError> {
        state
            .loader
            .check_dependents(id, &candidate, &current.components)
            .map_err(|e| SwapError::refused(id, e))?;
        self.trial(&candidate).await.map_err(|e| SwapError::refused(id, e))?;
        let version = candidate.version.clone();
        if let Some(pool) = &candidate.instances.warm {
            pool.revive();
        }
        self.current.store(Arc::new(current.with_component(id, candidate)));
        if let Some(pool) = &running.instances.warm {
            pool.retire();
        }
        let report = SwapReport {
            component: id.to_string(),
            version,
            previous_version: running.version.clone(),
            swapped: true,
            from_cache,
            took_ms: millis(started),
        };
        tracing::info!(
            component = %id,
            "now serving version {} (was {}), swapped in {:.1} ms",
            short(&report.version),
            short(&report.previous_version),
            report.took_ms
        );
        Ok(report)
    }

    /// Instantiate a candidate once in a throwaway store under its own limits.
    async fn trial(&self, candidate: &LoadedComponent) -> Result<()> {
        let mut store = self.new_store(candidate, 0);
        candidate.instances.pre.instantiate_async(&mut store).await.map(|_| ()).map_err(|e| {
            anyhow!("does not instantiate: {}", e.to_string().lines().next().unwrap_or_default())
        })
    }

    /// Apply a changed manifest: load added components, reload those whose entry or source
    /// file changed, drop removed ones, and install the new routes — in one swap, keeping every
    /// unchanged component as it runs. Any failure leaves the app as it was.
    pub async fn apply_manifest(&self, manifest: Manifest) -> Result<ManifestChange> {
        let mut state = self.reload.lock().await;
        let next = state.loader.with_manifest(manifest).await?;
        let old = self.current.load_full();
        let mut change = ManifestChange::default();
        let mut components: HashMap<String, Arc<LoadedComponent>> = HashMap::new();
        let mut file_digests = HashMap::new();
        let mut fresh = Vec::new();
        for id in &next.order {
            let source = &next.manifest.component(id).expect("planned from the manifest").source;
            let digest = file_digest(source);
            let fingerprint = next.fingerprint(id).with_context(|| next.context(id))?;
            let running = old.components.get(id);
            let unchanged = running.filter(|r| {
                r.fingerprint == fingerprint
                    && digest.is_some()
                    && state.file_digests.get(id) == digest.as_ref()
            });
            if let Some(keep) = unchanged {
                components.insert(id.clone(), keep.clone());
                change.unchanged.push(id.clone());
            } else {
                let loaded = next
                    .load_from_file(&self.engine, id, &components, running.map(|r| &**r))
                    .with_context(|| next.context(id))?;
                if running.is_some() { &mut change.changed } else { &mut change.added }.push(id.clone());
                fresh.push(id.clone());
                components.insert(id.clone(), Arc::new(loaded));
            }
            if let Some(digest) = digest {
                file_digests.insert(id.clone(), digest);
            }
        }
        for id in &fresh {
            let candidate = &components[id];
            next.check_dependents(id, candidate, &components).with_context(|| next.context(id))?;
            self.trial(candidate).await.with_context(|| next.context(id))?;
        }
        change.removed = old.components.keys().filter(|id| !components.contains_key(*id)).cloned().collect();
        change.removed.sort();
        let mut snapshot = next.snapshot(components)?;
        let routes = |s: &Snapshot| -> Vec<(String, String)> {
            s.router.iter().map(|(r, c)| (r.to_string(), c.clone())).collect()
        };
        change.routes_changed = routes(&old) != routes(&snapshot) || old.base != snapshot.base;

        // Rollback targets carry over for kept components; a reloaded one can roll back to the
        // version it replaced only if its manifest entry (so its grants) did not change.
        for id in &change.unchanged {
            if let Some(previous) = old.previous.get(id) {
                snapshot.previous.insert(id.clone(), previous.clone());
            }
        }
        for id in &change.changed {
            let (was, now) = (&old.components[id], &snapshot.components[id]);
            if was.fingerprint == now.fingerprint {
                snapshot.previous.insert(id.clone(), was.clone());
            }
        }
        let subscriptions_changed = next.subscriptions() != state.loader.subscriptions();
        let cron_changed = next.manifest.cron_triggers != state.loader.manifest.cron_triggers;
        let cron_jobs = next.cron_jobs()?;
        let subscriptions = next.subscriptions();
        let redis_subscriptions = next.redis_subscriptions()?;
        let redis_changed = redis_subscriptions != state.loader.redis_subscriptions().unwrap_or_default();
        self.current.store(Arc::new(snapshot));
        for id in change.changed.iter().chain(&change.removed) {
            if let Some(pool) = &old.components[id].instances.warm {
                pool.retire();
            }
        }
        state.loader = next;
        state.file_digests = file_digests;
        if subscriptions_changed {
            self.dispatcher.run(self.me(), self.queue.clone(), subscriptions).await;
        }
        if cron_changed {
            self.cron.run(self.me(), cron_jobs);
        }
        if redis_changed {
            self.redis.run(self.me(), redis_subscriptions);
        }
        Ok(change)
    }

    /// Every component with its version, origin, load time and counters.
    ///
    /// Reads the live snapshot only, so it answers at once even while a swap is compiling.
    pub fn status(&self) -> Vec<ComponentStatus> {
        let snap = self.current.load_full();
        let mut list: Vec<ComponentStatus> = snap
            .components
            .iter()
            .map(|(id, c)| ComponentStatus {
                id: id.clone(),
                version: c.version.clone(),
                origin: match c.origin {
                    Origin::File(_) => "file",
                    Origin::Upload => "upload",
                },
                source: c.origin.to_string(),
                loaded_at: humantime::format_rfc3339_millis(c.loaded_at).to_string(),
                requests: c.instances.counters.calls(),
                failures: c.instances.counters.failures(),
                routes: snap.router.iter().filter(|(_, t)| *t == id).map(|(r, _)| r.to_string()).collect(),
                previous_version: snap.previous.get(id).map(|p| p.version.clone()),
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// The manifest as last applied.
    pub async fn manifest(&self) -> Manifest {
        self.reload.lock().await.loader.manifest.clone()
    }
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The first 12 hex digits of a version, for log lines.
pub fn short(version: &str) -> &str {
    &version[..version.len().min(12)]
}
