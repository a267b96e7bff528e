//! # riff-runtime-config
//!
//! `runtime-config.toml`: which backend serves each key-value store and database label. The
//! format is Spin's, so one file serves both hosts:
//!
//! ```toml
//! [key_value_store.cache]
//! type = "spin"            # embedded SQLite (also accepted: "sqlite")
//! path = "data/cache.db"   # optional; relative to this file
//!
//! [sqlite_database.default]
//! type = "spin"
//! path = "data/music.db"
//!
//! [queue]                  # riff's own: the durable message queue
//! type = "spin"
//!
//! [deployments]            # riff's own: where `riff deploy` records what every replica serves
//! type = "redis"           # any key-value type
//! url = "redis://127.0.0.1:6379"
//! ```
//!
//! Server backends for replicas: `type = "postgres"` (SQL), `"redis"` (key-value, deployments)
//! and `"nats"` (queue); see the README's "Running a cluster".
//!
//! Labels not listed (and a missing `[queue]`) get the embedded backend with a file under the
//! state directory.
//!
//! Backends are chosen through a [`Registry`] that maps each `type` to the capability crate's
//! maker (`MakeKeyValueStore`, `MakeSqlDatabase`), as Spin's runtime-config crate does. The whole
//! file is checked when it is loaded — every section's `type` is known and its keys are the
//! ones that backend takes — so a mistake is reported once, at start-up, as
//! `runtime-config.toml:7: [key_value_store.cache]: unknown type "memcached" (available: "redis", "spin", "sqlite")`.
//!
//! ## Adding a backend
//!
//! A key-value backend is one file in `crates/riff-key-value/src/` implementing
//! `KeyValueBackend` (the store) and `MakeKeyValueStore` (its `TYPES`, its `Config` section,
//! and `make_store`), plus one line in [`Registry::default`]: `registry.key_value(MakeRedisKeyValue)`.

mod registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

pub use registry::Registry;
use riff_key_value::{KeyValueBackend, StoreContext};
use riff_messaging::{QueueBackend, QueueContext};
use riff_sql::{DatabaseContext, SqlBackend};

/// One configured label: its section as written (less `type`), and where it was written.
#[derive(Debug, Clone)]
struct Entry {
    kind: String,
    settings: toml::Table,
    /// `file:line: [section.label]`, the prefix of any error about it.
    at: String,
}

/// A checked runtime config and the registry its types resolve against.
#[derive(Clone)]
pub struct RuntimeConfig {
    key_value_stores: BTreeMap<String, Entry>,
    sqlite_databases: BTreeMap<String, Entry>,
    queue: Option<Entry>,
    deployments: Option<Entry>,
    /// Relative paths in the file are relative to its directory.
    dir: PathBuf,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("key_value_stores", &self.key_value_stores)
            .field("sqlite_databases", &self.sqlite_databases)
            .field("queue", &self.queue)
            .field("deployments", &self.deployments)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            key_value_stores: BTreeMap::new(),
            sqlite_databases: BTreeMap::new(),
            queue: None,
            deployments: None,
            dir: PathBuf::from("."),
            registry: Arc::new(Registry::default()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Spanned<toml::Table>>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, toml::Spanned<toml::Table>>,
    queue: Option<toml::Spanned<toml::Table>>,
    deployments: Option<toml::Spanned<toml::Table>>,
}

impl RuntimeConfig {
    /// Read and check the file at `path` against the default registry.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, Arc::new(Registry::default()))
    }

    pub fn load_with(path: &Path, registry: Arc<Registry>) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        Self::parse(&text, path, registry)
    }

    /// Check `text`, the contents of the file at `path`.
    pub fn parse(text: &str, path: &Path, registry: Arc<Registry>) -> Result<Self> {
        let file = path.display();
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            anyhow!("{file}:{line}: {}", e.message().trim())
        })?;
        let entry = |section: &str, header: String, table: toml::Spanned<toml::Table>| {
            let line = line_of(text, table.span().start);
            let at = format!("{file}:{line}: [{header}]");
            let mut settings = table.into_inner();
            let kind = match settings.remove("type") {
                Some(toml::Value::String(kind)) => kind,
                Some(_) => return Err(anyhow!("{at}: `type` must be a string")),
                None => return Err(anyhow!("{at}: missing `type` (available: {})", registry.types(section))),
            };
            registry.check(section, &kind, &settings).map_err(|e| anyhow!("{at}: {e}"))?;
            Ok(Entry { kind, settings, at })
        };
        let sections = |section: &str, entries: BTreeMap<String, toml::Spanned<toml::Table>>| {
            entries
                .into_iter()
                .map(|(label, table)| {
                    Ok((label.clone(), entry(section, format!("{section}.{label}"), table)?))
                })
                .collect::<Result<BTreeMap<_, _>>>()
        };
        let key_value_stores = sections(registry::KEY_VALUE, raw.key_value_store)?;
        let sqlite_databases = sections(registry::SQL, raw.sqlite_database)?;
        let queue = raw.queue.map(|table| entry(registry::QUEUE, "queue".into(), table)).transpose()?;
        let deployments = raw
            .deployments
            .map(|table| entry(registry::KEY_VALUE, "deployments".into(), table))
            .transpose()?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        Ok(Self { key_value_stores, sqlite_databases, queue, deployments, dir, registry })
    }

    /// The labels the file configures, whether or not a component uses them.
    pub fn key_value_labels(&self) -> impl Iterator<Item = &String> {
        self.key_value_stores.keys()
    }

    pub fn database_labels(&self) -> impl Iterator<Item = &String> {
        self.sqlite_databases.keys()
    }

    /// Open key-value store `label` with its configured backend, or the embedded one at
    /// `default_path`.
    pub async fn key_value_store(
        &self,
        label: &str,
        default_path: PathBuf,
    ) -> Result<Arc<dyn KeyValueBackend>> {
        let context = StoreContext { label: label.to_string(), default_path, config_dir: self.dir.clone() };
        open(&self.registry.key_value, self.key_value_stores.get(label), &context).await
    }

    /// Open database `label` with its configured backend, or the embedded one at `default_path`.
    pub async fn database(&self, label: &str, default_path: PathBuf) -> Result<Arc<dyn SqlBackend>> {
        let context =
            DatabaseContext { label: label.to_string(), default_path, config_dir: self.dir.clone() };
        open(&self.registry.sql, self.sqlite_databases.get(label), &context).await
    }

    /// Open the app's message queue with its configured backend, or the embedded one at
    /// `default_path`.
    pub async fn queue(&self, default_path: PathBuf) -> Result<Arc<dyn QueueBackend>> {
        let context = QueueContext { default_path, config_dir: self.dir.clone() };
        open(&self.registry.queue, self.queue.as_ref(), &context).await
    }
}

impl RuntimeConfig {
    /// The store where cluster-wide deploys are recorded (`[deployments]`), if configured.
    /// Without one, an upload changes only the replica it was sent to, until it restarts.
    pub async fn deployments(&self, default_path: PathBuf) -> Result<Option<Arc<dyn KeyValueBackend>>> {
        let Some(entry) = &self.deployments else { return Ok(None) };
        let context =
            StoreContext { label: "deployments".into(), default_path, config_dir: self.dir.clone() };
        open(&self.registry.key_value, Some(entry), &context).await.map(Some)
    }
}

/// The backend `entry` configures, or the embedded one (`type = "spin"`) when there is no entry.
async fn open<B: ?Sized, C>(
    makers: &registry::Makers<B, C>,
    entry: Option<&Entry>,
    context: &C,
) -> Result<Arc<B>> {
    match entry {
        Some(entry) => {
            makers.make(&entry.kind, entry.settings.clone(), context).await.with_context(|| entry.at.clone())
        }
        None => makers.make("spin", toml::Table::new(), context).await,
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig> {
        RuntimeConfig::parse(text, Path::new("/cfg/runtime-config.toml"), Arc::new(Registry::default()))
    }

    #[test]
    fn parses_spin_format() {
        let c = parse(
            "[key_value_store.cache]\ntype = \"spin\"\npath = \"c.db\"\n[sqlite_database.default]\ntype = \"sqlite\"\n",
        )
        .unwrap();
        assert_eq!(c.key_value_labels().collect::<Vec<_>>(), ["cache"]);
        assert_eq!(c.database_labels().collect::<Vec<_>>(), ["default"]);
        assert_eq!(c.dir, Path::new("/cfg"));
    }

    #[test]
    fn unknown_types_name_the_file_the_line_and_the_types_available() {
        let e = parse("\n\n[key_value_store.x]\ntype = \"memcached\"\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "/cfg/runtime-config.toml:3: [key_value_store.x]: unknown type \"memcached\" (available: \"redis\", \"spin\", \"sqlite\")"
        );
        let e = parse("[sqlite_database.db]\ntype = \"oracle\"\n").unwrap_err().to_string();
        assert!(
            e.starts_with("/cfg/runtime-config.toml:1: [sqlite_database.db]: unknown type \"oracle\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_and_sections_are_refused() {
        let e = parse("[key_value_store.x]\ntype = \"spin\"\npth = \"a\"\n").unwrap_err().to_string();
        assert!(e.starts_with("/cfg/runtime-config.toml:1: [key_value_store.x]: "), "{e}");
        assert!(e.contains("pth"), "{e}");
        let e = parse("[key_value_store.x]\npath = \"a\"\n").unwrap_err().to_string();
        assert!(e.contains("missing `type`"), "{e}");
        let e = parse("[queue]\ntype = \"kafka\"\n").unwrap_err().to_string();
        assert!(e.starts_with("/cfg/runtime-config.toml:1: [queue]: unknown type \"kafka\""), "{e}");
        let e = parse("\n[nope]\n").unwrap_err().to_string();
        assert!(e.starts_with("/cfg/runtime-config.toml:2: unknown field `nope`"), "{e}");
    }

    #[tokio::test]
    async fn deployments_take_any_key_value_type_and_are_off_without_a_section() {
        let dir = tempfile::tempdir().unwrap();
        let off = parse("").unwrap();
        assert!(off.deployments(dir.path().join("d.db")).await.unwrap().is_none());
        let on = parse("[deployments]\ntype = \"spin\"\n").unwrap();
        let store = on.deployments(dir.path().join("d.db")).await.unwrap().expect("a store");
        store.set("live", b"{}").await.unwrap();
        let e = parse("[deployments]\ntype = \"etcd\"\n").unwrap_err().to_string();
        assert!(e.starts_with("/cfg/runtime-config.toml:1: [deployments]: unknown type \"etcd\""), "{e}");
    }

    #[tokio::test]
    async fn opens_configured_and_default_backends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, "[key_value_store.cache]\ntype = \"spin\"\npath = \"data/cache.db\"\n")
            .unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let config = RuntimeConfig::load(&path).unwrap();
        let cache = config.key_value_store("cache", dir.path().join("unused.db")).await.unwrap();
        cache.set("k", b"v").await.unwrap();
        assert!(dir.path().join("data/cache.db").exists(), "a configured path is relative to the file");
        assert!(!dir.path().join("unused.db").exists());
        let other = config.key_value_store("other", dir.path().join("other.db")).await.unwrap();
        assert_eq!(other.get("k").await.unwrap(), None, "labels are separate stores");
        assert!(dir.path().join("other.db").exists(), "an unlisted label gets the embedded default");
    }
}
