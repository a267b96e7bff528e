//! The host side of the interfaces: bindings, the view a store's data lends this capability,
//! the wiring into a linker, and the version mapping.
//!
//! `spin:postgres/postgres@4.0.0` is implemented once ([`crate::postgres`]); `@3.0.0` and
//! `fermyon:spin/postgres@2.0.0` convert their parameters up to it and its results down (a
//! v4-only value — uuid, jsonb, decimal, ranges, arrays, interval — reads as `unsupported` in v3
//! and v2, a v4 data type as `other`; v2's unsigned parameters are refused, as Spin refuses
//! them). `fermyon:spin/mysql@2.0.0` is [`crate::mysql`].

use std::sync::Arc;

use riff_manifest::allow_list::AllowList;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{MySql, Postgres};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::address::{self, AddressError};
use crate::pool::{self, Lease, Pools};

pub use crate::bindings;

use bindings::fermyon::spin::{mysql, postgres as pg2, rdbms_types as v2};
use bindings::spin::postgres3_0_0::postgres as v3;
use bindings::spin::postgres4_0_0::postgres as v4;

pub use crate::pool::{MySqlLease, PgLease};

/// What one component may reach, and the pools it keeps: made once per component, shared by
/// all its requests.
#[derive(Clone)]
pub struct RdbmsGrants {
    allow: Arc<AllowList>,
    postgres: Arc<Pools<Postgres>>,
    mysql: Arc<Pools<MySql>>,
}

impl RdbmsGrants {
    /// Grants from the component's `allowed_outbound_hosts` (`postgres://` and `mysql://` entries,
    /// and `*://`).
    pub fn new(allow: Arc<AllowList>) -> Self {
        Self { allow, postgres: Arc::new(Pools::new(postgres_pool)), mysql: Arc::new(Pools::new(mysql_pool)) }
    }

    /// How many PostgreSQL and MySQL addresses have a pool (for tests).
    pub fn pooled_addresses(&self) -> (usize, usize) {
        (self.postgres.len(), self.mysql.len())
    }
}

fn postgres_pool() -> sqlx::pool::PoolOptions<Postgres> {
    pool::bounded()
}

fn mysql_pool() -> sqlx::pool::PoolOptions<MySql> {
    pool::bounded()
}

/// What a store's data lends this capability for one call.
pub struct RdbmsCtxView<'a> {
    pub grants: &'a RdbmsGrants,
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to give this capability its view.
pub trait RdbmsView: Send {
    fn rdbms(&mut self) -> RdbmsCtxView<'_>;
}

struct HasRdbms;

impl HasData for HasRdbms {
    type Data<'a> = RdbmsCtxView<'a>;
}

/// Add `fermyon:spin/postgres@2.0.0`, `fermyon:spin/mysql@2.0.0` (with `rdbms-types`) and
/// `spin:postgres/postgres@3.0.0` and `@4.0.0` to `linker`.
pub fn add_to_linker<T: RdbmsView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    v2::add_to_linker::<T, HasRdbms>(linker, T::rdbms)?;
    pg2::add_to_linker::<T, HasRdbms>(linker, T::rdbms)?;
    mysql::add_to_linker::<T, HasRdbms>(linker, T::rdbms)?;
    v3::add_to_linker::<T, HasRdbms>(linker, T::rdbms)?;
    v4::add_to_linker::<T, HasRdbms>(linker, T::rdbms)?;
    Ok(())
}

impl RdbmsCtxView<'_> {
    async fn open_postgres(
        &mut self,
        address: &str,
    ) -> wasmtime::Result<Result<Resource<PgLease>, v4::Error>> {
        let options: PgConnectOptions = match address::postgres(address, &self.grants.allow) {
            Ok(options) => options,
            Err(AddressError::Invalid(m) | AddressError::NotPermitted(m)) => {
                return Ok(Err(v4::Error::ConnectionFailed(m)))
            }
        };
        // Notices are never shown to the guest; the reset on release would otherwise warn.
        let options = options.statement_cache_capacity(0).options([("client_min_messages", "error")]);
        match self.grants.postgres.acquire(address, options).await {
            Ok(conn) => Ok(Ok(self.table.push(Lease::new(conn))?)),
            Err(e) => Ok(Err(v4::Error::ConnectionFailed(e.to_string()))),
        }
    }

    async fn open_mysql(
        &mut self,
        address: &str,
    ) -> wasmtime::Result<Result<Resource<MySqlLease>, v2::Error>> {
        let options: MySqlConnectOptions = match address::mysql(address, &self.grants.allow) {
            Ok(options) => options,
            Err(AddressError::Invalid(m)) => return Ok(Err(v2::Error::Other(m))),
            Err(AddressError::NotPermitted(m)) => return Ok(Err(v2::Error::ConnectionFailed(m))),
        };
        match self.grants.mysql.acquire(address, options).await {
            Ok(conn) => Ok(Ok(self.table.push(Lease::new(conn))?)),
            Err(e) => Ok(Err(v2::Error::ConnectionFailed(e.to_string()))),
        }
    }
}

/// A connection the guest dropped goes back to the pool as a new one would come — any
/// transaction it left open rolled back, session settings reset — or, if that fails, is closed.
async fn release_postgres(mut lease: PgLease) {
    if crate::postgres::reset(lease.conn()).await {
        lease.reusable();
    }
}

// spin:postgres/postgres@4.0.0

impl v4::Host for RdbmsCtxView<'_> {}

impl v4::HostConnection for RdbmsCtxView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<PgLease>, v4::Error>> {
        self.open_postgres(&address).await
    }

    async fn query(
        &mut self,
        h: Resource<PgLease>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<v4::RowSet, v4::Error>> {
        let lease = self.table.get_mut(&h)?;
        Ok(crate::postgres::query(lease.conn(), &statement, params).await)
    }

    async fn execute(
        &mut self,
        h: Resource<PgLease>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v4::Error>> {
        let lease = self.table.get_mut(&h)?;
        Ok(crate::postgres::execute(lease.conn(), &statement, params).await)
    }

    async fn drop(&mut self, h: Resource<PgLease>) -> wasmtime::Result<()> {
        release_postgres(self.table.delete(h)?).await;
        Ok(())
    }
}

// spin:postgres/postgres@3.0.0: v4 underneath.

fn v3_param(p: v3::ParameterValue) -> v4::ParameterValue {
    use v3::ParameterValue as P;
    match p {
        P::Boolean(v) => v4::ParameterValue::Boolean(v),
        P::Int8(v) => v4::ParameterValue::Int8(v),
        P::Int16(v) => v4::ParameterValue::Int16(v),
        P::Int32(v) => v4::ParameterValue::Int32(v),
        P::Int64(v) => v4::ParameterValue::Int64(v),
        P::Floating32(v) => v4::ParameterValue::Floating32(v),
        P::Floating64(v) => v4::ParameterValue::Floating64(v),
        P::Str(v) => v4::ParameterValue::Str(v),
        P::Binary(v) => v4::ParameterValue::Binary(v),
        P::Date(v) => v4::ParameterValue::Date(v),
        P::Time(v) => v4::ParameterValue::Time(v),
        P::Datetime(v) => v4::ParameterValue::Datetime(v),
        P::Timestamp(v) => v4::ParameterValue::Timestamp(v),
        P::DbNull => v4::ParameterValue::DbNull,
    }
}

fn v3_value(v: v4::DbValue) -> v3::DbValue {
    use v4::DbValue as V;
    match v {
        V::Boolean(v) => v3::DbValue::Boolean(v),
        V::Int8(v) => v3::DbValue::Int8(v),
        V::Int16(v) => v3::DbValue::Int16(v),
        V::Int32(v) => v3::DbValue::Int32(v),
        V::Int64(v) => v3::DbValue::Int64(v),
        V::Floating32(v) => v3::DbValue::Floating32(v),
        V::Floating64(v) => v3::DbValue::Floating64(v),
        V::Str(v) => v3::DbValue::Str(v),
        V::Binary(v) => v3::DbValue::Binary(v),
        V::Date(v) => v3::DbValue::Date(v),
        V::Time(v) => v3::DbValue::Time(v),
        V::Datetime(v) => v3::DbValue::Datetime(v),
        V::Timestamp(v) => v3::DbValue::Timestamp(v),
        V::DbNull => v3::DbValue::DbNull,
        _ => v3::DbValue::Unsupported,
    }
}

fn v3_type(t: v4::DbDataType) -> v3::DbDataType {
    use v4::DbDataType as T;
    match t {
        T::Boolean => v3::DbDataType::Boolean,
        T::Int8 => v3::DbDataType::Int8,
        T::Int16 => v3::DbDataType::Int16,
        T::Int32 => v3::DbDataType::Int32,
        T::Int64 => v3::DbDataType::Int64,
        T::Floating32 => v3::DbDataType::Floating32,
        T::Floating64 => v3::DbDataType::Floating64,
        T::Str => v3::DbDataType::Str,
        T::Binary => v3::DbDataType::Binary,
        T::Date => v3::DbDataType::Date,
        T::Time => v3::DbDataType::Time,
        T::Datetime => v3::DbDataType::Datetime,
        T::Timestamp => v3::DbDataType::Timestamp,
        _ => v3::DbDataType::Other,
    }
}

/// A v4 query error as the plain text of the older interfaces.
fn error_text(e: v4::QueryError) -> String {
    match e {
        v4::QueryError::Text(text) => text,
        v4::QueryError::DbError(db) => db.as_text,
    }
}

fn v3_error(e: v4::Error) -> v3::Error {
    match e {
        v4::Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => v3::Error::BadParameter(m),
        v4::Error::QueryFailed(q) => v3::Error::QueryFailed(error_text(q)),
        v4::Error::ValueConversionFailed(m) => v3::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => v3::Error::Other(m),
    }
}

impl v3::Host for RdbmsCtxView<'_> {}

impl v3::HostConnection for RdbmsCtxView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<PgLease>, v3::Error>> {
        Ok(self.open_postgres(&address).await?.map_err(v3_error))
    }

    async fn query(
        &mut self,
        h: Resource<PgLease>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<v3::RowSet, v3::Error>> {
        let params = params.into_iter().map(v3_param).collect();
        let lease = self.table.get_mut(&h)?;
        Ok(crate::postgres::query(lease.conn(), &statement, params).await.map_err(v3_error).map(|set| {
            v3::RowSet {
                columns: set
                    .columns
                    .into_iter()
                    .map(|c| v3::Column { name: c.name, data_type: v3_type(c.data_type) })
                    .collect(),
                rows: set.rows.into_iter().map(|row| row.into_iter().map(v3_value).collect()).collect(),
            }
        }))
    }

    async fn execute(
        &mut self,
        h: Resource<PgLease>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v3::Error>> {
        let params = params.into_iter().map(v3_param).collect();
        let lease = self.table.get_mut(&h)?;
        Ok(crate::postgres::execute(lease.conn(), &statement, params).await.map_err(v3_error))
    }

    async fn drop(&mut self, h: Resource<PgLease>) -> wasmtime::Result<()> {
        release_postgres(self.table.delete(h)?).await;
        Ok(())
    }
}

// fermyon:spin/postgres@2.0.0: v4 underneath, rdbms-types outside.

fn v2_param(p: v2::ParameterValue) -> Result<v4::ParameterValue, v2::Error> {
    use v2::ParameterValue as P;
    Ok(match p {
        P::Boolean(v) => v4::ParameterValue::Boolean(v),
        P::Int8(v) => v4::ParameterValue::Int8(v),
        P::Int16(v) => v4::ParameterValue::Int16(v),
        P::Int32(v) => v4::ParameterValue::Int32(v),
        P::Int64(v) => v4::ParameterValue::Int64(v),
        P::Uint8(_) | P::Uint16(_) | P::Uint32(_) | P::Uint64(_) => {
            return Err(v2::Error::ValueConversionFailed(
                "Postgres does not support unsigned integers".into(),
            ))
        }
        P::Floating32(v) => v4::ParameterValue::Floating32(v),
        P::Floating64(v) => v4::ParameterValue::Floating64(v),
        P::Str(v) => v4::ParameterValue::Str(v),
        P::Binary(v) => v4::ParameterValue::Binary(v),
        P::DbNull => v4::ParameterValue::DbNull,
    })
}

fn v2_params(params: Vec<v2::ParameterValue>) -> Result<Vec<v4::ParameterValue>, v2::Error> {
    params.into_iter().map(v2_param).collect()
}

fn v2_value(v: v4::DbValue) -> v2::DbValue {
    use v4::DbValue as V;
    match v {
        V::Boolean(v) => v2::DbValue::Boolean(v),
        V::Int8(v) => v2::DbValue::Int8(v),
        V::Int16(v) => v2::DbValue::Int16(v),
        V::Int32(v) => v2::DbValue::Int32(v),
        V::Int64(v) => v2::DbValue::Int64(v),
        V::Floating32(v) => v2::DbValue::Floating32(v),
        V::Floating64(v) => v2::DbValue::Floating64(v),
        V::Str(v) => v2::DbValue::Str(v),
        V::Binary(v) => v2::DbValue::Binary(v),
        V::DbNull => v2::DbValue::DbNull,
        _ => v2::DbValue::Unsupported,
    }
}

fn v2_type(t: v4::DbDataType) -> v2::DbDataType {
    use v4::DbDataType as T;
    match t {
        T::Boolean => v2::DbDataType::Boolean,
        T::Int8 => v2::DbDataType::Int8,
        T::Int16 => v2::DbDataType::Int16,
        T::Int32 => v2::DbDataType::Int32,
        T::Int64 => v2::DbDataType::Int64,
        T::Floating32 => v2::DbDataType::Floating32,
        T::Floating64 => v2::DbDataType::Floating64,
        T::Str => v2::DbDataType::Str,
        T::Binary => v2::DbDataType::Binary,
        _ => v2::DbDataType::Other,
    }
}

fn v2_error(e: v4::Error) -> v2::Error {
    match e {
        v4::Error::ConnectionFailed(m) => v2::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => v2::Error::BadParameter(m),
        v4::Error::QueryFailed(q) => v2::Error::QueryFailed(error_text(q)),
        v4::Error::ValueConversionFailed(m) => v2::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => v2::Error::Other(m),
    }
}

impl v2::Host for RdbmsCtxView<'_> {}
impl pg2::Host for RdbmsCtxView<'_> {}

impl pg2::HostConnection for RdbmsCtxView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<PgLease>, v2::Error>> {
        Ok(self.open_postgres(&address).await?.map_err(v2_error))
    }

    async fn query(
        &mut self,
        h: Resource<PgLease>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> wasmtime::Result<Result<v2::RowSet, v2::Error>> {
        let params = match v2_params(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let lease = self.table.get_mut(&h)?;
        Ok(crate::postgres::query(lease.conn(), &statement, params).await.map_err(v2_error).map(|set| {
            v2::RowSet {
                columns: set
                    .columns
                    .into_iter()
                    .map(|c| v2::Column { name: c.name, data_type: v2_type(c.data_type) })
                    .collect(),
                rows: set.rows.into_iter().map(|row| row.into_iter().map(v2_value).collect()).collect(),
            }
        }))
    }

    async fn execute(
        &mut self,
        h: Resource<PgLease>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v2::Error>> {
        let params = match v2_params(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let lease = self.table.get_mut(&h)?;
        Ok(crate::postgres::execute(lease.conn(), &statement, params).await.map_err(v2_error))
    }

    async fn drop(&mut self, h: Resource<PgLease>) -> wasmtime::Result<()> {
        release_postgres(self.table.delete(h)?).await;
        Ok(())
    }
}

// fermyon:spin/mysql@2.0.0

impl mysql::Host for RdbmsCtxView<'_> {}

impl mysql::HostConnection for RdbmsCtxView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<MySqlLease>, v2::Error>> {
        self.open_mysql(&address).await
    }

    async fn query(
        &mut self,
        h: Resource<MySqlLease>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> wasmtime::Result<Result<v2::RowSet, v2::Error>> {
        let lease = self.table.get_mut(&h)?;
        Ok(crate::mysql::query(lease.conn(), &statement, params).await)
    }

    async fn execute(
        &mut self,
        h: Resource<MySqlLease>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let lease = self.table.get_mut(&h)?;
        Ok(crate::mysql::execute(lease.conn(), &statement, params).await)
    }

    async fn drop(&mut self, h: Resource<MySqlLease>) -> wasmtime::Result<()> {
        let mut lease = self.table.delete(h)?;
        if crate::mysql::reset(lease.conn()).await {
            lease.reusable();
        }
        Ok(())
    }
}
