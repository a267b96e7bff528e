//! `riff build`: run each component's `[component.<id>.build] command` in its workdir.
//!
//! Components build one after another (cargo serialises on its target directory anyway), each
//! with its own progress line. The first failure stops the build and shows that component's full
//! output, which is the part the user needs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use riff_manifest::Manifest;

/// Build the components that have a build command; `only` restricts to some ids.
pub fn build(manifest: &Manifest, only: Option<&[String]>) -> Result<()> {
    if let Some(ids) = only {
        check_ids(manifest, ids)?;
        for id in ids {
            if manifest.components.iter().any(|c| &c.id == id && c.build.is_none()) {
                eprintln!("Component {id:?} has no build command ([component.{id}.build]); skipping it.");
            }
        }
    }
    let targets: Vec<_> = manifest
        .components
        .iter()
        .filter(|c| c.build.is_some())
        .filter(|c| only.is_none_or(|ids| ids.contains(&c.id)))
        .collect();
    if targets.is_empty() {
        eprintln!("No components with a build command.");
        return Ok(());
    }
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>4}")
        .expect("valid template")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
    let width = targets.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let bars: Vec<ProgressBar> = targets
        .iter()
        .map(|c| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(format!("{:width$}", c.id));
            bar.set_message("waiting");
            bar
        })
        .collect();

    for (component, bar) in targets.iter().zip(&bars) {
        let build = component.build.as_ref().expect("filtered above");
        let workdir = build.workdir.clone().unwrap_or_else(|| manifest.dir.clone());
        bar.set_message(build.command.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        let started = Instant::now();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| {
                format!("running the build command of {:?} in {}", component.id, workdir.display())
            })?;
        if !output.status.success() {
            bar.abandon_with_message(format!("failed ({})", output.status));
            let _ = multi.clear();
            eprintln!("--- {} build output ---", component.id);
            eprintln!("{}", String::from_utf8_lossy(&output.stdout));
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            bail!(
                "building component {:?} failed: `{}` in {} exited with {}",
                component.id,
                build.command,
                workdir.display(),
                output.status
            );
        }
        bar.finish_with_message(format!("built in {:.1}s", started.elapsed().as_secs_f32()));
    }
    Ok(())
}

/// Refuse ids that name no component, naming them and the ids the manifest has.
fn check_ids(manifest: &Manifest, ids: &[String]) -> Result<()> {
    let quote = |ids: Vec<&String>| ids.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", ");
    let unknown: Vec<&String> = ids.iter().filter(|id| manifest.component(id).is_none()).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&String> = manifest.components.iter().map(|c| &c.id).collect();
    bail!(
        "no component{} named {} in {}; the components are: {}",
        if unknown.len() == 1 { "" } else { "s" },
        quote(unknown),
        manifest.path.display(),
        if known.is_empty() { "(none)".to_string() } else { quote(known) }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &std::path::Path) -> Manifest {
        let text = r#"
spin_manifest_version = 2
[application]
name = "b"
[component.hello]
source = "hello.wasm"
[component.hello.build]
command = "echo hello >> built.txt"
[component.plain]
source = "plain.wasm"
"#;
        riff_manifest::parse(text, &dir.join("spin.toml"), dir).unwrap()
    }

    #[test]
    fn an_unknown_component_id_is_an_error_naming_it_and_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        let err = build(&m, Some(&["hello".to_string(), "nope".to_string()])).unwrap_err().to_string();
        assert!(err.contains("no component named \"nope\""), "{err}");
        assert!(err.contains("the components are: \"hello\", \"plain\""), "{err}");
        assert!(!dir.path().join("built.txt").exists(), "nothing is built when an id is unknown");
    }

    #[test]
    fn known_component_ids_build_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        build(&m, Some(&["hello".to_string()])).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("built.txt")).unwrap(), "hello\n");
        // A known component without a build command is not an error.
        build(&m, Some(&["plain".to_string()])).unwrap();
    }
}
