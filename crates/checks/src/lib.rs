//! The release checks of Trusted Releases: a pure library (bytes and keys in, results out),
//! shared by the datastore (planning, KEYS import), the runner and the local `check` command.

pub mod archive;
pub mod artifacts;
pub mod digest;
pub mod hashing;
pub mod license;
#[cfg(feature = "local")]
pub mod local;
pub mod manifests;
pub mod openpgp;
pub mod osv;
pub mod paths;
pub mod rat;
pub mod report;
pub mod run;
pub mod sbom;
pub mod signature;
pub mod trees;

pub use report::{Input, Limits, Report};
