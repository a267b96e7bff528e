//! # riff-trigger-queue
//!
//! The queue trigger: delivers messages from the durable queue to the components that
//! `[[trigger.queue]]` subscribes, through their `riff:platform/queue-handler` export.
//!
//! One task per subscription delivers that subscription's messages one at a time, oldest due
//! first. A delivery is acknowledged only when the handler returns `ok`; an `err`, a trap or a
//! timeout schedules it again with exponential backoff ([`backoff`]) until the subscription's
//! `max_attempts`, after which it stays in the queue as a dead letter (listed by the admin API).
//! Each delivery goes through [`Subscriber`], which the app implements: it looks the component up
//! in its current snapshot, so after a hot swap the next delivery goes to the new version.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use riff_messaging::{Delivery, QueueBackend, Subscription};

/// Guest bindings of `riff:platform/queue-handler`, the export a subscriber implements.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/platform",
        world: "riff:platform/subscriber",
        exports: { default: async },
    });
}

pub use bindings::exports::riff::platform::queue_handler::Message;
pub use bindings::SubscriberIndices;

/// Hands one delivery to its subscriber: implemented by the app, which knows the components.
pub trait Subscriber: Send + Sync + 'static {
    /// Call `sub`'s handler once with `delivery`; `Err` says why it failed.
    fn deliver<'a>(
        &'a self,
        sub: &'a Subscription,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// The longest a delivery to `component` may run (its timeout), if it is running.
    fn timeout(&self, component: &str) -> Option<Duration>;
}

/// How long to wait before delivery attempt `attempt + 1` after attempt `attempt` failed:
/// 250 ms, doubling, at most one minute.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << attempt.saturating_sub(1).min(12));
    Duration::from_millis(ms.min(60_000))
}

/// Longest a subscription task sleeps before looking again, whatever it expects.
const POLL: Duration = Duration::from_secs(1);

/// The running subscription tasks.
#[derive(Default)]
pub struct Dispatcher {
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Dispatcher {
    /// Deliver `subscriptions` from now on (replacing whatever was delivered before).
    pub async fn run<S: Subscriber>(
        &self,
        app: Weak<S>,
        queue: Arc<dyn QueueBackend>,
        subscriptions: Vec<Subscription>,
    ) {
        if let Err(e) = queue.subscribe(&subscriptions).await {
            tracing::error!("subscribing to the queue: {e:#}");
        }
        let mut tasks = self.tasks.lock().expect("dispatcher lock");
        for task in tasks.drain(..) {
            task.abort();
        }
        for subscription in subscriptions {
            tasks.push(tokio::spawn(deliver_forever(app.clone(), queue.clone(), subscription)));
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("dispatcher lock").drain(..) {
            task.abort();
        }
    }
}

/// Deliveries leased at once. One: a delivery is leased only when the previous one is settled,
/// so a crash leaves at most one attempt counted that did not run.
const BATCH: usize = 1;

async fn deliver_forever<S: Subscriber>(app: Weak<S>, queue: Arc<dyn QueueBackend>, sub: Subscription) {
    loop {
        // A lease outlives the handler's timeout, so no other process redelivers it meanwhile.
        let lease_for = match app.upgrade() {
            Some(app) => app.timeout(&sub.component).unwrap_or(POLL) + POLL,
            None => return,
        };
        let leased = match queue.lease(&sub, BATCH, lease_for).await {
            Ok(leased) => leased,
            Err(e) => {
                tracing::warn!(component = %sub.component, "reading the queue for {}: {e:#}", sub.topic);
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if leased.is_empty() {
            queue.watch(&sub, POLL).await;
            continue;
        }
        for delivery in leased {
            let Some(app) = app.upgrade() else { return };
            let outcome = app.deliver(&sub, &delivery).await;
            drop(app);
            let recorded = match outcome {
                Ok(()) => queue.ack(&delivery).await,
                Err(error) if delivery.attempt >= sub.max_attempts => {
                    tracing::warn!(
                        component = %sub.component,
                        "message {} on {} failed {} times, now a dead letter: {error}",
                        delivery.id, sub.topic, delivery.attempt
                    );
                    queue.dead_letter(&delivery, &error).await
                }
                Err(error) => {
                    let wait = backoff(delivery.attempt);
                    tracing::info!(
                        component = %sub.component,
                        "message {} on {} failed (attempt {}), retrying in {wait:?}: {error}",
                        delivery.id, sub.topic, delivery.attempt
                    );
                    queue.nack(&delivery, &error, wait).await
                }
            };
            if let Err(e) = recorded {
                tracing::warn!(component = %sub.component, "recording a delivery of {}: {e:#}", delivery.id);
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }
}
