//! `riff registry push|pull` and the registry side of `riff up -f REF`: thin commands over the
//! `riff-registry` crate (Spin's OCI artifact format, the content-addressed cache).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Push the app to a registry in Spin's OCI format: `riff registry push localhost:5000/music:v1`.
    Push {
        /// Where to push: REGISTRY/REPOSITORY[:TAG].
        reference: String,
        /// The manifest (or a directory containing spin.toml).
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// Build the components first.
        #[arg(long)]
        build: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Pull an app into the registry cache (what `riff up -f REF` runs).
    Pull {
        /// What to pull: REGISTRY/REPOSITORY[:TAG|@DIGEST].
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

/// How to reach registries and where pulled apps are kept.
#[derive(Args, Clone, Default)]
pub struct RegistryArgs {
    /// Speak plain HTTP to the registry (registries on loopback addresses always are).
    #[arg(long = "insecure", short = 'k')]
    pub insecure: bool,
    /// Where pulled apps are kept [default: $XDG_CACHE_HOME/riff or ~/.cache/riff].
    #[arg(long = "registry-cache", env = "RIFF_REGISTRY_CACHE", value_name = "DIR")]
    pub registry_cache: Option<PathBuf>,
}

impl RegistryArgs {
    fn options(&self) -> riff_registry::Options {
        riff_registry::Options { cache_dir: self.registry_cache.clone(), insecure: self.insecure }
    }
}

fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(future)
}

pub fn run(command: RegistryCommand) -> Result<()> {
    match command {
        RegistryCommand::Push { reference, from, build, registry } => {
            let manifest_path = if from.is_dir() { from.join("spin.toml") } else { from };
            if build {
                let manifest = riff::manifest::load(&manifest_path)?;
                riff::builder::build(&manifest, None)?;
            }
            let pushed = block_on(riff_registry::push(&manifest_path, &reference, &registry.options()))
                .with_context(|| format!("pushing {reference}"))?;
            println!("Pushed {reference} ({} layers): {}", pushed.layers, pushed.digest);
            Ok(())
        }
        RegistryCommand::Pull { reference, registry } => {
            let pulled = pull(&reference, &registry)?;
            println!("Pulled {reference}@{}", pulled.digest);
            println!("  manifest: {}", pulled.manifest.display());
            Ok(())
        }
    }
}

/// Is `-f`'s value a registry reference rather than a path?
pub fn is_reference(from: &Path) -> bool {
    from.to_str().is_some_and(riff_registry::is_reference)
}

/// Pull for `riff up -f REF`: the generated manifest to load.
pub fn pull(reference: &str, registry: &RegistryArgs) -> Result<riff_registry::Pulled> {
    let pulled = block_on(riff_registry::pull(reference, &registry.options()))
        .with_context(|| format!("pulling {reference}"))?;
    tracing::info!(
        "pulled {reference}@{} ({} of {} layers fetched, the rest cached)",
        pulled.digest,
        pulled.fetched,
        pulled.layers
    );
    Ok(pulled)
}
