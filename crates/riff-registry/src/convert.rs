//! riff's manifest to Spin's locked app ([`bundle`], for a push) and back ([`manifest_text`],
//! for a pulled app).
//!
//! Going out, riff validates the manifest first (the same checks as `riff up`), then writes the
//! lock as Spin's loader would for that manifest: app metadata (`name`, `version`, `description`,
//! `authors`, `triggers`), variables, one trigger entry per `[[trigger.<type>]]` table with Spin's
//! generated ids (`<component>-<type>-trigger`, else `<type>-trigger<n>`), and per component its
//! grants in `metadata` (`allowed_outbound_hosts`, `key_value_stores`, `databases`), `env`,
//! `config` (component variables), files (one entry per file, at its path in the component's
//! view) and dependencies. Wasm and files are referred to by digest: each is a layer of the
//! artifact (files of 128 bytes or less are inlined instead, as Spin does). What Spin has no field
//! for — riff's `[component.<id>.tool.riff]` and `[application.tool.riff]` settings — travels in
//! `metadata.tool`, which Spin ignores.
//!
//! Coming back, the lock becomes a `spin.toml` that names the cached Wasm and files, and riff
//! loads that like any manifest: one validation path, and an error names a file one can open.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

use crate::locked::{
    sha256_digest, ContentPath, ContentRef, LockedApp, LockedComponent, LockedDependency, LockedSource,
    LockedTrigger, LockedVariable, MUST_UNDERSTAND_COMPONENT_HOST_REQUIREMENTS, REQUIRED, SERVICE_CHAINING,
};
use crate::{DATA_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};

/// Content of this size or less is inlined into the lock rather than pushed as a layer
/// (Spin's default; some registries refuse very small blobs).
pub const INLINE_MAX: usize = 128;

/// The content type of every Wasm source in a lock.
pub const WASM_CONTENT_TYPE: &str = "application/wasm";

/// What a push sends: the lock and the layers it refers to (deduplicated, in order).
#[derive(Debug)]
pub struct Bundle {
    pub locked: LockedApp,
    pub layers: Vec<Layer>,
}

/// One layer's bytes and media type.
#[derive(Debug, Clone)]
pub struct Layer {
    pub digest: String,
    pub media_type: &'static str,
    pub data: Vec<u8>,
}

impl Bundle {
    fn add_layer(&mut self, data: Vec<u8>, media_type: &'static str) -> String {
        let digest = sha256_digest(&data);
        if !self.layers.iter().any(|l| l.digest == digest) {
            self.layers.push(Layer { digest: digest.clone(), media_type, data });
        }
        digest
    }
}

/// Read, validate and lock the app of `manifest_path`, reading its Wasm and files.
pub fn bundle(manifest_path: &Path) -> Result<Bundle> {
    let manifest = riff_manifest::load(manifest_path)?;
    let text = std::fs::read_to_string(manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let raw: toml::Table =
        toml::from_str(&text).with_context(|| format!("reading {}", manifest_path.display()))?;
    let application = raw.get("application").and_then(toml::Value::as_table).cloned().unwrap_or_default();

    let mut bundle = Bundle {
        locked: LockedApp {
            spin_lock_version: 0,
            must_understand: Vec::new(),
            metadata: Map::new(),
            host_requirements: Map::new(),
            variables: BTreeMap::new(),
            triggers: Vec::new(),
            components: Vec::new(),
        },
        layers: Vec::new(),
    };

    // App metadata.
    let metadata = &mut bundle.locked.metadata;
    metadata.insert("name".into(), manifest.name.clone().into());
    if let Some(version) = &manifest.version {
        metadata.insert("version".into(), version.clone().into());
    }
    for key in ["description", "authors"] {
        if let Some(value) = application.get(key) {
            metadata.insert(key.into(), toml_to_json(value));
        }
    }
    let raw_triggers = raw.get("trigger").and_then(toml::Value::as_table).cloned().unwrap_or_default();
    let global = application.get("trigger").map(toml_to_json).unwrap_or_else(|| Value::Object(Map::new()));
    if raw_triggers.len() == 1 {
        let trigger_type = raw_triggers.keys().next().unwrap();
        let mut single = global.get(trigger_type).cloned().unwrap_or_else(|| Value::Object(Map::new()));
        if let Value::Object(single) = &mut single {
            single.insert("type".into(), trigger_type.clone().into());
        }
        metadata.insert("trigger".into(), single);
    }
    metadata.insert("triggers".into(), global);
    if let Some(tool) = application.get("tool") {
        metadata.insert("tool".into(), toml_to_json(tool));
    }

    for (name, decl) in &manifest.variables {
        bundle.locked.variables.insert(
            name.clone(),
            LockedVariable {
                description: decl.description.clone(),
                default: decl.default.clone(),
                secret: decl.secret,
            },
        );
    }

    bundle.locked.triggers = lock_triggers(&raw_triggers)?;

    // Components: Wasm first, so dependencies can name their target's digest.
    let mut sources = BTreeMap::new();
    for c in &manifest.components {
        let wasm = std::fs::read(&c.source).with_context(|| {
            format!(
                "component {:?}: cannot read its Wasm {:?} (build it first: riff build)",
                c.id, c.source_as_written
            )
        })?;
        if !wasm.starts_with(b"\0asm") {
            bail!("component {:?}: {:?} is not a WebAssembly file", c.id, c.source_as_written);
        }
        let inline = (wasm.len() <= INLINE_MAX).then(|| wasm.clone());
        let digest = bundle.add_layer(wasm, WASM_LAYER_MEDIA_TYPE);
        sources.insert(c.id.clone(), ContentRef { source: None, inline, digest: Some(digest) });
    }
    let raw_components = raw.get("component").and_then(toml::Value::as_table).cloned().unwrap_or_default();
    for c in &manifest.components {
        let mut metadata = Map::new();
        if let Some(description) = &c.description {
            metadata.insert("description".into(), description.clone().into());
        }
        metadata.insert("allowed_outbound_hosts".into(), strings(&c.allowed_outbound_hosts));
        metadata.insert("key_value_stores".into(), strings(&c.key_value_stores));
        metadata.insert("databases".into(), strings(&c.sqlite_databases));
        if let Some(tool) = raw_components.get(&c.id).and_then(|t| t.get("tool")) {
            metadata.insert("tool".into(), toml_to_json(tool));
        }

        let mut files = Vec::new();
        for (path, file) in collect_files(&manifest, c)? {
            let data = std::fs::read(&file)
                .with_context(|| format!("component {:?}: files: reading {}", c.id, file.display()))?;
            let content = if data.len() <= INLINE_MAX {
                ContentRef { source: None, digest: Some(sha256_digest(&data)), inline: Some(data) }
            } else {
                ContentRef {
                    source: None,
                    inline: None,
                    digest: Some(bundle.add_layer(data, DATA_MEDIA_TYPE)),
                }
            };
            files.push(ContentPath { content, path });
        }

        let mut dependencies = BTreeMap::new();
        for (import, spec) in &c.dependencies {
            let target = spec.get("component").and_then(toml::Value::as_str).ok_or_else(|| {
                anyhow!(
                    "[component.{}.dependencies] {import:?}: riff pushes dependencies on components of the app only: {{ component = \"<id>\" }}",
                    c.id
                )
            })?;
            let source = sources.get(target).ok_or_else(|| {
                anyhow!("[component.{}.dependencies] {import:?}: no component named {target:?}", c.id)
            })?;
            dependencies.insert(
                import.clone(),
                LockedDependency {
                    source: LockedSource {
                        content_type: WASM_CONTENT_TYPE.into(),
                        content: ContentRef { inline: None, ..source.clone() },
                    },
                    export: spec.get("export").and_then(toml::Value::as_str).map(str::to_string),
                    inherit: None,
                    component: Some(target.to_string()),
                },
            );
        }

        let mut host_requirements = Map::new();
        if c.allowed_outbound_hosts.iter().any(|h| is_service_chaining(h)) {
            host_requirements.insert(SERVICE_CHAINING.into(), REQUIRED.into());
        }

        bundle.locked.components.push(LockedComponent {
            id: c.id.clone(),
            metadata,
            source: LockedSource { content_type: WASM_CONTENT_TYPE.into(), content: sources[&c.id].clone() },
            env: c.environment.clone(),
            files,
            config: c.variables.clone(),
            dependencies,
            trigger_dependencies: BTreeMap::new(),
            host_requirements,
        });
    }
    if bundle.locked.components.iter().any(|c| !c.host_requirements.is_empty()) {
        bundle.locked.must_understand.push(MUST_UNDERSTAND_COMPONENT_HOST_REQUIREMENTS.into());
    }
    Ok(bundle)
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// `http://<id>.spin.internal`-style entries: the app calls itself, which Spin records as a host
/// requirement.
fn is_service_chaining(host: &str) -> bool {
    let rest = host.split_once("://").map_or(host, |(_, rest)| rest);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    host.ends_with(".spin.internal")
}

/// One lock trigger per `[[trigger.<type>]]` table, ids as Spin generates them.
fn lock_triggers(raw: &toml::Table) -> Result<Vec<LockedTrigger>> {
    let mut taken: BTreeSet<String> = raw
        .values()
        .filter_map(toml::Value::as_array)
        .flatten()
        .filter_map(|t| t.get("id").and_then(toml::Value::as_str).map(str::to_string))
        .collect();
    let mut triggers = Vec::new();
    for (trigger_type, entries) in raw {
        let entries = entries
            .as_array()
            .ok_or_else(|| anyhow!("[[trigger.{trigger_type}]] must be an array of tables"))?;
        let mut counter = 1;
        for entry in entries {
            let mut config = entry
                .as_table()
                .cloned()
                .ok_or_else(|| anyhow!("[[trigger.{trigger_type}]] must be a table"))?;
            let id = match config.remove("id").and_then(|v| v.as_str().map(str::to_string)) {
                Some(id) => id,
                None => {
                    let natural = config
                        .get("component")
                        .and_then(toml::Value::as_str)
                        .map(|c| format!("{c}-{trigger_type}-trigger"))
                        .filter(|id| !taken.contains(id));
                    let id = natural.unwrap_or_else(|| loop {
                        let id = format!("{trigger_type}-trigger{counter}");
                        counter += 1;
                        if !taken.contains(&id) {
                            break id;
                        }
                    });
                    taken.insert(id.clone());
                    id
                }
            };
            triggers.push(LockedTrigger {
                id,
                trigger_type: trigger_type.clone(),
                trigger_config: toml_to_json(&toml::Value::Table(config)),
                trigger_dependencies: BTreeMap::new(),
            });
        }
    }
    Ok(triggers)
}

/// The files a component sees, as (path in its view, file on disk) — the same selection riff's
/// loader mounts: a glob's matches at their path below the manifest's directory, a mapped file at
/// its destination, a mapped directory's files below the destination.
fn collect_files(
    manifest: &riff_manifest::Manifest,
    c: &riff_manifest::Component,
) -> Result<Vec<(String, PathBuf)>> {
    let mut out: BTreeMap<String, PathBuf> = BTreeMap::new();
    for mount in &c.files {
        match mount {
            riff_manifest::FileMount::Glob(pattern) => {
                let full = manifest.dir.join(pattern);
                for entry in
                    glob::glob(&full.to_string_lossy()).with_context(|| format!("files: {pattern}"))?
                {
                    let path = entry?;
                    if path.is_file() {
                        let rel = path.strip_prefix(&manifest.dir).unwrap_or(&path);
                        out.entry(portable(rel)).or_insert(path);
                    }
                }
            }
            riff_manifest::FileMount::Mapping { source, destination } => {
                let dest = destination.trim_matches('/');
                if source.is_file() {
                    out.entry(dest.to_string()).or_insert(source.clone());
                } else if source.is_dir() {
                    let mut stack = vec![source.clone()];
                    while let Some(dir) = stack.pop() {
                        for entry in std::fs::read_dir(&dir)
                            .with_context(|| format!("files: reading {}", dir.display()))?
                        {
                            let path = entry?.path();
                            if path.is_dir() {
                                stack.push(path);
                            } else if path.is_file() {
                                let rel = portable(path.strip_prefix(source).unwrap_or(&path));
                                let at = if dest.is_empty() { rel } else { format!("{dest}/{rel}") };
                                out.entry(at).or_insert(path);
                            }
                        }
                    }
                } else {
                    bail!("component {:?}: files: {} does not exist", c.id, source.display());
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn portable(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// JSON to TOML, leaving out nulls (TOML has none).
fn json_to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        Value::Object(map) => {
            toml::Value::Table(map.iter().filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?))).collect())
        }
    })
}

/// Where a pulled app's content is on disk: each component's Wasm, and the directory holding
/// its files (absent when it has none).
#[derive(Debug, Default)]
pub struct Placed {
    pub wasm: BTreeMap<String, PathBuf>,
    pub files: BTreeMap<String, PathBuf>,
}

/// The `spin.toml` riff runs a pulled lock from.
pub fn manifest_text(locked: &LockedApp, placed: &Placed, origin: &str) -> Result<String> {
    let mut doc = toml::Table::new();
    doc.insert("spin_manifest_version".into(), toml::Value::Integer(2));

    let mut application = toml::Table::new();
    application.insert("name".into(), locked.metadata_str("name").unwrap_or("app").into());
    for key in ["version", "description"] {
        if let Some(value) = locked.metadata_str(key) {
            application.insert(key.into(), value.into());
        }
    }
    if let Some(authors) = locked.metadata.get("authors").and_then(json_to_toml) {
        application.insert("authors".into(), authors);
    }
    if let Some(Value::Object(globals)) = locked.metadata.get("triggers") {
        // Spin writes `{}` for each trigger type without app-wide settings; those say nothing.
        let set: toml::Table = globals
            .iter()
            .filter(|(_, v)| v.as_object().is_none_or(|o| !o.is_empty()))
            .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
            .collect();
        if !set.is_empty() {
            application.insert("trigger".into(), toml::Value::Table(set));
        }
    }
    // `tool` tables are written last, inline (see `tool_sections`).
    let mut tools = vec![("application".to_string(), locked.metadata.get("tool"))];
    doc.insert("application".into(), toml::Value::Table(application));

    if !locked.variables.is_empty() {
        let mut variables = toml::Table::new();
        for (name, v) in &locked.variables {
            let mut decl = toml::Table::new();
            match &v.default {
                Some(default) => decl.insert("default".into(), default.clone().into()),
                None => decl.insert("required".into(), true.into()),
            };
            if v.secret {
                decl.insert("secret".into(), true.into());
            }
            if let Some(description) = &v.description {
                decl.insert("description".into(), description.clone().into());
            }
            variables.insert(name.clone(), toml::Value::Table(decl));
        }
        doc.insert("variables".into(), toml::Value::Table(variables));
    }

    let mut triggers = toml::Table::new();
    for t in &locked.triggers {
        if !t.trigger_dependencies.is_empty() {
            bail!("trigger {:?} has trigger dependencies (middleware), which riff does not run", t.id);
        }
        let config = json_to_toml(&t.trigger_config)
            .filter(toml::Value::is_table)
            .ok_or_else(|| anyhow!("trigger {:?}: trigger_config is not an object", t.id))?;
        let list = triggers.entry(t.trigger_type.clone()).or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(list) = list {
            list.push(config);
        }
    }
    if !triggers.is_empty() {
        doc.insert("trigger".into(), toml::Value::Table(triggers));
    }

    // Dependencies name components by their Wasm's digest when riff's own `component` is absent.
    let by_digest: BTreeMap<&str, Vec<&str>> = locked.components.iter().fold(BTreeMap::new(), |mut m, c| {
        if let Some(d) = c.source.content.digest.as_deref() {
            m.entry(d).or_insert_with(Vec::new).push(c.id.as_str());
        }
        m
    });

    let mut components = toml::Table::new();
    for c in &locked.components {
        let mut t = toml::Table::new();
        let wasm =
            placed.wasm.get(&c.id).ok_or_else(|| anyhow!("component {:?}: its Wasm was not pulled", c.id))?;
        t.insert("source".into(), wasm.to_string_lossy().into_owned().into());
        if let Some(description) = c.metadata.get("description").and_then(Value::as_str) {
            t.insert("description".into(), description.into());
        }
        let ai_models = c.metadata_strings("ai_models").map_err(|e| anyhow!(e))?;
        if !ai_models.is_empty() {
            bail!(
                "component {:?} uses ai_models ({}); riff has no LLM interface",
                c.id,
                ai_models.join(", ")
            );
        }
        for (from, to) in [
            ("allowed_outbound_hosts", "allowed_outbound_hosts"),
            ("key_value_stores", "key_value_stores"),
            ("databases", "sqlite_databases"),
        ] {
            let items = c.metadata_strings(from).map_err(|e| anyhow!(e))?;
            if !items.is_empty() {
                t.insert(to.into(), toml::Value::Array(items.into_iter().map(toml::Value::String).collect()));
            }
        }
        if !c.env.is_empty() {
            t.insert(
                "environment".into(),
                toml::Value::Table(c.env.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()),
            );
        }
        if !c.config.is_empty() {
            t.insert(
                "variables".into(),
                toml::Value::Table(c.config.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()),
            );
        }
        if let Some(dir) = placed.files.get(&c.id) {
            let mut mount = toml::Table::new();
            mount.insert("source".into(), dir.to_string_lossy().into_owned().into());
            mount.insert("destination".into(), "/".into());
            t.insert("files".into(), toml::Value::Array(vec![toml::Value::Table(mount)]));
        }
        if !c.trigger_dependencies.is_empty() {
            bail!("component {:?} has trigger dependencies (middleware), which riff does not run", c.id);
        }
        if !c.dependencies.is_empty() {
            let mut deps = toml::Table::new();
            for (import, dep) in &c.dependencies {
                let target = match &dep.component {
                    Some(target) => target.clone(),
                    None => {
                        let digest = dep.source.content.digest.as_deref().unwrap_or_default();
                        match by_digest.get(digest).map(Vec::as_slice) {
                            Some([one]) => one.to_string(),
                            Some(many) => bail!(
                                "component {:?}: dependency {import:?} is the Wasm of several components ({}); riff cannot tell which to link",
                                c.id,
                                many.join(", ")
                            ),
                            None => bail!(
                                "component {:?}: dependency {import:?} is a Wasm of its own ({digest}); riff links dependencies to components of the app, it does not compose components (push the app with Spin's composition, `spin registry push`, to run it on riff)",
                                c.id
                            ),
                        }
                    }
                };
                let mut spec = toml::Table::new();
                spec.insert("component".into(), target.into());
                if let Some(export) = &dep.export {
                    spec.insert("export".into(), export.clone().into());
                }
                deps.insert(import.clone(), toml::Value::Table(spec));
            }
            t.insert("dependencies".into(), toml::Value::Table(deps));
        }
        tools.push((format!("component.{}", c.id), c.metadata.get("tool")));
        components.insert(c.id.clone(), toml::Value::Table(t));
    }
    if !components.is_empty() {
        doc.insert("component".into(), toml::Value::Table(components));
    }
    let body = toml::to_string(&doc).context("writing the pulled app's spin.toml")?;
    let tools = tool_sections(&tools);
    Ok(format!("# Pulled by riff from {origin}: the app's locked form (config.json beside), as a manifest.\n{body}{tools}"))
}

/// `[<owner>.tool]` sections with one inline table per tool (`riff = { timeout = "5s", ... }`).
/// Inline, because the manifest reader takes each tool's settings as one value, and a table
/// header for a nested table (`[application.tool.riff.cors]`) would define `riff` only
/// implicitly.
fn tool_sections(tools: &[(String, Option<&Value>)]) -> String {
    let mut out = String::new();
    for (owner, tool) in tools {
        let Some(toml::Value::Table(tool)) = tool.and_then(json_to_toml) else { continue };
        if tool.is_empty() {
            continue;
        }
        out.push_str(&format!("\n[{owner}.tool]\n"));
        for (name, settings) in tool {
            out.push_str(&format!("{} = {settings}\n", toml_key(&name)));
        }
    }
    out
}

fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        key.to_string()
    } else {
        toml::Value::String(key.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "round-trip"
version = "2.0.1"
description = "every field the lock carries"
authors = ["A <a@example.com>", "B"]
[application.trigger.http]
base = "/api"
[application.tool.riff]
cors = { allowed_origins = ["https://app.example.com"] }

[variables]
greeting = { default = "hi", description = "what to say" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/hello"
component = "hello"
[[trigger.http]]
route = "/hello/..."
component = "hello"
[[trigger.http]]
id = "mine"
route = { private = true }
component = "back"
[[trigger.queue]]
topic = "plays"
component = "back"
max_attempts = 3
[[trigger.cron]]
component = "back"
cron_expression = "0 * * * * *"

[component.hello]
description = "greets"
source = "hello.wasm"
files = ["static/*.txt", { source = "assets", destination = "/srv" }]
environment = { MODE = "test" }
allowed_outbound_hosts = ["http://back.spin.internal", "https://api.example.com:8443"]
key_value_stores = ["default", "cache"]
sqlite_databases = ["main"]
variables = { message = "{{ greeting }}!" }
[component.hello.dependencies]
"riff:music/catalog" = { component = "back" }
[component.hello.tool.riff]
timeout = "5s"
max_request_body = "64KiB"
instance_reuse = { max_requests = 10, idle_timeout = "1s" }
[component.hello.build]
command = "true"

[component.back]
source = "back.wasm"
"#;

    fn app() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("spin.toml"), MANIFEST).unwrap();
        std::fs::write(p.join("hello.wasm"), [b"\0asm\x0d\0\x01\0".as_slice(), &[7u8; 300]].concat())
            .unwrap();
        std::fs::write(p.join("back.wasm"), b"\0asm\x0d\0\x01\0back").unwrap();
        std::fs::create_dir_all(p.join("static")).unwrap();
        std::fs::write(p.join("static/small.txt"), "small").unwrap();
        std::fs::write(p.join("static/big.txt"), "x".repeat(500)).unwrap();
        std::fs::create_dir_all(p.join("assets/css")).unwrap();
        std::fs::write(p.join("assets/css/site.css"), "body {}").unwrap();
        dir
    }

    #[test]
    fn a_manifest_locks_as_spin_locks_it() {
        let dir = app();
        let bundle = bundle(&dir.path().join("spin.toml")).unwrap();
        let lock = &bundle.locked;
        assert_eq!(lock.metadata_str("name"), Some("round-trip"));
        assert_eq!(lock.metadata["triggers"]["http"]["base"], "/api");
        assert!(lock.metadata.get("trigger").is_none(), "three trigger types: no single `trigger`");
        let ids: Vec<(&str, &str)> =
            lock.triggers.iter().map(|t| (t.trigger_type.as_str(), t.id.as_str())).collect();
        assert_eq!(
            ids,
            [
                ("cron", "back-cron-trigger"),
                ("http", "hello-http-trigger"),
                ("http", "http-trigger1"),
                ("http", "mine"),
                ("queue", "back-queue-trigger")
            ]
        );
        assert_eq!(
            lock.triggers[3].trigger_config,
            serde_json::json!({ "component": "back", "route": { "private": true } })
        );
        assert!(lock.variables["token"].default.is_none() && lock.variables["token"].secret);

        let hello = &lock.components.iter().find(|c| c.id == "hello").unwrap();
        assert_eq!(hello.metadata["databases"], serde_json::json!(["main"]));
        assert_eq!(hello.metadata["tool"]["riff"]["timeout"], "5s");
        assert_eq!(hello.host_requirements[SERVICE_CHAINING], REQUIRED);
        assert_eq!(lock.must_understand, [MUST_UNDERSTAND_COMPONENT_HOST_REQUIREMENTS]);
        let paths: Vec<&str> = hello.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["srv/css/site.css", "static/big.txt", "static/small.txt"]);
        assert!(hello.files[0].content.inline.is_some() && hello.files[1].content.inline.is_none());
        let back = &lock.components.iter().find(|c| c.id == "back").unwrap();
        assert_eq!(
            back.source.content.inline.as_deref(),
            Some(&b"\0asm\x0d\0\x01\0back"[..]),
            "small Wasm is inlined too"
        );
        let dep = &hello.dependencies["riff:music/catalog"];
        assert_eq!(dep.source.content.digest, back.source.content.digest);

        // Layers: the two Wasm and the one file over 128 bytes, nothing twice.
        let types: Vec<&str> = bundle.layers.iter().map(|l| l.media_type).collect();
        assert_eq!(types, [WASM_LAYER_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, DATA_MEDIA_TYPE]);
    }

    #[test]
    fn a_lock_comes_back_as_the_same_app() {
        let dir = app();
        let original = riff_manifest::load(&dir.path().join("spin.toml")).unwrap();
        let bundle = bundle(&dir.path().join("spin.toml")).unwrap();
        let lock = LockedApp::from_json(&bundle.locked.to_json()).unwrap();
        let placed = Placed {
            wasm: [
                ("hello".to_string(), PathBuf::from("/cache/h.wasm")),
                ("back".to_string(), PathBuf::from("/cache/b.wasm")),
            ]
            .into(),
            files: [("hello".to_string(), PathBuf::from("/cache/app/files/hello"))].into(),
        };
        let text = manifest_text(&lock, &placed, "localhost:5000/rt:v1@sha256:00").unwrap();
        let back =
            riff_manifest::parse(&text, Path::new("/cache/app/spin.toml"), Path::new("/cache/app")).unwrap();

        assert_eq!(
            (back.name.as_str(), back.version.as_deref(), back.base.as_str()),
            ("round-trip", Some("2.0.1"), "/api")
        );
        assert_eq!(back.variables, original.variables);
        assert_eq!(back.riff, original.riff);
        let routes = |m: &riff_manifest::Manifest| {
            m.http_routes.iter().map(|r| (r.route.clone(), r.component.clone())).collect::<Vec<_>>()
        };
        assert_eq!(routes(&back), routes(&original));
        let strip = |m: &riff_manifest::Manifest| {
            (
                m.queue_triggers
                    .iter()
                    .map(|q| (q.topic.clone(), q.component.clone(), q.max_attempts))
                    .collect::<Vec<_>>(),
                m.cron_triggers
                    .iter()
                    .map(|c| (c.component.clone(), c.cron_expression.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(strip(&back), strip(&original));
        for (a, b) in original.components.iter().zip(&back.components) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.description, b.description);
            assert_eq!(a.environment, b.environment);
            assert_eq!(a.allowed_outbound_hosts, b.allowed_outbound_hosts);
            assert_eq!(a.key_value_stores, b.key_value_stores);
            assert_eq!(a.sqlite_databases, b.sqlite_databases);
            assert_eq!(a.variables, b.variables);
            assert_eq!(a.dependencies, b.dependencies);
            assert_eq!(a.riff, b.riff);
        }
        let hello = back.component("hello").unwrap();
        assert_eq!(hello.source, PathBuf::from("/cache/h.wasm"));
        assert_eq!(
            hello.files,
            [riff_manifest::FileMount::Mapping {
                source: "/cache/app/files/hello".into(),
                destination: "/".into()
            }]
        );
        assert!(hello.build.is_none(), "a pulled app has nothing to build");
    }

    #[test]
    fn what_riff_cannot_run_is_refused_by_name() {
        let dir = app();
        let mut lock = bundle(&dir.path().join("spin.toml")).unwrap().locked;
        let placed = Placed {
            wasm: lock.components.iter().map(|c| (c.id.clone(), PathBuf::from("/w"))).collect(),
            files: BTreeMap::new(),
        };
        let mut llm = lock.clone();
        llm.components[0].metadata.insert("ai_models".into(), serde_json::json!(["llama2-chat"]));
        let e = manifest_text(&llm, &placed, "r").unwrap_err().to_string();
        assert!(e.contains("ai_models") && e.contains("llama2-chat"), "{e}");

        // A dependency on a Wasm that is no component of the app (Spin composes those).
        let hello = lock.components.iter_mut().find(|c| c.id == "hello").unwrap();
        let dep = hello.dependencies.get_mut("riff:music/catalog").unwrap();
        dep.component = None;
        dep.source.content.digest = Some("sha256:elsewhere".into());
        let e = manifest_text(&lock, &placed, "r").unwrap_err().to_string();
        assert!(e.contains("sha256:elsewhere") && e.contains("does not compose"), "{e}");
    }

    #[test]
    fn pushing_needs_built_components() {
        let dir = app();
        std::fs::remove_file(dir.path().join("back.wasm")).unwrap();
        let e = bundle(&dir.path().join("spin.toml")).unwrap_err().to_string();
        assert!(e.contains("component \"back\": cannot read its Wasm \"back.wasm\" (build it first"), "{e}");
        std::fs::write(dir.path().join("back.wasm"), "not wasm").unwrap();
        let e = bundle(&dir.path().join("spin.toml")).unwrap_err().to_string();
        assert!(e.contains("is not a WebAssembly file"), "{e}");
    }
}
