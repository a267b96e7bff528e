//! The Redis backend: state kept on a Redis (or Valkey) server, so every replica of an app that
//! names the same server shares it.
//!
//! `[key_value_store.<label>] type = "redis"`, `url = "redis://[user:password@]host[:port][/db]"`,
//! as in Spin. A key is stored as a Redis string under its own name, so an app moved between
//! Spin and riff finds its data. riff adds an optional `prefix` (default empty, Spin's
//! behaviour): every key is stored as `prefix + key` and `keys` lists only those, so several
//! labels, apps or test runs can share one Redis database without seeing each other's keys (end
//! it with a separator such as `:`, or prefix `app` would also list prefix `apple`'s keys).
//! `keys` walks the whole database with SCAN, so it costs in proportion to every key there, not
//! only the prefix's.
//!
//! Atomicity is the server's, because replicas have no lock in common: `increment` is one
//! INCRBY, and `compare_and_swap` one Lua script that compares the current value with the value
//! the snapshot saw and writes only if they are equal. Comparing values means a write of the
//! same value in between goes unnoticed (a version would be bumped by every writer, and Spin or
//! any other client writing the same keys would not bump it). So [`CasSnapshot::version`] stays
//! `None` here.
//!
//! The connection is a [`ConnectionManager`]: one multiplexed connection that is replaced in the
//! background when it drops. Start-up PINGs once, without retrying, so a wrong URL fails
//! `riff up` at once; messages name the URL with its password replaced by `***`. A dropped
//! connection fails the request that finds it, except that requests safe to send twice (all but
//! `increment` and `compare_and_swap`) are sent once more on the new connection: a server or
//! proxy closing an idle connection then costs no request.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, RedisError, Script};
use anyhow::Context;
use async_trait::async_trait;
use serde::Deserialize;

use crate::{CasSnapshot, Error, KeyValueBackend, MakeKeyValueStore, StoreContext};

/// How long one connection attempt, and the reply to one command, may take. (The crate's
/// default reply timeout, half a second, fails requests on a busy machine.)
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two attempts to reconnect.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// How many keys one SCAN round trip looks at.
const SCAN_BATCH: usize = 1000;

/// `KEYS[1]`: the key. `ARGV`: whether the snapshot saw a value ("1") or none ("0"), the value
/// it saw, the value to write. Redis runs a script without interleaving other commands.
const COMPARE_AND_SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
local expected = false
if ARGV[1] == '1' then expected = ARGV[2] end
if current ~= expected then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// One labelled store: a connection to the server and the prefix of the label's keys.
pub struct RedisKeyValue {
    connection: ConnectionManager,
    prefix: String,
    compare_and_swap: Script,
}

impl RedisKeyValue {
    /// Connect to the server at `url` and check that it answers; keys are stored as
    /// `prefix + key`.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let redacted = redact(url);
        let client = Client::open(url).with_context(|| format!("{redacted} is not a Redis URL"))?;
        let probe_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(REPLY_TIMEOUT));
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&probe_config)
            .await
            .with_context(|| format!("connecting to Redis at {redacted}"))?;
        ::redis::cmd("PING")
            .query_async::<()>(&mut probe)
            .await
            .with_context(|| format!("Redis at {redacted} did not answer PING"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(REPLY_TIMEOUT))
            .set_max_delay(MAX_RECONNECT_DELAY);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .with_context(|| format!("connecting to Redis at {redacted}"))?;
        Ok(Self { connection, prefix: prefix.to_string(), compare_and_swap: Script::new(COMPARE_AND_SWAP) })
    }

    /// The Redis key of `key`.
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Send a command that is safe to send twice; if the connection had dropped, send it once
    /// more on the connection that replaces it.
    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, Error> {
        let mut connection = self.connection.clone();
        match command.query_async(&mut connection).await {
            Err(e) if e.is_connection_dropped() => command.query_async(&mut connection).await,
            result => result,
        }
        .map_err(Error::unavailable)
    }
}

#[async_trait]
impl KeyValueBackend for RedisKeyValue {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.query(::redis::cmd("GET").arg(self.key(key))).await
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.query(::redis::cmd("SET").arg(self.key(key)).arg(value)).await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.query(::redis::cmd("DEL").arg(self.key(key))).await
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        self.query(::redis::cmd("EXISTS").arg(self.key(key))).await
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        let pattern = scan_pattern(&self.prefix);
        // SCAN may return a key more than once; the set also sorts them by bytes.
        let mut keys = BTreeSet::new();
        let mut cursor = 0u64;
        loop {
            let mut command = ::redis::cmd("SCAN");
            command.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_BATCH);
            let (next, batch): (u64, Vec<Vec<u8>>) = self.query(&command).await?;
            // A key that is not UTF-8 was not written through this interface.
            let own = batch.into_iter().filter_map(|key| String::from_utf8(key).ok());
            keys.extend(own.filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_string)));
            if next == 0 {
                return Ok(keys.into_iter().collect());
            }
            cursor = next;
        }
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let mut connection = self.connection.clone();
        ::redis::cmd("INCRBY")
            .arg(self.key(key))
            .arg(delta)
            .query_async(&mut connection)
            .await
            .map_err(|e| increment_error(key, e))
    }

    async fn snapshot(&self, key: &str) -> Result<CasSnapshot, Error> {
        Ok(CasSnapshot { current: self.get(key).await?, version: None })
    }

    async fn compare_and_swap(&self, key: &str, seen: &CasSnapshot, value: &[u8]) -> Result<bool, Error> {
        let (was_present, expected) = match &seen.current {
            Some(current) => ("1", current.as_slice()),
            None => ("0", &b""[..]),
        };
        let mut connection = self.connection.clone();
        self.compare_and_swap
            .key(self.key(key))
            .arg(was_present)
            .arg(expected)
            .arg(value)
            .invoke_async(&mut connection)
            .await
            .map_err(Error::unavailable)
    }
}

/// INCRBY's refusals in the trait's terms (Redis writes nothing when it refuses).
fn increment_error(key: &str, e: RedisError) -> Error {
    match (e.code(), e.detail()) {
        (Some("ERR"), Some(detail)) if detail.contains("not an integer") => {
            Error::NotAnInteger(key.to_string())
        }
        (Some("ERR"), Some(detail)) if detail.contains("overflow") => Error::Overflow,
        _ => Error::unavailable(e),
    }
}

/// The SCAN pattern of every key under `prefix`: the prefix with glob characters escaped, then `*`.
fn scan_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// `url` with its password hidden, for messages.
fn redact(url: &str) -> String {
    riff_core::redact::url(url, riff_core::redact::BareUser::IsName)
}

/// `type = "redis"`: `url` as in Spin; `prefix` (a riff extension, default empty) is prepended
/// to every key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisKeyValueConfig {
    pub url: String,
    pub prefix: Option<String>,
}

/// Shows the URL redacted: the configuration holds the password.
impl std::fmt::Debug for RedisKeyValueConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyValueConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Makes [`RedisKeyValue`] stores: state shared by every replica that names the same server.
pub struct MakeRedisKeyValue;

#[async_trait]
impl MakeKeyValueStore for MakeRedisKeyValue {
    const TYPES: &'static [&'static str] = &["redis"];
    type Config = RedisKeyValueConfig;

    async fn make_store(
        &self,
        config: RedisKeyValueConfig,
        _context: &StoreContext,
    ) -> anyhow::Result<Arc<dyn KeyValueBackend>> {
        let prefix = config.prefix.unwrap_or_default();
        Ok(Arc::new(RedisKeyValue::connect(&config.url, &prefix).await?))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use riff_core::servers;

    use super::*;

    /// The test server's URL; `None`, with the skip recorded, when there is none.
    fn server(test: &str) -> Option<String> {
        let url = servers::server_url(servers::REDIS);
        if url.is_none() {
            servers::skip(test, "no Redis server on 127.0.0.1:6379 (set RIFF_TEST_REDIS_URL)");
        }
        url
    }

    /// A prefix no other test uses.
    fn test_prefix() -> String {
        format!("{}:", servers::unique_name("kvtest"))
    }

    /// Delete every key the test left under the store's prefix.
    async fn clean_up(store: &RedisKeyValue) {
        for key in store.keys().await.unwrap() {
            store.delete(&key).await.unwrap();
        }
    }

    /// The server's id of the connection `store` uses now.
    async fn client_id(store: &RedisKeyValue) -> i64 {
        ::redis::cmd("CLIENT").arg("ID").query_async(&mut store.connection.clone()).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        let Some(url) = server("riff-key-value redis conformance") else { return };
        let store = Arc::new(RedisKeyValue::connect(&url, &test_prefix()).await.unwrap());
        crate::conformance::check(store.as_ref()).await;
        crate::conformance::check_concurrent(store.clone()).await;
        clean_up(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_share_state_and_one_compare_and_swap_wins() {
        let Some(url) = server("riff-key-value redis replicas") else { return };
        let prefix = test_prefix();
        let first = Arc::new(RedisKeyValue::connect(&url, &prefix).await.unwrap());
        let second = Arc::new(RedisKeyValue::connect(&url, &prefix).await.unwrap());

        first.set("greeting", b"hello").await.unwrap();
        assert_eq!(second.get("greeting").await.unwrap().as_deref(), Some(&b"hello"[..]), "a write is seen");
        second.delete("greeting").await.unwrap();
        assert!(!first.exists("greeting").await.unwrap(), "a delete is seen");
        assert_eq!(first.increment("hits", 1).await.unwrap(), 1);
        assert_eq!(second.increment("hits", 1).await.unwrap(), 2, "counters are shared");

        let absent = first.snapshot("leader").await.unwrap();
        let replicas = [first.clone(), second.clone()];
        let tasks: Vec<_> = (0..20u8)
            .map(|i| {
                let (store, seen) = (replicas[usize::from(i) % 2].clone(), absent.clone());
                tokio::spawn(async move { store.compare_and_swap("leader", &seen, &[i]).await.unwrap() })
            })
            .collect();
        let mut winners = Vec::new();
        for (i, task) in (0..20u8).zip(tasks) {
            if task.await.unwrap() {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one of 20 swaps across two replicas wins: {winners:?}");
        assert_eq!(second.get("leader").await.unwrap(), Some(winners), "the winner's value is stored");
        clean_up(&first).await;
    }

    #[tokio::test]
    async fn prefixes_keep_keys_apart() {
        let Some(url) = server("riff-key-value redis prefixes") else { return };
        let base = test_prefix();
        let connect = |prefix: String| {
            let url = url.clone();
            async move { RedisKeyValue::connect(&url, &prefix).await.unwrap() }
        };
        let (a, ab, glob) = (
            connect(format!("{base}a")).await,
            connect(format!("{base}ab")).await,
            connect(format!("{base}a*[")).await,
        );
        a.set("x", b"1").await.unwrap();
        ab.set("y", b"2").await.unwrap();
        glob.set("z", b"3").await.unwrap();
        glob.set("]?\\", b"4").await.unwrap();

        assert_eq!(ab.keys().await.unwrap(), ["y"], "a prefix lists only its own keys");
        assert_eq!(ab.get("x").await.unwrap(), None, "nor reads another prefix's");
        assert_eq!(glob.keys().await.unwrap(), ["]?\\", "z"], "glob characters in a prefix are literal");
        // The pattern itself, not only the stripping of the prefix, matches just the glob store's keys.
        let mut command = ::redis::cmd("SCAN");
        command.arg(0).arg("MATCH").arg(scan_pattern(&glob.prefix)).arg("COUNT").arg(1_000_000);
        let (_, matched): (u64, Vec<String>) =
            command.query_async(&mut glob.connection.clone()).await.unwrap();
        assert_eq!(
            matched.into_iter().collect::<BTreeSet<_>>(),
            BTreeSet::from([glob.key("z"), glob.key("]?\\")])
        );
        assert_eq!(
            a.keys().await.unwrap().len(),
            4,
            "without a separator, a prefix is a plain string prefix"
        );

        for store in [&ab, &glob, &a] {
            clean_up(store).await;
        }
    }

    #[tokio::test]
    async fn a_wrong_url_fails_naming_it_without_the_password() {
        let context = StoreContext {
            label: "default".into(),
            default_path: PathBuf::new(),
            config_dir: PathBuf::new(),
        };
        let make = |url: &str| {
            let config = RedisKeyValueConfig { url: url.into(), prefix: None };
            let context = context.clone();
            async move {
                match MakeRedisKeyValue.make_store(config, &context).await {
                    Ok(_) => panic!("a store from a wrong URL"),
                    Err(e) => format!("{e:#} / {e:?}"),
                }
            }
        };
        let closed = make("redis://user:secret@127.0.0.1:1").await;
        assert!(closed.contains("redis://user:***@127.0.0.1:1"), "the error names the URL: {closed}");
        assert!(!closed.contains("secret"), "the error hides the password: {closed}");
        let not_redis = make("http://:secret@127.0.0.1:6379").await;
        assert!(not_redis.contains("http://:***@127.0.0.1:6379 is not a Redis URL"), "{not_redis}");
        assert!(!not_redis.contains("secret"), "{not_redis}");

        let config = RedisKeyValueConfig { url: "redis://:secret@host".into(), prefix: None };
        assert!(!format!("{config:?}").contains("secret"), "Debug hides the password");
    }

    #[test]
    fn scan_patterns_escape_glob_characters() {
        assert_eq!(scan_pattern(""), "*");
        assert_eq!(scan_pattern("app:"), "app:*");
        assert_eq!(scan_pattern(r"a*?[]\b"), r"a\*\?\[\]\\b*");
    }

    #[tokio::test]
    async fn serves_again_after_its_connection_is_killed() {
        let Some(url) = server("riff-key-value redis reconnect") else { return };
        let store = RedisKeyValue::connect(&url, &test_prefix()).await.unwrap();
        store.set("before", b"1").await.unwrap();
        let admin = Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        // Kill only this store's connection: `CLIENT KILL TYPE normal` would also cut the other
        // tests' connections to the same server.
        let kill = |id: i64| {
            let mut admin = admin.clone();
            async move {
                let killed: i64 = ::redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(id)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                assert_eq!(killed, 1, "the store's connection was killed");
            }
        };

        // An increment is not sent twice, so it may fail until the connection is replaced.
        let killed_id = client_id(&store).await;
        kill(killed_id).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut attempts = 0;
        while let Err(e) = store.increment("after", 1).await {
            attempts += 1;
            assert!(Instant::now() < deadline, "still failing after {attempts} attempts: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_ne!(client_id(&store).await, killed_id, "a new connection");
        assert_eq!(store.get("before").await.unwrap().as_deref(), Some(&b"1"[..]));

        // A read is sent again on the new connection, so it does not fail at all.
        kill(client_id(&store).await).await;
        assert_eq!(store.get("before").await.unwrap().as_deref(), Some(&b"1"[..]), "a read survives a kill");

        clean_up(&store).await;
    }
}
