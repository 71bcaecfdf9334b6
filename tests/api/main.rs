//! Clarion's integration tests: one binary, one file per feature, each test
//! run against SQLite and PostgreSQL through the real HTTP server.

mod helpers;
mod signers;
mod smtp_sink;

mod alerts;
mod api_auth;
mod cases;
mod cli;
mod crash;
mod data_cli;
mod data_roles;
mod health;
mod lists;
mod petitions;
mod signature_exports;
mod supporters;
