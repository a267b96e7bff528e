//! The backend registry: runtime-config `type` → the capability crate's maker.
//!
//! Each capability has its own maker trait (`MakeKeyValueStore`, `MakeSqlDatabase`,
//! `MakeQueue`) with its own `Config` section type; [`AnyMaker`] erases that type so a section's
//! TOML table can be checked and turned into a backend by `type` alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use riff_key_value::{KeyValueBackend, MakeKeyValueStore, StoreContext};
use riff_messaging::{MakeQueue, QueueBackend, QueueContext};
use riff_sql::{DatabaseContext, MakeSqlDatabase, SqlBackend};

pub(crate) const KEY_VALUE: &str = "key_value_store";
pub(crate) const SQL: &str = "sqlite_database";
pub(crate) const QUEUE: &str = "queue";

/// Every backend type this build offers, per capability.
pub struct Registry {
    pub(crate) key_value: Makers<dyn KeyValueBackend, StoreContext>,
    pub(crate) sql: Makers<dyn SqlBackend, DatabaseContext>,
    pub(crate) queue: Makers<dyn QueueBackend, QueueContext>,
}

impl Default for Registry {
    /// The backends riff ships. One line per backend.
    fn default() -> Self {
        let mut registry = Registry::empty();
        registry.key_value(riff_key_value::sqlite::MakeSqliteKeyValue);
        registry.key_value(riff_key_value::redis::MakeRedisKeyValue);
        registry.sql(riff_sql::sqlite::MakeSqliteDatabase);
        registry.sql(riff_sql::postgres::MakePostgresDatabase);
        registry.queue(riff_messaging::sqlite::MakeSqliteQueue);
        registry.queue(riff_messaging::nats::MakeNatsQueue);
        registry
    }
}

impl Registry {
    /// A registry with no backends (tests, embedders that pick their own).
    pub fn empty() -> Self {
        Self { key_value: Makers::default(), sql: Makers::default(), queue: Makers::default() }
    }

    /// Offer a key-value backend under its `TYPES`.
    pub fn key_value<M: MakeKeyValueStore>(&mut self, maker: M) {
        self.key_value.insert(M::TYPES, Arc::new(maker));
    }

    /// Offer a SQL backend under its `TYPES`.
    pub fn sql<M: MakeSqlDatabase>(&mut self, maker: M) {
        self.sql.insert(M::TYPES, Arc::new(maker));
    }

    /// Offer a queue backend under its `TYPES`.
    pub fn queue<M: MakeQueue>(&mut self, maker: M) {
        self.queue.insert(M::TYPES, Arc::new(maker));
    }

    /// The types available in `section`, quoted, for error messages.
    pub(crate) fn types(&self, section: &str) -> String {
        match section {
            KEY_VALUE => self.key_value.types(),
            QUEUE => self.queue.types(),
            _ => self.sql.types(),
        }
    }

    /// Check that `kind` exists in `section` and takes `settings`.
    pub(crate) fn check(&self, section: &str, kind: &str, settings: &toml::Table) -> Result<(), String> {
        match section {
            KEY_VALUE => self.key_value.check(kind, settings),
            QUEUE => self.queue.check(kind, settings),
            _ => self.sql.check(kind, settings),
        }
    }
}

/// One capability's makers by `type`: `B` is its backend trait, `C` what a maker is given.
pub(crate) struct Makers<B: ?Sized, C> {
    by_type: BTreeMap<&'static str, Arc<dyn AnyMaker<B, C>>>,
}

impl<B: ?Sized, C> Default for Makers<B, C> {
    fn default() -> Self {
        Self { by_type: BTreeMap::new() }
    }
}

impl<B: ?Sized, C> Makers<B, C> {
    fn insert(&mut self, types: &[&'static str], maker: Arc<dyn AnyMaker<B, C>>) {
        for kind in types {
            self.by_type.insert(kind, maker.clone());
        }
    }

    fn types(&self) -> String {
        let kinds: Vec<String> = self.by_type.keys().map(|k| format!("{k:?}")).collect();
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        }
    }

    fn get(&self, kind: &str) -> Result<&Arc<dyn AnyMaker<B, C>>, String> {
        self.by_type.get(kind).ok_or_else(|| format!("unknown type {kind:?} (available: {})", self.types()))
    }

    fn check(&self, kind: &str, settings: &toml::Table) -> Result<(), String> {
        self.get(kind)?.check(settings.clone())
    }

    /// A backend of type `kind` made from its section's `settings`.
    pub(crate) async fn make(&self, kind: &str, settings: toml::Table, context: &C) -> Result<Arc<B>> {
        self.get(kind).map_err(|e| anyhow!(e))?.make(settings, context).await
    }
}

/// A maker with its `Config` type erased: settings arrive as the section's TOML table.
pub(crate) trait AnyMaker<B: ?Sized, C>: Send + Sync {
    fn check(&self, settings: toml::Table) -> Result<(), String>;
    fn make<'a>(&'a self, settings: toml::Table, context: &'a C) -> BoxFuture<'a, Result<Arc<B>>>;
}

/// `AnyMaker` for every maker of one capability's maker trait (`$make`, whose method is `$method`).
macro_rules! erase_config {
    ($make:ident, $method:ident, $backend:ty, $context:ty) => {
        impl<M: $make> AnyMaker<$backend, $context> for M {
            fn check(&self, settings: toml::Table) -> Result<(), String> {
                settings.try_into::<M::Config>().map(|_| ()).map_err(|e| e.message().trim().to_string())
            }

            fn make<'a>(
                &'a self,
                settings: toml::Table,
                context: &'a $context,
            ) -> BoxFuture<'a, Result<Arc<$backend>>> {
                Box::pin(async move { self.$method(settings.try_into::<M::Config>()?, context).await })
            }
        }
    };
}

erase_config!(MakeKeyValueStore, make_store, dyn KeyValueBackend, StoreContext);
erase_config!(MakeSqlDatabase, make_database, dyn SqlBackend, DatabaseContext);
erase_config!(MakeQueue, make_queue, dyn QueueBackend, QueueContext);
