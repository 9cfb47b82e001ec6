//! The platform every Aura module stands on: tenant-scoped database access (the only way request
//! code reaches PostgreSQL), migrations, the embedded development cluster, and the platform's
//! own records (tenants, users, memberships, audit).

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod console;
pub mod currency;
pub mod cursor;
pub mod db;
pub mod demo;
pub mod exports;
pub mod idempotency;
pub mod ids;
pub mod invitations;
pub mod members;
pub mod outbox;
pub mod password;
pub mod password_reset;
pub mod permissions;
pub mod provisioning;
pub mod signup;
pub mod step_up;
pub mod tenants;
pub mod termination;
pub mod webhooks;
