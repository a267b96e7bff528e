//! Spin's *locked app*: the JSON document (`spin.lock`) that Spin resolves a manifest into and
//! pushes to a registry as the layer of media type [`crate::SPIN_APPLICATION_MEDIA_TYPE`].
//!
//! These are riff's own serde types for that document, written from its published shape (the
//! field names, which fields are left out when empty, base64 without padding for inline
//! content). They keep whatever riff does not interpret (`metadata`, trigger configs) as JSON, so
//! a document read and written again loses nothing a Spin host would look at.
//!
//! Version rule, as Spin's: a document that needs nothing beyond version 0 is written with
//! `"spin_lock_version": 0`; one with `must_understand` or host requirements with `1`. Readers
//! accept both and refuse a `must_understand` entry or a required host feature they do not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `must_understand` entries riff understands.
pub const MUST_UNDERSTAND_HOST_REQUIREMENTS: &str = "host_requirements";
pub const MUST_UNDERSTAND_COMPONENT_HOST_REQUIREMENTS: &str = "component_host_requirements";
/// Host requirement: the app calls its own components over `http://<id>.spin.internal`.
pub const SERVICE_CHAINING: &str = "local_service_chaining";
/// A host requirement's value when the app cannot run without the feature.
pub const REQUIRED: &str = "required";

/// A locked app (`spin.lock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedApp {
    /// 0 or 1; see the module docs. Recomputed on [`LockedApp::to_json`].
    pub spin_lock_version: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<String>,
    /// App metadata: `name`, `version`, `description`, `authors`, `triggers` (the
    /// `[application.trigger.<type>]` tables), `trigger` (the same for a single trigger type,
    /// with its `type`), and riff's `tool` (the `[application.tool]` tables).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, LockedVariable>,
    pub triggers: Vec<LockedTrigger>,
    pub components: Vec<LockedComponent>,
}

/// An application variable. Spin's locked form has no `required`: a variable without a default
/// is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedVariable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// One trigger: `trigger_type` (`http`, `cron`, riff's `queue`, ...) and its manifest table as
/// written (`component`, `route`, `cron_expression`, ...), without `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedTrigger {
    pub id: String,
    pub trigger_type: String,
    pub trigger_config: Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_dependencies: BTreeMap<String, Value>,
}

/// One component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedComponent {
    pub id: String,
    /// `description`, `allowed_outbound_hosts`, `key_value_stores`, `databases` (the manifest's
    /// `sqlite_databases`), `ai_models`, and riff's `tool`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    pub source: LockedSource,
    /// The manifest's `environment`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Files the component sees, each at `path` below its root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    /// The component's `variables` (templates over app variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, LockedDependency>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_dependencies: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
}

/// A Wasm source: `content_type` is `application/wasm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSource {
    pub content_type: String,
    #[serde(flatten)]
    pub content: ContentRef,
}

/// A component's import satisfied by another Wasm (Spin composes it in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedDependency {
    pub source: LockedSource,
    /// Written as `null` when absent, as Spin does.
    pub export: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<Value>,
    /// riff's addition (Spin ignores it): the app component this dependency links to, so that
    /// riff links to that component even when two components share one Wasm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
}

/// Where content is: a `source` URL (`file://...` in a local lock), `inline` bytes, and/or a
/// `digest` (`sha256:<hex>`, a layer of the pushed artifact).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "inline_base64")]
    pub inline: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A file (or, in a local lock, a directory) and the path it has in the component's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentPath {
    #[serde(flatten)]
    pub content: ContentRef,
    pub path: String,
}

impl LockedApp {
    /// Parse a locked app, refusing versions and `must_understand` entries riff does not know.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let app: LockedApp =
            serde_json::from_slice(bytes).map_err(|e| format!("not a Spin locked app: {e}"))?;
        if app.spin_lock_version > 1 {
            return Err(format!(
                "spin_lock_version {} is newer than riff understands (0 and 1)",
                app.spin_lock_version
            ));
        }
        if let Some(unknown) = app.must_understand.iter().find(|m| {
            m.as_str() != MUST_UNDERSTAND_HOST_REQUIREMENTS
                && m.as_str() != MUST_UNDERSTAND_COMPONENT_HOST_REQUIREMENTS
        }) {
            return Err(format!(
                "the app needs a feature riff does not understand: must_understand {unknown:?}"
            ));
        }
        let component_reqs = app.components.iter().flat_map(|c| c.host_requirements.iter());
        for (feature, value) in app.host_requirements.iter().chain(component_reqs) {
            if value.as_str() != Some("optional") && feature != SERVICE_CHAINING {
                return Err(format!("the app requires a host feature riff does not have: {feature:?}"));
            }
        }
        Ok(app)
    }

    /// Serialize with the version Spin would write (0 unless something needs 1).
    pub fn to_json(&self) -> Vec<u8> {
        let mut app = self.clone();
        app.spin_lock_version = u32::from(
            !app.must_understand.is_empty()
                || !app.host_requirements.is_empty()
                || app.components.iter().any(|c| !c.host_requirements.is_empty()),
        );
        serde_json::to_vec_pretty(&app).expect("a locked app serializes")
    }

    /// A metadata string (`name`, `version`, ...).
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

impl LockedComponent {
    /// A metadata list of strings (`allowed_outbound_hosts`, `key_value_stores`, ...); empty when
    /// absent.
    pub fn metadata_strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.metadata.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                items.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(
                    || format!("component {:?}: metadata {key} is not a list of strings", self.id),
                )
            }
            Some(_) => Err(format!("component {:?}: metadata {key} is not a list of strings", self.id)),
        }
    }
}

/// Spin's encoding of inline content: standard base64 without padding.
mod inline_base64 {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_str(&STANDARD_NO_PAD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            // Tolerate padding from other writers.
            Some(s) => {
                STANDARD_NO_PAD.decode(s.trim_end_matches('=')).map(Some).map_err(serde::de::Error::custom)
            }
            None => Ok(None),
        }
    }
}

/// `sha256:<hex>` of some bytes: the digest of a layer with those bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock as Spin writes one for an OCI push (shape of Spin's own test fixtures).
    const SPIN_WRITTEN: &str = r#"{
  "spin_lock_version": 0,
  "metadata": {
    "authors": ["Fermyon Engineering <engineering@fermyon.com>"],
    "name": "spin-local-source-test",
    "trigger": { "type": "http" },
    "triggers": { "http": {} },
    "version": "1.0.0"
  },
  "triggers": [
    {
      "id": "trigger-fs",
      "trigger_type": "http",
      "trigger_config": { "component": "fs", "executor": { "type": "http" }, "route": "/..." }
    }
  ],
  "components": [
    {
      "id": "fs",
      "metadata": { "allowed_outbound_hosts": ["redis://*:*"] },
      "source": { "content_type": "application/wasm", "digest": "sha256:0000" },
      "files": [ { "inline": "aGVsbG8", "digest": "sha256:2cf2", "path": "static/a.txt" } ],
      "dependencies": { "a:b/c": { "source": { "content_type": "application/wasm", "digest": "sha256:1111" }, "export": null } }
    }
  ]
}"#;

    #[test]
    fn reads_and_rewrites_a_spin_lock_unchanged() {
        let app = LockedApp::from_json(SPIN_WRITTEN.as_bytes()).unwrap();
        assert_eq!(app.metadata_str("name"), Some("spin-local-source-test"));
        assert_eq!(app.components[0].files[0].content.inline.as_deref(), Some(&b"hello"[..]));
        let again = LockedApp::from_json(&app.to_json()).unwrap();
        assert_eq!(again, app);
        let written: Value = serde_json::from_slice(&app.to_json()).unwrap();
        let original: Value = serde_json::from_str(SPIN_WRITTEN).unwrap();
        assert_eq!(written, original, "nothing added, nothing lost");
    }

    #[test]
    fn version_follows_what_the_lock_needs() {
        let mut app = LockedApp::from_json(SPIN_WRITTEN.as_bytes()).unwrap();
        app.components[0].host_requirements.insert(SERVICE_CHAINING.into(), REQUIRED.into());
        app.must_understand.push(MUST_UNDERSTAND_COMPONENT_HOST_REQUIREMENTS.into());
        let json: Value = serde_json::from_slice(&app.to_json()).unwrap();
        assert_eq!(json["spin_lock_version"], 1);
        assert!(LockedApp::from_json(&app.to_json()).is_ok());
    }

    #[test]
    fn unknown_requirements_are_refused() {
        let newer = SPIN_WRITTEN.replace("\"spin_lock_version\": 0", "\"spin_lock_version\": 2");
        assert!(LockedApp::from_json(newer.as_bytes()).unwrap_err().contains("newer"));
        let must = SPIN_WRITTEN.replace("\"metadata\"", "\"must_understand\": [\"teleport\"], \"metadata\"");
        assert!(LockedApp::from_json(must.as_bytes()).unwrap_err().contains("teleport"));
        let needs = SPIN_WRITTEN.replace(
            "\"metadata\"",
            "\"must_understand\": [\"host_requirements\"], \"host_requirements\": {\"middleware\": \"required\"}, \"metadata\"",
        );
        assert!(LockedApp::from_json(needs.as_bytes()).unwrap_err().contains("middleware"));
        let optional = needs.replace("\"middleware\": \"required\"", "\"middleware\": \"optional\"");
        assert!(LockedApp::from_json(optional.as_bytes()).is_ok());
        assert!(LockedApp::from_json(b"{\"layers\": []}").unwrap_err().contains("not a Spin locked app"));
    }

    #[test]
    fn inline_content_is_unpadded_base64() {
        let c = ContentRef { inline: Some(b"hi".to_vec()), ..Default::default() };
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"inline":"aGk"}"#);
        let padded: ContentRef = serde_json::from_str(r#"{"inline":"aGk="}"#).unwrap();
        assert_eq!(padded.inline.as_deref(), Some(&b"hi"[..]));
    }
}
