//! Bearer secrets: generated from the OS's random source, shown once, stored only as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Prefix of personal access tokens, so secret scanners and people can tell what leaked.
pub const PERSONAL_TOKEN_PREFIX: &str = "trp_";
/// Prefix of runner tokens.
pub const RUNNER_TOKEN_PREFIX: &str = "trr_";

/// A new secret: `prefix` and 256 random bits, URL-safe.
pub fn generate(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// What is stored of a secret: its SHA-256, hex. Tokens carry 256 bits of entropy, so a fast
/// hash is enough (unlike passwords).
pub fn hash(secret: &str) -> String {
    checks::digest::sha256_hex(secret.as_bytes())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is not something a server can run without.
    #[expect(clippy::expect_used, reason = "no safe way to go on without randomness")]
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let a = generate(PERSONAL_TOKEN_PREFIX);
        let b = generate(PERSONAL_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("trp_") && a.len() == 4 + 43, "{a}");
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a).len(), 64);
    }
}
