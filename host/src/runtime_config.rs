//! `runtime-config.toml`: which backend serves each key-value store and database label.
//!
//! The format is Spin's, so one file serves both hosts:
//!
//! ```toml
//! [key_value_store.cache]
//! type = "spin"            # embedded SQLite (also accepted: "sqlite")
//! path = "data/cache.db"   # optional; relative to this file
//!
//! [sqlite_database.default]
//! type = "spin"
//! path = "data/music.db"
//! ```
//!
//! Labels not listed here get the embedded backend with a file under the state directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Clone)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, Backend>,
    pub sqlite_databases: BTreeMap<String, Backend>,
}

/// A backend selection for one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file; `None`: the default location under the state directory.
    Sqlite { path: Option<PathBuf> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawBackend>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawBackend>,
}

#[derive(Deserialize)]
struct RawBackend {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, toml::Value>,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).with_context(|| format!("in runtime config {}", path.display()))
    }

    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| crate::manifest::line_of(text, s.start));
            anyhow::anyhow!("line {}: {}", line.unwrap_or(0), e.message().trim())
        })?;
        let convert =
            |section: &str, entries: BTreeMap<String, RawBackend>| -> Result<BTreeMap<String, Backend>> {
                entries
                    .into_iter()
                    .map(|(label, b)| {
                        if let Some(key) = b.rest.keys().next() {
                            bail!("[{section}.{label}]: unknown key {key:?}");
                        }
                        let backend = match b.kind.as_str() {
                            "spin" | "sqlite" => Backend::Sqlite { path: b.path.map(|p| base.join(p)) },
                            other => bail!(
                                "[{section}.{label}]: backend type {other:?} is not available in this build \
                             (supported: \"spin\"/\"sqlite\", the embedded SQLite backend)"
                            ),
                        };
                        Ok((label, backend))
                    })
                    .collect()
            };
        Ok(Self {
            key_value_stores: convert("key_value_store", raw.key_value_store)?,
            sqlite_databases: convert("sqlite_database", raw.sqlite_database)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spin_format() {
        let c = RuntimeConfig::parse(
            "[key_value_store.cache]\ntype = \"spin\"\npath = \"c.db\"\n[sqlite_database.default]\ntype = \"sqlite\"\n",
            Path::new("/cfg"),
        )
        .unwrap();
        assert_eq!(c.key_value_stores["cache"], Backend::Sqlite { path: Some("/cfg/c.db".into()) });
        assert_eq!(c.sqlite_databases["default"], Backend::Sqlite { path: None });
    }

    #[test]
    fn refuses_unknown_backends_and_keys() {
        let e =
            RuntimeConfig::parse("[key_value_store.x]\ntype = \"memcached\"\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("memcached"), "{e}");
        let e = RuntimeConfig::parse("[key_value_store.x]\ntype = \"spin\"\npth = \"a\"\n", Path::new("."))
            .unwrap_err();
        assert!(e.to_string().contains("pth"), "{e}");
        assert!(RuntimeConfig::parse("[nope]\n", Path::new(".")).is_err());
    }
}
