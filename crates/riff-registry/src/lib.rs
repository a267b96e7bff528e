//! OCI registry distribution in Spin's artifact format: `riff registry push`, `riff registry
//! pull` and `riff up -f REGISTRY/REPO:TAG`.
//!
//! # Why Spin's format
//!
//! An app pushed by `spin registry push` must run on riff and one pushed by riff on Spin, so the
//! artifact is laid out exactly as Spin lays it out (see [`push`]):
//!
//! - the image manifest is a plain OCI image manifest (`application/vnd.oci.image.manifest.v1+json`)
//!   with the `org.opencontainers.image.{title,version,description,authors,created}` annotations
//!   and no `artifactType`;
//! - its config is an OCI image config (`application/vnd.oci.image.config.v1+json`,
//!   architecture `wasm`, os `Wasip1`) whose label `com.fermyon.spin.lockedAppDigest` names the
//!   locked app's layer (so two apps never share a config digest);
//! - one layer per distinct component Wasm ([`WASM_LAYER_MEDIA_TYPE`]), one per distinct file
//!   larger than 128 bytes ([`DATA_MEDIA_TYPE`]; smaller ones are inlined in the lock), and
//!   last the locked app JSON ([`SPIN_APPLICATION_MEDIA_TYPE`]), whose `source`s name those
//!   layers by digest (see [`locked`] and [`convert`]).
//!
//! Pulling accepts that layout, the older one where the locked app *is* the config blob, and a
//! one-layer Wasm package (as `wkg` pushes), which runs like `riff up -f FILE.wasm`.
//!
//! # Cache
//!
//! Pulled content is kept as Spin keeps it, content-addressed under
//! `<cache>/registry/`: `wasm/<digest>`, `data/<digest>`, `manifests/<registry>/<repo>/<tag>/`
//! (`manifest.json`, `config.json` — the lock — and `digest`); riff adds `apps/<digest>/`, the
//! runnable form of one pulled manifest: its `spin.toml` and its components' files. Every file is
//! written to a temporary name and renamed into place, and an app directory is assembled aside
//! and renamed whole, so an interrupted pull leaves nothing half-written; each blob is checked
//! against its digest before it is kept. The cache is `$RIFF_REGISTRY_CACHE`, else
//! `$XDG_CACHE_HOME/riff`, else `~/.cache/riff`.
//!
//! # Transport
//!
//! HTTPS, except for registries on a loopback address (`localhost`, `127.0.0.0/8`, `[::1]`),
//! which are spoken to over plain HTTP as a local test registry is; `--insecure` uses plain
//! HTTP everywhere. Credentials: `RIFF_REGISTRY_USERNAME` / `RIFF_REGISTRY_PASSWORD`, else the
//! registry's entry in `~/.docker/config.json` (what `docker login` writes), else anonymous.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

pub mod convert;
pub mod locked;

use locked::{sha256_digest, LockedApp};

/// Media type of the layer holding the locked app (Spin's `SPIN_APPLICATION_MEDIA_TYPE`).
pub const SPIN_APPLICATION_MEDIA_TYPE: &str = "application/vnd.fermyon.spin.application.v1+config";
/// Media type of a component's Wasm layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Media type of a Wasm layer pushed by `wkg` (accepted on pull).
pub const WASM_LAYER_MEDIA_TYPE_WKG: &str = "application/wasm";
/// Media type of a static file's layer.
pub const DATA_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+data";
/// Media type of Spin's archive layer (files packed in one tar.gz, when an app has more than
/// ~500 files); riff does not unpack these yet.
pub const ARCHIVE_MEDIA_TYPE: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// The config blob's media type.
pub const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The image config label naming the locked app's digest.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";

/// Where to keep pulled content and how to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Cache root (`registry/` is created below it); default as in the module docs.
    pub cache_dir: Option<PathBuf>,
    /// Plain HTTP to every registry.
    pub insecure: bool,
}

/// Is `text` (what follows `-f`) a registry reference rather than a local path? A reference
/// names its registry host (`ghcr.io/...`, `localhost:5000/...`), does not exist as a path, and
/// does not end in `.toml` or `.wasm`.
pub fn is_reference(text: &str) -> bool {
    if Path::new(text).exists() || text.ends_with(".toml") || text.ends_with(".wasm") {
        return false;
    }
    let Some((host, _)) = text.split_once('/') else { return false };
    (host.contains('.') || host.contains(':') || host == "localhost") && text.parse::<Reference>().is_ok()
}

fn parse_reference(text: &str) -> Result<Reference> {
    let reference: Reference = text
        .parse()
        .map_err(|e| anyhow!("{text:?} is not a registry reference (REGISTRY/REPOSITORY[:TAG]): {e}"))?;
    if !text.contains('/') {
        bail!("{text:?} is not a registry reference: name the registry, as in localhost:5000/{text}");
    }
    Ok(reference)
}

/// A registry on this machine (`localhost[:port]`, `127.x.x.x[:port]`, `[::1][:port]`).
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                registry
            }
        })
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn client(reference: &Reference, options: &Options) -> oci_client::Client {
    // rustls needs one process-wide crypto provider; ring is the one riff already builds.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = reference.resolve_registry().to_string();
    let protocol = if options.insecure {
        ClientProtocol::Http
    } else if is_loopback(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(300)),
        ..Default::default()
    })
}

/// Credentials for the reference's registry: environment, then Docker's config, then none.
fn auth(reference: &Reference) -> RegistryAuth {
    if let (Ok(user), Ok(password)) =
        (std::env::var("RIFF_REGISTRY_USERNAME"), std::env::var("RIFF_REGISTRY_PASSWORD"))
    {
        return RegistryAuth::Basic(user, password);
    }
    docker_config_auth(reference.resolve_registry()).unwrap_or(RegistryAuth::Anonymous)
}

fn docker_config_auth(registry: &str) -> Option<RegistryAuth> {
    use base64::Engine;
    let home = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("config.json")).ok()?).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find_map(|(server, entry)| {
        let server = server.trim_start_matches("https://").trim_start_matches("http://");
        (server.split('/').next() == Some(registry)).then_some(entry)
    })?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(entry.get("auth")?.as_str()?).ok()?;
    let (user, password) =
        String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some(RegistryAuth::Basic(user, password))
}

/// Turn a registry client error into one line a user can act on.
fn explain(e: OciDistributionError, reference: &Reference, options: &Options) -> anyhow::Error {
    let registry = reference.resolve_registry();
    match &e {
        OciDistributionError::RegistryError { envelope, .. }
            if envelope
                .errors
                .iter()
                .any(|x| matches!(x.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound)) =>
        {
            anyhow!("not found in the registry (no such repository or tag)")
        }
        OciDistributionError::ServerError { code: 404, .. } | OciDistributionError::ImageManifestNotFoundError(_) => {
            anyhow!("not found in the registry ({e})")
        }
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => anyhow!(
            "registry {registry} refused access to {reference} (set RIFF_REGISTRY_USERNAME and RIFF_REGISTRY_PASSWORD, or docker login): {e}"
        ),
        OciDistributionError::RequestError(inner) => {
            let scheme = if options.insecure || is_loopback(registry) { "http" } else { "https" };
            let mut source: Option<&dyn std::error::Error> = Some(inner);
            let mut chain = Vec::new();
            while let Some(s) = source {
                chain.push(s.to_string());
                source = s.source();
            }
            chain.dedup();
            anyhow!("cannot reach registry {registry} over {scheme}: {}", chain.join(": "))
        }
        _ => anyhow!("registry {registry}: {e}"),
    }
}

/// What a push sent.
#[derive(Debug)]
pub struct Pushed {
    /// The image manifest's digest (`sha256:...`).
    pub digest: String,
    /// Layers sent, the locked app included.
    pub layers: usize,
}

/// Push the app of `manifest_path` to `reference` in Spin's layout.
pub async fn push(manifest_path: &Path, reference: &str, options: &Options) -> Result<Pushed> {
    let reference = parse_reference(reference)?;
    let bundle = convert::bundle(manifest_path)?;
    let locked_json = bundle.locked.to_json();
    let locked_digest = sha256_digest(&locked_json);

    let mut layers: Vec<ImageLayer> =
        bundle.layers.into_iter().map(|l| ImageLayer::new(l.data, l.media_type.to_string(), None)).collect();
    layers.push(ImageLayer::new(locked_json, SPIN_APPLICATION_MEDIA_TYPE.to_string(), None));

    let config_file = oci_client::config::ConfigFile {
        architecture: oci_client::config::Architecture::Wasm,
        os: oci_client::config::Os::Other("Wasip1".to_string()),
        config: Some(oci_client::config::Config {
            labels: Some(HashMap::from([(LOCKED_APP_DIGEST_LABEL.to_string(), locked_digest)])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let config = Config::oci_v1_from_config_file(config_file, None).context("writing the image config")?;

    let mut annotations = BTreeMap::new();
    let mut annotate = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            annotations.insert(key.to_string(), value);
        }
    };
    let meta = &bundle.locked;
    annotate(
        oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_TITLE,
        meta.metadata_str("name").map(str::to_string),
    );
    annotate(
        oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_VERSION,
        meta.metadata_str("version").map(str::to_string),
    );
    annotate(
        oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_DESCRIPTION,
        meta.metadata_str("description").map(str::to_string),
    );
    let authors: Vec<&str> = meta
        .metadata
        .get("authors")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .collect();
    annotate(oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_AUTHORS, Some(authors.join(", ")));
    annotate(
        oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_CREATED,
        Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
    );

    let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    let count = layers.len();
    let client = client(&reference, options);
    let auth = auth(&reference);
    client
        .push(&reference, &layers, config, &auth, Some(manifest))
        .await
        .map_err(|e| explain(e, &reference, options))?;
    let digest =
        client.fetch_manifest_digest(&reference, &auth).await.map_err(|e| explain(e, &reference, options))?;
    Ok(Pushed { digest, layers: count })
}

/// A pulled app, ready to run.
#[derive(Debug)]
pub struct Pulled {
    /// The image manifest's digest.
    pub digest: String,
    /// The generated `spin.toml` in the cache.
    pub manifest: PathBuf,
    /// Layers fetched now (the rest were cached).
    pub fetched: usize,
    /// Layers in the artifact.
    pub layers: usize,
}

/// The registry cache (see the module docs).
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(base: Option<PathBuf>) -> Result<Self> {
        let base = match base.or_else(|| std::env::var_os("RIFF_REGISTRY_CACHE").map(PathBuf::from)) {
            Some(base) => base,
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .context("no cache directory: set RIFF_REGISTRY_CACHE")?
                .join("riff"),
        };
        let root = base.join("registry");
        for dir in ["wasm", "data", "manifests", "apps"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn wasm_path(&self, digest: &str) -> PathBuf {
        self.root.join("wasm").join(safe_name(digest))
    }

    fn data_path(&self, digest: &str) -> PathBuf {
        self.root.join("data").join(safe_name(digest))
    }

    /// A cached blob with this digest, in either directory.
    fn blob(&self, digest: &str) -> Option<PathBuf> {
        [self.wasm_path(digest), self.data_path(digest)].into_iter().find(|p| p.is_file())
    }

    fn app_dir(&self, digest: &str) -> PathBuf {
        self.root.join("apps").join(safe_name(digest))
    }

    fn manifest_dir(&self, reference: &Reference) -> PathBuf {
        let mut dir = self.root.join("manifests").join(safe_name(reference.resolve_registry()));
        for part in reference.repository().split('/') {
            dir = dir.join(safe_name(part));
        }
        dir.join(safe_name(reference.tag().or(reference.digest()).unwrap_or("latest")))
    }
}

/// A file or directory name for a digest, registry or tag (no separators, no `..`).
fn safe_name(text: &str) -> String {
    let name: String = text.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
    if name.is_empty() || name == "." || name == ".." {
        format!("_{name}")
    } else {
        name
    }
}

/// Write `bytes` to `path` by way of a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().context("a cache file has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

/// Pull `reference` into the cache and prepare it to run.
pub async fn pull(reference: &str, options: &Options) -> Result<Pulled> {
    let reference = parse_reference(reference)?;
    let cache = Cache::new(options.cache_dir.clone())?;
    let client = client(&reference, options);
    let auth = auth(&reference);
    let fail = |e| explain(e, &reference, options);

    let (manifest, digest) = client.pull_image_manifest(&reference, &auth).await.map_err(fail)?;

    // Where the locked app is: a layer (Spin today), the config blob (older Spin), or nowhere
    // (a plain Wasm package).
    let lock_layer = manifest.layers.iter().rfind(|l| l.media_type == SPIN_APPLICATION_MEDIA_TYPE);
    let lock_in_config = manifest.config.media_type == SPIN_APPLICATION_MEDIA_TYPE;
    let wasm_layers: Vec<&OciDescriptor> =
        manifest.layers.iter().filter(|l| is_wasm_media_type(&l.media_type)).collect();
    if lock_layer.is_none() && !lock_in_config && !(manifest.layers.len() == 1 && wasm_layers.len() == 1) {
        let types: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
        bail!(
            "{reference} is not a Spin application: config {} and layers [{}]; expected a layer of type {SPIN_APPLICATION_MEDIA_TYPE} (or one Wasm layer)",
            manifest.config.media_type,
            types.join(", ")
        );
    }

    let mut fetched = 0;
    for layer in &manifest.layers {
        if layer.media_type == SPIN_APPLICATION_MEDIA_TYPE || cache.blob(&layer.digest).is_some() {
            continue;
        }
        let bytes = fetch(&client, &reference, layer).await.map_err(fail)?;
        verify(&bytes, &layer.digest)?;
        let path = if is_wasm_media_type(&layer.media_type) {
            cache.wasm_path(&layer.digest)
        } else {
            cache.data_path(&layer.digest)
        };
        write_atomic(&path, &bytes)?;
        fetched += 1;
    }

    let record = cache.manifest_dir(&reference);
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    let app_dir = cache.app_dir(&digest);
    let spin_toml = app_dir.join("spin.toml");
    if !spin_toml.is_file() {
        let locked_bytes = if let Some(layer) = lock_layer {
            fetched += 1;
            let bytes = fetch(&client, &reference, layer).await.map_err(fail)?;
            verify(&bytes, &layer.digest)?;
            Some(bytes)
        } else if lock_in_config {
            let mut bytes = Vec::new();
            client.pull_blob(&reference, &manifest.config, &mut bytes).await.map_err(fail)?;
            verify(&bytes, &manifest.config.digest)?;
            Some(bytes)
        } else {
            None
        };
        let origin = format!("{reference}@{digest}");
        assemble(&cache, &app_dir, locked_bytes.as_deref(), &manifest, &reference, &origin)?;
        if let Some(bytes) = &locked_bytes {
            write_atomic(&record.join("config.json"), bytes)?;
        }
    }
    write_atomic(&record.join("manifest.json"), &manifest_json)?;
    write_atomic(&record.join("digest"), digest.as_bytes())?;
    Ok(Pulled { digest, manifest: spin_toml, fetched, layers: manifest.layers.len() })
}

fn is_wasm_media_type(media_type: &str) -> bool {
    media_type == WASM_LAYER_MEDIA_TYPE || media_type == WASM_LAYER_MEDIA_TYPE_WKG
}

async fn fetch(
    client: &oci_client::Client,
    reference: &Reference,
    layer: &OciDescriptor,
) -> std::result::Result<Vec<u8>, OciDistributionError> {
    let mut bytes = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0).min(64 << 20));
    client.pull_blob(reference, layer, &mut bytes).await?;
    Ok(bytes)
}

fn verify(bytes: &[u8], digest: &str) -> Result<()> {
    let actual = sha256_digest(bytes);
    if actual != digest {
        bail!("the registry sent content whose digest is {actual}, not the {digest} it announced; nothing was kept");
    }
    Ok(())
}

/// Build the app directory for one pulled manifest aside, then rename it into place.
fn assemble(
    cache: &Cache,
    app_dir: &Path,
    locked_bytes: Option<&[u8]>,
    manifest: &OciImageManifest,
    reference: &Reference,
    origin: &str,
) -> Result<()> {
    let apps = app_dir.parent().context("app directories live in the cache")?;
    let staging = tempfile::Builder::new().prefix(".partial-").tempdir_in(apps)?;
    let mut placed = convert::Placed::default();
    let text = match locked_bytes {
        Some(bytes) => {
            let locked = LockedApp::from_json(bytes).map_err(|e| anyhow!("{reference}: {e}"))?;
            for c in &locked.components {
                let digest =
                    c.source.content.digest.as_deref().ok_or_else(|| {
                        anyhow!("{reference}: component {:?} has no digest for its Wasm", c.id)
                    })?;
                let wasm = cache.blob(digest).ok_or_else(|| {
                    anyhow!(
                        "{reference}: component {:?}: its Wasm {digest} is not a layer of the artifact",
                        c.id
                    )
                })?;
                placed.wasm.insert(c.id.clone(), wasm);
                if c.files.is_empty() {
                    continue;
                }
                let files_rel = Path::new("files").join(&c.id);
                for file in &c.files {
                    let rel = Path::new(&file.path);
                    if file.path.is_empty()
                        || !rel.components().all(|p| matches!(p, std::path::Component::Normal(_)))
                    {
                        bail!(
                            "{reference}: component {:?}: file path {:?} leaves its directory",
                            c.id,
                            file.path
                        );
                    }
                    let dest = staging.path().join(&files_rel).join(rel);
                    std::fs::create_dir_all(dest.parent().unwrap())?;
                    match (&file.content.inline, file.content.digest.as_deref()) {
                        (Some(bytes), _) => std::fs::write(&dest, bytes)?,
                        (None, Some(digest)) => {
                            let blob = cache.blob(digest).ok_or_else(|| {
                                let archived = manifest.layers.iter().any(|l| l.media_type == ARCHIVE_MEDIA_TYPE);
                                anyhow!(
                                    "{reference}: component {:?}: file {:?} ({digest}) is not a layer of the artifact{}",
                                    c.id,
                                    file.path,
                                    if archived { " (it is in an archive layer, which riff does not unpack yet)" } else { "" }
                                )
                            })?;
                            std::fs::copy(&blob, &dest)?;
                        }
                        (None, None) => {
                            bail!("{reference}: component {:?}: file {:?} has no content", c.id, file.path)
                        }
                    }
                }
                placed.files.insert(c.id.clone(), app_dir.join(&files_rel));
            }
            std::fs::write(staging.path().join("config.json"), bytes)?;
            convert::manifest_text(&locked, &placed, origin).map_err(|e| anyhow!("{reference}: {e:#}"))?
        }
        None => {
            // A Wasm package: one component on `/...`, as `riff up -f FILE.wasm` serves it.
            let layer = &manifest.layers[0];
            let wasm = cache.blob(&layer.digest).context("the package's Wasm was just pulled")?;
            let name = reference.repository().rsplit('/').next().unwrap_or("app");
            let id: String = name
                .to_ascii_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("-");
            let id = if id.starts_with(|c: char| c.is_ascii_lowercase()) { id } else { format!("app-{id}") };
            format!(
                "# Pulled by riff from {origin}: a Wasm package, served on /...\nspin_manifest_version = 2\n[application]\nname = {name}\n\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"{id}\"\n\n[component.{id}]\nsource = {source}\n",
                name = toml::Value::String(id.clone()),
                source = toml::Value::String(wasm.to_string_lossy().into_owned()),
            )
        }
    };
    // Refuse what riff cannot run before anything is kept.
    riff_manifest::parse(&text, &app_dir.join("spin.toml"), app_dir)
        .map_err(|e| anyhow!("{reference}: {e}"))?;
    std::fs::write(staging.path().join("spin.toml"), text)?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, app_dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another pull of the same digest finished first: its directory is the same content.
        if !app_dir.join("spin.toml").is_file() {
            return Err(e).with_context(|| format!("moving the pulled app into {}", app_dir.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_paths_are_told_apart() {
        assert!(is_reference("localhost:5000/music:v1"));
        assert!(is_reference(
            "ghcr.io/acme/music@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        ));
        assert!(!is_reference("spin.toml"));
        assert!(!is_reference("apps/hello.wasm"));
        assert!(!is_reference("music"), "no registry named");
        assert!(!is_reference("some/dir"), "a first segment without '.' or ':' is a path");
    }

    #[test]
    fn loopback_registries() {
        for r in ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "127.1.2.3"] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["ghcr.io", "10.0.0.1:5000", "example.com:443"] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn cache_names_stay_inside() {
        assert_eq!(safe_name("sha256:ab"), "sha256:ab");
        assert_eq!(safe_name(".."), "_..");
        assert_eq!(safe_name("a/../b"), "a_.._b");
    }
}
