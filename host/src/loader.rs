//! From manifest entries to components ready to serve.
//!
//! A [`Loader`] holds what every component load needs — the manifest, resolved variables, the
//! open key-value stores and databases, the capability linker — and turns one compiled artifact
//! into a [`LoadedComponent`]: linked to its dependencies, pre-instantiated, with its grants
//! resolved. The same path serves `riff up`, a manifest reload and a hot swap, so a component
//! is checked the same way however it arrives.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;
use wasmtime_wasi_http::p3::bindings::ServiceIndices;

use crate::capabilities::{
    self,
    services::{AppCell, Dependency},
};
use crate::component::{HttpExport, LoadedComponent, Origin, Snapshot};
use crate::runtime::ComponentRuntime;
use crate::state::RequestState;
use riff_core::engine::{LoadedArtifact, RiffEngine};
use riff_core::warm::WarmPool;
use riff_core::Instances;
use riff_key_value::host::KeyValueGrants;
use riff_key_value::KeyValueBackend;
use riff_manifest::routes::Router;
use riff_manifest::{self as manifest, FileMount, Manifest, RouteKind};
use riff_messaging::host::MessagingGrants;
use riff_messaging::{QueueBackend, Subscription};
use riff_outbound_http::AllowList;
use riff_runtime_config::RuntimeConfig;
use riff_sql::host::SqlGrants;
use riff_sql::SqlBackend;
use riff_trigger_queue::SubscriberIndices;
use riff_variables::AppVariables;

/// Where an app keeps its state and how it is configured.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// State directory (`.riff` by default): databases, key-value stores, staged files.
    pub state_dir: PathBuf,
    pub runtime_config: Option<PathBuf>,
    /// Compiled-artifact cache; `None` puts it under the state directory.
    pub cache_dir: Option<PathBuf>,
}

/// Everything needed to load the components of one manifest.
#[derive(Clone)]
pub struct Loader {
    pub manifest: Manifest,
    variables: AppVariables,
    runtime_config: RuntimeConfig,
    /// Every store and database opened so far, by label: shared by all components granted it.
    kv: HashMap<String, Arc<dyn KeyValueBackend>>,
    sql: HashMap<String, Arc<dyn SqlBackend>>,
    state_dir: PathBuf,
    linker: Linker<RequestState>,
    /// The concurrent engine's linker, made with the first WASIp3 component.
    concurrent_linker: std::sync::OnceLock<Linker<RequestState>>,
    calls: AppCell,
    /// Components in load order: callees before callers.
    pub order: Vec<String>,
    pub dependencies: HashMap<String, Vec<Dependency>>,
    /// The engine's memory ceiling, fixed when it was created.
    max_memory: u64,
    queue: Arc<dyn QueueBackend>,
}

impl Loader {
    /// Resolve variables, open every store and database the manifest names, plan the load order.
    pub async fn new(
        manifest: Manifest,
        options: &AppOptions,
        runtime_config: RuntimeConfig,
        engine: &RiffEngine,
        max_memory: u64,
        calls: AppCell,
        queue: Arc<dyn QueueBackend>,
    ) -> Result<Self> {
        std::fs::create_dir_all(&options.state_dir)
            .with_context(|| format!("creating state directory {}", options.state_dir.display()))?;
        // Staged files of an earlier run: nothing reads them any more.
        let files = options.state_dir.join("files");
        if files.exists() {
            std::fs::remove_dir_all(&files).with_context(|| format!("clearing {}", files.display()))?;
        }
        let mut linker = Linker::<RequestState>::new(engine.engine());
        capabilities::add_to_linker(&mut linker)?;
        let empty = Self {
            manifest: manifest.clone(),
            variables: AppVariables::default(),
            runtime_config,
            kv: HashMap::new(),
            sql: HashMap::new(),
            state_dir: options.state_dir.clone(),
            linker,
            concurrent_linker: std::sync::OnceLock::new(),
            calls,
            order: Vec::new(),
            dependencies: HashMap::new(),
            max_memory,
            queue,
        };
        empty.with_manifest(manifest).await
    }

    /// A loader for a changed manifest: stores and databases already open stay open (their
    /// handles are shared with running components), new labels are opened.
    pub async fn with_manifest(&self, manifest: Manifest) -> Result<Self> {
        let variables = AppVariables::from_manifest(&manifest)?;
        let capabilities::services::Plan { order, dependencies } = capabilities::services::plan(&manifest)
            .map_err(|e| anyhow!("{}: {e}", manifest.path.display()))?;

        let mut kv = self.kv.clone();
        let kv_labels =
            labels_in_use(&manifest, |c| &c.key_value_stores, self.runtime_config.key_value_labels());
        for label in &kv_labels {
            if kv.contains_key(label) {
                continue;
            }
            let default_path = self.state_dir.join("key_value").join(format!("{label}.db"));
            let store = self
                .runtime_config
                .key_value_store(label, default_path)
                .await
                .with_context(|| format!("key-value store {label:?}"))?;
            kv.insert(label.clone(), store);
        }
        let mut sql = self.sql.clone();
        let sql_labels =
            labels_in_use(&manifest, |c| &c.sqlite_databases, self.runtime_config.database_labels());
        for label in &sql_labels {
            if sql.contains_key(label) {
                continue;
            }
            let default_path = self.state_dir.join("sqlite").join(format!("{label}.db"));
            let db = self
                .runtime_config
                .database(label, default_path)
                .await
                .with_context(|| format!("database {label:?}"))?;
            sql.insert(label.clone(), db);
        }
        Ok(Self { manifest, variables, kv, sql, order, dependencies, ..self.clone() })
    }

    /// `file:line: [component.<id>]`, the prefix of every load error.
    pub fn context(&self, id: &str) -> String {
        let path = self.manifest.path.display();
        match self.manifest.component(id).and_then(|c| c.line) {
            Some(line) => format!("{path}:{line}: [component.{id}]"),
            None => format!("{path}: [component.{id}]"),
        }
    }

    /// Does some public route lead to `id`? Then it must export `wasi:http/incoming-handler`.
    fn is_routed(&self, id: &str) -> bool {
        self.manifest.http_routes.iter().any(|r| r.component == id)
    }

    /// Does a `[[trigger.cron]]` run `id`? It must then export `handle-cron-event`.
    fn is_scheduled(&self, id: &str) -> bool {
        self.manifest.cron_triggers.iter().any(|c| c.component == id)
    }

    /// Every `[[trigger.cron]]`, its expression parsed (the manifest checked it).
    pub fn cron_jobs(&self) -> Result<Vec<riff_trigger_cron::CronJob>> {
        self.manifest
            .cron_triggers
            .iter()
            .map(|c| {
                Ok(riff_trigger_cron::CronJob {
                    component: c.component.clone(),
                    schedule: riff_trigger_cron::Schedule::parse(&c.cron_expression)?,
                })
            })
            .collect()
    }

    /// The channels `[[trigger.redis]]` calls `id` for (as written); it must then export
    /// `fermyon:spin/inbound-redis`.
    fn redis_channels(&self, id: &str) -> Vec<&str> {
        self.manifest
            .redis_triggers
            .iter()
            .filter(|t| t.component == id)
            .map(|t| t.channel.as_str())
            .collect()
    }

    /// Every `[[trigger.redis]]`, its address and channel resolved from the variables.
    pub fn redis_subscriptions(&self) -> Result<Vec<riff_trigger_redis::RedisSubscription>> {
        let path = self.manifest.path.display();
        let mut subscriptions = Vec::new();
        for trigger in &self.manifest.redis_triggers {
            let at = match trigger.line {
                Some(line) => format!("{path}:{line}: [[trigger.redis]]"),
                None => format!("{path}: [[trigger.redis]]"),
            };
            let address = self.variables.expand(&trigger.address).with_context(|| format!("{at} address"))?;
            manifest::check_redis_address(&address).map_err(|m| anyhow!("{at} address: {m}"))?;
            let channel = self.variables.expand(&trigger.channel).with_context(|| format!("{at} channel"))?;
            if channel.is_empty() {
                bail!("{at} channel: {:?} resolves to nothing", trigger.channel);
            }
            subscriptions.push(riff_trigger_redis::RedisSubscription {
                address,
                channel,
                component: trigger.component.clone(),
            });
        }
        subscriptions.sort();
        Ok(subscriptions)
    }

    /// The topics `[[trigger.queue]]` delivers to `id`; it must then export the queue handler.
    fn subscribed_topics(&self, id: &str) -> Vec<&str> {
        self.manifest.queue_triggers.iter().filter(|q| q.component == id).map(|q| q.topic.as_str()).collect()
    }

    /// Every `[[trigger.queue]]` subscription.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.manifest
            .queue_triggers
            .iter()
            .map(|q| Subscription {
                topic: q.topic.clone(),
                component: q.component.clone(),
                max_attempts: q.max_attempts,
            })
            .collect()
    }

    /// What a component's load depends on besides its code: its manifest entry, its resolved
    /// variables and whether it is routed. Equal fingerprints mean a manifest reload can keep
    /// the running component.
    pub fn fingerprint(&self, id: &str) -> Result<String> {
        let component = self.manifest.component(id).ok_or_else(|| anyhow!("no component {id:?}"))?;
        let mut entry = component.clone();
        entry.line = None;
        entry.build = None;
        let variables = self.variables.for_component(&component.variables)?;
        let mut text =
            format!("{entry:?}{variables:?}{}{:?}", self.is_routed(id), self.subscribed_topics(id));
        let channels = self.redis_channels(id);
        if !channels.is_empty() {
            text.push_str(&format!("redis{channels:?}"));
        }
        Ok(hex::encode(Sha256::digest(text.as_bytes())))
    }

    /// Load `id` from its manifest source file.
    pub fn load_from_file(
        &self,
        engine: &RiffEngine,
        id: &str,
        loaded: &HashMap<String, Arc<LoadedComponent>>,
        running: Option<&LoadedComponent>,
    ) -> Result<LoadedComponent> {
        let component = self.manifest.component(id).ok_or_else(|| anyhow!("no component {id:?}"))?;
        if !component.source.exists() {
            bail!(
                "source {:?} not found: build it first (`riff up --build` or `riff build`)",
                component.source_as_written
            );
        }
        let artifact = engine.load_component(&component.source)?;
        self.prepare(id, artifact, Origin::File(component.source.clone()), loaded, running)
    }

    /// Make a compiled artifact ready to serve as component `id`: link its typed imports to the
    /// components in `loaded`, pre-instantiate it against the capability linker (which fails on
    /// any import riff cannot satisfy), and resolve its grants.
    pub fn prepare(
        &self,
        id: &str,
        artifact: LoadedArtifact,
        origin: Origin,
        loaded: &HashMap<String, Arc<LoadedComponent>>,
        running: Option<&LoadedComponent>,
    ) -> Result<LoadedComponent> {
        let component = self.manifest.component(id).ok_or_else(|| anyhow!("no component {id:?}"))?;
        if component.riff.memory_limit > self.max_memory {
            bail!(
                "memory_limit {} is above the {} this riff process was started with; restart riff to raise it",
                bytesize::ByteSize(component.riff.memory_limit),
                bytesize::ByteSize(self.max_memory)
            );
        }
        let deps = self.dependencies.get(id).map(Vec::as_slice).unwrap_or_default();
        let own_engine = artifact.component.engine();
        let base_linker = self.linker_for(own_engine)?;
        // Typed calls run the callee through synchronous (WASIp2) bindings.
        for dep in deps {
            let callee_is_p2 = loaded
                .get(&dep.component)
                .is_none_or(|callee| wasmtime::Engine::same(callee.compiled.engine(), self.linker.engine()));
            if !wasmtime::Engine::same(own_engine, self.linker.engine()) || !callee_is_p2 {
                bail!(
                    "typed calls to or from a WASIp3 component are not supported yet ({id:?} imports {} from {:?})",
                    dep.interface,
                    dep.component
                );
            }
        }
        let mut own_linker = None;
        if !deps.is_empty() {
            let mut own = base_linker.clone();
            capabilities::services::link(
                own_engine,
                &mut own,
                id,
                &artifact.component,
                deps,
                |callee| loaded.get(callee).map(|c| c.compiled.clone()),
                &self.calls,
            )?;
            own_linker = Some(own);
        }
        let linker = own_linker.as_ref().unwrap_or(base_linker);
        let instance_pre = linker.instantiate_pre(&artifact.component).map_err(|e| {
            anyhow!("does not instantiate against riff: {}", e.to_string().lines().next().unwrap_or_default())
        })?;
        let http = match (ProxyIndices::new(&instance_pre), ServiceIndices::new(&instance_pre)) {
            (Ok(p2), _) => Some(HttpExport::P2(p2)),
            (_, Ok(p3)) => Some(HttpExport::P3(p3)),
            _ if !self.is_routed(id) => None,
            (Err(e), _) => bail!(
                "exports neither wasi:http/incoming-handler@0.2.x nor wasi:http/handler@0.3.0, so it cannot \
                 serve its route: {e}"
            ),
        };

        let topics = self.subscribed_topics(id);
        let subscriber = match SubscriberIndices::new(&instance_pre) {
            Ok(indices) => Some(indices),
            Err(_) if topics.is_empty() => None,
            Err(e) => bail!(
                "[[trigger.queue]] delivers {} to it, but it does not export riff:platform/queue-handler@0.1.0: {e}",
                topics.join(", ")
            ),
        };
        let cron = match riff_trigger_cron::SpinCronIndices::new(&instance_pre) {
            Ok(indices) => Some(indices),
            Err(_) if !self.is_scheduled(id) => None,
            Err(e) => bail!(
                "[[trigger.cron]] runs it, but it does not export fermyon:spin-cron@2.0.0 handle-cron-event: {e}"
            ),
        };
        let channels = self.redis_channels(id);
        let redis = match riff_trigger_redis::RedisTriggerIndices::new(&instance_pre) {
            Ok(indices) => Some(indices),
            Err(_) if channels.is_empty() => None,
            Err(e) => bail!(
                "[[trigger.redis]] calls it for {}, but it does not export fermyon:spin/inbound-redis handle-message: {e}",
                channels.join(", ")
            ),
        };
        let reuse = component.riff.instance_reuse;

        // Grants depend only on the manifest entry: a new version of an unchanged entry shares
        // the running version's (and so its staged files, which in-flight requests may be reading).
        let fingerprint = self.fingerprint(id)?;
        let runtime = match running {
            Some(running) if running.fingerprint == fingerprint => running.runtime.clone(),
            _ => Arc::new(self.runtime(component, &fingerprint)?),
        };
        tracing::debug!(component = %id, cached = artifact.from_cache, "prepared {origin}");
        Ok(LoadedComponent {
            runtime: runtime.clone(),
            compiled: artifact.component,
            instances: Instances::new(
                runtime.id.clone(),
                instance_pre,
                reuse.map(WarmPool::new),
                runtime.timeout,
            ),
            http,
            subscriber,
            cron,
            redis,
            version: artifact.digest,
            origin,
            fingerprint,
            loaded_at: SystemTime::now(),
        })
    }

    /// The capability linker of `engine` (the WASIp2 one, or the concurrent one for WASIp3).
    fn linker_for(&self, engine: &wasmtime::Engine) -> Result<&Linker<RequestState>> {
        if wasmtime::Engine::same(engine, self.linker.engine()) {
            return Ok(&self.linker);
        }
        if let Some(linker) = self.concurrent_linker.get() {
            return Ok(linker);
        }
        let mut linker = Linker::<RequestState>::new(engine);
        capabilities::add_to_concurrent_linker(&mut linker)?;
        Ok(self.concurrent_linker.get_or_init(|| linker))
    }

    /// `allowed_outbound_hosts` with `{{ variable }}` templates expanded; an entry that expands
    /// to nothing (an unset variable) grants nothing.
    fn allow_list(&self, component: &manifest::Component) -> Result<AllowList> {
        let mut hosts = Vec::new();
        for entry in &component.allowed_outbound_hosts {
            let host =
                self.variables.expand(entry).with_context(|| format!("allowed_outbound_hosts: {entry:?}"))?;
            if !host.trim().is_empty() {
                hosts.push(host);
            }
        }
        AllowList::parse(&hosts).map_err(|e| anyhow!("allowed_outbound_hosts: {e}"))
    }

    /// A component's grants, limits and configuration, resolved from its manifest entry.
    fn runtime(&self, component: &manifest::Component, fingerprint: &str) -> Result<ComponentRuntime> {
        let allow = Arc::new(self.allow_list(component)?);
        Ok(ComponentRuntime {
            id: component.id.as_str().into(),
            memory_limit: component.riff.memory_limit,
            max_request_body: component.riff.max_request_body,
            timeout: component.riff.timeout,
            key_value: KeyValueGrants::new(
                component
                    .key_value_stores
                    .iter()
                    .filter_map(|l| self.kv.get(l).map(|s| (l.clone(), s.clone())))
                    .collect(),
            ),
            sql: SqlGrants::new(
                component
                    .sqlite_databases
                    .iter()
                    .filter_map(|l| self.sql.get(l).map(|d| (l.clone(), d.clone())))
                    .collect(),
            ),
            variables: self.variables.for_component(&component.variables)?,
            rdbms: riff_outbound_rdbms::RdbmsGrants::new(allow.clone()),
            allow,
            environment: component.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            preopens: stage_files(&self.manifest, component, &self.state_dir.join("files"), fingerprint)?,
            messaging: MessagingGrants {
                component: component.id.as_str().into(),
                topics: component.riff.publish_topics.clone(),
                queue: Some(self.queue.clone()),
            },
            instance_reuse: component.riff.instance_reuse,
        })
    }

    /// Check that `candidate`, about to become component `id`, still exports everything the
    /// components that depend on it import, with the same types.
    pub fn check_dependents(
        &self,
        id: &str,
        candidate: &LoadedComponent,
        loaded: &HashMap<String, Arc<LoadedComponent>>,
    ) -> Result<()> {
        for (caller_id, deps) in &self.dependencies {
            let Some(caller) = loaded.get(caller_id) else { continue };
            for dep in deps.iter().filter(|d| d.component == id) {
                if !wasmtime::Engine::same(caller.compiled.engine(), candidate.compiled.engine()) {
                    bail!(
                        "{caller_id:?} depends on it, and typed calls to or from a WASIp3 component are \
                         not supported yet"
                    );
                }
                capabilities::services::check(
                    caller.compiled.engine(),
                    caller_id,
                    &caller.compiled,
                    dep,
                    &candidate.compiled,
                )
                .map_err(|e| anyhow!("{caller_id:?} depends on it: {e}"))?;
            }
        }
        Ok(())
    }

    /// The routable state for `components` under this manifest's routes.
    pub fn snapshot(&self, components: HashMap<String, Arc<LoadedComponent>>) -> Result<Snapshot> {
        let mut router = Router::new();
        let mut route_of = HashMap::new();
        for route in &self.manifest.http_routes {
            if let RouteKind::Public(pattern) = &route.route {
                router.add(pattern, route.component.clone()).map_err(|e| anyhow!("route {pattern}: {e}"))?;
                route_of.entry(route.component.clone()).or_insert_with(|| pattern.clone());
            }
        }
        Ok(Snapshot {
            components,
            router: Arc::new(router),
            route_of: Arc::new(route_of),
            base: self.manifest.base.as_str().into(),
            previous: HashMap::new(),
        })
    }
}

/// SHA-256 of a file, hex: a component's version identity.
pub fn file_digest(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| hex::encode(Sha256::digest(bytes)))
}

/// Resolve `files`: directory mappings are mounted as they are; globs and single files are
/// copied into a staging directory, mounted at `/`. Each manifest version of a component stages
/// into its own directory, so requests still running on a replaced version keep their files.
fn stage_files(
    manifest: &Manifest,
    component: &manifest::Component,
    files_dir: &Path,
    fingerprint: &str,
) -> Result<Vec<(PathBuf, String)>> {
    let mut mounts = Vec::new();
    if component.files.is_empty() {
        return Ok(mounts);
    }
    let staging = files_dir.join(&component.id).join(&fingerprint[..16]);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("clearing {}", staging.display()))?;
    }
    let mut staged_any = false;
    let mut stage = |from: &Path, to_rel: &Path| -> Result<()> {
        let dest = staging.join(to_rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, &dest).with_context(|| format!("copying {}", from.display()))?;
        staged_any = true;
        Ok(())
    };
    for mount in &component.files {
        match mount {
            FileMount::Glob(pattern) => {
                let full = manifest.dir.join(pattern);
                let entries =
                    glob::glob(&full.to_string_lossy()).with_context(|| format!("files: {pattern}"))?;
                for entry in entries {
                    let path = entry?;
                    if path.is_file() {
                        let rel = path.strip_prefix(&manifest.dir).unwrap_or(&path).to_path_buf();
                        stage(&path, &rel)?;
                    }
                }
            }
            FileMount::Mapping { source, destination } => {
                if source.is_dir() {
                    mounts.push((source.clone(), destination.clone()));
                } else if source.is_file() {
                    stage(source, Path::new(destination.trim_start_matches('/')))?;
                } else {
                    bail!("files: {} does not exist", source.display());
                }
            }
        }
    }
    if staged_any {
        mounts.push((staging, "/".to_string()));
    } else if !component.files.iter().all(|f| matches!(f, FileMount::Mapping { .. })) {
        tracing::warn!(component = %component.id, "files: the globs matched no files");
    }
    Ok(mounts)
}

fn labels_in_use<'a, 'b>(
    manifest: &'a Manifest,
    grants: impl Fn(&'a manifest::Component) -> &'a Vec<String>,
    configured: impl Iterator<Item = &'b String>,
) -> BTreeSet<String> {
    let mut labels: BTreeSet<String> = manifest.components.iter().flat_map(grants).cloned().collect();
    labels.extend(configured.cloned());
    labels
}
