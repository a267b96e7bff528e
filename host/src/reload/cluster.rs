//! Cluster-wide deploys: an upload or rollback on one replica becomes what every replica serves.
//!
//! The runtime config's `[deployments]` section names a key-value store the replicas share
//! (Redis, say), holding the artifacts and the record of live versions ([`crate::deployments`]).
//!
//! A deploy is checked and swapped in on the replica it was sent to first (every check of
//! [`super`] applies, so a refused artifact records nothing); only then are its bytes and the
//! record written. If writing fails, that replica swaps back, so no replica serves a version the
//! others will not follow. Every replica follows the record once a second ([`FOLLOW_EVERY`]) and
//! at start-up before it serves, under the same reload lock as a local deploy, so a replica
//! started later serves the deployed version, not its manifest's file. Following never writes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{Context, Result};

use super::{short, SwapError, SwapReport};
use crate::app::{App, ReloadState};
use crate::component::{LoadedComponent, Origin};
use crate::deployments::Live;

/// How often each replica reads the record.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

impl App {
    /// After a local deploy of `id` (`bytes`, now serving, replacing `replaced`): record it for
    /// every replica, or swap back and say why.
    pub(super) async fn publish_deploy(
        &self,
        state: &mut ReloadState,
        id: &str,
        bytes: &[u8],
        replaced: Arc<LoadedComponent>,
        report: &SwapReport,
    ) -> Result<(), SwapError> {
        let Some(deployments) = &self.deployments else { return Ok(()) };
        let written = async {
            deployments.put_artifact(&report.version, bytes).await?;
            deployments.keep_replaced(&replaced).await?;
            let live = Live { version: report.version.clone(), previous: Some(replaced.version.clone()) };
            deployments.record(id, live).await
        };
        if let Err(e) = written.await {
            let undone = self.rollback_locked(state, id).await;
            return Err(SwapError::Refused(format!(
                "could not record the new version of {id:?} for the other replicas ({e:#}); {}",
                match undone {
                    Ok(_) => "this replica went back to the version it served".to_string(),
                    Err(undo) => format!("and swapping back failed too: {undo}"),
                }
            )));
        }
        Ok(())
    }

    /// After a local rollback of `id`: record it for every replica.
    pub(super) async fn publish_rollback(&self, id: &str, report: &SwapReport) -> Result<(), SwapError> {
        let Some(deployments) = &self.deployments else { return Ok(()) };
        let live = Live { version: report.version.clone(), previous: Some(report.previous_version.clone()) };
        deployments.record(id, live).await.map_err(|e| {
            SwapError::Refused(format!(
                "rolled back here, but could not record it for the other replicas: {e:#}"
            ))
        })
    }

    /// Serve what the record says, where this replica serves something else. Returns the
    /// components swapped.
    pub async fn follow_deployments(&self) -> Result<Vec<String>> {
        let Some(deployments) = &self.deployments else { return Ok(Vec::new()) };
        let mut state = self.reload.lock().await;
        let record = deployments.live().await?;
        let mut swapped = Vec::new();
        for (id, live) in record {
            let current = self.current.load_full();
            let Some(running) = current.components.get(&id) else { continue };
            if running.version == live.version {
                continue;
            }
            let outcome = if current.previous.get(&id).is_some_and(|p| p.version == live.version) {
                self.rollback_locked(&mut state, &id).await.map_err(anyhow::Error::from)
            } else {
                match deployments.artifact(&live.version).await {
                    Ok(bytes) => self
                        .swap_in(&mut state, &id, bytes, Origin::Upload)
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e),
                }
            };
            match outcome {
                Ok(_) => {
                    tracing::info!(component = %id, "following a deploy: now serving version {}", short(&live.version));
                    swapped.push(id);
                }
                Err(e) => tracing::error!(
                    component = %id,
                    "cannot serve deployed version {}: {e:#}; still serving {}",
                    short(&live.version),
                    short(&running.version)
                ),
            }
        }
        Ok(swapped)
    }
}

/// With `[deployments]` configured: serve the recorded versions now (before the app serves its
/// first request), then follow the record for as long as the app lives.
pub async fn start(app: &Arc<App>) -> Result<()> {
    if app.deployments.is_none() {
        return Ok(());
    }
    app.follow_deployments().await.context("reading the deployment record")?;
    spawn_follower(Arc::downgrade(app));
    Ok(())
}

fn spawn_follower(app: Weak<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            match app.follow_deployments().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("reading the deployment record again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!("cannot read the deployment record (retrying every second): {e:#}");
                }
                Err(_) => {}
            }
        }
    });
}
