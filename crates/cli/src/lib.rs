//! trel, the Trusted Releases command line, as a library: the typed API client the CLI and the
//! end-to-end tests use, and resumable uploads.

pub mod client;
pub mod upload;
