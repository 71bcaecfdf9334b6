//! Clarion's integration tests: one binary, one file per feature, each test
//! run against SQLite and PostgreSQL through the real HTTP server.

mod helpers;
mod public_support;
mod signers;
mod smtp_sink;

mod alert_targeting;
mod alerts;
mod api_auth;
mod at_rest;
mod batch_signing;
mod cases;
mod cli;
mod confirm;
mod console;
mod console_alerts;
mod console_campaigns;
mod console_errors;
mod console_paging;
mod console_people;
mod crash;
mod credentials;
mod data_cli;
mod data_roles;
mod deliverability;
mod demo;
mod dkim;
mod edge;
mod evidence;
mod hardening;
mod hardening_mail;
mod health;
mod languages;
mod late_reports;
mod lists;
mod mail_headers;
mod nodes;
mod petitions;
mod postfix_bounces;
mod public_pages;
mod sign_error_summary;
mod signature_exports;
mod signing;
mod supporters;
mod unconfirmed;
