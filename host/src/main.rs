//! The `riff` command line: `riff up` serves an app, `riff build` builds its components,
//! `riff deploy` / `riff rollback` / `riff components` talk to a running app's admin API,
//! `riff new` starts a project from a template.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use riff::app::{App, AppOptions};
use riff::reload::client::{short_version, AdminClient};
use riff::{builder, manifest, reload};

mod cli_registry;
mod new_project;

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
    /// Replace one component of a running app with a new .wasm, without a restart.
    Deploy {
        /// The component to replace.
        component: String,
        /// The new version: a WebAssembly component.
        file: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Put back the version a component replaced (a second rollback rolls forward).
    Rollback {
        component: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List a running app's components: version, origin, load time, requests.
    Components {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Start a project from a template: `riff new http-rust-p2 hello` (`--list` shows them).
    New {
        /// The template.
        #[arg(required_unless_present = "list")]
        template: Option<String>,
        /// The project's name (also its component id and Cargo package).
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// Where to create it [default: ./<name>]; must not exist.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// List the templates.
        #[arg(long, conflicts_with_all = ["template", "name", "dir"])]
        list: bool,
    },
    /// Push apps to and pull them from OCI registries, in Spin's format.
    #[command(subcommand)]
    Registry(cli_registry::RegistryCommand),
}

#[derive(clap::Args)]
struct AdminArgs {
    /// The admin API of the running app.
    #[arg(long, default_value = DEFAULT_ADMIN_URL)]
    admin: String,
    /// State directory of the running app, where a generated admin token is kept
    /// (used when RIFF_ADMIN_TOKEN is not set).
    #[arg(long = "state-dir", default_value = ".riff")]
    state_dir: PathBuf,
}

const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:3001";

#[derive(clap::Args)]
struct UpArgs {
    /// The manifest (or a directory containing spin.toml), one `.wasm` to serve on `/...`
    /// with nothing granted, or an app in a registry (REGISTRY/REPOSITORY[:TAG], pulled first).
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    #[command(flatten)]
    registry: cli_registry::RegistryArgs,
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
    /// Rebuild and swap components when their files change; apply spin.toml edits live.
    #[arg(long)]
    watch: bool,
    /// Address of the admin API (deploy, rollback, reload). Needs RIFF_ADMIN_TOKEN unless it
    /// is a loopback address, where a token is generated into <state-dir>/admin-token.
    #[arg(long = "admin-listen", default_value = "127.0.0.1:3001")]
    admin_listen: SocketAddr,
    /// Do not serve the admin API.
    #[arg(long = "no-admin", conflicts_with = "admin_listen")]
    no_admin: bool,
    /// Time a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long = "header-timeout", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: std::time::Duration,
    /// Longest pause allowed while a request body streams in (408 after it).
    #[arg(long = "body-timeout", default_value = "10s", value_parser = humantime::parse_duration)]
    body_timeout: std::time::Duration,
    /// Open client connections at most; further ones are closed on accept.
    #[arg(long = "max-connections", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// How long SIGTERM / Ctrl-C waits for requests in flight before exiting.
    #[arg(long = "shutdown-timeout", default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_timeout: std::time::Duration,
    /// A proxy (address or CIDR range, repeatable) whose X-Forwarded-For names the client
    /// passed to components as spin-client-addr. Without one, the socket's peer is the client.
    #[arg(long = "trusted-proxy", value_name = "ADDR_OR_CIDR")]
    trusted_proxy: Vec<String>,
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
        Command::Deploy { component, file, admin } => deploy(&component, &file, &admin),
        Command::Rollback { component, admin } => rollback(&component, &admin),
        Command::Components { admin } => components(&admin),
        Command::New { list: true, .. } => {
            print!("{}", new_project::list());
            Ok(())
        }
        Command::New { template, name, dir, .. } => {
            let (template, name) = (template.unwrap_or_default(), name.unwrap_or_default());
            new_project::create(&template, &name, dir.as_deref()).map(|dir| {
                println!(
                    "Created {name} from template {template}: cd {} && riff build && riff up",
                    dir.display()
                );
            })
        }
        Command::Registry(command) => cli_registry::run(command),
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
    // A registry reference is pulled into the cache and runs from there; its state stays here.
    let pulled = cli_registry::is_reference(&args.from);
    if pulled && (args.watch || args.build) {
        anyhow::bail!("--watch and --build need a local manifest: {} is in a registry", args.from.display());
    }
    let from = if pulled {
        cli_registry::pull(&args.from.to_string_lossy(), &args.registry)?.manifest
    } else {
        manifest_path(args.from)
    };
    let one_component = from.extension().is_some_and(|e| e.eq_ignore_ascii_case("wasm"));
    if one_component && (args.watch || args.build) {
        anyhow::bail!("--watch and --build need a manifest: {} is one component", from.display());
    }
    let manifest = if one_component { manifest::for_component(&from)? } else { manifest::load(&from)? };
    if args.build {
        builder::build(&manifest, None)?;
    }
    // Fairness between guests and the sockets is arranged where guests yield (see
    // `App::new_store`), so tokio's defaults stand.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let options = AppOptions {
            state_dir: args.state_dir.unwrap_or_else(|| {
                if pulled {
                    PathBuf::from(".riff")
                } else {
                    manifest.dir.join(".riff")
                }
            }),
            runtime_config: args.runtime_config_file,
            cache_dir: args.cache_dir,
        };
        let started = std::time::Instant::now();
        let app = App::load(&manifest, &options).await?;
        reload::cluster::start(&app).await?;
        let server_options = riff_trigger_http::ServerOptions {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: args.max_connections as usize,
            shutdown_timeout: args.shutdown_timeout,
            trusted_proxies: riff_trigger_http::client_addr::TrustedProxies::parse(&args.trusted_proxy)
                .map_err(|e| anyhow::anyhow!("--trusted-proxy: {e}"))?,
            cors_allowed_origins: manifest.riff.cors_allowed_origins.clone(),
        };
        let listener = riff_trigger_http::bind(args.listen, "--listen").await?;
        let addr = listener.local_addr().context("reading the listen address")?;
        if !args.no_admin {
            let (token, token_file) = reload::admin::token_for(
                args.admin_listen,
                &options.state_dir,
                std::env::var(reload::admin::TOKEN_ENV).ok(),
            )?;
            let admin =
                riff_trigger_http::bind(args.admin_listen, "--admin-listen").await.context("admin API")?;
            let admin_addr = admin.local_addr().context("reading the admin address")?;
            match token_file {
                Some(file) => {
                    announce(format!("Admin API http://{admin_addr} (token in {})", file.display()))
                }
                None => announce(format!(
                    "Admin API http://{admin_addr} (token from {})",
                    reload::admin::TOKEN_ENV
                )),
            }
            tokio::spawn(reload::admin::serve(app.clone(), admin, token));
        }
        if args.watch {
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(e) = reload::watch::run(app).await {
                    eprintln!("Error: watching for changes: {e:#}");
                }
            });
        }
        tracing::info!("loaded in {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
        announce(format!("Serving http://{addr}"));
        announce("Available Routes:".to_string());
        for (route, component) in app.routes() {
            announce(format!("  {component}: http://{addr}{route}"));
        }
        let drain = server_options.shutdown_timeout;
        let shutdown = async move {
            let signal = shutdown_signal().await;
            eprintln!(
                "{signal}: shutting down (no new connections; waiting up to {} for requests in flight)",
                humantime::format_duration(drain)
            );
        };
        riff_trigger_http::serve(app, listener, server_options, shutdown).await?;
        eprintln!("Stopped");
        Ok(())
    })
}

/// Wait for SIGTERM (what service managers and container runtimes send) or SIGINT (Ctrl-C) and
/// say which came.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// A line on stdout for whoever started riff. A closed stdout (`riff up | head -1`) must not
/// stop the server, so write errors are ignored.
fn announce(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn deploy(component: &str, file: &std::path::Path, admin: &AdminArgs) -> Result<()> {
    let client = AdminClient::new(&admin.admin, &admin.state_dir)?;
    let (report, elapsed) = client.deploy(component, file)?;
    if report["swapped"].as_bool() == Some(false) {
        println!("{component}: version {} is already serving", short_version(&report, "version"));
    } else {
        println!(
            "{component}: now serving version {} (was {}; {}, {:.0} ms from upload to serving)",
            short_version(&report, "version"),
            short_version(&report, "previous_version"),
            if report["from_cache"].as_bool() == Some(true) {
                "compiled artifact cached"
            } else {
                "compiled"
            },
            elapsed.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

fn rollback(component: &str, admin: &AdminArgs) -> Result<()> {
    let report = AdminClient::new(&admin.admin, &admin.state_dir)?.rollback(component)?;
    println!(
        "{component}: rolled back to version {} (from {})",
        short_version(&report, "version"),
        short_version(&report, "previous_version")
    );
    Ok(())
}

fn components(admin: &AdminArgs) -> Result<()> {
    let listing = AdminClient::new(&admin.admin, &admin.state_dir)?.components()?;
    println!(
        "{:<12} {:<12} {:<8} {:>10} {:>8}  LOADED",
        "COMPONENT", "VERSION", "ORIGIN", "REQUESTS", "FAILED"
    );
    for c in listing["components"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<12} {:<8} {:>10} {:>8}  {}",
            c["id"].as_str().unwrap_or("?"),
            short_version(c, "version"),
            c["origin"].as_str().unwrap_or("?"),
            c["requests"].as_u64().unwrap_or(0),
            c["failures"].as_u64().unwrap_or(0),
            c["loaded_at"].as_str().unwrap_or("?"),
        );
    }
    Ok(())
}
