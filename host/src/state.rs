//! The per-request store data: everything one guest instance can reach.
//!
//! A fresh [`RequestState`] (and so a fresh `Store`) is made for every request: no state leaks
//! between requests or between components, and a trap poisons nothing but its own store.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use riff_core::limits::GuestLimits;
use riff_core::InstanceState;
use riff_key_value::host::{KeyValueCtxView, KeyValueView};
use riff_messaging::host::{MessagingCtxView, MessagingView};
use riff_outbound_mqtt::{MqttCtxView, MqttState, MqttView};
use riff_outbound_rdbms::{RdbmsCtxView, RdbmsView};
use riff_outbound_redis::{RedisCtxView, RedisState, RedisView};
use riff_sql::host::{SqlCtxView, SqlState, SqlView};
use riff_variables::{VariablesCtxView, VariablesView};

use crate::runtime::ComponentRuntime;
use riff_outbound_http::OutboundHooks;

pub struct RequestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limits: GuestLimits,
    pub hooks: OutboundHooks,
    /// The component's grants and resolved configuration.
    pub component: Arc<ComponentRuntime>,
    /// When the current request must have finished (reset for each request a warm instance serves).
    pub deadline: Instant,
    /// SQL transactions the guest opened (`riff:platform/sql`), ended with the request.
    pub sql: SqlState,
    /// Outbound Redis connections and MQTT clients this instance opened, by address.
    pub redis: RedisState,
    pub mqtt: MqttState,
}

impl RequestState {
    pub fn new(component: Arc<ComponentRuntime>, wasi: WasiCtx, hooks: OutboundHooks) -> Self {
        let limits = GuestLimits::new(component.memory_limit);
        let deadline = Instant::now() + component.timeout;
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits,
            hooks,
            component,
            deadline,
            sql: SqlState::default(),
            redis: RedisState::default(),
            mqtt: MqttState::default(),
        }
    }
}

impl InstanceState for RequestState {
    fn limits(&mut self) -> &mut GuestLimits {
        &mut self.limits
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn begin_call(&mut self, depth: u32) {
        self.deadline = Instant::now() + self.component.timeout;
        self.hooks.depth = depth;
    }

    fn end_call(&mut self) {
        for _ in 0..self.sql.end_transactions() {
            tracing::warn!(component = %self.component.id, "a transaction left open was rolled back");
        }
    }
}

impl KeyValueView for RequestState {
    fn key_value(&mut self) -> KeyValueCtxView<'_> {
        KeyValueCtxView { grants: &self.component.key_value, table: &mut self.table }
    }
}

impl SqlView for RequestState {
    fn sql(&mut self) -> SqlCtxView<'_> {
        SqlCtxView { grants: &self.component.sql, state: &mut self.sql, table: &mut self.table }
    }
}

impl MessagingView for RequestState {
    fn messaging(&mut self) -> MessagingCtxView<'_> {
        MessagingCtxView { grants: &self.component.messaging }
    }
}

impl RdbmsView for RequestState {
    fn rdbms(&mut self) -> RdbmsCtxView<'_> {
        RdbmsCtxView { grants: &self.component.rdbms, table: &mut self.table }
    }
}

impl RedisView for RequestState {
    fn redis(&mut self) -> RedisCtxView<'_> {
        RedisCtxView { allow: &self.component.allow, state: &mut self.redis, table: &mut self.table }
    }
}

impl MqttView for RequestState {
    fn mqtt(&mut self) -> MqttCtxView<'_> {
        MqttCtxView { allow: &self.component.allow, state: &mut self.mqtt, table: &mut self.table }
    }
}

impl VariablesView for RequestState {
    fn variables(&mut self) -> VariablesCtxView<'_> {
        VariablesCtxView { variables: &self.component.variables }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
