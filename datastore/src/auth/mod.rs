//! Who is calling and what they may do: secrets (personal access tokens, runner tokens), JWTs,
//! the request principal, and the role checks (in `authz`, the one place they live).

pub mod authz;
pub mod jwt;
pub mod oidc;
pub mod principal;
pub mod secrets;
pub mod session;

pub use authz::Action;
pub use principal::{Principal, PublisherScope, Viewer};
