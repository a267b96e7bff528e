//! Cron ticks: the cron trigger asks the app to claim each tick (once per cluster, through the
//! `[deployments]` store replicas share; a lone process always has it) and to run it on the
//! component's current version, through the instance lifecycle.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use riff_trigger_cron::{CronError, CronJob, CronRunner, Metadata};

use super::App;

impl CronRunner for App {
    fn claim<'a>(&'a self, job: &'a CronJob, at: DateTime<Utc>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(deployments) = &self.deployments else { return true };
            let key = format!("cron:{}:{}:{}", job.component, job.schedule.as_str(), at.timestamp());
            let holder = format!("pid {} on {}", std::process::id(), hostname());
            match deployments.claim_once(&key, holder.as_bytes()).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    // Better a tick skipped than run twice: the store decides who runs it.
                    tracing::warn!(component = %job.component, "cron: claiming tick {at}: {e:#}; skipped here");
                    false
                }
            }
        })
    }

    fn fire<'a>(&'a self, job: &'a CronJob, at: DateTime<Utc>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let component = self.running(&job.component)?;
            let indices = component
                .cron
                .clone()
                .ok_or_else(|| format!("{:?} does not export handle-cron-event", job.component))?;
            let metadata = Metadata { timestamp: u64::try_from(at.timestamp()).unwrap_or(0) };
            let fresh = || self.new_store(&component, 0);
            let handled = component
                .instances
                .invoke(0, fresh, |mut store, instance| {
                    Box::pin(async move {
                        let result = async {
                            let cron = indices.load(&mut store, &instance)?;
                            let outcome = cron.call_handle_cron_event(&mut store, metadata).await?;
                            Ok(outcome.map_err(|CronError::Other(message)| message))
                        }
                        .await;
                        (store, result)
                    })
                })
                .await;
            super::settled(&component, handled)
        })
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "this host".into())
}
