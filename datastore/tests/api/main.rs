//! In-process integration tests of the datastore's HTTP API: a real server on a loopback
//! port, each test on a fresh SQLite database and again on the real PostgreSQL server.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

mod common;

mod admin;
mod advisories;
mod audit;
mod auth;
mod directory;
mod docs;
mod downloads;
mod files;
mod key_attacks;
mod keys;
mod keys_lint;
mod lifecycle;
mod matrix;
mod names;
mod outbound;
mod people;
mod queue;
mod runner_protocol;
mod sbom;
mod schedules;
mod slow_clients;
mod svn;
mod uploads;
mod visibility;
mod web;
