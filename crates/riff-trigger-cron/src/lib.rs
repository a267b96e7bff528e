//! # riff-trigger-cron
//!
//! The cron trigger, in the shape of Spin's plugin: `[[trigger.cron]] component = "x",
//! cron_expression = "0 */5 * * * *"` calls `x`'s `handle-cron-event` export
//! (`fermyon:spin-cron@2.0.0`) at every tick of the expression, with the tick's time.
//!
//! Expressions have six fields — second, minute, hour, day of month, month, day of week — and
//! an optional seventh, the year (the `cron` crate's syntax, which Spin's plugin uses); times are
//! UTC. One task per trigger sleeps until the next tick, then asks [`CronRunner::claim`] for it:
//! with replicas sharing a store, exactly one of them wins each tick and runs it, so a tick runs
//! once per cluster. A tick missed while no replica ran is not made up: after a restart the
//! schedule resumes at its next tick, on time (ticks are computed from the expression and the
//! clock, never from when the last one ran).

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::task::JoinHandle;

/// Guest bindings of `fermyon:spin-cron@2.0.0`, the world a cron component implements.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/spin-cron@2.0.0",
        world: "fermyon:spin-cron/spin-cron",
        exports: { default: async },
    });
}

pub use bindings::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};
pub use bindings::SpinCronIndices;

/// A parsed `cron_expression`.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    parsed: cron::Schedule,
}

impl Schedule {
    /// Parse a 6- or 7-field expression; the error says what is wrong and what is expected.
    pub fn parse(expression: &str) -> Result<Self> {
        riff_manifest::check_cron_expression(expression).map_err(|m| anyhow!(m))?;
        let parsed = cron::Schedule::from_str(expression).map_err(|e| anyhow!("{expression:?}: {e}"))?;
        Ok(Self { text: expression.to_string(), parsed })
    }

    /// The first tick strictly after `after`, if the schedule has one.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.parsed.after(&after).next()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One `[[trigger.cron]]`: a component and its schedule.
#[derive(Debug, Clone)]
pub struct CronJob {
    pub component: String,
    pub schedule: Schedule,
}

/// Runs ticks: implemented by the app, which knows the components and the shared store.
pub trait CronRunner: Send + Sync + 'static {
    /// Take tick `at` of `job` for this replica; `false` if another replica has it.
    fn claim<'a>(&'a self, job: &'a CronJob, at: DateTime<Utc>) -> BoxFuture<'a, bool>;
    /// Call the job's component once for tick `at`; `Err` says why it failed.
    fn fire<'a>(&'a self, job: &'a CronJob, at: DateTime<Utc>) -> BoxFuture<'a, Result<(), String>>;
}

/// The running cron tasks.
#[derive(Default)]
pub struct Scheduler {
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Scheduler {
    /// Run `jobs` from now on, replacing whatever ran before.
    pub fn run<R: CronRunner>(&self, app: Weak<R>, jobs: Vec<CronJob>) {
        self.stop();
        let mut tasks = self.tasks.lock().expect("scheduler lock");
        for job in jobs {
            tracing::info!(component = %job.component, "cron: {:?}", job.schedule.as_str());
            tasks.push(tokio::spawn(tick_forever(app.clone(), job)));
        }
    }

    /// Stop every task.
    fn stop(&self) {
        for task in self.tasks.lock().expect("scheduler lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn tick_forever<R: CronRunner>(app: Weak<R>, job: CronJob) {
    let mut last = Utc::now();
    loop {
        let Some(at) = job.schedule.next_after(last) else {
            tracing::info!(component = %job.component, "cron: {:?} has no further ticks", job.schedule.as_str());
            return;
        };
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        last = at;
        let Some(app) = app.upgrade() else { return };
        if !app.claim(&job, at).await {
            tracing::debug!(component = %job.component, "cron: tick {at} runs on another replica");
            continue;
        }
        // Ticks do not overlap: a slow run delays the next one rather than piling up.
        if let Err(e) = app.fire(&job, at).await {
            tracing::warn!(component = %job.component, "cron: tick {at} failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    #[test]
    fn six_or_seven_fields_with_a_hint_for_five() {
        let every_two = Schedule::parse("*/2 * * * * *").unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-12-03T10:00:01Z").unwrap().with_timezone(&Utc);
        assert_eq!(every_two.next_after(t0).unwrap().to_rfc3339(), "2026-12-03T10:00:02+00:00");
        let nightly = Schedule::parse("0 30 2 * * * *").unwrap();
        assert_eq!(nightly.next_after(t0).unwrap().to_rfc3339(), "2026-12-04T02:30:00+00:00");
        let five = Schedule::parse("*/5 * * * *").unwrap_err().to_string();
        assert!(five.contains("\"0 */5 * * * *\""), "{five}");
        assert!(Schedule::parse("every minute").unwrap_err().to_string().contains("not a cron expression"));
    }

    /// Two "replicas" share one claim record: each tick runs once.
    struct Replica {
        claimed: Arc<Mutex<Vec<DateTime<Utc>>>>,
        fired: AtomicUsize,
    }

    impl CronRunner for Replica {
        fn claim<'a>(&'a self, _: &'a CronJob, at: DateTime<Utc>) -> BoxFuture<'a, bool> {
            Box::pin(async move {
                let mut claimed = self.claimed.lock().unwrap();
                let fresh = !claimed.contains(&at);
                claimed.push(at);
                fresh
            })
        }
        fn fire<'a>(&'a self, _: &'a CronJob, _: DateTime<Utc>) -> BoxFuture<'a, Result<(), String>> {
            self.fired.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_tick_runs_once_across_replicas() {
        let claimed = Arc::new(Mutex::new(Vec::new()));
        let replicas: Vec<Arc<Replica>> = (0..2)
            .map(|_| Arc::new(Replica { claimed: claimed.clone(), fired: AtomicUsize::new(0) }))
            .collect();
        let job = CronJob { component: "tick".into(), schedule: Schedule::parse("* * * * * *").unwrap() };
        let schedulers: Vec<Scheduler> = replicas
            .iter()
            .map(|r| {
                let s = Scheduler::default();
                s.run(Arc::downgrade(r), vec![job.clone()]);
                s
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        drop(schedulers);
        let fired: usize = replicas.iter().map(|r| r.fired.load(Ordering::SeqCst)).sum();
        let mut ticks = claimed.lock().unwrap().clone();
        let attempts = ticks.len();
        ticks.sort();
        ticks.dedup();
        assert!(
            attempts > ticks.len(),
            "both replicas asked for ticks: {attempts} asks, {} ticks",
            ticks.len()
        );
        assert_eq!(fired, ticks.len(), "each tick ran once");
        assert!(fired >= 2, "a tick a second for 3.5 s: {fired}");
    }
}
