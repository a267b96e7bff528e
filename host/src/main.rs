//! The `riff` command line: `riff up` serves an app, `riff build` builds its components.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use riff::app::{App, AppOptions};
use riff::{builder, manifest, trigger};

// The per-request path allocates many small short-lived objects (stores, resource tables,
// headers); mimalloc's thread-local free lists serve them faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "riff", version, about = "Run Spin-compatible WebAssembly microservices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application described by a manifest.
    Up(UpArgs),
    /// Run each component's build command.
    Build {
        /// The manifest (or a directory containing spin.toml).
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// Build only these components.
        #[arg(short = 'c', long = "component-id")]
        components: Vec<String>,
    },
}

#[derive(clap::Args)]
struct UpArgs {
    /// The manifest (or a directory containing spin.toml).
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Backends per key-value store and database label (Spin's runtime-config format).
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,
    /// Where databases, key-value stores and caches live [default: .riff beside the manifest].
    #[arg(long = "state-dir")]
    state_dir: Option<PathBuf>,
    /// Compiled-component cache (default: <state-dir>/cache).
    #[arg(long = "cache-dir", env = "RIFF_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Build the components before serving.
    #[arg(long)]
    build: bool,
}

fn manifest_path(from: PathBuf) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from
    }
}

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_env("RIFF_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args),
        Command::Build { from, components } => manifest::load(&manifest_path(from))
            .map_err(anyhow::Error::from)
            .and_then(|m| builder::build(&m, (!components.is_empty()).then_some(&components[..]))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of contexts, outermost first.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("Error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

fn up(args: UpArgs) -> Result<()> {
    let manifest = manifest::load(&manifest_path(args.from))?;
    if args.build {
        builder::build(&manifest, None)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let options = AppOptions {
            state_dir: args.state_dir.unwrap_or_else(|| manifest.dir.join(".riff")),
            runtime_config: args.runtime_config_file,
            cache_dir: args.cache_dir,
        };
        let app = App::load(&manifest, &options).await?;
        let listener = trigger::http::bind(args.listen).await?;
        let addr = listener.local_addr().context("reading the listen address")?;
        println!("Serving http://{addr}");
        println!("Available Routes:");
        for (route, component) in app.routes() {
            println!("  {component}: http://{addr}{route}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("Shutting down");
        };
        trigger::http::serve(app, listener, shutdown).await
    })
}
