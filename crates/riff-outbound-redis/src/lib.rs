//! # riff-outbound-redis
//!
//! Spin's outbound Redis interface, `fermyon:spin/redis@2.0.0`: a guest opens a `connection` to a
//! Redis server by address (`redis://host:port/db`, `rediss://` for TLS) and runs commands on it
//! (`get`, `set`, `incr`, `del`, `sadd`, `srem`, `smembers`, `publish`, and any command through
//! `execute`), with the [`redis`] crate underneath.
//!
//! ## The grant
//!
//! A component reaches only the servers its `allowed_outbound_hosts` names with a `redis://` or
//! `rediss://` entry (or `*://`): `redis://cache` allows port 6379 of `cache`,
//! `redis://10.0.0.0/8:*` any port in a range. It is checked on `open`, as Spin checks it
//! ([`AllowList::allows_url`]): by the address's scheme, host and port, before any connection is
//! made. A denied address is `error::invalid-address` — what Spin returns — never a trap, so the
//! component can answer its caller. Nothing is granted by default.
//!
//! ## Connections
//!
//! Spin opens a new connection for every `open`. Here one instance keeps one connection per
//! address ([`RedisState`]): opening the same address again (in the same request, or in the
//! next one a warm instance serves) reuses it, and a connection that failed is dropped from the
//! cache so the next `open` connects afresh. Connections are never shared between instances:
//! `execute` can change a connection's state (`SELECT`, `CLIENT SETNAME`, `MULTI`), which must
//! not leak into another component's commands.
//!
//! ## Errors
//!
//! Server and I/O failures are `error::other` with the client's message (addresses in it have
//! their passwords hidden). A value of the wrong type — `WRONGTYPE`, or `incr` on a value that
//! is not an integer — is `error::type-error`, as the WIT documents it.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use riff_core::redact::{self, BareUser};
pub use riff_manifest::allow_list::AllowList;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Host bindings for `fermyon:spin/redis@2.0.0` (WIT vendored in `wit/deps`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/spin@2.0.0",
        inline: "
            package riff:redis-host;
            world redis {
                import fermyon:spin/redis@2.0.0;
            }
        ",
        world: "riff:redis-host/redis",
        imports: { default: async | trappable },
        additional_derives: [PartialEq],
        with: {
            "fermyon:spin/redis.connection": super::Connection,
        },
    });
}

use bindings::fermyon::spin::redis as v2;
pub use v2::{Error, RedisParameter, RedisResult};

/// How long connecting to a server may take before `open` gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection, the resource behind the guest's `connection`.
pub struct Connection {
    address: String,
    conn: MultiplexedConnection,
}

/// One instance's connections, by address: kept for the instance's life (see the module docs).
#[derive(Default)]
pub struct RedisState {
    connections: HashMap<String, MultiplexedConnection>,
}

/// What a store's data lends this capability for one call.
pub struct RedisCtxView<'a> {
    /// The component's `allowed_outbound_hosts`.
    pub allow: &'a AllowList,
    pub state: &'a mut RedisState,
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to give the Redis host its view.
pub trait RedisView: Send {
    fn redis(&mut self) -> RedisCtxView<'_>;
}

struct HasRedis;

impl HasData for HasRedis {
    type Data<'a> = RedisCtxView<'a>;
}

/// Add `fermyon:spin/redis@2.0.0` to `linker`.
pub fn add_to_linker<T: RedisView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    v2::add_to_linker::<T, HasRedis>(linker, T::redis)?;
    Ok(())
}

/// `address` with its password hidden, for logs and messages.
fn shown(address: &str) -> String {
    redact::url(address, BareUser::IsName)
}

fn other(e: redis::RedisError) -> Error {
    Error::Other(e.to_string())
}

/// A failed command's error for the guest: a wrong type is `type-error`, anything else `other`.
fn command_error(e: redis::RedisError) -> Error {
    let wrong_type = e.code() == Some("WRONGTYPE")
        || matches!(e.kind(), redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse)
        || e.detail().is_some_and(|d| d.contains("not an integer"));
    if wrong_type {
        Error::TypeError
    } else {
        other(e)
    }
}

impl RedisCtxView<'_> {
    async fn connect(&mut self, address: &str) -> Result<MultiplexedConnection, Error> {
        if let Some(conn) = self.state.connections.get(address) {
            return Ok(conn.clone());
        }
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let config = AsyncConnectionConfig::new().set_connection_timeout(Some(CONNECT_TIMEOUT));
        let conn = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| {
            tracing::info!("outbound redis: connecting to {}: {e}", shown(address));
            Error::Other(format!("connecting to {}: {e}", shown(address)))
        })?;
        self.state.connections.insert(address.to_string(), conn.clone());
        Ok(conn)
    }

    /// Run `cmd` on `handle`'s connection; a broken connection leaves the cache.
    async fn run(
        &mut self,
        handle: &Resource<Connection>,
        cmd: &redis::Cmd,
    ) -> wasmtime::Result<Result<Value, redis::RedisError>> {
        let connection = self.table.get(handle)?;
        let mut conn = connection.conn.clone();
        let address = connection.address.clone();
        let result = cmd.query_async::<Value>(&mut conn).await;
        if let Err(e) = &result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                self.state.connections.remove(&address);
            }
        }
        Ok(result)
    }

    /// Run `cmd` and read its reply as `T`.
    async fn query<T: redis::FromRedisValue>(
        &mut self,
        handle: &Resource<Connection>,
        cmd: redis::Cmd,
    ) -> wasmtime::Result<Result<T, Error>> {
        Ok(match self.run(handle, &cmd).await? {
            Ok(value) => redis::from_redis_value(value).map_err(|e| command_error(e.into())),
            Err(e) => Err(command_error(e)),
        })
    }
}

impl v2::Host for RedisCtxView<'_> {}

impl v2::HostConnection for RedisCtxView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.allow.allows_url(&address, "redis") {
            tracing::warn!("outbound redis to {} denied: not in allowed_outbound_hosts", shown(&address));
            return Ok(Err(Error::InvalidAddress));
        }
        let conn = match self.connect(&address).await {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.table.push(Connection { address, conn })?))
    }

    async fn publish(
        &mut self,
        handle: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        Ok(self.query::<i64>(&handle, cmd).await?.map(|_receivers| ()))
    }

    async fn get(
        &mut self,
        handle: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.query(&handle, cmd).await
    }

    async fn set(
        &mut self,
        handle: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        self.query(&handle, cmd).await
    }

    async fn incr(
        &mut self,
        handle: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let mut cmd = redis::cmd("INCR");
        cmd.arg(key);
        self.query(&handle, cmd).await
    }

    async fn del(
        &mut self,
        handle: Resource<Connection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        if keys.is_empty() {
            return Ok(Ok(0)); // DEL with no key is a server error; deleting nothing deletes nothing
        }
        let mut cmd = redis::cmd("DEL");
        cmd.arg(keys);
        self.query(&handle, cmd).await
    }

    async fn sadd(
        &mut self,
        handle: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        if values.is_empty() {
            return Ok(Ok(0));
        }
        let mut cmd = redis::cmd("SADD");
        cmd.arg(key).arg(values);
        self.query(&handle, cmd).await
    }

    async fn smembers(
        &mut self,
        handle: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(key);
        self.query(&handle, cmd).await
    }

    async fn srem(
        &mut self,
        handle: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        if values.is_empty() {
            return Ok(Ok(0));
        }
        let mut cmd = redis::cmd("SREM");
        cmd.arg(key).arg(values);
        self.query(&handle, cmd).await
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(n) => cmd.arg(n),
                RedisParameter::Binary(bytes) => cmd.arg(bytes),
            };
        }
        Ok(match self.run(&handle, &cmd).await? {
            Ok(value) => {
                let mut results = Vec::new();
                flatten(value, &mut results).map(|()| results)
            }
            Err(e) => Err(command_error(e)),
        })
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

/// A reply as the flat list `execute` returns: arrays and sets spread out, in order; status
/// replies as `status`, integers and booleans as `int64`, strings and numbers as text in
/// `binary`. Maps, pushes and server errors inside a reply have no place in the list: an error.
fn flatten(value: Value, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(n) => out.push(RedisResult::Int64(n)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(status) => out.push(RedisResult::Status(status)),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::ServerError(e) => return Err(Error::Other(format!("{e:?}"))),
        other => return Err(Error::Other(format!("a reply execute cannot return: {other:?}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The grant and the replies, with no server: a denied address never connects.
    use super::*;

    struct Data {
        allow: AllowList,
        state: RedisState,
        table: ResourceTable,
    }

    impl RedisView for Data {
        fn redis(&mut self) -> RedisCtxView<'_> {
            RedisCtxView { allow: &self.allow, state: &mut self.state, table: &mut self.table }
        }
    }

    fn data(entries: &[&str]) -> Data {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        Data {
            allow: AllowList::parse(&entries).unwrap(),
            state: RedisState::default(),
            table: ResourceTable::new(),
        }
    }

    #[tokio::test]
    async fn an_address_not_granted_is_invalid_address_without_connecting() {
        // 192.0.2.1 (TEST-NET-1) is never reached: the check comes first.
        for (entries, address) in [
            (&[][..], "redis://127.0.0.1:6379"),
            (&["redis://192.0.2.1"][..], "redis://192.0.2.1:6380"),
            (&["redis://cache"][..], "redis://192.0.2.1"),
            (&["mqtt://192.0.2.1:*"][..], "redis://192.0.2.1"),
            (&["redis://cache"][..], "not a url at all ::"),
        ] {
            let mut data = data(entries);
            let opened = v2::HostConnection::open(&mut data.redis(), address.into()).await.unwrap();
            assert!(matches!(opened, Err(Error::InvalidAddress)), "{address} with {entries:?}");
        }
    }

    #[tokio::test]
    async fn a_granted_address_that_is_unreachable_is_other() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut data = data(&["redis://127.0.0.1:*"]);
        let address = format!("redis://user:hunter2@127.0.0.1:{port}");
        let opened = v2::HostConnection::open(&mut data.redis(), address).await.unwrap();
        match opened {
            Err(Error::Other(message)) => assert!(!message.contains("hunter2"), "{message}"),
            other => panic!("expected other, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn replies_flatten_as_spin_returns_them() {
        let mut out = Vec::new();
        let reply = Value::Array(vec![
            Value::Okay,
            Value::Int(3),
            Value::Nil,
            Value::Set(vec![Value::BulkString(b"a".to_vec())]),
            Value::Boolean(true),
        ]);
        flatten(reply, &mut out).unwrap();
        assert_eq!(
            out,
            [
                RedisResult::Status("OK".into()),
                RedisResult::Int64(3),
                RedisResult::Nil,
                RedisResult::Binary(b"a".to_vec()),
                RedisResult::Int64(1),
            ]
        );
        assert!(flatten(Value::Map(vec![]), &mut out).is_err());
    }
}
