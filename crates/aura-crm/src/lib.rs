//! Aura's CRM module. It stands on `aura-platform` (tenant transactions, identities) and adds
//! its own tables through its own migrations, without changing the platform's (NFR-Sc4).

pub mod workspace_defaults;
