//! `riff up --watch`: rebuild and swap components as their files change.
//!
//! Three kinds of change, each handled on its own:
//!
//! * a file matching a component's `[component.<id>.build] watch` globs: run that component's
//!   build command, and swap the result in if it builds (a failed build prints the compiler's
//!   output and leaves the running version serving);
//! * a component's `source` `.wasm`: swap it in;
//! * `spin.toml`: apply the difference — added, removed and changed components and routes —
//!   without touching the components that did not change.
//!
//! Watch globs are relative to the build's `workdir`, or to the manifest's directory when it has
//! none, as in Spin. Everything goes through the same swap path as the admin API.
//!
//! A build must not set off the next one, although it opens and reads the files it watches
//! (cargo reads `Cargo.toml`), writes outputs a broad glob may match, and may touch files
//! without changing them. So the watcher
//!
//! * ignores events that cannot change a file's content (opening, reading, closing a file
//!   opened for reading, metadata such as `touch`);
//! * never takes a build's outputs as its inputs: components' `source` files and everything under
//!   a build's target directory (`<workdir>/target`, a `--target-dir` in the command,
//!   `CARGO_TARGET_DIR`, and the directory holding a `source` under `wasm32-*/`);
//! * decides by content: it keeps the SHA-256 of every file a component watches as that
//!   component's last build read it (taken just before the build starts), of each `source` as
//!   last loaded, and of `spin.toml`, and acts only when one of those differs. Events that arrive
//!   while a build runs are looked at afterwards, and only a file edited since that build began
//!   builds again;
//! * debounces: a batch of events is acted on once [`DEBOUNCE`] has passed without a relevant
//!   one (or [`DEBOUNCE_MAX`] after the first), so an editor's save is one build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};

use crate::app::App;
use crate::loader::file_digest;
use riff_manifest::{self as manifest, Manifest};

/// Quiet time after the last relevant event before acting on a batch of changes.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// The longest a batch waits for quiet: a file written without pause is still acted on.
pub const DEBOUNCE_MAX: Duration = Duration::from_secs(2);

/// What to watch for one manifest, with every path absolute and normalised.
struct WatchPlan {
    manifest: PathBuf,
    components: Vec<WatchedComponent>,
    /// Directory -> how deep to watch it.
    dirs: BTreeMap<PathBuf, RecursiveMode>,
    /// Where builds write: never an input of a build.
    outputs: Vec<PathBuf>,
}

struct WatchedComponent {
    id: String,
    source: PathBuf,
    build: Option<WatchedBuild>,
}

struct WatchedBuild {
    command: String,
    workdir: PathBuf,
    globs: GlobSet,
}

impl WatchPlan {
    fn new(manifest: &Manifest) -> Result<Self> {
        let manifest_path = absolute(&manifest.path);
        let mut dirs = BTreeMap::new();
        add_dir(&mut dirs, parent(&manifest_path), RecursiveMode::NonRecursive);
        let mut components = Vec::new();
        let mut outputs = BTreeSet::new();
        for c in &manifest.components {
            let source = absolute(&c.source);
            add_dir(&mut dirs, parent(&source), RecursiveMode::NonRecursive);
            outputs.extend(source_target_dir(&source));
            let build = match &c.build {
                Some(build) if !build.watch.is_empty() => {
                    let workdir = absolute(build.workdir.as_deref().unwrap_or(&manifest.dir));
                    outputs.extend(build_target_dirs(&build.command, &workdir));
                    let mut globs = GlobSetBuilder::new();
                    for pattern in &build.watch {
                        let full = normalize(&workdir.join(pattern));
                        // `*` stays within one directory; `**` crosses them.
                        let glob = GlobBuilder::new(&full.to_string_lossy())
                            .literal_separator(true)
                            .build()
                            .with_context(|| {
                                format!("[component.{}.build] watch: bad glob {pattern:?}", c.id)
                            })?;
                        globs.add(glob);
                        let (root, mode) = literal_root(&full);
                        add_dir(&mut dirs, root, mode);
                    }
                    Some(WatchedBuild { command: build.command.clone(), workdir, globs: globs.build()? })
                }
                _ => None,
            };
            components.push(WatchedComponent { id: c.id.clone(), source, build });
        }
        Ok(Self { manifest: manifest_path, components, dirs, outputs: outputs.into_iter().collect() })
    }

    /// Whether `path` is a build's output (a `source`, or under a target directory).
    fn is_output(&self, path: &Path) -> bool {
        self.outputs.iter().any(|dir| path.starts_with(dir))
            || self.components.iter().any(|c| c.source == path)
    }

    /// Whether `path` is an input of `component`'s build.
    fn is_input_of(&self, component: &WatchedComponent, path: &Path) -> bool {
        component.build.as_ref().is_some_and(|b| b.globs.is_match(path)) && !self.is_output(path)
    }

    /// Whether a change to `path` can matter at all.
    fn is_relevant(&self, path: &Path) -> bool {
        path == self.manifest
            || self.components.iter().any(|c| c.source == path)
            || self.components.iter().any(|c| self.is_input_of(c, path))
    }

    /// Every existing file some component's build watches, found by walking the watched
    /// directories (not descending into build outputs or `.git`).
    fn inputs_on_disk(&self) -> BTreeSet<PathBuf> {
        let mut found = BTreeSet::new();
        for (dir, mode) in &self.dirs {
            self.walk(dir, *mode == RecursiveMode::Recursive, &mut found);
        }
        found
    }

    fn walk(&self, dir: &Path, deep: bool, found: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if deep && entry.file_name() != ".git" && !self.is_output(&path) {
                    self.walk(&path, deep, found);
                }
            } else if self.components.iter().any(|c| self.is_input_of(c, &path)) {
                found.insert(path);
            }
        }
    }
}

/// Target directories a build command writes to: `<workdir>/target`, a `--target-dir` in the
/// command, and `CARGO_TARGET_DIR` (relative to the workdir).
fn build_target_dirs(command: &str, workdir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![workdir.join("target")];
    let mut words = command.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--target-dir" {
            dirs.extend(words.next().map(PathBuf::from));
        } else if let Some(dir) = word.strip_prefix("--target-dir=") {
            dirs.push(PathBuf::from(dir));
        }
    }
    dirs.extend(std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.to_string_lossy().trim_matches(['"', '\'']).to_string())
        .map(|d| absolute(&workdir.join(d)))
        .collect()
}

/// The target directory a cargo-built `source` sits in (`<target>/wasm32-wasip2/release/x.wasm`).
fn source_target_dir(source: &Path) -> Option<PathBuf> {
    source
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n.to_string_lossy().starts_with("wasm32-")))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

fn add_dir(dirs: &mut BTreeMap<PathBuf, RecursiveMode>, dir: PathBuf, mode: RecursiveMode) {
    let entry = dirs.entry(dir).or_insert(mode);
    if mode == RecursiveMode::Recursive {
        *entry = RecursiveMode::Recursive;
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"))
}

/// An absolute, normalised path, resolving symlinks where the path exists (notify reports
/// events under the resolved directory).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let normal = normalize(&joined);
    // The file may not exist yet (a component never built): resolve its directory instead.
    match (normal.parent().and_then(|p| std::fs::canonicalize(p).ok()), normal.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => normal,
    }
}

/// Remove `.` and `..` lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            PathPart::CurDir => {}
            PathPart::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The longest directory prefix of a glob without glob characters, and whether what follows
/// needs a recursive watch.
fn literal_root(pattern: &Path) -> (PathBuf, RecursiveMode) {
    let mut root = PathBuf::new();
    let parts: Vec<_> = pattern.components().collect();
    for (i, part) in parts.iter().enumerate() {
        let text = part.as_os_str().to_string_lossy();
        if text.contains(['*', '?', '[', '{']) {
            let deep = parts.len() - i > 1 || text.contains("**");
            return (root, if deep { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive });
        }
        root.push(part.as_os_str());
    }
    // No glob characters: a single file.
    (parent(&root), RecursiveMode::NonRecursive)
}

/// Whether an event can mean a changed file: opening, reading and closing a file that was only
/// read cannot, nor can a change of metadata alone (`touch`, permissions).
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// The relevant paths of a debounced batch of events.
#[derive(Default)]
struct Batch {
    paths: BTreeSet<PathBuf>,
    /// The watcher lost events (queue overflow): look at every watched file.
    rescan: bool,
}

impl Batch {
    /// Add `event`; returns whether it was relevant.
    fn add(&mut self, event: notify::Result<Event>, plan: &WatchPlan) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!("file watcher: {e}");
                return false;
            }
        };
        if event.need_rescan() {
            self.rescan = true;
            return true;
        }
        if !may_change_content(&event.kind) {
            return false;
        }
        let mut relevant = false;
        for path in event.paths {
            if plan.is_relevant(&path) {
                self.paths.insert(path);
                relevant = true;
            }
        }
        relevant
    }
}

/// What the watcher last knew of each file, by SHA-256 (`None`: absent).
#[derive(Default)]
struct Seen {
    manifest: Option<String>,
    /// Per component: its build's inputs as its last build (or the start) found them.
    inputs: HashMap<String, HashMap<PathBuf, Option<String>>>,
    /// Per component: its `source` as last loaded (or found at the start).
    sources: HashMap<String, Option<String>>,
}

impl Seen {
    /// Record what is on disk now for everything `plan` watches that is not yet known, keeping
    /// what is (a file edited meanwhile still counts as changed).
    fn learn(&mut self, plan: &WatchPlan) {
        if self.manifest.is_none() {
            self.manifest = file_digest(&plan.manifest);
        }
        let on_disk = plan.inputs_on_disk();
        let ids: BTreeSet<&str> = plan.components.iter().map(|c| c.id.as_str()).collect();
        self.inputs.retain(|id, _| ids.contains(id.as_str()));
        self.sources.retain(|id, _| ids.contains(id.as_str()));
        for c in &plan.components {
            self.sources.entry(c.id.clone()).or_insert_with(|| file_digest(&c.source));
            let inputs = self.inputs.entry(c.id.clone()).or_default();
            inputs.retain(|path, _| plan.is_input_of(c, path));
            for path in on_disk.iter().filter(|p| plan.is_input_of(c, p)) {
                inputs.entry(path.clone()).or_insert_with(|| file_digest(path));
            }
        }
    }
}

/// Watch the app's files and apply changes until the process ends. Returns only if the
/// watcher cannot start.
pub async fn run(app: Arc<App>) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let _ = tx.send(event);
    })
    .context("starting the file watcher")?;
    let mut plan = WatchPlan::new(&app.manifest().await)?;
    // Watch first, then take stock: an edit in between is either in the stock or an event.
    let mut watching = watch_dirs(&mut watcher, &plan, &BTreeMap::new());
    let mut seen = Seen::default();
    seen.learn(&plan);
    eprintln!(
        "Watching {} director{} for changes",
        watching.len(),
        if watching.len() == 1 { "y" } else { "ies" }
    );

    while let Some(event) = rx.recv().await {
        let mut batch = Batch::default();
        if !batch.add(event, &plan) {
            continue;
        }
        let deadline = tokio::time::Instant::now() + DEBOUNCE_MAX;
        let mut quiet_at = tokio::time::Instant::now() + DEBOUNCE;
        // Until DEBOUNCE passes without a relevant event, or DEBOUNCE_MAX since the first.
        while let Ok(Some(event)) = tokio::time::timeout_at(quiet_at.min(deadline), rx.recv()).await {
            if batch.add(event, &plan) {
                quiet_at = tokio::time::Instant::now() + DEBOUNCE;
            }
        }

        if batch.rescan || batch.paths.contains(&plan.manifest) {
            let digest = file_digest(&plan.manifest);
            if digest != seen.manifest {
                seen.manifest = digest;
                if let Some(next) = apply_manifest(&app, &plan.manifest).await {
                    watching = watch_dirs(&mut watcher, &next, &watching);
                    plan = next;
                    // What the reload loaded is now what is known of the sources.
                    seen.sources.clear();
                    seen.learn(&plan);
                }
            }
        }

        let candidates: BTreeSet<PathBuf> = if batch.rescan {
            let mut all = plan.inputs_on_disk();
            all.extend(plan.components.iter().map(|c| c.source.clone()));
            all
        } else {
            batch.paths
        };
        for component in &plan.components {
            let inputs = seen.inputs.entry(component.id.clone()).or_default();
            let mut built = false;
            if let Some(build) = &component.build {
                let touched: Vec<&PathBuf> =
                    candidates.iter().filter(|p| plan.is_input_of(component, p)).collect();
                // The content this build will read, taken before it starts: a file edited while
                // it runs differs afterwards and builds again; one only read or touched does not.
                let now: Vec<(&PathBuf, Option<String>)> =
                    touched.iter().map(|p| (*p, file_digest(p))).collect();
                let changed: Vec<&PathBuf> = now
                    .iter()
                    .filter(|(path, digest)| inputs.get(*path).cloned().flatten() != *digest)
                    .map(|(path, _)| *path)
                    .collect();
                if changed.is_empty() {
                    if !touched.is_empty() {
                        tracing::debug!(component = %component.id, "watched files unchanged, not building");
                    }
                } else {
                    tracing::debug!(component = %component.id, changed = ?changed, "building");
                    for (path, digest) in now {
                        inputs.insert(path.clone(), digest);
                    }
                    if !run_build(&component.id, build).await {
                        continue;
                    }
                    built = true;
                }
            }
            let source = seen.sources.entry(component.id.clone()).or_default();
            if !built {
                if !candidates.contains(&component.source) {
                    continue;
                }
                let digest = file_digest(&component.source);
                if digest == *source || digest.is_none() {
                    continue;
                }
            }
            match app.replace_from_file(&component.id).await {
                Ok(report) => {
                    *source = Some(report.version.clone());
                    if report.swapped {
                        eprintln!(
                            "{}: now serving version {} (was {}), swapped in {:.1} ms",
                            component.id,
                            super::short(&report.version),
                            super::short(&report.previous_version),
                            report.took_ms
                        );
                    } else {
                        tracing::debug!(component = %component.id, "source unchanged");
                    }
                }
                Err(e) => {
                    *source = file_digest(&component.source);
                    eprintln!("{}: {e}; still serving the running version", component.id);
                }
            }
        }
    }
    Ok(())
}

/// Load and apply the edited manifest; returns what to watch for it when it was applied.
async fn apply_manifest(app: &App, path: &Path) -> Option<WatchPlan> {
    let manifest = match manifest::load(path) {
        Ok(manifest) => manifest,
        Err(e) => {
            eprintln!("{e}\nspin.toml not applied: the running app is unchanged");
            return None;
        }
    };
    match app.apply_manifest(manifest.clone()).await {
        Ok(change) => {
            eprintln!("spin.toml applied: {change}");
            match WatchPlan::new(&manifest) {
                Ok(next) => Some(next),
                Err(e) => {
                    eprintln!("watching the new manifest's files: {e:#}");
                    None
                }
            }
        }
        Err(e) => {
            eprintln!("spin.toml not applied, the running app is unchanged: {e:#}");
            None
        }
    }
}

/// Run one component's build command; print its output when it fails.
async fn run_build(id: &str, build: &WatchedBuild) -> bool {
    eprintln!("{id}: source changed, building (`{}`)", build.command);
    let started = Instant::now();
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&build.command)
        .current_dir(&build.workdir)
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    match output {
        Ok(out) if out.status.success() => {
            eprintln!("{id}: built in {:.1} s", started.elapsed().as_secs_f64());
            true
        }
        Ok(out) => {
            eprintln!("--- {id} build output ---");
            eprint!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            eprintln!("{id}: build failed ({}); still serving the running version", out.status);
            false
        }
        Err(e) => {
            eprintln!("{id}: could not run the build command in {}: {e}", build.workdir.display());
            false
        }
    }
}

/// Watch what `plan` needs, unwatching what it no longer does; returns what is watched now.
fn watch_dirs(
    watcher: &mut dyn Watcher,
    plan: &WatchPlan,
    before: &BTreeMap<PathBuf, RecursiveMode>,
) -> BTreeMap<PathBuf, RecursiveMode> {
    for (dir, mode) in before {
        if plan.dirs.get(dir) != Some(mode) {
            let _ = watcher.unwatch(dir);
        }
    }
    let mut now = BTreeMap::new();
    for (dir, mode) in &plan.dirs {
        if before.get(dir) == Some(mode) {
            now.insert(dir.clone(), *mode);
            continue;
        }
        match watcher.watch(dir, *mode) {
            Ok(()) => {
                now.insert(dir.clone(), *mode);
            }
            Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_roots() {
        assert_eq!(
            literal_root(Path::new("/w/catalog/src/**/*.rs")),
            (PathBuf::from("/w/catalog/src"), RecursiveMode::Recursive)
        );
        assert_eq!(
            literal_root(Path::new("/w/catalog/*.toml")),
            (PathBuf::from("/w/catalog"), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            literal_root(Path::new("/w/catalog/Cargo.toml")),
            (PathBuf::from("/w/catalog"), RecursiveMode::NonRecursive)
        );
    }

    #[test]
    fn normalizes_parent_segments() {
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
    }

    #[test]
    fn plan_matches_globs_relative_to_workdir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("svc/src")).unwrap();
        let text = r#"
spin_manifest_version = 2
[application]
name = "w"
[component.svc]
source = "out/svc.wasm"
[component.svc.build]
command = "make"
workdir = "svc"
watch = ["src/**/*.rs", "Cargo.toml"]
"#;
        let m = manifest::parse(text, &dir.path().join("spin.toml"), dir.path()).unwrap();
        let plan = WatchPlan::new(&m).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let build = plan.components[0].build.as_ref().unwrap();
        assert!(build.globs.is_match(root.join("svc/src/deep/lib.rs")));
        assert!(build.globs.is_match(root.join("svc/Cargo.toml")));
        assert!(!build.globs.is_match(root.join("src/lib.rs")));
        assert!(!build.globs.is_match(root.join("svc/src/notes.md")));
        assert_eq!(plan.components[0].source, root.join("out/svc.wasm"));
        assert_eq!(plan.dirs.get(&root.join("svc/src")), Some(&RecursiveMode::Recursive));
        assert_eq!(plan.manifest, root.join("spin.toml"));
    }

    /// A project laid out as `spin new` makes it, built into `target/` and a shared directory.
    fn project() -> (tempfile::TempDir, WatchPlan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::create_dir_all(dir.path().join("target/generated")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "// lib").unwrap();
        std::fs::write(dir.path().join("src/deep/mod.rs"), "// mod").unwrap();
        std::fs::write(dir.path().join("src/notes.md"), "notes").unwrap();
        std::fs::write(dir.path().join("target/generated/out.rs"), "// out").unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
        let text = r#"
spin_manifest_version = 2
[application]
name = "w"
[component.svc]
source = "shared/wasm32-wasip2/release/svc.wasm"
[component.svc.build]
command = "cargo build --target wasm32-wasip2 --release --target-dir shared"
watch = ["**/*.rs", "Cargo.toml", "**/*.wasm"]
"#;
        let m = manifest::parse(text, &dir.path().join("spin.toml"), dir.path()).unwrap();
        let plan = WatchPlan::new(&m).unwrap();
        (dir, plan)
    }

    #[test]
    fn build_outputs_are_never_inputs() {
        let (dir, plan) = project();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let svc = &plan.components[0];
        assert!(plan.is_input_of(svc, &root.join("src/lib.rs")));
        assert!(plan.is_input_of(svc, &root.join("Cargo.toml")));
        // The workdir's own target/, the --target-dir, and the source, although globs match.
        assert!(!plan.is_input_of(svc, &root.join("target/generated/out.rs")));
        assert!(!plan.is_input_of(svc, &root.join("shared/wasm32-wasip2/release/build/x/out/gen.rs")));
        assert!(!plan.is_input_of(svc, &root.join("shared/wasm32-wasip2/release/svc.wasm")));
        assert!(plan.is_relevant(&root.join("shared/wasm32-wasip2/release/svc.wasm")), "a source swaps");
        assert!(plan.is_relevant(&root.join("spin.toml")));
        assert!(!plan.is_relevant(&root.join("target/generated/out.rs")));
        assert!(!plan.is_relevant(&root.join("src/notes.md")));
        let found: Vec<PathBuf> = plan.inputs_on_disk().into_iter().collect();
        assert_eq!(found, [root.join("Cargo.toml"), root.join("src/deep/mod.rs"), root.join("src/lib.rs")]);
    }

    #[test]
    fn target_dirs_of_a_build_command() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let dirs = build_target_dirs("cargo build --target-dir ../out && cargo b --target-dir=/abs/t", &root);
        assert!(dirs.contains(&root.join("target")), "{dirs:?}");
        assert!(dirs.contains(&normalize(&root.join("../out"))), "{dirs:?}");
        assert!(dirs.contains(&PathBuf::from("/abs/t")), "{dirs:?}");
        assert_eq!(
            source_target_dir(Path::new("/r/target/wasm32-wasip2/release/hello.wasm")),
            Some(PathBuf::from("/r/target"))
        );
        assert_eq!(source_target_dir(Path::new("/r/out/hello.wasm")), None);
    }

    #[test]
    fn only_events_that_can_change_content_count() {
        use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};
        assert!(!may_change_content(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!may_change_content(&EventKind::Access(AccessKind::Read)));
        assert!(!may_change_content(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!may_change_content(&EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any))));
        assert!(may_change_content(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(may_change_content(&EventKind::Modify(ModifyKind::Data(DataChange::Any))));
        assert!(may_change_content(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(may_change_content(&EventKind::Create(CreateKind::File)));
        assert!(may_change_content(&EventKind::Remove(RemoveKind::File)));
    }

    #[test]
    fn a_batch_keeps_only_relevant_content_events() {
        let (dir, plan) = project();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let event = |kind, path: &str| Ok(Event::new(kind).add_path(root.join(path)));
        let mut batch = Batch::default();
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let write = EventKind::Modify(ModifyKind::Data(notify::event::DataChange::Any));
        assert!(!batch.add(event(open, "Cargo.toml"), &plan), "cargo reading Cargo.toml");
        assert!(!batch.add(event(write, "target/generated/out.rs"), &plan), "a build output");
        assert!(!batch.add(event(write, "src/notes.md"), &plan), "not watched");
        assert!(batch.add(event(write, "src/lib.rs"), &plan));
        assert_eq!(batch.paths.into_iter().collect::<Vec<_>>(), [root.join("src/lib.rs")]);
    }

    #[test]
    fn seen_records_the_content_of_every_input() {
        let (dir, plan) = project();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let mut seen = Seen::default();
        seen.learn(&plan);
        let inputs = &seen.inputs["svc"];
        assert_eq!(inputs.len(), 3, "{inputs:?}");
        assert_eq!(inputs[&root.join("src/lib.rs")], file_digest(&root.join("src/lib.rs")));
        assert_eq!(seen.sources["svc"], None, "not built yet");
        // Learning again keeps what is known: an edit since still shows as a change.
        std::fs::write(root.join("src/lib.rs"), "// edited").unwrap();
        seen.learn(&plan);
        assert_ne!(seen.inputs["svc"][&root.join("src/lib.rs")], file_digest(&root.join("src/lib.rs")));
    }
}
