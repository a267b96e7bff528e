//! The NATS JetStream queue: the queue kept on a NATS server, so several replicas of an app share
//! it and each message is handled once per subscription across all of them (at least once), with
//! the embedded queue's retries, backoff and dead letters.
//!
//! `[queue] type = "nats"`, `url = "nats://[user:password@]host:4222"` (several URLs separated by
//! commas for a cluster), optional `stream` (default `"RIFF"`), `replicas` and `max_age`
//! (`"7d"`). The streams are created at start (1 replica, no age limit unless given), and the
//! settings given are applied to streams that exist; settings left out leave them as they are.
//! Every replica of one app names the same stream; different apps on one server need different
//! streams, or a component `worker` of each would share one subscription.
//!
//! How the trait maps onto JetStream:
//!
//! * Messages live in one stream, `<stream>`, on subjects `<stream>.topic.<topic>` (a topic with
//!   dots spans several subject tokens; one that is not a valid subject is refused). The stream
//!   has *interest* retention: a message is kept while some consumer has not acknowledged it,
//!   and one published to a topic no consumer filters is dropped at once — like the embedded
//!   queue, which records deliveries only for the subscriptions that exist at publish time.
//!   Publishing waits for the server's acknowledgement, so a message is stored before `publish`
//!   returns; its id travels as `Nats-Msg-Id`, so a publish retried after a lost
//!   acknowledgement is deduplicated by the server instead of stored twice.
//! * A subscription is a durable pull consumer named after its component and topic, filtered on
//!   the topic's subject, with explicit acks and deliver policy *new* (a subscription added later
//!   receives only later messages). Every replica that subscribes the same component to the same
//!   topic binds the same consumer, and JetStream hands each message of a consumer to one puller
//!   at a time: that is what shares the work. Consumers of subscriptions that disappear are
//!   **not** deleted — during a rolling deploy another replica may still run the app version
//!   that has them. A consumer nobody pulls from keeps its messages (interest retention) until
//!   `max_age`, if set; delete it by hand (`nats consumer rm <stream> <name>`) once no replica
//!   has the subscription.
//! * A lease is a JetStream delivery: `lease` pulls up to `max` messages without waiting, and
//!   the consumer's `ack_wait` is the lease: a delivery not settled within it is redelivered, to
//!   any replica. `lease` sets `ack_wait` to `lease_for` when it differs from what this process
//!   last set (the dispatcher's `lease_for` follows the component's timeout, so this changes
//!   only when a deploy changes the timeout; while two versions run, the last to lease sets
//!   it). Unlike the embedded queue, a stopped process's leases are not released at once: they
//!   pass when `ack_wait` does. `Delivery::seq` is the stream sequence, `attempt` JetStream's
//!   delivery count, or one more than the attempt a NAK recorded if that is higher: a NAK
//!   first records the attempt that failed in a third stream, `<stream>_ATTEMPTS` (subjects
//!   `<stream>.attempt.<consumer>.<seq>`, one message per subject, 7-day age limit; purged when
//!   the message is settled for good), because nats-server before 2.10.15 can report a
//!   redelivery as a first delivery when a pull request expires as the message is sent, and the
//!   retry backoff and dead letters count on `attempt`.
//! * `ack` is an acknowledgement the server confirms; `nack` a NAK with the retry delay (the
//!   error is not kept: only a dead letter records one);
//!   `dead_letter` copies the message into a second stream, `<stream>_DEAD` (subjects
//!   `<stream>.dead.<consumer>`, limits retention, the same `max_age`) with who failed and why in
//!   a `Riff-Dead-Letter` header, then terminates the delivery (TERM: never redelivered).
//!   `dead_letters` reads that stream backwards, newest first.
//! * `watch` is a pull request that waits (expires after its timeout): the server answers it
//!   when a message is published or a NAK's delay passes. The message it brings is kept and
//!   handed out by the next `lease`. A watch cancelled while its request is pending (the
//!   dispatcher replacing its tasks on a hot swap) may leave a message delivered to nobody: it
//!   comes back when `ack_wait` passes.
//!
//! The client reconnects by itself. Meanwhile `publish` and `lease` fail at once (the dispatcher
//! logs and retries), and every call to the server is bounded by [`REQUEST_TIMEOUT`], so none
//! hangs while the server is away.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use async_nats::connection::State;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, FromConsumer, PullConsumer};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::{ConnectOptions, Event, ServerAddr};
use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::{
    new_message_id, now_ms, DeadLetter, Delivery, MakeQueue, QueueBackend, QueueContext, Subscription,
};

/// How long connecting (TCP and the NATS handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request to the server (a JetStream API call, a publish's or an ack's
/// confirmation, a pull without waiting) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The stream's name when the runtime config names none.
pub const DEFAULT_STREAM: &str = "RIFF";
/// The longest a `lease` waits for messages the server counts as pending (see
/// [`NatsQueue::pull_now`]); one finding none returns at once, or after this on a server that
/// waits out the expiry.
const PULL_NOW_EXPIRES: Duration = Duration::from_millis(100);
/// A new consumer's `ack_wait`, until the first lease sets its own.
const INITIAL_ACK_WAIT: Duration = Duration::from_secs(30);
/// A publish is tried this often (with the same `Nats-Msg-Id`) before it fails.
const PUBLISH_ATTEMPTS: u32 = 3;
/// The longest error kept in a dead letter.
const MAX_ERROR_LEN: usize = 4096;
/// A leased message is forgotten this long after its lease passed (the server has redelivered
/// it by then; settling it here would fail anyway).
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// The publish time, milliseconds since the Unix epoch.
const PUBLISHED_MS: &str = "Riff-Published-Ms";
/// A dead letter's record ([`DeadRecord`] as JSON).
const DEAD_LETTER: &str = "Riff-Dead-Letter";
/// How long a failed attempt's record is kept at most (it is removed when the message is
/// settled; this bounds what a failed removal leaves behind).
const ATTEMPT_RECORD_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The durable queue on a NATS JetStream server.
pub struct NatsQueue {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The URL, password hidden, for messages.
    url: String,
    messages: stream::Stream,
    dead: stream::Stream,
    /// The last failed attempt of each message a NAK sent back, on `<stream>.attempt.<consumer>.<seq>`.
    attempts: stream::Stream,
    /// `<stream>.attempt.`
    attempt_prefix: String,
    /// `<stream>.topic.`
    topic_prefix: String,
    /// `<stream>.dead.`
    dead_prefix: String,
    /// Consumers bound so far, by name, with the `ack_wait` this process last saw or set.
    consumers: Mutex<HashMap<String, Bound>>,
    /// Deliveries leased and not yet settled, by consumer and stream sequence.
    leased: Mutex<HashMap<(String, u64), Leased>>,
    /// Messages a `watch` pulled, by consumer, for the next `lease`.
    watched: Mutex<HashMap<String, VecDeque<Leased>>>,
}

#[derive(Clone)]
struct Bound {
    consumer: PullConsumer,
    ack_wait: Duration,
}

struct Leased {
    message: jetstream::Message,
    /// When the server redelivers it if it is not settled.
    until: Instant,
}

/// What a dead letter records besides the payload, in its [`DEAD_LETTER`] header.
#[derive(Debug, Serialize, Deserialize)]
struct DeadRecord {
    id: String,
    topic: String,
    subscriber: String,
    attempts: u32,
    last_error: String,
    published_ms: i64,
    /// The payload was cut to fit the server's `max_payload` beside this record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    payload_truncated: bool,
}

impl NatsQueue {
    /// Connect to the server(s) at `config.url` and create or update the two streams.
    pub async fn connect(config: &NatsQueueConfig) -> Result<Self> {
        let url = redact(&config.url);
        let stream_name = config.stream.clone().unwrap_or_else(|| DEFAULT_STREAM.to_string());
        check_stream_name(&stream_name)?;
        let settings = Settings {
            replicas: config.replicas,
            max_age: match &config.max_age {
                Some(text) => {
                    Some(parse_duration(text).with_context(|| format!("[queue] max_age {text:?}"))?)
                }
                None => None,
            },
        };
        let addrs = config
            .url
            .split(',')
            .map(|one| one.trim().parse::<ServerAddr>().map_err(|e| anyhow!("{}: {e}", redact(one.trim()))))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("{url} is not a NATS URL"))?;

        let events_url = url.clone();
        let options = ConnectOptions::new()
            .name("riff queue")
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT))
            // Retry every 100 ms, doubling to at most 1 s (the client's default climbs to 4 s):
            // replicas are back within about a second of the server.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100u64.saturating_mul(1 << attempts.min(4))).min(Duration::from_secs(1))
            })
            .event_callback(move |event| {
                let url = events_url.clone();
                async move {
                    match event {
                        Event::Disconnected => {
                            tracing::warn!("queue: disconnected from NATS at {url}, reconnecting")
                        }
                        Event::Connected => tracing::info!("queue: connected to NATS at {url}"),
                        other => tracing::warn!("queue: NATS at {url}: {other}"),
                    }
                }
            });
        // The handshake is bounded by `connection_timeout`; the outer bound covers the rest.
        let client = tokio::time::timeout(CONNECT_TIMEOUT * 2, options.connect(addrs))
            .await
            .map_err(|_| anyhow!("no answer within {CONNECT_TIMEOUT:?}"))
            .and_then(|connected| connected.map_err(anyhow::Error::from))
            .with_context(|| format!("connecting to NATS at {url}"))?;
        let js = jetstream::ContextBuilder::new().timeout(REQUEST_TIMEOUT).build(client.clone());

        let topic_prefix = format!("{stream_name}.topic.");
        let dead_prefix = format!("{stream_name}.dead.");
        let messages = ensure_stream(
            &js,
            &url,
            stream::Config {
                name: stream_name.clone(),
                subjects: vec![format!("{topic_prefix}>")],
                retention: RetentionPolicy::Interest,
                storage: StorageType::File,
                num_replicas: settings.replicas.unwrap_or(1),
                max_age: settings.max_age.unwrap_or_default(),
                description: Some("riff's queue: messages by topic".into()),
                ..Default::default()
            },
            settings,
        )
        .await?;
        let dead = ensure_stream(
            &js,
            &url,
            stream::Config {
                name: format!("{stream_name}_DEAD"),
                subjects: vec![format!("{dead_prefix}>")],
                retention: RetentionPolicy::Limits,
                storage: StorageType::File,
                num_replicas: settings.replicas.unwrap_or(1),
                max_age: settings.max_age.unwrap_or_default(),
                description: Some(format!("riff's queue: the dead letters of {stream_name}")),
                ..Default::default()
            },
            settings,
        )
        .await?;
        let attempts = ensure_stream(
            &js,
            &url,
            stream::Config {
                name: format!("{stream_name}_ATTEMPTS"),
                subjects: vec![format!("{stream_name}.attempt.>")],
                retention: RetentionPolicy::Limits,
                storage: StorageType::File,
                num_replicas: settings.replicas.unwrap_or(1),
                max_messages_per_subject: 1,
                max_age: ATTEMPT_RECORD_AGE,
                description: Some(format!("riff's queue: the failed attempts of messages of {stream_name}")),
                ..Default::default()
            },
            Settings { max_age: None, ..settings },
        )
        .await?;
        Ok(Self {
            client,
            js,
            url,
            messages,
            dead,
            attempts,
            attempt_prefix: format!("{stream_name}.attempt."),
            topic_prefix,
            dead_prefix,
            consumers: Mutex::default(),
            leased: Mutex::default(),
            watched: Mutex::default(),
        })
    }

    /// Fail at once, rather than after a timeout, while the client is reconnecting.
    fn check_connected(&self) -> Result<()> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            _ => bail!("not connected to NATS at {} (reconnecting)", self.url),
        }
    }

    /// The consumer of `sub`: bound once, created if absent (so a subscription whose `subscribe`
    /// failed while the server was away starts working when it is back).
    async fn bind(&self, sub: &Subscription) -> Result<Bound> {
        let name = consumer_name(sub);
        if let Some(bound) = self.consumers.lock().expect("consumers lock").get(&name) {
            return Ok(bound.clone());
        }
        let filter = subject_of(&self.topic_prefix, &sub.topic)?;
        let config = pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!("riff: {} receives {}", sub.component, sub.topic)),
            deliver_policy: DeliverPolicy::New,
            ack_policy: AckPolicy::Explicit,
            ack_wait: INITIAL_ACK_WAIT,
            filter_subject: filter.clone(),
            // Messages waiting out a NAK's delay count as pending: never stall on them.
            max_ack_pending: -1,
            ..Default::default()
        };
        // An existing consumer is taken as it is: its `ack_wait` is another replica's lease.
        let consumer = self
            .messages
            .get_or_create_consumer(&name, config)
            .await
            .with_context(|| format!("binding consumer {name} on NATS at {}", self.url))?;
        let found = &consumer.cached_info().config;
        if found.filter_subject != filter {
            bail!(
                "consumer {name} on stream {} filters {:?}, not {filter:?}: not riff's consumer of {} for {}",
                self.messages.cached_info().config.name,
                found.filter_subject,
                sub.topic,
                sub.component
            );
        }
        let bound = Bound { ack_wait: found.ack_wait, consumer };
        self.consumers.lock().expect("consumers lock").insert(name, bound.clone());
        Ok(bound)
    }

    /// `bound` with `ack_wait` = `lease_for`, updating the consumer if it differs.
    async fn with_lease(&self, sub: &Subscription, bound: Bound, lease_for: Duration) -> Result<Bound> {
        if bound.ack_wait == lease_for {
            return Ok(bound);
        }
        let name = consumer_name(sub);
        let mut config = pull::Config::try_from_consumer_config(bound.consumer.cached_info().config.clone())
            .map_err(|e| anyhow!("consumer {name}: {e}"))?;
        config.ack_wait = lease_for;
        let consumer = self
            .messages
            .create_consumer(config)
            .await
            .with_context(|| format!("setting the lease of consumer {name} to {lease_for:?}"))?;
        let bound = Bound { consumer, ack_wait: lease_for };
        self.consumers.lock().expect("consumers lock").insert(name, bound.clone());
        Ok(bound)
    }

    /// Forget the bound consumer of `sub` after an error, so the next call binds it anew (it may
    /// have been deleted, or the stream recreated).
    fn unbind(&self, sub: &Subscription) {
        self.consumers.lock().expect("consumers lock").remove(&consumer_name(sub));
    }

    /// Pull up to `max` messages that are due now, without waiting for more.
    ///
    /// The request expires after [`PULL_NOW_EXPIRES`]: a request that finds messages pending
    /// waits for them, and when another replica's request takes them first, nats-server 2.9
    /// would otherwise leave it unanswered for good.
    async fn pull_now(&self, consumer: &PullConsumer, max: usize) -> Result<Vec<jetstream::Message>> {
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let fetch = consumer.fetch().max_messages(max).expires(PULL_NOW_EXPIRES);
        let mut batch = tokio::time::timeout_at(deadline, fetch.messages())
            .await
            .map_err(|_| anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
            .map_err(|e| anyhow!("{e}"))?;
        let mut pulled = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, batch.next()).await {
                Ok(Some(Ok(message))) => pulled.push(message),
                Ok(Some(Err(e))) if pulled.is_empty() => bail!("{e}"),
                Ok(None) | Ok(Some(Err(_))) => break,
                // Keep what came: it is leased now. Nothing at all means no answer.
                Err(_) if pulled.is_empty() => bail!("no answer within {REQUEST_TIMEOUT:?}"),
                Err(_) => break,
            }
        }
        Ok(pulled)
    }

    /// The last failed attempt a NAK recorded for the message at `seq` of consumer `name`, if
    /// any. Unreadable records count as none: the server's delivery count stands.
    async fn recorded_attempt(&self, name: &str, seq: u64) -> u32 {
        let key = self.attempt_subject(name, seq);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.attempts.get_last_raw_message_by_subject(&key)).await
        {
            Ok(Ok(record)) => {
                std::str::from_utf8(&record.payload).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
            }
            Ok(Err(e)) if is_not_found(&e) => 0,
            Ok(Err(e)) => {
                tracing::warn!("queue: reading attempt record {key} on NATS at {}: {e}", self.url);
                0
            }
            Err(_) => {
                tracing::warn!("queue: reading attempt record {key} on NATS at {}: no answer", self.url);
                0
            }
        }
    }

    fn delivery(&self, sub: &Subscription, message: &jetstream::Message, recorded: u32) -> Result<Delivery> {
        let info = message.info().map_err(|e| anyhow!("a message without JetStream metadata: {e}"))?;
        let headers = message.headers.as_ref();
        let id = headers
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string())
            .unwrap_or_else(|| format!("seq_{}", info.stream_sequence));
        let topic = message.subject.strip_prefix(self.topic_prefix.as_str()).unwrap_or(&sub.topic);
        Ok(Delivery {
            seq: info.stream_sequence as i64,
            id,
            topic: topic.to_string(),
            subscriber: sub.component.clone(),
            payload: message.payload.to_vec(),
            attempt: u32::try_from(info.delivered).unwrap_or(u32::MAX).max(recorded.saturating_add(1)),
        })
    }

    /// Take the message of `delivery` out of the leases (put it back with [`Self::keep`] if
    /// settling it fails).
    fn take(&self, delivery: &Delivery) -> Result<(String, Leased)> {
        let key = (delivery_consumer(delivery), delivery.seq as u64);
        match self.leased.lock().expect("leases lock").remove(&key) {
            Some(leased) => Ok((key.0, leased)),
            None => bail!(
                "message {} for {} is not leased here (settled already, or its lease passed long ago)",
                delivery.id,
                delivery.subscriber
            ),
        }
    }

    fn keep(&self, delivery: &Delivery, name: String, leased: Leased) {
        self.leased.lock().expect("leases lock").insert((name, delivery.seq as u64), leased);
    }

    /// Settle `delivery` with `kind`, waiting for the server's confirmation.
    async fn settle(&self, delivery: &Delivery, kind: AckKind, what: &str) -> Result<()> {
        let (name, leased) = self.take(delivery)?;
        let sent = tokio::time::timeout(REQUEST_TIMEOUT * 2, leased.message.double_ack_with(kind)).await;
        match sent {
            Ok(Ok(())) => Ok(()),
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {:?}", REQUEST_TIMEOUT * 2),
                };
                self.keep(delivery, name, leased);
                bail!(
                    "{what} message {} for {} on NATS at {}: {why}",
                    delivery.id,
                    delivery.subscriber,
                    self.url
                )
            }
        }
    }

    /// Remove the attempt record of a message settled for good (only a retried one has one).
    /// A record left behind is harmless: it expires, and its message is never delivered again.
    async fn forget_attempts(&self, delivery: &Delivery) {
        if delivery.attempt <= 1 {
            return;
        }
        let key = self.attempt_subject(&delivery_consumer(delivery), delivery.seq as u64);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.attempts.purge().filter(key.as_str())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!("queue: removing attempt record {key}: {e}"),
            Err(_) => tracing::debug!("queue: removing attempt record {key}: no answer"),
        }
    }

    /// The subject of the attempt record of the message at `seq` of consumer `name`.
    fn attempt_subject(&self, name: &str, seq: u64) -> String {
        format!("{}{name}.{seq}", self.attempt_prefix)
    }

    #[cfg(test)]
    async fn delete_streams(&self) {
        for name in [&self.messages.cached_info().config.name, &self.dead.cached_info().config.name] {
            self.js.delete_stream(name).await.unwrap();
        }
        self.js.delete_stream(&self.attempts.cached_info().config.name).await.unwrap();
    }
}

#[async_trait]
impl QueueBackend for NatsQueue {
    async fn subscribe(&self, subscriptions: &[Subscription]) -> Result<()> {
        // Leases bind what fails here later, so one failure does not stop the others, and
        // while the server is away this fails at once instead of timing out per subscription.
        self.check_connected()?;
        let mut failed = Vec::new();
        for sub in subscriptions {
            self.unbind(sub);
            if let Err(e) = self.bind(sub).await {
                failed.push(format!("{} for {}: {e:#}", sub.topic, sub.component));
            }
        }
        if !failed.is_empty() {
            bail!("subscribing {}", failed.join("; "));
        }
        Ok(())
    }

    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<String> {
        let subject = subject_of(&self.topic_prefix, topic)?;
        let id = new_message_id();
        let message = PublishMessage::build()
            .payload(payload.to_vec().into())
            .message_id(&id)
            .header(PUBLISHED_MS, now_ms().to_string());
        let mut attempt = 1;
        loop {
            self.check_connected()?;
            let sent = self.js.send_publish(subject.clone(), message.clone()).await;
            let acked = match sent {
                Ok(ack) => {
                    ack.await.map_err(|e| (e.kind() == jetstream::context::PublishErrorKind::TimedOut, e))
                }
                Err(e) => Err((false, e)),
            };
            match acked {
                Ok(ack) if ack.duplicate => {
                    tracing::debug!(
                        "publish of {id} to {topic} was retried: stored once, at {}",
                        ack.sequence
                    );
                    return Ok(id);
                }
                Ok(_) => return Ok(id),
                // A lost acknowledgement: send again, the server drops the copy (same id).
                Err((true, _)) if attempt < PUBLISH_ATTEMPTS => attempt += 1,
                Err((_, e)) => {
                    let hint = match e.kind() {
                        jetstream::context::PublishErrorKind::StreamNotFound => {
                            " (no stream takes this subject: was the stream deleted?)"
                        }
                        _ => "",
                    };
                    bail!("publishing to {topic} on NATS at {}: {e}{hint}", self.url)
                }
            }
        }
    }

    async fn lease(&self, sub: &Subscription, max: usize, lease_for: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let name = consumer_name(sub);
        // First what a watch pulled, unless it waited so long that its lease passed.
        let watched: Vec<Leased> = {
            let mut watched = self.watched.lock().expect("watched lock");
            let queue = watched.entry(name.clone()).or_default();
            queue.retain(|w| w.until > Instant::now());
            queue.drain(..max.min(queue.len())).collect()
        };
        let messages = if watched.is_empty() {
            self.check_connected()?;
            let pulled = async {
                let bound = self.bind(sub).await?;
                let bound = self.with_lease(sub, bound, lease_for).await?;
                self.pull_now(&bound.consumer, max).await
            };
            let pulled = pulled.await.map_err(|e| {
                self.unbind(sub);
                e.context(format!("pulling {} for {} from NATS at {}", sub.topic, sub.component, self.url))
            })?;
            let until = Instant::now() + lease_for;
            pulled.into_iter().map(|message| Leased { message, until }).collect()
        } else {
            watched
        };

        let recorded = futures::future::join_all(messages.iter().map(|m| async {
            match m.message.info() {
                Ok(info) => self.recorded_attempt(&name, info.stream_sequence).await,
                Err(_) => 0,
            }
        }))
        .await;
        let mut deliveries = Vec::with_capacity(messages.len());
        let mut leased = self.leased.lock().expect("leases lock");
        let now = Instant::now();
        leased.retain(|_, l| l.until + FORGET_AFTER > now);
        for (message, recorded) in messages.into_iter().zip(recorded) {
            let delivery = self.delivery(sub, &message.message, recorded)?;
            leased.insert((name.clone(), delivery.seq as u64), message);
            deliveries.push(delivery);
        }
        Ok(deliveries)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        self.settle(delivery, AckKind::Ack, "acknowledging").await?;
        self.forget_attempts(delivery).await;
        Ok(())
    }

    async fn nack(&self, delivery: &Delivery, _error: &str, retry_in: Duration) -> Result<()> {
        // Recorded first: a retry must never see a lower attempt than this one.
        let key = self.attempt_subject(&delivery_consumer(delivery), delivery.seq as u64);
        let recorded = async {
            self.check_connected()?;
            let ack = self.js.publish(key, delivery.attempt.to_string().into()).await?;
            ack.await?;
            anyhow::Ok(())
        };
        recorded.await.with_context(|| {
            format!(
                "recording attempt {} of message {} for {} on NATS at {}",
                delivery.attempt, delivery.id, delivery.subscriber, self.url
            )
        })?;
        let delay = (!retry_in.is_zero()).then_some(retry_in);
        self.settle(delivery, AckKind::Nak(delay), "scheduling a retry of").await
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<()> {
        let name = delivery_consumer(delivery);
        let published_ms = {
            let leased = self.leased.lock().expect("leases lock");
            let Some(leased) = leased.get(&(name.clone(), delivery.seq as u64)) else {
                bail!("message {} for {} is not leased here", delivery.id, delivery.subscriber);
            };
            let header = leased.message.headers.as_ref().and_then(|h| h.get(PUBLISHED_MS));
            header.and_then(|v| v.as_str().parse().ok()).unwrap_or(0)
        };
        let mut record = DeadRecord {
            id: delivery.id.clone(),
            topic: delivery.topic.clone(),
            subscriber: delivery.subscriber.clone(),
            attempts: delivery.attempt,
            last_error: truncate(error, MAX_ERROR_LEN).to_string(),
            published_ms,
            payload_truncated: false,
        };
        // The copy carries a larger header than the original: cut the payload if it no longer fits.
        let msg_id = format!("{}.{name}", delivery.id);
        let headers_len = serde_json::to_string(&record)?.len() + DEAD_LETTER.len() + msg_id.len() + 64;
        let room = self.client.server_info().max_payload.saturating_sub(headers_len + 64);
        let mut payload = &delivery.payload[..];
        if payload.len() > room {
            record.payload_truncated = true;
            payload = &payload[..room];
        }
        let message = PublishMessage::build()
            .payload(payload.to_vec().into())
            .message_id(&msg_id)
            .header(DEAD_LETTER, serde_json::to_string(&record)?);
        let stored = async {
            self.check_connected()?;
            let ack = self.js.send_publish(format!("{}{name}", self.dead_prefix), message).await?;
            ack.await?;
            anyhow::Ok(())
        };
        stored.await.with_context(|| {
            format!(
                "keeping message {} for {} as a dead letter on NATS at {}",
                delivery.id, delivery.subscriber, self.url
            )
        })?;
        // Stored: end the delivery. Should this fail, the redelivery is dead-lettered again, and
        // the server drops that copy as a duplicate (same id) within its duplicate window.
        self.settle(delivery, AckKind::Term, "ending").await?;
        self.forget_attempts(delivery).await;
        Ok(())
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        self.check_connected()?;
        let state = self
            .dead
            .get_info()
            .await
            .with_context(|| format!("reading the dead letters on NATS at {}", self.url))?
            .state;
        let mut letters = Vec::new();
        let mut seq = state.last_sequence;
        while letters.len() < limit as usize && seq >= state.first_sequence.max(1) {
            match self.dead.get_raw_message(seq).await {
                Ok(message) => {
                    let record = message
                        .headers
                        .get(DEAD_LETTER)
                        .map(|v| serde_json::from_str::<DeadRecord>(v.as_str()));
                    match record {
                        Some(Ok(r)) => letters.push(DeadLetter {
                            id: r.id,
                            topic: r.topic,
                            subscriber: r.subscriber,
                            attempts: r.attempts,
                            last_error: r.last_error,
                            published_ms: r.published_ms,
                            payload: String::from_utf8_lossy(&message.payload).into_owned(),
                        }),
                        _ => {
                            tracing::debug!("dead letter {seq} has no readable {DEAD_LETTER} header; skipped")
                        }
                    }
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(anyhow!("{e}"))
                        .with_context(|| format!("reading dead letter {seq} on NATS at {}", self.url))
                }
            }
            seq -= 1;
        }
        Ok(letters)
    }

    async fn watch(&self, sub: &Subscription, timeout: Duration) {
        let started = tokio::time::Instant::now();
        let name = consumer_name(sub);
        if self.watched.lock().expect("watched lock").get(&name).is_some_and(|w| !w.is_empty()) {
            return;
        }
        let waited = async {
            self.check_connected()?;
            let bound = self.bind(sub).await?;
            // The server answers when a message is due; it ends the request at `timeout`, and the
            // client gives up a few seconds later should that answer be lost.
            let mut batch = bound
                .consumer
                .batch()
                .max_messages(1)
                .expires(timeout.max(Duration::from_millis(10)))
                .messages()
                .await
                .map_err(|e| anyhow!("{e}"))?;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| anyhow!("{e}"))?;
                let until = Instant::now() + bound.ack_wait;
                self.watched
                    .lock()
                    .expect("watched lock")
                    .entry(name.clone())
                    .or_default()
                    .push_back(Leased { message, until });
            }
            anyhow::Ok(())
        };
        let bound = timeout + REQUEST_TIMEOUT * 2;
        let failed = match tokio::time::timeout(bound, waited).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => anyhow!("no answer within {bound:?}"),
        };
        tracing::debug!(
            "queue: watching {} for {} on NATS at {}: {failed:#}",
            sub.topic,
            sub.component,
            self.url
        );
        self.unbind(sub);
        // Failing fast would make the caller spin: wait out the timeout instead.
        tokio::time::sleep_until(started + timeout).await;
    }
}

/// The stream settings the runtime config gives; `None` leaves an existing stream's as it is.
#[derive(Clone, Copy)]
struct Settings {
    replicas: Option<usize>,
    max_age: Option<Duration>,
}

/// Create the stream `config` describes, or apply `settings` to an existing one. One that exists
/// with other subjects or another retention is someone else's: refused.
async fn ensure_stream(
    js: &jetstream::Context,
    url: &str,
    config: stream::Config,
    settings: Settings,
) -> Result<stream::Stream> {
    let name = config.name.clone();
    let context = || format!("setting up stream {name} on NATS at {url}");
    let existing = match js.get_stream(&name).await {
        Ok(stream) => Some(stream),
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(err) if err.code() == 404 => None,
            _ => return Err(anyhow!("{}", explain(&e.to_string()))).with_context(context),
        },
    };
    let stream = match existing {
        Some(stream) => stream,
        None => match js.create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            // Another replica created it meanwhile: use that one.
            Err(e) => js
                .get_stream(&name)
                .await
                .map_err(|_| anyhow!("{}", explain(&e.to_string())))
                .with_context(context)?,
        },
    };
    check_stream(js, stream, &config, settings).await.with_context(context)
}

async fn check_stream(
    js: &jetstream::Context,
    stream: stream::Stream,
    wanted: &stream::Config,
    settings: Settings,
) -> Result<stream::Stream> {
    let found = stream.cached_info().config.clone();
    if found.subjects != wanted.subjects || found.retention != wanted.retention {
        bail!(
            "the stream exists with subjects {:?} and {:?} retention, not {:?} and {:?}: it is not this \
             queue's stream (name another with `stream`, or delete it)",
            found.subjects,
            found.retention,
            wanted.subjects,
            wanted.retention
        );
    }
    let replicas = settings.replicas.unwrap_or(found.num_replicas);
    let max_age = settings.max_age.unwrap_or(found.max_age);
    if replicas == found.num_replicas && max_age == found.max_age {
        return Ok(stream);
    }
    let updated = stream::Config { num_replicas: replicas, max_age, ..found };
    js.update_stream(updated).await.map_err(|e| anyhow!("updating its settings: {e}"))?;
    Ok(js.get_stream(&wanted.name).await?)
}

/// A server error made actionable.
fn explain(error: &str) -> String {
    if error.contains("no responders") {
        format!("{error} (is JetStream enabled? start nats-server with -js)")
    } else {
        error.to_string()
    }
}

fn is_not_found(e: &stream::RawMessageError) -> bool {
    match e.kind() {
        stream::RawMessageErrorKind::NoMessageFound => true,
        stream::RawMessageErrorKind::JetStream(err) => err.code() == 404,
        _ => false,
    }
}

/// The subject of `topic`: `prefix` + the topic. Its dots separate subject tokens, so a topic
/// with an empty token (`a..b`, `a.`), a wildcard or whitespace is refused.
fn subject_of(prefix: &str, topic: &str) -> Result<String> {
    let valid = !topic.is_empty()
        && topic.split('.').all(|token| {
            !token.is_empty()
                && !token.contains(|c: char| c == '*' || c == '>' || c.is_whitespace() || c.is_control())
        });
    if !valid {
        bail!(
            "topic {topic:?} cannot be a NATS subject: it needs non-empty dot-separated parts without \
             '*', '>' or whitespace"
        );
    }
    Ok(format!("{prefix}{topic}"))
}

/// The durable consumer of `sub`: readable (component `__` topic, other characters as `_`) and
/// unique (a hash of both, so `a.b`/`c` and `a`/`b.c` differ).
fn consumer_name(sub: &Subscription) -> String {
    let clean = |s: &str| -> String {
        s.chars().take(48).map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
    };
    // FNV-1a: stable across builds and processes, which every replica needs.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sub.component.bytes().chain([0]).chain(sub.topic.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}__{}_{hash:016x}", clean(&sub.component), clean(&sub.topic))
}

/// The consumer `delivery` came from.
fn delivery_consumer(delivery: &Delivery) -> String {
    consumer_name(&Subscription {
        topic: delivery.topic.clone(),
        component: delivery.subscriber.clone(),
        max_attempts: 0,
    })
}

/// Stream names: letters, digits, `-` and `_` (they also start the subjects).
fn check_stream_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        bail!("[queue] stream {name:?}: up to 64 letters, digits, '-' and '_'");
    }
    Ok(())
}

/// `"7d"`, `"24h"`, `"1h30m"`, `"90s"`, `"500ms"`.
fn parse_duration(text: &str) -> Result<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        bail!("empty duration");
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| anyhow!("expected a number like \"7d\""))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => {
                total += Duration::from_millis(number);
                rest = rest[unit_len..].trim_start();
                continue;
            }
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            unit => bail!("unknown unit {unit:?} (ms, s, m, h, d, w)"),
        };
        total += Duration::from_secs(number.saturating_mul(seconds));
        rest = rest[unit_len..].trim_start();
    }
    Ok(total)
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `url` (or a comma-separated list) with passwords and tokens hidden, for messages.
fn redact(url: &str) -> String {
    riff_core::redact::url(url, riff_core::redact::BareUser::IsToken)
}

/// `[queue] type = "nats"`: `url` (several separated by commas), `stream` (default `"RIFF"`),
/// `replicas` (of both streams, default 1), `max_age` (e.g. `"7d"`; default: kept until every
/// subscription has settled it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsQueueConfig {
    pub url: String,
    pub stream: Option<String>,
    pub replicas: Option<usize>,
    pub max_age: Option<String>,
}

/// Shows the URL redacted: it may hold a password.
impl std::fmt::Debug for NatsQueueConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsQueueConfig")
            .field("url", &redact(&self.url))
            .field("stream", &self.stream)
            .field("replicas", &self.replicas)
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// Makes [`NatsQueue`]s: one queue shared by every replica that names the same server and stream.
pub struct MakeNatsQueue;

#[async_trait]
impl MakeQueue for MakeNatsQueue {
    const TYPES: &'static [&'static str] = &["nats"];
    type Config = NatsQueueConfig;

    async fn make_queue(
        &self,
        config: NatsQueueConfig,
        _context: &QueueContext,
    ) -> Result<Arc<dyn QueueBackend>> {
        Ok(Arc::new(NatsQueue::connect(&config).await?))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use riff_core::servers;

    use super::*;

    /// The test server's URL; `None`, with the skip recorded, when there is none.
    fn server(test: &str) -> Option<String> {
        let url = servers::server_url(servers::NATS);
        if url.is_none() {
            servers::skip(test, "no NATS server on 127.0.0.1:4222 (set RIFF_TEST_NATS_URL)");
        }
        url
    }

    fn config(url: &str, stream: &str) -> NatsQueueConfig {
        NatsQueueConfig { url: url.into(), stream: Some(stream.into()), replicas: None, max_age: None }
    }

    /// A stream no other test uses.
    fn test_stream() -> String {
        servers::unique_name("qtest").to_uppercase()
    }

    fn sub(topic: &str, component: &str) -> Subscription {
        Subscription { topic: topic.into(), component: component.into(), max_attempts: 3 }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        let Some(url) = server("riff-messaging nats conformance") else { return };
        let queue = NatsQueue::connect(&config(&url, &test_stream())).await.unwrap();
        crate::conformance::check(&queue).await;
        queue.delete_streams().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_share_the_work_each_message_once() {
        let Some(url) = server("riff-messaging nats replicas") else { return };
        let stream = test_stream();
        let replicas = [
            Arc::new(NatsQueue::connect(&config(&url, &stream)).await.unwrap()),
            Arc::new(NatsQueue::connect(&config(&url, &stream)).await.unwrap()),
        ];
        let work = sub("jobs", "worker");
        for replica in &replicas {
            replica.subscribe(std::slice::from_ref(&work)).await.unwrap();
        }
        let mut published = HashSet::new();
        for n in 0..50u8 {
            published.insert(replicas[n as usize % 2].publish("jobs", &[n]).await.unwrap());
        }

        let done = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = replicas
            .iter()
            .map(|queue| {
                let (queue, done, work) = (queue.clone(), done.clone(), work.clone());
                tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let mut handled = Vec::new();
                    while done.load(Ordering::SeqCst) < 50 && Instant::now() < deadline {
                        let leased = queue.lease(&work, 1, Duration::from_secs(60)).await.unwrap();
                        if leased.is_empty() {
                            queue.watch(&work, Duration::from_millis(200)).await;
                        }
                        for delivery in leased {
                            assert_eq!(delivery.attempt, 1, "nothing is redelivered");
                            queue.ack(&delivery).await.unwrap();
                            handled.push(delivery.id);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    handled
                })
            })
            .collect();
        let mut handled = Vec::new();
        for task in tasks {
            let by_one = task.await.unwrap();
            eprintln!("one replica handled {}", by_one.len());
            handled.extend(by_one);
        }
        assert_eq!(handled.len(), 50, "50 messages, 50 deliveries across both replicas");
        assert_eq!(handled.into_iter().collect::<HashSet<_>>(), published, "each message handled once");
        for replica in &replicas {
            assert!(replica.lease(&work, 10, Duration::from_secs(60)).await.unwrap().is_empty());
        }
        // Interest retention: what every consumer acknowledged is gone.
        let state = replicas[0].messages.get_info().await.unwrap().state;
        assert_eq!(state.messages, 0, "acknowledged messages are removed from the stream");
        replicas[0].delete_streams().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unsettled_lease_passes_to_another_replica() {
        let Some(url) = server("riff-messaging nats lease expiry") else { return };
        let stream = test_stream();
        let first = NatsQueue::connect(&config(&url, &stream)).await.unwrap();
        let second = NatsQueue::connect(&config(&url, &stream)).await.unwrap();
        let work = sub("jobs", "worker");
        first.subscribe(std::slice::from_ref(&work)).await.unwrap();
        second.subscribe(std::slice::from_ref(&work)).await.unwrap();
        let id = first.publish("jobs", b"crash").await.unwrap();

        let lease = Duration::from_secs(1);
        let leased = first.lease(&work, 1, lease).await.unwrap();
        assert_eq!((leased.len(), leased[0].attempt), (1, 1));
        let started = Instant::now();
        // The first replica "crashes": it never settles the delivery.
        assert!(second.lease(&work, 1, lease).await.unwrap().is_empty(), "leased by the first replica");
        let mut again = Vec::new();
        while again.is_empty() && started.elapsed() < Duration::from_secs(15) {
            second.watch(&work, Duration::from_secs(2)).await;
            again = second.lease(&work, 1, lease).await.unwrap();
        }
        assert_eq!(again.len(), 1, "delivered again once the lease passed");
        assert_eq!((again[0].id.as_str(), again[0].attempt), (id.as_str(), 2));
        assert!(started.elapsed() >= Duration::from_millis(900), "not before the lease passed");
        second.ack(&again[0]).await.unwrap();
        first.delete_streams().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_go_to_any_replica_until_a_dead_letter() {
        let Some(url) = server("riff-messaging nats retries") else { return };
        let stream = test_stream();
        let replicas = [
            NatsQueue::connect(&config(&url, &stream)).await.unwrap(),
            NatsQueue::connect(&config(&url, &stream)).await.unwrap(),
        ];
        let work = sub("jobs", "worker");
        for replica in &replicas {
            replica.subscribe(std::slice::from_ref(&work)).await.unwrap();
        }
        let id = replicas[0].publish("jobs", b"poison").await.unwrap();
        // The dispatcher's loop, failing every time, on whichever replica gets the delivery.
        let lease = Duration::from_secs(30);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut attempts = Vec::new();
        'delivering: while Instant::now() < deadline {
            for (n, queue) in replicas.iter().enumerate() {
                let Some(delivery) = queue.lease(&work, 1, lease).await.unwrap().pop() else {
                    queue.watch(&work, Duration::from_millis(100)).await;
                    continue;
                };
                assert_eq!(delivery.id, id);
                attempts.push((n, delivery.attempt));
                if delivery.attempt >= work.max_attempts {
                    queue.dead_letter(&delivery, "still failing").await.unwrap();
                    break 'delivering;
                }
                queue.nack(&delivery, "failing", Duration::from_millis(200)).await.unwrap();
            }
        }
        assert_eq!(attempts.iter().map(|a| a.1).collect::<Vec<_>>(), [1, 2, 3], "{attempts:?}");
        for queue in &replicas {
            let dead = queue.dead_letters(10).await.unwrap();
            assert_eq!(dead.len(), 1, "every replica lists the dead letter");
            assert_eq!((dead[0].attempts, dead[0].last_error.as_str()), (3, "still failing"));
            assert!(dead[0].published_ms > 0);
            assert!(queue.lease(&work, 1, lease).await.unwrap().is_empty(), "never delivered again");
        }
        replicas[0].delete_streams().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_survive_reopening() {
        let Some(url) = server("riff-messaging nats durability") else { return };
        let stream = test_stream();
        let work = sub("jobs", "worker");
        {
            let aged = NatsQueueConfig { max_age: Some("1h".into()), ..config(&url, &stream) };
            let queue = NatsQueue::connect(&aged).await.unwrap();
            queue.subscribe(std::slice::from_ref(&work)).await.unwrap();
            queue.publish("jobs", b"kept").await.unwrap();
        }
        let queue = NatsQueue::connect(&config(&url, &stream)).await.unwrap();
        let max_age = queue.messages.get_info().await.unwrap().config.max_age;
        assert_eq!(max_age, Duration::from_secs(3600), "a setting left out leaves the stream's as it is");
        queue.subscribe(std::slice::from_ref(&work)).await.unwrap();
        let leased = queue.lease(&work, 10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(leased.len(), 1, "stored on the server, not in the process");
        assert_eq!((leased[0].payload.as_slice(), leased[0].attempt), (&b"kept"[..], 1));
        queue.ack(&leased[0]).await.unwrap();
        queue.delete_streams().await;

        // A stream of the same name that is not a queue's is refused, not taken over.
        let foreign = test_stream();
        let subjects = vec![format!("{foreign}.other.>")];
        let config_of = stream::Config { name: foreign.clone(), subjects, ..Default::default() };
        queue.js.create_stream(config_of).await.unwrap();
        let refused = NatsQueue::connect(&config(&url, &foreign)).await.err().unwrap();
        assert!(format!("{refused:#}").contains("not this queue's stream"), "{refused:#}");
        queue.js.delete_stream(&foreign).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_letters_keep_large_payloads_and_long_errors() {
        let Some(url) = server("riff-messaging nats dead letters") else { return };
        let queue = NatsQueue::connect(&config(&url, &test_stream())).await.unwrap();
        let work = sub("jobs", "worker");
        queue.subscribe(std::slice::from_ref(&work)).await.unwrap();
        let max = queue.client.server_info().max_payload;
        let big = vec![b'x'; max - 200];
        queue.publish("jobs", &big).await.unwrap();
        let leased = queue.lease(&work, 1, Duration::from_secs(60)).await.unwrap().remove(0);
        let error = "line one\nline two: é\r\n".repeat(1000);
        queue.dead_letter(&leased, &error).await.unwrap();
        let dead = queue.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert!(dead[0].last_error.starts_with("line one\nline two: é"), "newlines survive the header");
        assert!(dead[0].last_error.len() <= MAX_ERROR_LEN);
        assert!(dead[0].payload.len() < big.len() && dead[0].payload.len() > max / 2, "cut to fit");
        assert!(queue.publish("jobs", &vec![0; max + 1]).await.unwrap_err().to_string().contains("jobs"));
        queue.delete_streams().await;
    }

    #[tokio::test]
    async fn a_wrong_url_fails_fast_naming_it_without_the_password() {
        let context = QueueContext { default_path: PathBuf::new(), config_dir: PathBuf::new() };
        let make = |url: String| {
            let context = context.clone();
            async move {
                let started = Instant::now();
                match MakeNatsQueue.make_queue(config(&url, "RIFF"), &context).await {
                    Ok(_) => panic!("a queue from a wrong URL"),
                    Err(e) => (format!("{e:#}"), started.elapsed()),
                }
            }
        };
        let (closed, _) = make("nats://user:secret@127.0.0.1:1".into()).await;
        assert!(closed.contains("connecting to NATS at nats://user:***@127.0.0.1:1"), "{closed}");
        assert!(!closed.contains("secret"), "{closed}");

        // Something that accepts connections and never answers: bounded by the connect timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let (mute, took) = make(format!("nats://127.0.0.1:{port}")).await;
        assert!(mute.contains(&format!("connecting to NATS at nats://127.0.0.1:{port}")), "{mute}");
        assert!(took < CONNECT_TIMEOUT * 3, "gave up after {took:?}");
        held.abort();

        let (not_nats, _) = make("http://[::1".into()).await;
        assert!(not_nats.contains("is not a NATS URL"), "{not_nats}");
        let bad_stream = NatsQueueConfig { stream: Some("a.b".into()), ..config("nats://127.0.0.1:1", "") };
        let err = NatsQueue::connect(&bad_stream).await.err().unwrap().to_string();
        assert!(err.contains("stream \"a.b\""), "{err}");
        let config = config("nats://:secret@host", "RIFF");
        assert!(!format!("{config:?}").contains("secret"), "Debug hides the password");
    }

    /// A NATS server of this test's own, on a free port with its own store, killed on drop.
    struct PrivateServer {
        child: std::process::Child,
        port: u16,
    }

    impl PrivateServer {
        fn start(binary: &str, store: &std::path::Path, port: u16) -> Self {
            let child = std::process::Command::new(binary)
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(store)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "nats-server did not start on {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Self { child, port }
        }

        fn stop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for PrivateServer {
        fn drop(&mut self) {
            self.stop();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fails_fast_while_the_server_is_away_and_recovers() {
        let binary = "/usr/sbin/nats-server";
        if !std::path::Path::new(binary).exists() {
            servers::skip("riff-messaging nats outage", "no /usr/sbin/nats-server to start and stop");
            return;
        }
        let store = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = PrivateServer::start(binary, store.path(), port);
        let url = format!("nats://127.0.0.1:{}", server.port);
        let queue = NatsQueue::connect(&config(&url, "OUTAGE")).await.unwrap();
        let work = sub("jobs", "worker");
        queue.subscribe(std::slice::from_ref(&work)).await.unwrap();
        queue.publish("jobs", b"before").await.unwrap();

        server.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(queue.client.connection_state(), State::Connected) {
            assert!(Instant::now() < deadline, "the client did not notice the server stopped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = Instant::now();
        let e = queue.lease(&work, 1, Duration::from_secs(60)).await.unwrap_err().to_string();
        assert!(e.contains("not connected to NATS"), "{e}");
        assert!(queue.publish("jobs", b"lost").await.is_err(), "a publish fails rather than hangs");
        assert!(queue.subscribe(std::slice::from_ref(&work)).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(1), "errors come at once: {:?}", started.elapsed());
        let started = Instant::now();
        queue.watch(&work, Duration::from_millis(500)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(2), "{waited:?}");

        // Back, with the same store: the client reconnects, and the message was kept.
        let _server = PrivateServer::start(binary, store.path(), port);
        let deadline = Instant::now() + Duration::from_secs(30);
        let leased = loop {
            match queue.lease(&work, 1, Duration::from_secs(60)).await {
                Ok(leased) if !leased.is_empty() => break leased,
                _ => assert!(Instant::now() < deadline, "no delivery after the server came back"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(leased[0].payload, b"before");
        queue.ack(&leased[0]).await.unwrap();
        queue.publish("jobs", b"after").await.unwrap();
    }

    #[test]
    fn topics_become_subjects_or_are_refused() {
        assert_eq!(subject_of("RIFF.topic.", "orders").unwrap(), "RIFF.topic.orders");
        assert_eq!(subject_of("RIFF.topic.", "orders.eu-1").unwrap(), "RIFF.topic.orders.eu-1");
        for bad in ["", "a..b", "a.", ".a", "a*", "a>", "a b", "a\tb"] {
            let e = subject_of("RIFF.topic.", bad).unwrap_err().to_string();
            assert!(e.contains("cannot be a NATS subject"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn consumer_names_are_valid_stable_and_distinct() {
        let name = consumer_name(&sub("orders.created", "billing"));
        assert!(name.starts_with("billing__orders_created_"), "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{name}");
        assert_eq!(name, consumer_name(&sub("orders.created", "billing")), "every replica derives the same");
        assert_ne!(
            consumer_name(&sub("a.b", "c")),
            consumer_name(&sub("a_b", "c")),
            "sanitising does not merge"
        );
        assert_ne!(consumer_name(&sub("b", "a")), consumer_name(&sub("", "a\0b")));
    }

    #[test]
    fn durations_and_redaction() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "7", "d", "7 parsecs", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact("nats://u:p@a:1,nats://tok@b:2"), "nats://u:***@a:1,nats://***@b:2");
        assert_eq!(truncate("é", 1), "");
    }
}
