//! End-to-end tests of the `aura` server and binary, over real HTTP against real PostgreSQL.

mod account;
mod api;
mod api_crm;
mod api_deals;
mod attacks;
mod audit;
mod board;
mod browser;
mod cli;
mod crm_pages;
mod deal_pages;
mod health;
mod helpers;
mod injection;
mod mail;
mod outage;
mod pages;
mod password_reset;
mod processes;
mod products;
mod rate_limit;
mod settings;
mod snapshot;
mod soak;
mod team;
mod workspace;
