//! One loaded version of a component, and the routable set of them at one moment.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use riff_core::Instances;
use riff_manifest::routes::Router;
use wasmtime::component::Component;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;
use wasmtime_wasi_http::p3::bindings::ServiceIndices;

use crate::runtime::ComponentRuntime;
use crate::state::RequestState;

/// Where a component's code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The manifest's `source` file.
    File(PathBuf),
    /// Uploaded through the admin API (`riff deploy`).
    Upload,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Upload => f.write_str("upload"),
        }
    }
}

/// One version of a component, ready to serve: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    pub runtime: Arc<ComponentRuntime>,
    pub compiled: Component,
    /// How to make its instances, its warm ones, its timeout and its call counters.
    pub instances: Instances<RequestState>,
    /// Where its HTTP handler export sits, when it has one (service-only components do not).
    pub http: Option<HttpExport>,
    /// Its `riff:platform/queue-handler`, when it exports one.
    pub subscriber: Option<riff_trigger_queue::SubscriberIndices>,
    /// Its `fermyon:spin-cron` `handle-cron-event`, when it exports one.
    pub cron: Option<riff_trigger_cron::SpinCronIndices>,
    /// Its `fermyon:spin/inbound-redis` `handle-message`, when it exports one.
    pub redis: Option<riff_trigger_redis::RedisTriggerIndices>,
    /// SHA-256 of the `.wasm`, hex.
    pub version: String,
    pub origin: Origin,
    /// The manifest entry it was loaded under (see [`crate::loader::Loader::fingerprint`]).
    pub fingerprint: String,
    pub loaded_at: SystemTime,
}

/// A component's HTTP handler: WASIp2's or WASIp3's.
#[derive(Clone)]
pub enum HttpExport {
    /// `wasi:http/incoming-handler@0.2.x`, answering through a response outparam.
    P2(ProxyIndices),
    /// `wasi:http/handler@0.3.0` (spin-sdk 6), returning its response; needs the concurrent engine.
    P3(ServiceIndices),
}

/// The routable state of an app at one moment.
pub struct Snapshot {
    pub components: HashMap<String, Arc<LoadedComponent>>,
    pub router: Arc<Router<String>>,
    /// Each component's public route, for in-process calls that address the component directly.
    pub route_of: Arc<HashMap<String, String>>,
    /// `[application.trigger.http] base`.
    pub base: Arc<str>,
    /// The version each component replaced, kept loaded for rollback.
    pub previous: HashMap<String, Arc<LoadedComponent>>,
}

impl Snapshot {
    /// The same routes with component `id` replaced by `component`; the version it replaces
    /// becomes `id`'s previous version.
    pub fn with_component(&self, id: &str, component: Arc<LoadedComponent>) -> Snapshot {
        let mut components = self.components.clone();
        let mut previous = self.previous.clone();
        if let Some(replaced) = components.insert(id.to_string(), component) {
            previous.insert(id.to_string(), replaced);
        }
        Snapshot {
            components,
            router: self.router.clone(),
            route_of: self.route_of.clone(),
            base: self.base.clone(),
            previous,
        }
    }
}
