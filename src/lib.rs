//! Clarion: action alerts and petitions for human-rights campaigning.
//!
//! A request enters [`web`], is parsed into [`domain`] types, touches [`db`]
//! and may enqueue [`mail`]. Arrows go one way: `domain` knows nothing of HTTP
//! or SQL.

#![forbid(unsafe_code)]

pub mod campaign;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod dossier;
pub mod error;
pub mod export;
pub mod i18n;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod pressure;
pub mod security;
pub mod startup;
pub mod telemetry;
pub mod templates;
pub mod vault;
pub mod web;
