//! # riff-trigger-redis
//!
//! Spin's Redis trigger: every message published on a Redis channel calls the components that
//! `[[trigger.redis]]` subscribes to it, through their `handle-message` export
//! (`fermyon:spin/inbound-redis`, the unversioned package spin-sdk's `#[redis_component]`
//! implements), with the message's payload.
//!
//! ```toml
//! [application.trigger.redis]
//! address = "redis://cache:6379"        # the server, for every trigger without its own
//!
//! [[trigger.redis]]
//! channel = "orders"
//! component = "order-handler"
//! address = "redis://{{ events_host }}"  # optional: this trigger's own server
//! ```
//!
//! One task per server address ([`Listener`]) subscribes to all the channels triggered there.
//! Messages are handled one after another, in the order the server sends them; a message on a
//! channel several components subscribe to goes to all of them at once, and the next message
//! waits for all of them. A handler's `error` (or trap, or timeout) is logged; the message is not
//! retried — Redis pub/sub keeps nothing, as in Spin.
//!
//! This is Redis pub/sub: **every riff replica subscribed to a channel receives every message**
//! published on it (as every Spin instance does), so a handler runs once per replica. Use the
//! queue trigger for work that must run once.
//!
//! Where riff differs from Spin: a server that cannot be reached, at start or later, does not
//! stop the app — the listener logs it and connects again with backoff (250 ms doubling to 30 s),
//! subscribing afresh; messages published while it was away are lost (pub/sub keeps none).
//!
//! Each message goes through [`MessageHandler`], which the app implements: it looks the
//! component up in its current snapshot, so after a hot swap the next message goes to the new
//! version.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use riff_core::redact::{self, BareUser};
use tokio::task::JoinHandle;

/// Guest bindings of `fermyon:spin/inbound-redis`, the export a Redis-triggered component has.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/spin@unversioned",
        inline: "
            package riff:redis-trigger;
            world redis-trigger {
                export fermyon:spin/inbound-redis;
            }
        ",
        world: "riff:redis-trigger/redis-trigger",
        exports: { default: async },
    });
}

pub use bindings::exports::fermyon::spin::inbound_redis::Error as HandlerError;
pub use bindings::RedisTriggerIndices;

/// Provide `fermyon:spin/redis-types` to components' imports: the export's types come from it, so
/// a `#[redis_component]` imports it (it has types only, nothing to call).
pub fn add_to_linker<T: 'static>(linker: &mut wasmtime::component::Linker<T>) -> anyhow::Result<()> {
    struct NoData;
    impl wasmtime::component::HasData for NoData {
        type Data<'a> = ();
    }
    bindings::fermyon::spin::redis_types::add_to_linker::<T, NoData>(linker, |_| ())?;
    Ok(())
}

impl bindings::fermyon::spin::redis_types::Host for () {}

/// One `[[trigger.redis]]`, its address and channel resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedisSubscription {
    /// `redis://…` or `rediss://…`; may hold a password (never logged as is).
    pub address: String,
    pub channel: String,
    pub component: String,
}

/// Handles one message: implemented by the app, which knows the components.
pub trait MessageHandler: Send + Sync + 'static {
    /// Call `component`'s `handle-message` once with `payload`; `Err` says why it failed.
    fn handle<'a>(&'a self, component: &'a str, payload: &'a [u8]) -> BoxFuture<'a, Result<(), String>>;
}

/// `address` with its password hidden, for logs.
pub fn shown(address: &str) -> String {
    redact::url(address, BareUser::IsName)
}

/// Can `address` name a Redis server? The check the manifest and the loader run on it.
pub fn check_address(address: &str) -> Result<(), String> {
    redis::Client::open(address)
        .map(|_| ())
        .map_err(|e| format!("{:?} is not a Redis address: {e}", shown(address)))
}

/// The running subscriber tasks, one per server address.
#[derive(Default)]
pub struct Listener {
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Listener {
    /// Listen for `subscriptions` from now on, replacing whatever was listened to before.
    pub fn run<H: MessageHandler>(&self, app: Weak<H>, subscriptions: Vec<RedisSubscription>) {
        self.stop();
        // address -> channel -> components
        let mut servers: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for sub in subscriptions {
            servers.entry(sub.address).or_default().entry(sub.channel).or_default().push(sub.component);
        }
        let mut tasks = self.tasks.lock().expect("listener lock");
        for (address, channels) in servers {
            tasks.push(tokio::spawn(listen_forever(app.clone(), address, channels)));
        }
    }

    fn stop(&self) {
        for task in self.tasks.lock().expect("listener lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long to wait before connecting again after `failures` failures in a row.
fn backoff(failures: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << failures.saturating_sub(1).min(8));
    Duration::from_millis(ms.min(30_000))
}

async fn listen_forever<H: MessageHandler>(
    app: Weak<H>,
    address: String,
    channels: BTreeMap<String, Vec<String>>,
) {
    let mut failures = 0;
    loop {
        match listen(&app, &address, &channels, &mut failures).await {
            Ok(()) => return, // the app is gone
            Err(e) => {
                failures += 1;
                let wait = backoff(failures);
                tracing::warn!("redis trigger: {}: {e:#}; connecting again in {wait:?}", shown(&address));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Subscribe and handle messages until the connection fails (`Err`) or the app is gone (`Ok`).
async fn listen<H: MessageHandler>(
    app: &Weak<H>,
    address: &str,
    channels: &BTreeMap<String, Vec<String>>,
    failures: &mut u32,
) -> anyhow::Result<()> {
    let client = redis::Client::open(address)?;
    let mut pubsub = client.get_async_pubsub().await?;
    for channel in channels.keys() {
        pubsub.subscribe(channel).await?;
    }
    for (channel, components) in channels {
        tracing::info!("redis trigger: {}/{channel} -> {}", shown(address), components.join(", "));
    }
    *failures = 0;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Some(app) = app.upgrade() else { return Ok(()) };
        let channel = message.get_channel_name();
        let Some(components) = channels.get(channel) else { continue };
        let payload = message.get_payload_bytes();
        let handled = futures::future::join_all(components.iter().map(|c| app.handle(c, payload))).await;
        for (component, outcome) in components.iter().zip(handled) {
            if let Err(e) = outcome {
                tracing::warn!(component = %component, "redis trigger: a message on {channel:?} failed: {e}");
            }
        }
    }
    anyhow::bail!("the server closed the subscription")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(20), Duration::from_secs(30));
    }

    #[test]
    fn addresses_are_checked_and_shown_without_passwords() {
        assert!(check_address("redis://127.0.0.1:6379/0").is_ok());
        assert!(check_address("rediss://cache").is_ok());
        let bad = check_address("http://user:hunter2@cache").unwrap_err();
        assert!(bad.contains("not a Redis address") && !bad.contains("hunter2"), "{bad}");
        assert_eq!(shown("redis://u:pw@cache"), "redis://u:***@cache");
    }
}
