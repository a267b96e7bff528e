//! # riff-outbound-mqtt
//!
//! Spin's outbound MQTT interface, `fermyon:spin/mqtt@2.0.0`: a guest opens a `connection` to a
//! broker — `open(address, username, password, keep-alive-interval-in-secs)`, the address a URL
//! with a `client_id` (`mqtt://broker:1883?client_id=orders`, `mqtts://` for TLS) — and
//! publishes on it with a QoS, through the [`rumqttc`] client.
//!
//! ## The grant
//!
//! A component reaches only the brokers its `allowed_outbound_hosts` names with an `mqtt://` or
//! `mqtts://` entry (or `*://`): `mqtt://broker` allows port 1883 of `broker`. It is checked on
//! `open`, as Spin checks it ([`AllowList::allows_url`]: scheme, host and port of the address);
//! a denied address is `error::connection-failed("address … is not permitted")`, Spin's answer,
//! never a trap.
//!
//! ## Connections and delivery
//!
//! As in Spin, `open` only reads the address (one without a `client_id` is
//! `error::invalid-address`); the broker is reached at the first `publish`, and a failure to
//! reach it is `error::connection-failed`. `publish` returns once the message is as delivered as
//! its QoS promises: written to the broker (at-most-once), acknowledged (`PUBACK`, at-least-once)
//! or completed (`PUBCOMP`, exactly-once). A connection that failed is started afresh, with no
//! message of the failed attempt left queued to be sent twice.
//!
//! One instance keeps one client per address, credentials and keep-alive ([`MqttState`]), so
//! opening the same broker again in a request, or in the next request of a warm instance,
//! reuses the connection instead of logging in under the same `client_id` again (a broker
//! disconnects the older of two clients with one id). Two instances using one `client_id` at
//! the same time still displace each other, as they do in Spin: give each its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use riff_core::redact::{self, BareUser};
pub use riff_manifest::allow_list::AllowList;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Host bindings for `fermyon:spin/mqtt@2.0.0` (WIT vendored in `wit/deps`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/spin@2.0.0",
        inline: "
            package riff:mqtt-host;
            world mqtt {
                import fermyon:spin/mqtt@2.0.0;
            }
        ",
        world: "riff:mqtt-host/mqtt",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/mqtt.connection": super::Connection,
        },
    });
}

use bindings::fermyon::spin::mqtt as v2;
pub use v2::{Error, Qos};

/// Requests the client queues before `publish` waits (one is in flight at a time here).
const CHANNEL_CAPACITY: usize = 16;

/// The resource behind the guest's `connection`.
pub struct Connection {
    client: Arc<Client>,
}

/// One broker session: the options it was opened with, and the client and its event loop,
/// polled only while a `publish` waits for its acknowledgement.
pub struct Client {
    options: MqttOptions,
    session: tokio::sync::Mutex<(AsyncClient, EventLoop)>,
}

impl Client {
    fn new(options: MqttOptions) -> Self {
        let session = AsyncClient::new(options.clone(), CHANNEL_CAPACITY);
        Self { options, session: tokio::sync::Mutex::new(session) }
    }

    /// Publish and wait until the broker has it as `qos` promises. On failure the session is
    /// replaced, so the failed message is not sent later behind the guest's back.
    async fn publish(&self, topic: String, payload: Vec<u8>, qos: QoS) -> Result<(), Error> {
        let mut session = self.session.lock().await;
        let (client, events) = &mut *session;
        let outcome = async {
            client
                .publish_bytes(topic, qos, false, bytes::Bytes::from(payload))
                .await
                .map_err(|e| Error::Other(e.to_string()))?;
            loop {
                let event = events.poll().await.map_err(|e| Error::ConnectionFailed(e.to_string()))?;
                let done = matches!(
                    (qos, event),
                    (QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                        | (QoS::AtLeastOnce, Event::Incoming(Incoming::PubAck(_)))
                        | (QoS::ExactlyOnce, Event::Incoming(Incoming::PubComp(_)))
                );
                if done {
                    return Ok(());
                }
            }
        }
        .await;
        if outcome.is_err() {
            *session = AsyncClient::new(self.options.clone(), CHANNEL_CAPACITY);
        }
        outcome
    }
}

/// What one instance has opened: a client per address, user, password and keep-alive.
#[derive(Default)]
pub struct MqttState {
    clients: HashMap<(String, String, String, u64), Arc<Client>>,
}

/// What a store's data lends this capability for one call.
pub struct MqttCtxView<'a> {
    /// The component's `allowed_outbound_hosts`.
    pub allow: &'a AllowList,
    pub state: &'a mut MqttState,
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to give the MQTT host its view.
pub trait MqttView: Send {
    fn mqtt(&mut self) -> MqttCtxView<'_>;
}

struct HasMqtt;

impl HasData for HasMqtt {
    type Data<'a> = MqttCtxView<'a>;
}

/// Add `fermyon:spin/mqtt@2.0.0` to `linker`.
pub fn add_to_linker<T: MqttView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    v2::add_to_linker::<T, HasMqtt>(linker, T::mqtt)?;
    Ok(())
}

/// `address` with any password in it hidden, for logs and messages.
fn shown(address: &str) -> String {
    redact::url(address, BareUser::IsName)
}

/// The client options for `address`, as Spin reads them: `None` when it is not an MQTT URL with
/// a `client_id`.
fn options(address: &str, username: String, password: String, keep_alive_secs: u64) -> Option<MqttOptions> {
    let mut options = MqttOptions::parse_url(address).ok()?;
    if !username.is_empty() || !password.is_empty() {
        options.set_credentials(username, password);
    }
    // The protocol carries whole seconds up to u16::MAX; 0 turns keep-alive off.
    options.set_keep_alive(Duration::from_secs(keep_alive_secs.min(u64::from(u16::MAX))));
    Some(options)
}

impl v2::Host for MqttCtxView<'_> {}

impl v2::HostConnection for MqttCtxView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.allow.allows_url(&address, "mqtt") {
            let shown = shown(&address);
            tracing::warn!("outbound mqtt to {shown} denied: not in allowed_outbound_hosts");
            return Ok(Err(Error::ConnectionFailed(format!("address {shown} is not permitted"))));
        }
        let key = (address, username, password, keep_alive_interval_in_secs);
        let client = match self.state.clients.get(&key) {
            Some(client) => client.clone(),
            None => {
                let (address, username, password, keep_alive) = key.clone();
                let Some(options) = options(&address, username, password, keep_alive) else {
                    return Ok(Err(Error::InvalidAddress));
                };
                let client = Arc::new(Client::new(options));
                self.state.clients.insert(key, client.clone());
                client
            }
        };
        Ok(Ok(self.table.push(Connection { client })?))
    }

    async fn publish(
        &mut self,
        handle: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let client = self.table.get(&handle)?.client.clone();
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        Ok(client.publish(topic, payload, qos).await)
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The grant and the address, with no broker: a denied address never connects.
    use super::*;

    struct Data {
        allow: AllowList,
        state: MqttState,
        table: ResourceTable,
    }

    impl MqttView for Data {
        fn mqtt(&mut self) -> MqttCtxView<'_> {
            MqttCtxView { allow: &self.allow, state: &mut self.state, table: &mut self.table }
        }
    }

    fn data(entries: &[&str]) -> Data {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        Data {
            allow: AllowList::parse(&entries).unwrap(),
            state: MqttState::default(),
            table: ResourceTable::new(),
        }
    }

    async fn open(data: &mut Data, address: &str) -> Result<Resource<Connection>, Error> {
        let mut view = data.mqtt();
        v2::HostConnection::open(&mut view, address.into(), "u".into(), "hunter2".into(), 30).await.unwrap()
    }

    #[tokio::test]
    async fn denied_addresses_fail_as_spin_fails_them() {
        let mut data = data(&["mqtt://broker"]);
        for address in
            ["mqtt://other?client_id=a", "mqtt://broker:1884?client_id=a", "mqtts://broker?client_id=a"]
        {
            match open(&mut data, address).await {
                Err(Error::ConnectionFailed(m)) => {
                    assert_eq!(m, format!("address {address} is not permitted"))
                }
                other => panic!("{address}: expected connection-failed, got {:?}", other.map(|_| ())),
            }
        }
    }

    #[tokio::test]
    async fn a_granted_address_needs_a_client_id_and_is_reused() {
        let mut data = data(&["mqtt://broker"]);
        assert!(matches!(open(&mut data, "mqtt://broker").await, Err(Error::InvalidAddress)));
        let a = open(&mut data, "mqtt://broker?client_id=a").await.unwrap();
        let b = open(&mut data, "mqtt://broker?client_id=a").await.unwrap();
        let (a, b) = (data.table.get(&a).unwrap().client.clone(), data.table.get(&b).unwrap().client.clone());
        assert!(Arc::ptr_eq(&a, &b), "one client per address and credentials");
        assert_eq!(data.state.clients.len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_broker_fails_the_publish_not_the_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut data = data(&["mqtt://127.0.0.1:*"]);
        let conn = open(&mut data, &format!("mqtt://127.0.0.1:{port}?client_id=t")).await.unwrap();
        let published =
            v2::HostConnection::publish(&mut data.mqtt(), conn, "t".into(), b"x".to_vec(), Qos::AtLeastOnce)
                .await
                .unwrap();
        assert!(matches!(published, Err(Error::ConnectionFailed(_))), "{published:?}");
    }
}
