//! The CRM's rules tested against its repository functions on a real database, as `aura_app`
//! with a member's tenant context (as a request has it): stale saves, uniqueness, what a rep
//! may reach, and validation. The HTTP suites keep one test per surface for the status each
//! outcome maps to.

mod contacts;
mod deals;
mod follow_ups;
mod organizations;
mod processes;
mod products;
mod support;
