//! `riff build`: run each component's `[component.<id>.build] command` in its workdir.
//!
//! Components build one after another (cargo serialises on its target directory anyway), each
//! with its own progress line. The first failure stops the build and shows that component's full
//! output, which is the part the user needs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::manifest::Manifest;

/// Build the components that have a build command; `only` restricts to some ids.
pub fn build(manifest: &Manifest, only: Option<&[String]>) -> Result<()> {
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
