//! Aura's CRM module. It stands on `aura-platform` (tenant transactions, identities) and adds
//! its own tables through its own migrations, without changing the platform's (NFR-Sc4).
//!
//! Each record type is a module of repository functions: they take the caller's
//! `TenantContext`, validate, and run their SQL in one tenant transaction, so the tenant and
//! ownership rules live here and in the policies, never in handlers.

pub mod activities;
pub mod board;
pub mod contacts;
pub mod custom_fields;
pub mod dashboard;
pub mod deals;
pub mod demo;
pub mod export;
pub mod fields;
pub mod follow_ups;
pub mod ids;
pub mod imports;
pub mod line_items;
mod money;
pub mod names;
pub mod onboarding;
pub mod organizations;
pub mod paging;
pub mod processes;
pub mod products;
pub mod snapshot;
pub mod workspace_defaults;

pub use fields::{FieldError, WriteError};
pub use paging::Page;

/// Most records one bulk change (a reassignment) takes: a bigger one is refused, never cut.
pub const MAX_BULK: usize = 500;

/// The distinct ids of a bulk change of `records` ("contacts", "deals"), sorted (rows are then
/// locked in one order); more than [`MAX_BULK`] are refused.
pub(crate) fn bulk_ids<T>(
    ids: Vec<uuid::Uuid>,
    records: &str,
) -> Result<Vec<uuid::Uuid>, WriteError<T>> {
    if ids.len() > MAX_BULK {
        return Err(WriteError::invalid(
            "ids",
            format!("Reassign at most {MAX_BULK} {records} at a time."),
        ));
    }
    let mut ids = ids;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
