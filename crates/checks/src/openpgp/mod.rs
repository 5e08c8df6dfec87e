//! OpenPGP with rPGP and our own validity policy: tolerant KEYS parsing, key facts (expiry,
//! revocation, signing capability, subkeys) and, for the `signature` checker, verification.
//!
//! rPGP is a primitive: it verifies mathematics, not validity. Expiry at signature time,
//! revocation, key flags, subkey bindings and the hash policy are decided here, each with a
//! reason a release manager can act on.

pub mod armor;
pub mod keys;
pub mod lint;
pub mod verify;

pub use keys::{Certificate, KeyringParse, Subkey, fingerprints, merge, parse_keyring, parse_keys, uid_emails};

/// A pgp error as a short sentence: rPGP's messages can embed the whole remaining input.
pub(crate) fn short_error(e: &impl std::fmt::Display) -> String {
    let mut text = e.to_string().replace('\n', " ");
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}
