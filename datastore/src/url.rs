//! URL paths and their segments, decoded once and encoded once, the same way everywhere: what
//! a file is called in the database is its decoded path, and every link or `Location` to it is
//! built by [`path`], so links round-trip whatever the name holds (`+`, `%`, `?`, `#`, spaces,
//! UTF-8).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What stays as it is in a path segment: RFC 3986's unreserved characters. Everything else,
/// `/`, `%`, `?`, `#`, `+` and every non-ASCII byte included, is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One path segment, encoded.
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// `/` followed by the encoded segments joined with `/`, and a trailing `/` if `dir`.
pub fn path<S: AsRef<str>>(segments: &[S], dir: bool) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.push_str(&encode_segment(segment.as_ref()));
    }
    if dir || out.is_empty() {
        out.push('/');
    }
    out
}

/// A query-string value, encoded.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Why a path from a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path holds an encoded slash (%2F) inside a name; names cannot contain '/'")]
    EncodedSlash,
    #[error("the path does not decode to UTF-8 text")]
    NotUtf8,
}

/// Decodes a path (or its tail) as the router hands it over: actix decodes every escape but
/// `%25` (`%`), `%2F` (`/`) and `%2B` (`+`), so that decoding them here once more decodes every
/// escape exactly once. An encoded `/` is refused: it would make one name out of two segments.
pub fn decode_path(routed: &str) -> Result<String, PathError> {
    if routed.contains("%2F") || routed.contains("%2f") {
        return Err(PathError::EncodedSlash);
    }
    percent_decode_str(routed).decode_utf8().map(|s| s.into_owned()).map_err(|_| PathError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_so_that_they_decode_back() {
        assert_eq!(encode_segment("httpd-2.4.68.tar.gz"), "httpd-2.4.68.tar.gz");
        assert_eq!(encode_segment("plus+sign %?#/ü"), "plus%2Bsign%20%25%3F%23%2F%C3%BC");
        assert_eq!(path(&["candidate", "a b", "1.0"], true), "/candidate/a%20b/1.0/");
        assert_eq!(path::<&str>(&[], false), "/");
        for name in ["a+b", "100%", "a%2Fb", "q?x#y", "tab\there", "über", "line\r\nbreak", "%"] {
            assert_eq!(decode_path(&encode_segment(name)).as_deref(), Ok(name), "{name:?}");
        }
    }

    #[test]
    fn routed_paths_decode_once_and_refuse_encoded_slashes() {
        assert_eq!(decode_path("plus%2Bsign.txt").unwrap(), "plus+sign.txt");
        assert_eq!(decode_path("100%25.txt").unwrap(), "100%.txt");
        assert_eq!(decode_path("a%252Fb").unwrap(), "a%2Fb", "one decoding, not two");
        assert_eq!(decode_path("dir/file").unwrap(), "dir/file");
        assert_eq!(decode_path("a%2Fb"), Err(PathError::EncodedSlash));
        assert_eq!(decode_path("a%2fb"), Err(PathError::EncodedSlash));
        assert_eq!(decode_path("%FF"), Err(PathError::NotUtf8));
    }
}
