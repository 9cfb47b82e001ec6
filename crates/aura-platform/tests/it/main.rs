//! Integration tests of the platform against real PostgreSQL (one binary, to keep link time down).

mod catalog;
mod deals;
mod distribution;
mod embedded;
mod isolation;
mod privileges;
mod processes;
mod products;
mod routed_statements;
mod termination;
mod users_policy;
