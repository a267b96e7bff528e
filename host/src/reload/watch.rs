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
//! none, as in Spin. Changes are debounced ([`DEBOUNCE`]) so an editor's save or a compiler's
//! several writes make one reload. Everything goes through the same swap path as the admin API.

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult};

use crate::app::App;
use crate::manifest::{self, Manifest};

/// Quiet time after the last change before acting on a batch of changes.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// What to watch for one manifest, with every path absolute and normalised.
struct WatchPlan {
    manifest: PathBuf,
    components: Vec<WatchedComponent>,
    /// Directory -> how deep to watch it.
    dirs: BTreeMap<PathBuf, RecursiveMode>,
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
        for c in &manifest.components {
            let source = absolute(&c.source);
            add_dir(&mut dirs, parent(&source), RecursiveMode::NonRecursive);
            let build = match &c.build {
                Some(build) if !build.watch.is_empty() => {
                    let workdir = absolute(build.workdir.as_deref().unwrap_or(&manifest.dir));
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
        Ok(Self { manifest: manifest_path, components, dirs })
    }
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

/// Watch the app's files and apply changes until the process ends. Returns only if the
/// watcher cannot start.
pub async fn run(app: Arc<App>) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
        let _ = tx.send(result);
    })
    .context("starting the file watcher")?;
    let mut plan = WatchPlan::new(&app.manifest().await)?;
    let mut watching = watch_dirs(debouncer.watcher(), &plan, &BTreeMap::new());
    eprintln!(
        "Watching {} director{} for changes",
        watching.len(),
        if watching.len() == 1 { "y" } else { "ies" }
    );

    while let Some(result) = rx.recv().await {
        let mut changed: Vec<PathBuf> = Vec::new();
        let mut collect = |result: DebounceEventResult| match result {
            Ok(events) => changed.extend(events.into_iter().map(|e| e.path)),
            Err(e) => tracing::warn!("file watcher: {e}"),
        };
        collect(result);
        while let Ok(more) = rx.try_recv() {
            collect(more);
        }
        if changed.is_empty() {
            continue;
        }

        if changed.contains(&plan.manifest) {
            match manifest::load(&plan.manifest) {
                Err(e) => eprintln!("{e}\nspin.toml not applied: the running app is unchanged"),
                Ok(manifest) => match app.apply_manifest(manifest.clone()).await {
                    Ok(change) => {
                        eprintln!("spin.toml applied: {change}");
                        match WatchPlan::new(&manifest) {
                            Ok(next) => {
                                watching = watch_dirs(debouncer.watcher(), &next, &watching);
                                plan = next;
                            }
                            Err(e) => eprintln!("watching the new manifest's files: {e:#}"),
                        }
                    }
                    Err(e) => eprintln!("spin.toml not applied, the running app is unchanged: {e:#}"),
                },
            }
        }

        for component in &plan.components {
            let rebuild = component.build.as_ref().filter(|b| changed.iter().any(|p| b.globs.is_match(p)));
            if let Some(build) = rebuild {
                if !run_build(&component.id, build).await {
                    continue;
                }
            } else if !changed.contains(&component.source) {
                continue;
            }
            match app.replace_from_file(&component.id).await {
                Ok(report) if report.swapped => eprintln!(
                    "{}: now serving version {} (was {}), swapped in {:.1} ms",
                    component.id,
                    super::short(&report.version),
                    super::short(&report.previous_version),
                    report.took_ms
                ),
                Ok(_) => tracing::debug!(component = %component.id, "source unchanged"),
                Err(e) => eprintln!("{}: {e}; still serving the running version", component.id),
            }
        }
    }
    Ok(())
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
    watcher: &mut dyn notify::Watcher,
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
}
