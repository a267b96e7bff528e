//! Shared backends for the integration tests: PostgreSQL, Redis and NATS JetStream on loopback.
//!
//! `RIFF_TEST_BACKENDS=shared` is the one switch that runs the whole suite a second time on
//! them: every `riff up` the harness starts then gets a runtime config sending each SQL label to
//! PostgreSQL, each key-value label to Redis and the queue to NATS. Tests that start several
//! replicas use them whatever the switch says. Each app gets its own PostgreSQL schemas (one per
//! label, in the server's database), Redis key prefix and JetStream stream, named
//! `riff_it_<pid>_…`, so tests never see each other's data; what a test process left behind is
//! removed by the next one once that process is gone. (Schemas, not a database per app: creating
//! a database copies a template, which costs a few hundred milliseconds and megabytes per test.)

use std::path::Path;
use std::sync::OnceLock;

use riff_core::servers;

/// Whether this run uses the shared backends for every test (`RIFF_TEST_BACKENDS=shared`).
pub fn shared_mode() -> bool {
    std::env::var("RIFF_TEST_BACKENDS").as_deref() == Ok("shared")
}

/// The servers' URLs, or `None` (after recording a skip; a failure under `CI=true`) when one is
/// not running.
pub fn servers(test: &str) -> Option<Servers> {
    let found = (
        servers::server_url(servers::POSTGRES),
        servers::server_url(servers::REDIS),
        servers::server_url(servers::NATS),
    );
    match found {
        (Some(postgres), Some(redis), Some(nats)) => {
            let servers = Servers { postgres, redis, nats };
            sweep_once(&servers);
            Some(servers)
        }
        _ => {
            servers::skip(
                test,
                "PostgreSQL (5432), Redis (6379) and NATS JetStream (4222) must run on loopback",
            );
            None
        }
    }
}

#[derive(Clone)]
pub struct Servers {
    pub postgres: String,
    pub redis: String,
    pub nats: String,
}

/// One app's share of the servers: its database, key prefix and stream.
pub struct AppBackends {
    pub servers: Servers,
    /// PostgreSQL database, Redis key prefix and JetStream stream name (upper case).
    pub name: String,
}

impl AppBackends {
    /// Fresh schemas, prefix and stream for one app (riff creates them on first use).
    pub fn create(servers: Servers) -> Self {
        Self { name: servers::unique_name("riff_it"), servers }
    }

    /// The PostgreSQL URL the app's schemas live in.
    pub fn database_url(&self) -> String {
        self.servers.postgres.clone()
    }

    /// The PostgreSQL schema of SQL label `label`.
    pub fn schema(&self, label: &str) -> String {
        format!("{}_{label}", self.name)
    }

    /// A runtime config placing every label `manifest` grants, and the queue, on the servers.
    pub fn runtime_config(&self, manifest: &str) -> String {
        self.runtime_config_on(manifest, &self.servers.redis, &self.servers.nats)
    }

    /// [`Self::runtime_config`] with the key-value labels on the Redis at `redis` and the queue
    /// on the NATS at `nats` instead (servers of a test's own, which it may stop and start).
    pub fn runtime_config_on(&self, manifest: &str, redis: &str, nats: &str) -> String {
        let (databases, stores) = labels(manifest);
        let mut config = String::from("# Written by the test harness: every label on the shared backends.\n");
        for label in databases {
            config.push_str(&format!(
                "[sqlite_database.{label}]\ntype = \"postgres\"\nurl = \"{}\"\nschema = \"{}\"\n\n",
                self.database_url(),
                self.schema(&label)
            ));
        }
        for label in stores {
            config.push_str(&format!(
                "[key_value_store.{label}]\ntype = \"redis\"\nurl = \"{redis}\"\nprefix = \"{}:{label}:\"\n\n",
                self.name
            ));
        }
        config.push_str(&format!(
            "[queue]\ntype = \"nats\"\nurl = \"{nats}\"\nstream = \"{}\"\n",
            self.name.to_uppercase()
        ));
        config
    }
}

/// The SQL and key-value labels a manifest's components are granted (`default` included when
/// none is named, as riff grants nothing by default but tests may add it later).
fn labels(manifest: &str) -> (Vec<String>, Vec<String>) {
    // A manifest a test expects riff to refuse may not even be TOML: then it has no labels.
    let doc: toml::Table = toml::from_str(manifest).unwrap_or_default();
    let mut databases = std::collections::BTreeSet::new();
    let mut stores = std::collections::BTreeSet::new();
    let components = doc.get("component").and_then(|c| c.as_table()).cloned().unwrap_or_default();
    for component in components.values() {
        for (key, set) in [("sqlite_databases", &mut databases), ("key_value_stores", &mut stores)] {
            let granted = component.get(key).and_then(|v| v.as_array()).cloned().unwrap_or_default();
            set.extend(granted.iter().filter_map(|v| v.as_str()).map(String::from));
        }
    }
    (databases.into_iter().collect(), stores.into_iter().collect())
}

/// Write the runtime config for `manifest` into `dir` (once: a restarted app keeps its backends)
/// and return its path.
pub fn write_runtime_config(dir: &Path, manifest: &str, test: &str) -> Option<std::path::PathBuf> {
    let path = dir.join("shared-backends.toml");
    if !path.exists() {
        let backends = AppBackends::create(servers(test)?);
        std::fs::write(&path, backends.runtime_config(manifest)).unwrap();
    }
    Some(path)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

async fn admin_connection(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connecting to PostgreSQL: {e}"))
}

/// Whether the test process `pid` has gone.
fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a `riff_it_<pid>_…` name.
fn owner(name: &str) -> Option<u32> {
    name.to_ascii_lowercase().strip_prefix("riff_it_")?.split('_').next()?.parse().ok()
}

/// Remove what earlier test processes left on the servers, once per test process.
fn sweep_once(servers: &Servers) {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        block_on(async {
            use sqlx::Executor;
            let mut admin = admin_connection(&servers.postgres).await;
            let names: Vec<String> =
                sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'riff_it_%'")
                    .fetch_all(&mut admin)
                    .await
                    .unwrap_or_default();
            for name in names.into_iter().filter(|n| owner(n).is_some_and(gone)) {
                let _ = admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
            }
            let schemas: Vec<String> =
                sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'riff_it_%'")
                    .fetch_all(&mut admin)
                    .await
                    .unwrap_or_default();
            for name in schemas.into_iter().filter(|n| owner(n).is_some_and(gone)) {
                let _ = admin.execute(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE").as_str()).await;
            }
            if let Ok(client) = async_nats::connect(&servers.nats).await {
                let js = async_nats::jetstream::new(client);
                let mut names = js.stream_names();
                let mut stale = Vec::new();
                use futures::StreamExt;
                while let Some(Ok(name)) = names.next().await {
                    if owner(&name).is_some_and(gone) {
                        stale.push(name);
                    }
                }
                for name in stale {
                    let _ = js.delete_stream(&name).await;
                }
            }
            if let Ok(client) = redis::Client::open(servers.redis.as_str()) {
                if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                    let keys: Vec<String> =
                        redis::cmd("KEYS").arg("riff_it_*").query_async(&mut conn).await.unwrap_or_default();
                    let stale: Vec<&String> = keys.iter().filter(|k| owner(k).is_some_and(gone)).collect();
                    if !stale.is_empty() {
                        let _: Result<(), _> = redis::cmd("DEL").arg(stale).query_async(&mut conn).await;
                    }
                }
            }
        });
    });
}

#[test]
fn labels_come_from_the_manifest() {
    let manifest = r#"
[component.a]
sqlite_databases = ["default", "catalog"]
key_value_stores = ["default"]
[component.b]
sqlite_databases = ["catalog"]
"#;
    assert_eq!(
        labels(manifest),
        (vec!["catalog".to_string(), "default".to_string()], vec!["default".to_string()])
    );
    assert_eq!(owner("riff_it_123_4_ab"), Some(123));
    assert_eq!(owner("RIFF_IT_123_4_AB"), Some(123));
    assert_eq!(owner("other"), None);
}
