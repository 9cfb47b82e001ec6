//! Database access.
//!
//! Two roles, two pool types. [`OwnerPool`] is the schema owner: migrations and operator
//! commands only. [`AppPool`] is `aura_app`, the role the server runs as; its only way to run a
//! query against tenant data is [`AppPool::begin`], which yields a [`TenantTx`] whose transaction
//! already carries the tenant context that the row-level security policies check.

pub mod backup;
pub mod catalog;
mod context;
pub mod distribution;
pub mod embedded;
mod error;
mod migrate;
mod pools;
#[cfg(feature = "testing")]
pub mod testing;

pub(crate) use context::set_context;
pub use context::{TenantContext, TenantTx};
pub use error::{ConstraintKind, DbError};
pub use migrate::{migrate, APP_ROLE, MIGRATOR};
pub use pools::{
    app_url_from_owner_url, AppPool, ClaimTx, InvalidDatabaseUrl, OwnerPool, PoolSettings,
    PoolStats, RoleCheckError,
};
