//! One small connection pool per (component, address), kept across requests.
//!
//! A component's requests each open a `connection` and drop it when done; without a pool every
//! request would pay a TCP connect and the server's authentication. Each component owns its
//! [`Pools`] (so one component never borrows another's authenticated session), holding a sqlx
//! pool per address string it has opened: at most [`MAX_CONNECTIONS`] connections per address,
//! at most [`MAX_ADDRESSES`] addresses (the least recently used pool is let go beyond that).
//!
//! The first open of an address connects directly before the pool exists, so a wrong host,
//! password or database fails at once with the server's own words (a pool would retry a refused
//! connection until its timeout and then say only that it timed out).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::pool::{Pool, PoolConnection, PoolOptions};
use sqlx::{ConnectOptions, Connection, Database};

/// Connections one component may hold open to one address at once.
pub const MAX_CONNECTIONS: u32 = 8;
/// Addresses whose pools one component keeps.
pub const MAX_ADDRESSES: usize = 16;
/// How long an open waits for one of the [`MAX_CONNECTIONS`] to come free.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle pooled connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A component's pools for one kind of database, by address.
pub struct Pools<DB: Database> {
    inner: Mutex<ByAddress<DB>>,
    /// The pool settings, with the database's reset-on-release hook.
    options: fn() -> PoolOptions<DB>,
}

struct ByAddress<DB: Database> {
    pools: HashMap<String, (Pool<DB>, u64)>,
    clock: u64,
}

impl<DB: Database> Pools<DB> {
    /// `options` gives the pool settings; start from [`bounded`].
    pub fn new(options: fn() -> PoolOptions<DB>) -> Self {
        Self { inner: Mutex::new(ByAddress { pools: HashMap::new(), clock: 0 }), options }
    }

    fn lookup(&self, address: &str) -> Option<Pool<DB>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        inner.pools.get_mut(address).map(|(pool, used)| {
            *used = now;
            pool.clone()
        })
    }

    fn insert(&self, address: &str, pool: Pool<DB>) -> Pool<DB> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        if let Some((existing, _)) = inner.pools.get(address) {
            return existing.clone(); // another request got here first
        }
        if inner.pools.len() >= MAX_ADDRESSES {
            let oldest = inner.pools.iter().min_by_key(|(_, (_, used))| *used).map(|(a, _)| a.clone());
            if let Some(oldest) = oldest {
                // Connections checked out keep working; the pool's idle ones close with it.
                inner.pools.remove(&oldest);
            }
        }
        inner.pools.insert(address.to_string(), (pool.clone(), now));
        pool
    }

    /// A connection to `address` (connected with `connect`), from its pool.
    pub async fn acquire(
        &self,
        address: &str,
        connect: <DB::Connection as Connection>::Options,
    ) -> Result<PoolConnection<DB>, sqlx::Error> {
        let pool = match self.lookup(address) {
            Some(pool) => pool,
            None => {
                // Fail now, with the server's message, if the address is no good.
                let probe = connect.connect().await?;
                let _ = probe.close().await;
                let pool = (self.options)().connect_lazy_with(connect);
                self.insert(address, pool)
            }
        };
        pool.acquire().await.map_err(|e| match e {
            sqlx::Error::PoolTimedOut => sqlx::Error::Protocol(format!(
                "no connection came free within {}s ({MAX_CONNECTIONS} are open to this address, or it stopped answering)",
                ACQUIRE_TIMEOUT.as_secs()
            )),
            e => e,
        })
    }

    /// How many addresses have a pool (for tests).
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The bounds every pool shares.
pub fn bounded<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Some(IDLE_TIMEOUT))
        .test_before_acquire(true)
}

/// A pooled connection a guest holds as its `connection` resource. It goes back to the pool
/// only once the guest has dropped it and it has been reset ([`Lease::reusable`]); a lease
/// dropped any other way (with its store, after a trap) closes its connection, since it may be
/// mid-transaction.
pub struct Lease<DB: Database> {
    conn: Option<PoolConnection<DB>>,
    reusable: bool,
}

impl<DB: Database> Lease<DB> {
    pub fn new(conn: PoolConnection<DB>) -> Self {
        Self { conn: Some(conn), reusable: false }
    }

    pub fn conn(&mut self) -> &mut DB::Connection {
        self.conn.as_mut().expect("a lease holds its connection until dropped")
    }

    /// The connection is clean: let it go back to the pool when dropped.
    pub fn reusable(&mut self) {
        self.reusable = true;
    }
}

impl<DB: Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        // Returning to the pool runs on the async runtime; without one, or when the connection
        // may hold a transaction, close it instead (the pool then counts it gone).
        if !self.reusable || tokio::runtime::Handle::try_current().is_err() {
            if let Some(conn) = self.conn.take() {
                drop(conn.detach());
            }
        }
    }
}

/// A guest's open PostgreSQL `connection` (every version).
pub type PgLease = Lease<sqlx::Postgres>;
/// A guest's open MySQL `connection`.
pub type MySqlLease = Lease<sqlx::MySql>;
