//! The Trusted Releases datastore: it owns the metadata database and the release file store,
//! and serves the JSON API, the runner protocol, the web pages and the public download tree.

pub mod api;
pub mod auth;
pub mod backup;
pub mod blob;
pub mod config;
pub mod db;
pub mod domain;
pub mod download;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod private;
pub mod resumable;
pub mod runner_api;
pub mod server;
pub mod state;
pub mod url;
pub mod web;
