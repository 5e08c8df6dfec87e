//! The domain layer: what the datastore does, independent of HTTP. Handlers parse, call one
//! function here, and render; functions here run inside blocking database work.

pub mod advisories;
pub mod audit;
pub mod catalog;
pub mod checks;
pub mod directory;
pub mod downloads;
pub mod keys;
pub mod lifecycle;
pub mod mail;
pub mod mailtally;
pub mod outbox;
pub mod page;
pub mod parity;
pub mod people;
pub mod produced;
pub mod publish;
pub mod publishers;
pub mod releases;
pub mod sbom;
pub mod sbom_generate;
pub mod schedules;
pub mod svn;
pub mod tasks;
pub mod text;
pub mod tokens;
pub mod uploads;
pub mod verify;
pub mod votes;
pub mod waivers;
pub mod webhooks;
