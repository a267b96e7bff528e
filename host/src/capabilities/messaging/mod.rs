//! Messaging: `riff:platform/messaging` (publish) for guests, and the durable queue behind it.
//!
//! Components publish to topics their manifest entry grants (`tool.riff.publish_topics`);
//! `[[trigger.queue]]` subscribes components to topics, and [`crate::trigger::queue`] delivers
//! each message to each subscriber **at least once**: a delivery is acknowledged only after the
//! handler returned `ok`, so a crash between the two redelivers it rather than losing it.
//!
//! The queue sits behind [`QueueBackend`] so another broker can replace the embedded one; the
//! embedded one ([`sqlite::SqliteQueue`]) is a SQLite file under the state directory, which is
//! what makes messages outlive a crash or restart.

pub mod sqlite;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::bindings::riff::platform::messaging as wit;
use crate::state::RequestState;

/// Largest message payload accepted.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One subscription: `component` receives `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    pub component: String,
    pub max_attempts: u32,
}

/// A message due for delivery to one subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: i64,
    pub id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    /// Deliveries so far, this one included.
    pub attempt: u32,
}

/// A message a subscriber failed to handle `max_attempts` times.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub topic: String,
    pub subscriber: String,
    pub attempts: u32,
    pub last_error: String,
    /// Milliseconds since the Unix epoch.
    pub published_ms: i64,
    /// The payload as UTF-8 (lossy) — messages here are JSON.
    pub payload: String,
}

/// A durable queue with per-subscriber delivery state.
pub trait QueueBackend: Send + Sync {
    /// Which components receive which topics; messages published afterwards fan out to them.
    fn set_subscriptions(&self, subscriptions: Vec<Subscription>);

    /// Store a message durably (and one pending delivery per subscriber); returns its id.
    fn publish<'a>(&'a self, topic: &'a str, payload: &'a [u8]) -> BoxFuture<'a, Result<String>>;

    /// The oldest delivery due now for `subscriber` on `topic`, counting this attempt.
    fn next_due<'a>(&'a self, topic: &'a str, subscriber: &'a str)
        -> BoxFuture<'a, Result<Option<Delivery>>>;

    /// When the next delivery for `subscriber` on `topic` falls due, if any is pending.
    fn next_due_at<'a>(
        &'a self,
        topic: &'a str,
        subscriber: &'a str,
    ) -> BoxFuture<'a, Result<Option<SystemTime>>>;

    /// The subscriber handled the message: forget the delivery.
    fn ack<'a>(&'a self, delivery: &'a Delivery, subscriber: &'a str) -> BoxFuture<'a, Result<()>>;

    /// The subscriber failed: deliver again after `retry_in`, or, when `None`, keep it as a dead letter.
    fn fail<'a>(
        &'a self,
        delivery: &'a Delivery,
        subscriber: &'a str,
        error: &'a str,
        retry_in: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Dead letters, newest first.
    fn dead_letters(&self, limit: u32) -> BoxFuture<'_, Result<Vec<DeadLetter>>>;

    /// Wait until something is published (or `timeout` passes).
    fn wait_for_publish(&self, timeout: Duration) -> BoxFuture<'_, ()>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl wit::Host for RequestState {
    async fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<String, wit::Error>> {
        let runtime = &self.component;
        if crate::manifest::check_topic(&topic).is_err() {
            return Ok(Err(wit::Error::Invalid(format!("{topic:?} is not a topic name"))));
        }
        if !runtime.publish_topics.contains(&topic) {
            return Ok(Err(wit::Error::AccessDenied(format!(
                "component {:?} may not publish to {topic:?} (grant it with tool.riff.publish_topics)",
                runtime.id
            ))));
        }
        if payload.len() > MAX_PAYLOAD {
            return Ok(Err(wit::Error::Invalid(format!(
                "payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
                payload.len()
            ))));
        }
        let Some(queue) = runtime.queue.clone() else {
            return Ok(Err(wit::Error::Unavailable("no queue is configured".into())));
        };
        Ok(match queue.publish(&topic, &payload).await {
            Ok(id) => Ok(id),
            Err(e) => {
                tracing::warn!(component = %runtime.id, "publishing to {topic}: {e:#}");
                Err(wit::Error::Unavailable(format!("the message was not stored: {e}")))
            }
        })
    }
}
