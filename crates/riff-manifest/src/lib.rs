//! Parsing and validation of `spin.toml` (Spin manifest v2).
//!
//! Riff reads the same manifest Spin does, so an application moves between the two unchanged.
//! Riff-only settings live under `[component.<id>.tool.riff]`, a table Spin ignores.
//!
//! Every error is a single line that names the file, the line and the key at fault, because the
//! person reading it is about to open the manifest in an editor: `spin.toml:14: [[trigger.http]]
//! component: no component named "cataog" (components: auth, catalog)`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub mod allow_list;
pub mod routes;
pub mod template;

/// Default per-component memory limit (Spin's hosts use a similar order of magnitude).
pub const DEFAULT_MEMORY_LIMIT: u64 = 128 * 1024 * 1024;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest request body a component accepts (`tool.riff.max_request_body`).
pub const DEFAULT_MAX_REQUEST_BODY: u64 = 1024 * 1024;

/// A manifest error the user can act on: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    /// 1-based line, when the error can be pinned to one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// The validated application described by a manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file itself.
    pub path: PathBuf,
    /// Directory the manifest's relative paths are resolved against.
    pub dir: PathBuf,
    pub name: String,
    pub version: Option<String>,
    /// `[application.trigger.http] base`, "/" by default.
    pub base: String,
    pub variables: BTreeMap<String, VariableDecl>,
    /// Components in manifest order.
    pub components: Vec<Component>,
    pub http_routes: Vec<HttpRoute>,
    /// `[[trigger.queue]]`: topics delivered to components.
    pub queue_triggers: Vec<QueueTrigger>,
    /// `[[trigger.cron]]`: components called on a schedule.
    pub cron_triggers: Vec<CronTrigger>,
    /// `[[trigger.redis]]`: components called for each message on a Redis channel.
    pub redis_triggers: Vec<RedisTrigger>,
    /// `[application.tool.riff]`: app-wide settings Spin does not have.
    pub riff: AppSettings,
}

/// `[application.tool.riff]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSettings {
    /// Origins browsers may call the API from (`cors.allowed_origins`); empty: no CORS headers.
    /// `"*"` allows any origin (without credentials).
    pub cors_allowed_origins: Vec<String>,
}

impl Manifest {
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    pub description: Option<String>,
}

/// How a component is reached over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKind {
    /// A public route pattern such as `/v1/artists/:id` or `/static/...`.
    Public(String),
    /// `route = { private = true }`: only reachable in-process via `<id>.spin.internal`.
    Private,
}

#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub route: RouteKind,
    pub component: String,
    /// Line of the `[[trigger.http]]` entry, for later error messages.
    pub line: Option<usize>,
}

/// `[[trigger.queue]]`: deliver every message published to `topic` to `component`'s
/// `riff:platform/queue-handler` export, at least once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTrigger {
    pub topic: String,
    pub component: String,
    /// Deliveries before a message goes to the dead letters.
    pub max_attempts: u32,
    pub line: Option<usize>,
}

pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// `[[trigger.cron]]` (Spin's cron trigger plugin): call `component`'s
/// `fermyon:spin-cron` `handle-cron-event` export at every tick of `cron_expression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTrigger {
    pub component: String,
    pub cron_expression: String,
    pub line: Option<usize>,
}

/// `[[trigger.redis]]` (Spin's Redis trigger): call `component`'s `fermyon:spin/inbound-redis`
/// `handle-message` export for every message published on `channel` at `address` — the
/// trigger's own `address`, else `[application.trigger.redis] address`. Both `address` and
/// `channel` may hold `{{ variable }}` templates (as Spin allows), resolved at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTrigger {
    pub component: String,
    pub channel: String,
    pub address: String,
    pub line: Option<usize>,
}

/// Check a Redis trigger's address (after its variables are resolved): a `redis://`,
/// `rediss://` or `redis+unix://` URL with a host (or socket path).
pub fn check_redis_address(address: &str) -> Result<(), String> {
    let shown = hide_password(address);
    let url = url::Url::parse(address)
        .map_err(|e| format!("{shown:?} is not a Redis address (redis://host:port): {e}"))?;
    match url.scheme() {
        "redis" | "rediss" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "redis+unix" | "unix" if !url.path().is_empty() => Ok(()),
        "redis" | "rediss" => Err(format!("{shown:?} names no host (redis://host:port)")),
        other => Err(format!(
            "{shown:?} is not a Redis address: the scheme is {other:?}, expected redis:// or rediss://"
        )),
    }
}

/// `address` with a password in its user information hidden (this crate is a leaf, so the
/// shared redaction in riff-core is not at hand; the form is the same).
fn hide_password(address: &str) -> String {
    match (address.split_once("://"), address.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => address.to_string(),
            },
            None => address.to_string(),
        },
        _ => address.to_string(),
    }
}

/// Check a cron trigger's expression: six fields (second minute hour day-of-month month
/// day-of-week) and an optional year, as Spin's plugin reads them.
pub fn check_cron_expression(expression: &str) -> Result<(), String> {
    if expression.split_whitespace().count() == 5 {
        return Err(format!(
            "{expression:?} has 5 fields; the cron trigger takes 6, seconds first: \"0 {expression}\""
        ));
    }
    cron::Schedule::from_str(expression).map(|_| ()).map_err(|e| {
        format!("{expression:?} is not a cron expression (second minute hour day-of-month month day-of-week [year]): {e}")
    })
}

/// One `files` entry: a glob relative to the manifest, or a directory/file mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    Glob(String),
    Mapping { source: PathBuf, destination: String },
}

#[derive(Debug, Clone, Default)]
pub struct BuildDecl {
    pub command: String,
    pub workdir: Option<PathBuf>,
    pub watch: Vec<String>,
}

/// A validated `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    pub description: Option<String>,
    /// Absolute path of the `.wasm`.
    pub source: PathBuf,
    /// The path as written, for messages.
    pub source_as_written: String,
    pub files: Vec<FileMount>,
    pub environment: BTreeMap<String, String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Component variables: name -> template (may reference `{{ app_var }}`).
    pub variables: BTreeMap<String, String>,
    pub build: Option<BuildDecl>,
    /// `dependencies` table, kept raw here; the linker interprets it.
    pub dependencies: BTreeMap<String, toml::Value>,
    pub riff: RiffSettings,
    /// Line of `[component.<id>]`.
    pub line: Option<usize>,
}

/// `[component.<id>.tool.riff]`: settings Spin does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct RiffSettings {
    pub memory_limit: u64,
    pub timeout: Duration,
    /// Topics the component may publish to (`publish_topics`); none by default.
    pub publish_topics: Vec<String>,
    /// `instance_reuse`: keep instances warm between requests; `None` = a fresh one each time.
    pub instance_reuse: Option<InstanceReuse>,
    /// Largest request body, in bytes (`max_request_body`); larger ones get 413 unread.
    pub max_request_body: u64,
}

/// `instance_reuse = { max_requests = 1000, idle_timeout = "30s" }`: an instance serves up to
/// `max_requests` requests, one after another, and is dropped after `idle_timeout` unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceReuse {
    pub max_requests: u32,
    pub idle_timeout: Duration,
}

impl Default for RiffSettings {
    fn default() -> Self {
        Self {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            timeout: DEFAULT_TIMEOUT,
            publish_topics: Vec::new(),
            instance_reuse: None,
            max_request_body: DEFAULT_MAX_REQUEST_BODY,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw (serde) shapes. `deny_unknown_fields` everywhere: a typo must not be silently ignored.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: Spanned<toml::Value>,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, Spanned<VariableDecl>>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, Spanned<RawComponent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    version: Option<String>,
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    trigger: RawAppTriggers,
    #[serde(default)]
    tool: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppSettings {
    cors: Option<RawCors>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    allowed_origins: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAppTriggers {
    http: Option<RawAppHttp>,
    redis: Option<Spanned<RawAppRedis>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppRedis {
    address: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppHttp {
    base: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<Spanned<RawHttpTrigger>>,
    #[serde(default)]
    queue: Vec<Spanned<RawQueueTrigger>>,
    #[serde(default)]
    cron: Vec<Spanned<RawCronTrigger>>,
    #[serde(default)]
    redis: Vec<Spanned<RawRedisTrigger>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisTrigger {
    #[allow(dead_code)]
    id: Option<String>,
    component: String,
    channel: String,
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCronTrigger {
    component: String,
    cron_expression: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueueTrigger {
    topic: String,
    component: String,
    max_attempts: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[allow(dead_code)]
    id: Option<String>,
    route: Spanned<RawRoute>,
    component: Spanned<RawComponentRef>,
    #[allow(dead_code)]
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawComponentRef {
    Id(String),
    Inline(#[allow(dead_code)] toml::Table),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: Spanned<toml::Value>,
    description: Option<String>,
    #[serde(default)]
    files: Vec<RawFileMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    build: Option<RawBuild>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    dependencies_inherit_configuration: bool,
    #[serde(default)]
    tool: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFileMount {
    Glob(String),
    Mapping { source: String, destination: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: RawCommand,
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommand {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRiffSettings {
    memory_limit: Option<toml::Value>,
    timeout: Option<toml::Value>,
    publish_topics: Option<Vec<String>>,
    instance_reuse: Option<RawInstanceReuse>,
    max_request_body: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstanceReuse {
    max_requests: Option<u32>,
    idle_timeout: Option<toml::Value>,
}

// ---------------------------------------------------------------------------------------------

/// Read and validate a manifest file.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: path.to_path_buf(),
        line: None,
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "manifest not found (pass another with -f/--from, or run riff from the app's directory)"
                .to_string()
        } else {
            format!("cannot read manifest: {e}")
        },
    })?;
    let dir = path
        .parent()
        .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    parse(&text, path, &dir)
}

/// The app `riff up -f FILE.wasm` serves: that one component (a component or a core module) on
/// `/...`, granted nothing, as `spin up -f FILE.wasm` does. Its id is the file's stem in kebab
/// case; state lives beside the file.
pub fn for_component(wasm: &Path) -> Result<Manifest, ManifestError> {
    let failed = |message: String| ManifestError { file: wasm.to_path_buf(), line: None, message };
    let source = std::fs::canonicalize(wasm).map_err(|e| failed(format!("cannot read component: {e}")))?;
    let stem = source.file_stem().map(|s| s.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let words: Vec<&str> =
        stem.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let id = match words.join("-") {
        id if id.starts_with(|c: char| c.is_ascii_lowercase()) => id,
        id if id.is_empty() => "app".to_string(),
        id => format!("app-{id}"),
    };
    let text = format!(
        "spin_manifest_version = 2\n[application]\nname = {name}\n\n[[trigger.http]]\nroute = \"/...\"\n\
         component = \"{id}\"\n\n[component.{id}]\nsource = {source}\n",
        name = toml::Value::String(id.clone()),
        source = toml::Value::String(source.to_string_lossy().into_owned()),
    );
    let dir = source.parent().unwrap_or(Path::new("/")).to_path_buf();
    parse(&text, wasm, &dir)
}

/// Parse and validate manifest text; `dir` resolves relative paths.
pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<Manifest, ManifestError> {
    let err_at = |offset: Option<usize>, message: String| ManifestError {
        file: file.to_path_buf(),
        line: offset.map(|o| line_of(text, o)),
        message,
    };

    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace('\n', " ");
        err_at(e.span().map(|s| s.start), message)
    })?;

    match raw.spin_manifest_version.get_ref() {
        toml::Value::Integer(2) => {}
        toml::Value::String(s) if s == "1" => {
            return Err(err_at(
                Some(raw.spin_manifest_version.span().start),
                "spin_manifest_version: version 1 manifests are not supported; \
                 convert with `spin doctor` or write a version 2 manifest"
                    .into(),
            ))
        }
        other => {
            return Err(err_at(
                Some(raw.spin_manifest_version.span().start),
                format!("spin_manifest_version: expected 2, found {other}"),
            ))
        }
    }

    if raw.application.name.trim().is_empty() {
        return Err(err_at(find(text, "[application]"), "[application] name: must not be empty".into()));
    }
    let _ = (&raw.application.description, &raw.application.authors);
    let app_settings = app_settings(text, raw.application.tool, err_at)?;
    let redis_default = raw.application.trigger.redis.map(|r| (r.span().start, r.into_inner().address));
    let base = raw.application.trigger.http.and_then(|h| h.base).unwrap_or_else(|| "/".to_string());
    if !base.starts_with('/') {
        return Err(err_at(
            find(text, "base"),
            format!("[application.trigger.http] base: must start with '/', found {base:?}"),
        ));
    }

    let mut variables = BTreeMap::new();
    for (name, decl) in raw.variables {
        let at = Some(decl.span().start);
        let decl = decl.into_inner();
        check_variable_name(&name).map_err(|m| err_at(at, format!("[variables] {name}: {m}")))?;
        if decl.required && decl.default.is_some() {
            return Err(err_at(
                at,
                format!("[variables] {name}: a variable cannot be both required and have a default"),
            ));
        }
        variables.insert(name, decl);
    }

    let mut components = Vec::new();
    for (id, spanned) in raw.component {
        let line_offset = find(text, &format!("[component.{id}]")).or(Some(spanned.span().start));
        let raw_c = spanned.into_inner();
        check_component_id(&id).map_err(|m| err_at(line_offset, format!("[component.{id}]: {m}")))?;
        components.push(validate_component(text, file, dir, &id, line_offset, raw_c, &variables)?);
    }

    let ids: BTreeSet<&str> = components.iter().map(|c| c.id.as_str()).collect();
    let mut http_routes = Vec::new();
    let mut seen_routes: BTreeMap<String, usize> = BTreeMap::new();
    for trigger in raw.trigger.http {
        let trigger_at = trigger.span().start;
        let trigger = trigger.into_inner();
        let component_at = trigger.component.span().start;
        let component = match trigger.component.into_inner() {
            RawComponentRef::Id(id) => id,
            RawComponentRef::Inline(_) => {
                return Err(err_at(
                    Some(component_at),
                    "[[trigger.http]] component: inline component tables are not supported; \
                     declare it as [component.<id>] and refer to it by id"
                        .into(),
                ))
            }
        };
        if !ids.contains(component.as_str()) {
            let known: Vec<&str> = ids.iter().copied().collect();
            return Err(err_at(
                Some(component_at),
                format!(
                    "[[trigger.http]] component: no component named {component:?} (components: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            ));
        }
        let route_at = trigger.route.span().start;
        let route =
            match trigger.route.into_inner() {
                RawRoute::Path(p) => {
                    crate::routes::RoutePattern::parse(&p)
                        .map_err(|m| err_at(Some(route_at), format!("[[trigger.http]] route: {m}")))?;
                    let normalized = crate::routes::RoutePattern::parse(&p).unwrap().to_string();
                    if let Some(prev) = seen_routes.insert(normalized.clone(), line_of(text, route_at)) {
                        return Err(err_at(
                            Some(route_at),
                            format!("[[trigger.http]] route: {p:?} is already routed on line {prev}"),
                        ));
                    }
                    RouteKind::Public(p)
                }
                RawRoute::Private { private: true } => RouteKind::Private,
                RawRoute::Private { private: false } => return Err(err_at(
                    Some(route_at),
                    "[[trigger.http]] route: `{ private = false }` is not a route; give a path like \"/...\""
                        .into(),
                )),
            };
        http_routes.push(HttpRoute { route, component, line: Some(line_of(text, trigger_at)) });
    }

    let mut queue_triggers = Vec::new();
    for trigger in raw.trigger.queue {
        let at = Some(trigger.span().start);
        let trigger = trigger.into_inner();
        check_topic(&trigger.topic).map_err(|m| err_at(at, format!("[[trigger.queue]] topic: {m}")))?;
        if !ids.contains(trigger.component.as_str()) {
            return Err(err_at(
                at,
                format!("[[trigger.queue]] component: no component named {:?}", trigger.component),
            ));
        }
        if queue_triggers
            .iter()
            .any(|q: &QueueTrigger| q.topic == trigger.topic && q.component == trigger.component)
        {
            return Err(err_at(
                at,
                format!("[[trigger.queue]]: {:?} already delivers {:?}", trigger.component, trigger.topic),
            ));
        }
        let max_attempts = trigger.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if max_attempts == 0 {
            return Err(err_at(at, "[[trigger.queue]] max_attempts: must be at least 1".into()));
        }
        queue_triggers.push(QueueTrigger {
            topic: trigger.topic,
            component: trigger.component,
            max_attempts,
            line: at.map(|o| line_of(text, o)),
        });
    }

    let mut cron_triggers = Vec::new();
    for trigger in raw.trigger.cron {
        let at = Some(trigger.span().start);
        let trigger = trigger.into_inner();
        if !ids.contains(trigger.component.as_str()) {
            return Err(err_at(
                at,
                format!("[[trigger.cron]] component: no component named {:?}", trigger.component),
            ));
        }
        check_cron_expression(&trigger.cron_expression)
            .map_err(|m| err_at(at, format!("[[trigger.cron]] cron_expression: {m}")))?;
        cron_triggers.push(CronTrigger {
            component: trigger.component,
            cron_expression: trigger.cron_expression,
            line: at.map(|o| line_of(text, o)),
        });
    }

    let redis_triggers = redis_triggers(text, raw.trigger.redis, redis_default, &ids, &variables, &err_at)?;

    Ok(Manifest {
        path: file.to_path_buf(),
        dir: dir.to_path_buf(),
        name: raw.application.name,
        version: raw.application.version,
        base,
        variables,
        components,
        http_routes,
        queue_triggers,
        cron_triggers,
        redis_triggers,
        riff: app_settings,
    })
}

/// `[[trigger.redis]]` entries, with `[application.trigger.redis]`'s address where they name none.
fn redis_triggers(
    text: &str,
    raw: Vec<Spanned<RawRedisTrigger>>,
    default: Option<(usize, String)>,
    ids: &BTreeSet<&str>,
    variables: &BTreeMap<String, VariableDecl>,
    err_at: &impl Fn(Option<usize>, String) -> ManifestError,
) -> Result<Vec<RedisTrigger>, ManifestError> {
    // A template names declared variables only; a plain address must be one.
    let check = |at: usize, key: &str, value: &str, is_address: bool| -> Result<(), ManifestError> {
        let references = crate::template::template_references(value)
            .map_err(|m| err_at(Some(at), format!("{key}: {m}")))?;
        if let Some(missing) = references.iter().find(|r| !variables.contains_key(*r)) {
            return Err(err_at(
                Some(at),
                format!("{key}: refers to {{{{ {missing} }}}}, which is not declared in [variables]"),
            ));
        }
        if is_address && references.is_empty() {
            check_redis_address(value).map_err(|m| err_at(Some(at), format!("{key}: {m}")))?;
        }
        Ok(())
    };
    if let Some((at, address)) = &default {
        check(*at, "[application.trigger.redis] address", address, true)?;
    }
    let mut triggers: Vec<RedisTrigger> = Vec::new();
    for trigger in raw {
        let at = trigger.span().start;
        let trigger = trigger.into_inner();
        if !ids.contains(trigger.component.as_str()) {
            return Err(err_at(
                Some(at),
                format!("[[trigger.redis]] component: no component named {:?}", trigger.component),
            ));
        }
        if trigger.channel.trim().is_empty() {
            return Err(err_at(Some(at), "[[trigger.redis]] channel: must not be empty".into()));
        }
        check(at, "[[trigger.redis]] channel", &trigger.channel, false)?;
        let address = match (trigger.address, &default) {
            (Some(own), _) => {
                check(at, "[[trigger.redis]] address", &own, true)?;
                own
            }
            (None, Some((_, address))) => address.clone(),
            (None, None) => {
                return Err(err_at(
                    Some(at),
                    "[[trigger.redis]]: no Redis address: set [application.trigger.redis] address = \"redis://host:6379\" \
                     or this trigger's own address"
                        .into(),
                ))
            }
        };
        let line = Some(line_of(text, at));
        if let Some(twin) = triggers.iter().find(|t| {
            t.component == trigger.component && t.channel == trigger.channel && t.address == address
        }) {
            return Err(err_at(
                Some(at),
                format!(
                    "[[trigger.redis]]: {:?} already handles {:?} on this server (line {})",
                    trigger.component,
                    trigger.channel,
                    twin.line.unwrap_or_default()
                ),
            ));
        }
        triggers.push(RedisTrigger { component: trigger.component, channel: trigger.channel, address, line });
    }
    Ok(triggers)
}

/// `[application.tool.riff]`.
fn app_settings(
    text: &str,
    tools: BTreeMap<String, Spanned<toml::Value>>,
    err_at: impl Fn(Option<usize>, String) -> ManifestError,
) -> Result<AppSettings, ManifestError> {
    let mut settings = AppSettings::default();
    let Some(value) = tools.into_iter().find_map(|(tool, v)| (tool == "riff").then_some(v)) else {
        return Ok(settings);
    };
    let at = find(text, "[application.tool.riff]").or(Some(value.span().start));
    let raw: RawAppSettings = value.into_inner().try_into().map_err(|e: toml::de::Error| {
        err_at(at, format!("[application.tool.riff]: {}", e.message().trim()))
    })?;
    if let Some(cors) = raw.cors {
        for origin in cors.allowed_origins {
            check_origin(&origin)
                .map_err(|m| err_at(at, format!("[application.tool.riff] cors.allowed_origins: {m}")))?;
            settings.cors_allowed_origins.push(origin);
        }
    }
    Ok(settings)
}

/// An origin as browsers send it: `scheme://host[:port]`, no path; or `*`.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let parsed = url::Url::parse(origin).map_err(|e| format!("{origin:?} is not an origin: {e}"))?;
    let bare = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some()
        && parsed.path() == "/"
        && !origin.ends_with('/')
        && parsed.query().is_none()
        && parsed.username().is_empty();
    if bare {
        Ok(())
    } else {
        Err(format!(
            "{origin:?} is not an origin: expected scheme://host[:port], e.g. \"https://music.example.com\""
        ))
    }
}

/// Topic names: lowercase letters, digits, '.', '-' and '_', up to 128 characters.
pub fn check_topic(topic: &str) -> Result<(), String> {
    let ok = !topic.is_empty()
        && topic.len() <= 128
        && topic.starts_with(|c: char| c.is_ascii_lowercase())
        && topic
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{topic:?} is not a topic name (lowercase letters, digits, '.', '-', '_'; starting with a letter)"
        ))
    }
}

#[allow(clippy::too_many_arguments)]
fn validate_component(
    text: &str,
    file: &Path,
    dir: &Path,
    id: &str,
    at: Option<usize>,
    raw: RawComponent,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<Component, ManifestError> {
    let err = |offset: Option<usize>, message: String| ManifestError {
        file: file.to_path_buf(),
        line: offset.map(|o| line_of(text, o)),
        message: format!("[component.{id}] {message}"),
    };
    let source_at = Some(raw.source.span().start);
    let source_as_written = match raw.source.get_ref() {
        toml::Value::String(s) if !s.trim().is_empty() => s.clone(),
        toml::Value::Table(t) if t.contains_key("url") => {
            return Err(err(
                source_at,
                "source: remote sources ({ url, digest }) are not supported; download the .wasm and give its path"
                    .into(),
            ))
        }
        _ => return Err(err(source_at, "source: expected the path of a .wasm file".into())),
    };
    let source = dir.join(&source_as_written);

    if !raw.exclude_files.is_empty() {
        return Err(err(at, "exclude_files: not supported; narrow the `files` globs instead".into()));
    }
    let mut files = Vec::new();
    for f in raw.files {
        files.push(match f {
            RawFileMount::Glob(g) => {
                glob::Pattern::new(&g).map_err(|e| err(at, format!("files: bad glob {g:?}: {e}")))?;
                FileMount::Glob(g)
            }
            RawFileMount::Mapping { source, destination } => {
                if !destination.starts_with('/') {
                    return Err(err(at, format!("files: destination {destination:?} must be absolute")));
                }
                FileMount::Mapping { source: dir.join(source), destination }
            }
        });
    }

    for store in raw.key_value_stores.iter().chain(&raw.sqlite_databases) {
        check_label(store).map_err(|m| err(at, format!("label {store:?}: {m}")))?;
    }
    for host in &raw.allowed_outbound_hosts {
        let at_host = find(text, host).or(at);
        // A template (`"{{ api_base }}"`, as Spin allows) is checked once its variables are
        // resolved, at load; here only that it names declared variables.
        let references = crate::template::template_references(host)
            .map_err(|m| err(at_host, format!("allowed_outbound_hosts: {m}")))?;
        if let Some(missing) = references.iter().find(|r| !app_variables.contains_key(*r)) {
            return Err(err(
                at_host,
                format!("allowed_outbound_hosts: {host:?} refers to {{{{ {missing} }}}}, which is not declared in [variables]"),
            ));
        }
        if !references.is_empty() {
            continue;
        }
        crate::allow_list::AllowedHost::parse(host)
            .map_err(|m| err(at_host, format!("allowed_outbound_hosts: {m}")))?;
    }
    for (name, template) in &raw.variables {
        check_variable_name(name).map_err(|m| err(at, format!("variables.{name}: {m}")))?;
        for reference in crate::template::template_references(template)
            .map_err(|m| err(at, format!("variables.{name}: {m}")))?
        {
            if !app_variables.contains_key(&reference) {
                return Err(err(
                    find(text, template).or(at),
                    format!("variables.{name}: refers to {{{{ {reference} }}}}, which is not declared in [variables]"),
                ));
            }
        }
    }

    let build = raw.build.map(|b| BuildDecl {
        command: match b.command {
            RawCommand::One(c) => c,
            RawCommand::Many(cs) => cs.join(" && "),
        },
        workdir: b.workdir.map(|w| dir.join(w)),
        watch: b.watch,
    });

    let mut riff = RiffSettings::default();
    for (tool, value) in raw.tool {
        if tool != "riff" {
            continue; // other tools' settings are theirs to validate
        }
        let tool_at = find(text, &format!("[component.{id}.tool.riff]")).or(Some(value.span().start));
        let settings: RawRiffSettings = value
            .into_inner()
            .try_into()
            .map_err(|e: toml::de::Error| err(tool_at, format!("tool.riff: {}", e.message().trim())))?;
        if let Some(v) = settings.memory_limit {
            riff.memory_limit =
                parse_size(&v).map_err(|m| err(tool_at, format!("tool.riff.memory_limit: {m}")))?;
        }
        if let Some(v) = settings.timeout {
            riff.timeout = parse_duration(&v).map_err(|m| err(tool_at, format!("tool.riff.timeout: {m}")))?;
        }
        if let Some(v) = settings.max_request_body {
            riff.max_request_body =
                parse_bytes(&v).map_err(|m| err(tool_at, format!("tool.riff.max_request_body: {m}")))?;
        }
        for topic in settings.publish_topics.unwrap_or_default() {
            check_topic(&topic).map_err(|m| err(tool_at, format!("tool.riff.publish_topics: {m}")))?;
            riff.publish_topics.push(topic);
        }
        if let Some(reuse) = settings.instance_reuse {
            let max_requests = reuse.max_requests.unwrap_or(1000);
            if max_requests == 0 {
                return Err(err(tool_at, "tool.riff.instance_reuse.max_requests: must be at least 1".into()));
            }
            let idle_timeout = match reuse.idle_timeout {
                Some(v) => parse_duration(&v)
                    .map_err(|m| err(tool_at, format!("tool.riff.instance_reuse.idle_timeout: {m}")))?,
                None => Duration::from_secs(30),
            };
            riff.instance_reuse = Some(InstanceReuse { max_requests, idle_timeout });
        }
    }

    Ok(Component {
        id: id.to_string(),
        description: raw.description,
        source,
        source_as_written,
        files,
        environment: raw.environment,
        allowed_outbound_hosts: raw.allowed_outbound_hosts,
        key_value_stores: raw.key_value_stores,
        sqlite_databases: raw.sqlite_databases,
        variables: raw.variables,
        build,
        dependencies: raw.dependencies,
        riff,
        line: at.map(|o| line_of(text, o)),
    })
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

fn find(text: &str, needle: &str) -> Option<usize> {
    text.find(needle)
}

/// Component ids as Spin accepts them: lowercase words joined by '-' (and '_').
fn check_component_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err("component ids are lowercase letters, digits, '-' and '_', starting with a letter".into())
    }
}

fn check_variable_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err("variable names are lowercase letters, digits and '_', starting with a letter".into())
    }
}

fn check_label(label: &str) -> Result<(), String> {
    let ok = !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err("labels are letters, digits, '-' and '_'".into())
    }
}

/// `"128MiB"`, `"64 MB"`, or a number of bytes.
pub fn parse_size(value: &toml::Value) -> Result<u64, String> {
    let bytes = parse_bytes(value)?;
    if bytes < 64 * 1024 {
        return Err(format!("{bytes} bytes is below one Wasm page (64KiB)"));
    }
    Ok(bytes)
}

/// A byte count: `"64KiB"`, `"1MB"` or a number of bytes.
pub fn parse_bytes(value: &toml::Value) -> Result<u64, String> {
    Ok(match value {
        toml::Value::Integer(n) if *n >= 0 => *n as u64,
        toml::Value::String(s) => s
            .trim()
            .parse::<bytesize::ByteSize>()
            .map_err(|e| format!("cannot read {s:?} as a size (e.g. \"128MiB\"): {e}"))?
            .as_u64(),
        other => return Err(format!("expected a size like \"128MiB\", found {other}")),
    })
}

/// `"30s"`, `"500ms"`, `"2m"`, or a number of seconds.
pub fn parse_duration(value: &toml::Value) -> Result<Duration, String> {
    let d = match value {
        toml::Value::Integer(n) if *n > 0 => Duration::from_secs(*n as u64),
        toml::Value::String(s) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("cannot read {s:?} as a duration (e.g. \"30s\"): {e}"))?,
        other => return Err(format!("expected a duration like \"30s\", found {other}")),
    };
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_component_file_is_an_app_on_every_path() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("My_Service 2.wasm");
        std::fs::write(&wasm, b"\0asm\x0d\0\x01\0").unwrap();
        let manifest = for_component(&wasm).unwrap();
        assert_eq!(manifest.components.len(), 1);
        let component = &manifest.components[0];
        assert_eq!(component.id, "my-service-2");
        assert!(component.key_value_stores.is_empty() && component.allowed_outbound_hosts.is_empty());
        assert_eq!(manifest.dir, std::fs::canonicalize(dir.path()).unwrap());
        let missing = for_component(&dir.path().join("absent.wasm")).unwrap_err();
        assert!(missing.to_string().contains("cannot read component"), "{missing}");
        let digits = dir.path().join("42.wasm");
        std::fs::write(&digits, b"").unwrap();
        assert_eq!(for_component(&digits).unwrap().components[0].id, "app-42");
    }

    use super::*;

    fn parse_str(text: &str) -> Result<Manifest, ManifestError> {
        parse(text, Path::new("spin.toml"), Path::new("/app"))
    }

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[[trigger.http]]
route = "/hello/..."
component = "hello"
[component.hello]
source = "hello.wasm"
"#;

    #[test]
    fn parses_a_minimal_manifest() {
        let m = parse_str(MINIMAL).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.components[0].source, PathBuf::from("/app/hello.wasm"));
        assert_eq!(m.http_routes[0].route, RouteKind::Public("/hello/...".into()));
        assert_eq!(m.components[0].riff, RiffSettings::default());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = MINIMAL.replace("source = \"hello.wasm\"", "source = \"hello.wasm\"\nsorce = 1");
        let e = parse_str(&text).unwrap_err();
        assert_eq!(e.line, Some(10), "{e}");
        assert!(e.to_string().contains("sorce"), "{e}");
    }

    #[test]
    fn route_to_unknown_component_is_refused_with_line() {
        let text = MINIMAL.replace("component = \"hello\"", "component = \"helo\"");
        let e = parse_str(&text).unwrap_err();
        assert_eq!(e.line, Some(7));
        assert!(e.message.contains("no component named \"helo\" (components: hello)"), "{e}");
    }

    #[test]
    fn malformed_toml_reports_line() {
        let e = parse_str("spin_manifest_version = 2\n[application\nname='x'").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn wrong_version_is_refused() {
        let e = parse_str(&MINIMAL.replace("= 2", "= 3")).unwrap_err();
        assert!(e.message.contains("expected 2"), "{e}");
    }

    #[test]
    fn duplicate_routes_are_refused() {
        let text = format!("{MINIMAL}\n[[trigger.http]]\nroute = \"/hello/...\"\ncomponent = \"hello\"\n");
        let e = parse_str(&text).unwrap_err();
        assert!(e.message.contains("already routed on line 6"), "{e}");
    }

    #[test]
    fn riff_settings_are_read() {
        let text =
            format!("{MINIMAL}[component.hello.tool.riff]\nmemory_limit = \"16MiB\"\ntimeout = \"250ms\"\n");
        let m = parse_str(&text).unwrap();
        assert_eq!(m.components[0].riff.memory_limit, 16 * 1024 * 1024);
        assert_eq!(m.components[0].riff.timeout, Duration::from_millis(250));
        let bad = format!("{MINIMAL}[component.hello.tool.riff]\nmemory = 1\n");
        let e = parse_str(&bad).unwrap_err();
        assert!(e.message.contains("tool.riff") && e.message.contains("memory"), "{e}");
        assert_eq!(e.line, Some(10), "{e}");
    }

    #[test]
    fn private_routes_and_variables() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
greeting = { default = "hi" }
token = { required = true, secret = true }
[[trigger.http]]
route = { private = true }
component = "inner"
[component.inner]
source = "inner.wasm"
variables = { message = "{{ greeting }} there" }
"#;
        let m = parse_str(text).unwrap();
        assert_eq!(m.http_routes[0].route, RouteKind::Private);
        assert!(m.variables["token"].secret);
        let bad = text.replace("{{ greeting }}", "{{ nope }}");
        let e = parse_str(&bad).unwrap_err();
        assert!(e.message.contains("nope"), "{e}");
        assert_eq!(e.line, Some(13));
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size(&toml::Value::String("1 MiB".into())).unwrap(), 1 << 20);
        assert!(parse_size(&toml::Value::String("lots".into())).is_err());
        assert_eq!(parse_duration(&toml::Value::Integer(2)).unwrap(), Duration::from_secs(2));
        assert!(parse_duration(&toml::Value::String("0s".into())).is_err());
    }
}

#[cfg(test)]
mod template_host_tests {
    use super::*;

    fn manifest(hosts: &str) -> Result<Manifest, ManifestError> {
        let text = format!(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\napi = {{ default = \"http://127.0.0.1:9\" }}\n\
             [component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [{hosts}]\n"
        );
        parse(&text, Path::new("spin.toml"), Path::new("/app"))
    }

    #[test]
    fn outbound_hosts_may_be_templates_over_declared_variables() {
        assert!(manifest("\"{{ api }}\"").is_ok());
        let e = manifest("\"{{ nope }}\"").unwrap_err().to_string();
        assert!(e.contains("not declared in [variables]"), "{e}");
        assert!(manifest("\"not a url\"").is_err(), "plain entries are still checked");
    }
}

#[cfg(test)]
mod redis_trigger_tests {
    use super::*;

    const APP: &str = r#"spin_manifest_version = 2
[application]
name = "t"
[application.trigger.redis]
address = "redis://cache:6379"
[variables]
events = { default = "redis://events" }
[[trigger.redis]]
channel = "orders"
component = "handler"
[[trigger.redis]]
channel = "audit"
component = "handler"
address = "{{ events }}"
[component.handler]
source = "h.wasm"
"#;

    fn parse_str(text: &str) -> Result<Manifest, ManifestError> {
        parse(text, Path::new("spin.toml"), Path::new("/app"))
    }

    #[test]
    fn triggers_take_the_app_address_unless_they_have_their_own() {
        let m = parse_str(APP).unwrap();
        let got: Vec<(&str, &str, Option<usize>)> =
            m.redis_triggers.iter().map(|t| (t.channel.as_str(), t.address.as_str(), t.line)).collect();
        assert_eq!(got, [("orders", "redis://cache:6379", Some(8)), ("audit", "{{ events }}", Some(11))]);
    }

    #[test]
    fn mistakes_name_the_line() {
        let cases = [
            (
                APP.replace("address = \"redis://cache:6379\"", "address = \"http://cache\""),
                4,
                "expected redis://",
            ),
            (
                APP.replace("component = \"handler\"\n[[", "component = \"nobody\"\n[["),
                8,
                "no component named \"nobody\"",
            ),
            (APP.replace("channel = \"orders\"", "channel = \"\""), 8, "channel: must not be empty"),
            (APP.replace("{{ events }}", "{{ nope }}"), 11, "{{ nope }}, which is not declared"),
            (
                APP.replace("channel = \"audit\"", "channel = \"orders\"")
                    .replace("address = \"{{ events }}\"\n", ""),
                11,
                "already handles \"orders\" on this server (line 8)",
            ),
            (
                APP.replace("[application.trigger.redis]\naddress = \"redis://cache:6379\"\n", ""),
                6,
                "no Redis address",
            ),
            (
                APP.replace("channel = \"orders\"", "channel = \"orders\"\nqueue = 1"),
                10,
                "unknown field `queue`",
            ),
        ];
        for (text, line, needle) in cases {
            let e = parse_str(&text).unwrap_err();
            assert!(e.message.contains(needle), "{needle}: {e}");
            assert_eq!(e.line, Some(line), "{needle}: {e}");
        }
    }

    #[test]
    fn redis_addresses() {
        assert!(check_redis_address("redis://127.0.0.1:6379/2").is_ok());
        assert!(check_redis_address("rediss://user:pw@cache").is_ok());
        let e = check_redis_address("https://user:hunter2@cache").unwrap_err();
        assert!(e.contains("expected redis://") && !e.contains("hunter2"), "{e}");
        assert!(check_redis_address("redis://").is_err());
        assert!(check_redis_address("cache:6379").is_err());
    }
}
