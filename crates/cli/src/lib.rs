//! trel, the Trusted Releases command line, as a library: resumable uploads (the typed API
//! client is the `trel-client` crate, which the end-to-end tests use too).

pub mod upload;
