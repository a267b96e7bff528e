//! A component's grants and limits: what it may do and how it is limited, resolved from its
//! manifest entry once, shared by all its calls and by every version of its code loaded under
//! the same entry. Each capability's grants are that capability crate's own type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use riff_key_value::host::KeyValueGrants;
use riff_manifest::InstanceReuse;
use riff_messaging::host::MessagingGrants;
use riff_outbound_http::AllowList;
use riff_outbound_rdbms::RdbmsGrants;
use riff_sql::host::SqlGrants;
use riff_variables::ComponentVariables;

/// What a component may do and how it is limited: shared by all its requests, and by every
/// version of its code loaded under the same manifest entry.
pub struct ComponentRuntime {
    pub id: Arc<str>,
    pub memory_limit: u64,
    /// Largest request body from the public listener (`tool.riff.max_request_body`).
    pub max_request_body: u64,
    pub timeout: Duration,
    /// The key-value stores and databases it may open.
    pub key_value: KeyValueGrants,
    pub sql: SqlGrants,
    pub variables: ComponentVariables,
    pub allow: Arc<AllowList>,
    /// PostgreSQL and MySQL: the same allow-list, and the pools kept across requests.
    pub rdbms: RdbmsGrants,
    pub environment: Vec<(String, String)>,
    /// Host directory -> guest path, mounted read-only.
    pub preopens: Vec<(PathBuf, String)>,
    /// Topics it may publish to, and the queue it publishes into.
    pub messaging: MessagingGrants,
    /// Keep instances warm between requests (`tool.riff.instance_reuse`).
    pub instance_reuse: Option<InstanceReuse>,
}
