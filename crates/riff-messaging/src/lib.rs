//! # riff-messaging
//!
//! Messaging: `riff:platform/messaging` (publish) for guests, and the durable queue behind it.
//!
//! Components publish to topics their manifest entry grants (`tool.riff.publish_topics`);
//! `[[trigger.queue]]` subscribes components to topics, and the queue trigger delivers each
//! message to each subscription **at least once**: a delivery is acknowledged only after the
//! handler returned `ok`, so a crash between the two redelivers it rather than losing it.
//!
//! The queue sits behind [`QueueBackend`], shaped after what brokers offer (NATS JetStream's
//! durable consumers: publish, fetch a batch, ack, nak with a delay, terminate) rather than after
//! SQLite polling, so a broker can replace the embedded queue without touching the trigger:
//!
//! * [`host`]: the publish interface, a component's grants, `add_to_linker`;
//! * [`sqlite`]: the embedded queue, a SQLite file under the state directory;
//! * [`nats`]: the queue on a NATS JetStream server, shared by an app's replicas;
//! * [`conformance`]: the suite every queue backend must pass.

pub mod conformance;
pub mod host;
pub mod nats;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use async_trait::async_trait;
use serde::Serialize;

/// Largest message payload accepted.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One subscription: `component` receives `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    pub component: String,
    pub max_attempts: u32,
}

/// A message leased for delivery to one subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The backend's handle on this delivery (a row, a stream sequence).
    pub seq: i64,
    pub id: String,
    pub topic: String,
    /// The subscribing component.
    pub subscriber: String,
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

/// A durable queue with per-subscription delivery state.
///
/// Every message published to a topic is delivered to every subscription of that topic that
/// existed when it was published, at least once, until acknowledged or dead-lettered.
#[async_trait]
pub trait QueueBackend: Send + Sync {
    /// The subscriptions from now on (replacing earlier ones).
    async fn subscribe(&self, subscriptions: &[Subscription]) -> Result<()>;

    /// Store a message durably; returns its id.
    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String>;

    /// Up to `max` deliveries due now for `subscription`, oldest first, each counting an
    /// attempt. They are the caller's until it settles them (ack, nack, dead letter) or, for a
    /// backend shared by processes, until `lease_for` passes; then they are delivered again.
    async fn lease(
        &self,
        subscription: &Subscription,
        max: usize,
        lease_for: Duration,
    ) -> Result<Vec<Delivery>>;

    /// The subscriber handled it: never deliver it again.
    async fn ack(&self, delivery: &Delivery) -> Result<()>;

    /// The subscriber failed: deliver it again after `retry_in`.
    async fn nack(&self, delivery: &Delivery, error: &str, retry_in: Duration) -> Result<()>;

    /// The subscriber failed for the last time: keep it as a dead letter, never deliver it again.
    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<()>;

    /// Dead letters, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>>;

    /// Wait until a delivery for `subscription` may be due — something was published, or a
    /// retry falls due — or `timeout` passes. May return early; the caller leases again.
    async fn watch(&self, subscription: &Subscription, timeout: Duration);
}

/// Where the queue may keep files.
#[derive(Debug, Clone)]
pub struct QueueContext {
    /// The default file for the embedded queue, under the state directory.
    pub default_path: PathBuf,
    /// Relative paths in the runtime config are relative to this directory.
    pub config_dir: PathBuf,
}

/// Makes the app's queue from the runtime config's `[queue]` section.
#[async_trait]
pub trait MakeQueue: Send + Sync + 'static {
    /// The runtime config's `type` values that select this backend.
    const TYPES: &'static [&'static str];
    type Config: serde::de::DeserializeOwned + Send;
    async fn make_queue(&self, config: Self::Config, context: &QueueContext)
        -> Result<Arc<dyn QueueBackend>>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A new message id: `msg_` and 24 random hex digits.
pub fn new_message_id() -> String {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).expect("the OS random source");
    format!("msg_{}", hex::encode(raw))
}
