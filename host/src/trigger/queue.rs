//! The queue trigger: delivers messages from the durable queue to the components that
//! `[[trigger.queue]]` subscribes, through their `riff:platform/queue-handler` export.
//!
//! One task per subscription delivers that subscription's messages one at a time, oldest due
//! first. A delivery is acknowledged only when the handler returns `ok`; an `err`, a trap or a
//! timeout schedules it again with exponential backoff ([`backoff`]) until the subscription's
//! `max_attempts`, after which it stays in the queue as a dead letter (listed by the admin API).
//! Each delivery looks the component up in the app's current snapshot, so after a hot swap
//! the next delivery goes to the new version.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use crate::app::App;
use crate::capabilities::messaging::{Delivery, QueueBackend, Subscription};
use crate::instances::Warm;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/platform",
        world: "riff:platform/subscriber",
        exports: { default: async },
    });
}

use bindings::exports::riff::platform::queue_handler::Message;
pub use bindings::SubscriberIndices;

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
    pub fn run(&self, app: Weak<App>, queue: Arc<dyn QueueBackend>, subscriptions: Vec<Subscription>) {
        queue.set_subscriptions(subscriptions.clone());
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

async fn deliver_forever(app: Weak<App>, queue: Arc<dyn QueueBackend>, sub: Subscription) {
    loop {
        let next = match queue.next_due(&sub.topic, &sub.component).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(component = %sub.component, "reading the queue for {}: {e:#}", sub.topic);
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let Some(delivery) = next else {
            let wait = match queue.next_due_at(&sub.topic, &sub.component).await {
                Ok(Some(due)) => due.duration_since(SystemTime::now()).unwrap_or_default().min(POLL),
                _ => POLL,
            };
            if !wait.is_zero() {
                queue.wait_for_publish(wait).await;
            }
            continue;
        };
        let Some(app) = app.upgrade() else { return };
        let outcome = deliver(&app, &sub, &delivery).await;
        drop(app);
        let recorded = match outcome {
            Ok(()) => queue.ack(&delivery, &sub.component).await,
            Err(error) if delivery.attempt >= sub.max_attempts => {
                tracing::warn!(
                    component = %sub.component,
                    "message {} on {} failed {} times, now a dead letter: {error}",
                    delivery.id, sub.topic, delivery.attempt
                );
                queue.fail(&delivery, &sub.component, &error, None).await
            }
            Err(error) => {
                let wait = backoff(delivery.attempt);
                tracing::info!(
                    component = %sub.component,
                    "message {} on {} failed (attempt {}), retrying in {wait:?}: {error}",
                    delivery.id, sub.topic, delivery.attempt
                );
                queue.fail(&delivery, &sub.component, &error, Some(wait)).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(component = %sub.component, "recording a delivery of {}: {e:#}", delivery.id);
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Call the subscriber's handler once with `delivery`; `Err` carries why it failed.
async fn deliver(app: &App, sub: &Subscription, delivery: &Delivery) -> Result<(), String> {
    let snapshot = app.snapshot();
    let component = snapshot
        .components
        .get(&sub.component)
        .cloned()
        .ok_or_else(|| format!("component {:?} is not running", sub.component))?;
    let indices = component
        .subscriber
        .clone()
        .ok_or_else(|| format!("{:?} does not export riff:platform/queue-handler", sub.component))?;
    component.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let timeout = component.runtime.timeout;
    let (mut store, warm) = app.store_for(&component, 0);
    let message = Message {
        id: delivery.id.clone(),
        topic: delivery.topic.clone(),
        payload: delivery.payload.clone(),
        attempt: delivery.attempt,
    };
    let run = async {
        let (instance, served) = match warm {
            Some(warm) => warm,
            None => (component.instance_pre.instantiate_async(&mut store).await?, 0),
        };
        let handler = indices.load(&mut store, &instance)?;
        let result = handler.riff_platform_queue_handler().call_handle(&mut store, &message).await?;
        Ok::<_, wasmtime::Error>((result, instance, served))
    };
    let outcome = match tokio::time::timeout(timeout, run).await {
        Ok(Ok((result, instance, served))) => {
            if let Some(pool) = &component.warm {
                pool.give_back(Warm::new(store, instance, served + 1));
            }
            result
        }
        Ok(Err(error)) => Err(match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => format!("wasm trap: {trap}"),
            None => error.to_string().lines().next().unwrap_or_default().to_string(),
        }),
        Err(_) => Err(format!("did not finish within {}", humantime::format_duration(timeout))),
    };
    if outcome.is_err() {
        component.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    outcome
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
