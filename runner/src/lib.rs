//! The Trusted Releases runner: it pulls task orders from the datastore over authenticated
//! HTTP, runs the release checks, and reports results; operators watch it on `/status`.

pub mod client;
pub mod config;
pub mod execute;
pub mod handlers;
pub mod service;
pub mod state;
pub mod status;
