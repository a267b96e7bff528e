//! The backend registry: runtime-config `type` → the capability crate's maker.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use futures::future::BoxFuture;
use riff_key_value::{KeyValueBackend, MakeKeyValueStore, StoreContext};
use riff_messaging::{MakeQueue, QueueBackend, QueueContext};
use riff_sql::{DatabaseContext, MakeSqlDatabase, SqlBackend};

pub(crate) const KEY_VALUE: &str = "key_value_store";
pub(crate) const SQL: &str = "sqlite_database";
pub(crate) const QUEUE: &str = "queue";

/// Every backend type this build offers, per capability.
pub struct Registry {
    key_value: BTreeMap<&'static str, Arc<dyn AnyKeyValueMaker>>,
    sql: BTreeMap<&'static str, Arc<dyn AnySqlMaker>>,
    queue: BTreeMap<&'static str, Arc<dyn AnyQueueMaker>>,
}

impl Default for Registry {
    /// The backends riff ships. One line per backend.
    fn default() -> Self {
        let mut registry = Registry::empty();
        registry.key_value(riff_key_value::sqlite::MakeSqliteKeyValue);
        registry.sql(riff_sql::sqlite::MakeSqliteDatabase);
        registry.queue(riff_messaging::sqlite::MakeSqliteQueue);
        registry
    }
}

impl Registry {
    /// A registry with no backends (tests, embedders that pick their own).
    pub fn empty() -> Self {
        Self { key_value: BTreeMap::new(), sql: BTreeMap::new(), queue: BTreeMap::new() }
    }

    /// Offer a key-value backend under its `TYPES`.
    pub fn key_value<M: MakeKeyValueStore>(&mut self, maker: M) {
        let maker: Arc<dyn AnyKeyValueMaker> = Arc::new(maker);
        for kind in M::TYPES {
            self.key_value.insert(kind, maker.clone());
        }
    }

    /// Offer a SQL backend under its `TYPES`.
    pub fn sql<M: MakeSqlDatabase>(&mut self, maker: M) {
        let maker: Arc<dyn AnySqlMaker> = Arc::new(maker);
        for kind in M::TYPES {
            self.sql.insert(kind, maker.clone());
        }
    }

    /// Offer a queue backend under its `TYPES`.
    pub fn queue<M: MakeQueue>(&mut self, maker: M) {
        let maker: Arc<dyn AnyQueueMaker> = Arc::new(maker);
        for kind in M::TYPES {
            self.queue.insert(kind, maker.clone());
        }
    }

    /// The types available in `section`, quoted, for error messages.
    pub(crate) fn types(&self, section: &str) -> String {
        let kinds: Vec<String> = match section {
            KEY_VALUE => self.key_value.keys().map(|k| format!("{k:?}")).collect(),
            QUEUE => self.queue.keys().map(|k| format!("{k:?}")).collect(),
            _ => self.sql.keys().map(|k| format!("{k:?}")).collect(),
        };
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        }
    }

    /// Check that `kind` exists in `section` and takes `settings`.
    pub(crate) fn check(&self, section: &str, kind: &str, settings: &toml::Table) -> Result<(), String> {
        let unknown = || format!("unknown type {kind:?} (available: {})", self.types(section));
        match section {
            KEY_VALUE => self.key_value.get(kind).ok_or_else(unknown)?.check(settings.clone()),
            QUEUE => self.queue.get(kind).ok_or_else(unknown)?.check(settings.clone()),
            _ => self.sql.get(kind).ok_or_else(unknown)?.check(settings.clone()),
        }
    }

    pub(crate) async fn make_key_value(
        &self,
        kind: &str,
        settings: toml::Table,
        context: &StoreContext,
    ) -> Result<Arc<dyn KeyValueBackend>> {
        let maker = self
            .key_value
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("unknown type {kind:?} (available: {})", self.types(KEY_VALUE)))?;
        maker.make(settings, context).await
    }

    pub(crate) async fn make_queue(
        &self,
        kind: &str,
        settings: toml::Table,
        context: &QueueContext,
    ) -> Result<Arc<dyn QueueBackend>> {
        let maker = self
            .queue
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("unknown type {kind:?} (available: {})", self.types(QUEUE)))?;
        maker.make(settings, context).await
    }

    pub(crate) async fn make_database(
        &self,
        kind: &str,
        settings: toml::Table,
        context: &DatabaseContext,
    ) -> Result<Arc<dyn SqlBackend>> {
        let maker = self
            .sql
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("unknown type {kind:?} (available: {})", self.types(SQL)))?;
        maker.make(settings, context).await
    }
}

/// A queue maker with its `Config` type erased.
pub(crate) trait AnyQueueMaker: Send + Sync {
    fn check(&self, settings: toml::Table) -> Result<(), String>;
    fn make<'a>(
        &'a self,
        settings: toml::Table,
        context: &'a QueueContext,
    ) -> BoxFuture<'a, Result<Arc<dyn QueueBackend>>>;
}

impl<M: MakeQueue> AnyQueueMaker for M {
    fn check(&self, settings: toml::Table) -> Result<(), String> {
        settings.try_into::<M::Config>().map(|_| ()).map_err(|e| e.message().trim().to_string())
    }

    fn make<'a>(
        &'a self,
        settings: toml::Table,
        context: &'a QueueContext,
    ) -> BoxFuture<'a, Result<Arc<dyn QueueBackend>>> {
        Box::pin(async move {
            let config = settings.try_into::<M::Config>()?;
            self.make_queue(config, context).await
        })
    }
}

/// A key-value maker with its `Config` type erased: settings arrive as a TOML table.
pub(crate) trait AnyKeyValueMaker: Send + Sync {
    fn check(&self, settings: toml::Table) -> Result<(), String>;
    fn make<'a>(
        &'a self,
        settings: toml::Table,
        context: &'a StoreContext,
    ) -> BoxFuture<'a, Result<Arc<dyn KeyValueBackend>>>;
}

impl<M: MakeKeyValueStore> AnyKeyValueMaker for M {
    fn check(&self, settings: toml::Table) -> Result<(), String> {
        settings.try_into::<M::Config>().map(|_| ()).map_err(|e| e.message().trim().to_string())
    }

    fn make<'a>(
        &'a self,
        settings: toml::Table,
        context: &'a StoreContext,
    ) -> BoxFuture<'a, Result<Arc<dyn KeyValueBackend>>> {
        Box::pin(async move {
            let config = settings.try_into::<M::Config>()?;
            self.make_store(config, context).await
        })
    }
}

/// A SQL maker with its `Config` type erased.
pub(crate) trait AnySqlMaker: Send + Sync {
    fn check(&self, settings: toml::Table) -> Result<(), String>;
    fn make<'a>(
        &'a self,
        settings: toml::Table,
        context: &'a DatabaseContext,
    ) -> BoxFuture<'a, Result<Arc<dyn SqlBackend>>>;
}

impl<M: MakeSqlDatabase> AnySqlMaker for M {
    fn check(&self, settings: toml::Table) -> Result<(), String> {
        settings.try_into::<M::Config>().map(|_| ()).map_err(|e| e.message().trim().to_string())
    }

    fn make<'a>(
        &'a self,
        settings: toml::Table,
        context: &'a DatabaseContext,
    ) -> BoxFuture<'a, Result<Arc<dyn SqlBackend>>> {
        Box::pin(async move {
            let config = settings.try_into::<M::Config>()?;
            self.make_database(config, context).await
        })
    }
}
