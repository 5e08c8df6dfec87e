//! The naming grammar of the HTTP contract (API.md, "Conventions"), as validated newtypes.
//! A value of one of these types has passed the grammar; nothing else needs to check it again.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name, version or path was refused; the text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    pub kind: &'static str,
    pub reason: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for NameError {}

fn refuse(kind: &'static str, reason: impl Into<String>) -> NameError {
    NameError { kind, reason: reason.into() }
}

macro_rules! string_newtype {
    ($(#[doc = $doc:literal])* $name:ident, $validate:path, pattern = $pattern:expr, max_length = $max:expr, example = $example:expr) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The grammar as a regular expression, for the OpenAPI document.
            pub const PATTERN: &str = $pattern;
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(concat!($($doc, "\n"),*).trim()))
                    .pattern(Some($pattern))
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .examples([$example])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub fn parse(value: &str) -> Result<Self, NameError> {
                $validate(value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                $validate(&value)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A committee, project or product name: `^[a-z][a-z0-9-]{0,63}$`.
    Name,
    validate_name,
    pattern = "^[a-z][a-z0-9-]*$",
    max_length = 64,
    example = "httpd"
);
string_newtype!(
    /// A release version: a digit, then `[A-Za-z0-9.+_-]`, at most 64 characters.
    Version,
    validate_version,
    pattern = "^[0-9][A-Za-z0-9.+_-]*$",
    max_length = 64,
    example = "2.4.68"
);
string_newtype!(
    /// A path inside a release: relative, `/`-separated, no empty, `.` or `..` segment, no
    /// leading dot in any segment, no control, bidirectional-override or zero-width
    /// characters, in Unicode NFC, at most 255 characters (as JSON Schema's `maxLength` counts). [`ReleasePath::normalise`] puts a name
    /// people typed into NFC first, so that two spellings of one name are one file.
    ReleasePath,
    validate_release_path,
    pattern = RELEASE_PATH_PATTERN,
    max_length = 255,
    example = "httpd-2.4.68.tar.gz"
);

/// The characters a segment of a release path may not hold anywhere (controls, `/`, `\\`, the
/// deceptive ones), as a regular-expression class body.
macro_rules! path_excluded {
    () => {
        "/\\\\\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff"
    };
}

/// One segment of a release path (no leading dot), as the `{path}` parameter of a URL names
/// one: folders are separated by a plain `/` in the URL.
pub const RELEASE_PATH_SEGMENT_PATTERN: &str = concat!("^[^.", path_excluded!(), "][^", path_excluded!(), "]*$");

/// [`ReleasePath`]'s grammar as a regular expression (without the NFC rule).
pub const RELEASE_PATH_PATTERN: &str = concat!(
    "^[^.",
    path_excluded!(),
    "][^",
    path_excluded!(),
    "]*(/[^.",
    path_excluded!(),
    "][^",
    path_excluded!(),
    "]*)*$"
);

impl ReleasePath {
    /// The path in Unicode normal form C (`e` + combining acute becomes `é`), then checked
    /// against the grammar: what every name that enters the datastore goes through.
    pub fn normalise(value: &str) -> Result<Self, NameError> {
        use unicode_normalization::UnicodeNormalization;
        Self::parse(&value.nfc().collect::<String>())
    }

    /// For a JSON field holding a name people typed:
    /// `#[serde(deserialize_with = "ReleasePath::deserialize_normalised")]` reads it as
    /// [`ReleasePath::normalise`] does, so a path in a body means what it means in a URL.
    pub fn deserialize_normalised<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <String as serde::Deserialize>::deserialize(deserializer)?;
        Self::normalise(&value).map_err(serde::de::Error::custom)
    }
}

/// Characters that make a name display as something it is not: the bidirectional controls
/// (`U+202E` shows `gpj.exe` as `exe.jpg`), and the zero-width ones (two names that look
/// the same).
fn is_deceptive(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
        | '\u{061C}' | '\u{FEFF}' | '\u{180E}')
}
string_newtype!(
    /// A user id (an Apache id such as `wave`): `^[a-z0-9][a-z0-9._-]{0,63}$`.
    Uid,
    validate_uid,
    pattern = "^[a-z0-9][a-z0-9._-]*$",
    max_length = 64,
    example = "wave"
);

/// Names that cannot be products because they have a meaning of their own in download URLs.
pub const RESERVED_PRODUCT_NAMES: &[&str] = &["latest"];

pub fn validate_name(value: &str) -> Result<(), NameError> {
    const KIND: &str = "name";
    let mut chars = value.chars();
    match chars.next() {
        None => return Err(refuse(KIND, "it is empty")),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(refuse(KIND, format!("{value:?} must start with a lower-case letter a-z")));
        }
        Some(_) => {}
    }
    if value.len() > 64 {
        return Err(refuse(KIND, format!("{value:?} is longer than 64 characters")));
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(refuse(KIND, format!("{value:?} contains {bad:?}; only a-z, 0-9 and '-' are allowed")));
    }
    Ok(())
}

pub fn validate_version(value: &str) -> Result<(), NameError> {
    const KIND: &str = "version";
    match value.chars().next() {
        None => return Err(refuse(KIND, "it is empty")),
        Some(c) if !c.is_ascii_digit() => {
            return Err(refuse(KIND, format!("{value:?} must start with a digit")));
        }
        Some(_) => {}
    }
    if value.len() > 64 {
        return Err(refuse(KIND, format!("{value:?} is longer than 64 characters")));
    }
    if let Some(bad) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || ".+_-".contains(*c))) {
        return Err(refuse(KIND, format!("{value:?} contains {bad:?}; only A-Z, a-z, 0-9 and . + _ - are allowed")));
    }
    Ok(())
}

pub fn validate_uid(value: &str) -> Result<(), NameError> {
    const KIND: &str = "user id";
    match value.chars().next() {
        None => return Err(refuse(KIND, "it is empty")),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            return Err(refuse(KIND, format!("{value:?} must start with a-z or 0-9")));
        }
        Some(_) => {}
    }
    if value.len() > 64 {
        return Err(refuse(KIND, format!("{value:?} is longer than 64 characters")));
    }
    if let Some(bad) = value.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c))) {
        return Err(refuse(KIND, format!("{value:?} contains {bad:?}")));
    }
    Ok(())
}

pub fn validate_release_path(value: &str) -> Result<(), NameError> {
    const KIND: &str = "path";
    if value.is_empty() {
        return Err(refuse(KIND, "it is empty"));
    }
    let length = value.chars().count();
    if length > 255 {
        return Err(refuse(KIND, format!("it is {length} characters long; the limit is 255")));
    }
    if value.starts_with('/') {
        return Err(refuse(KIND, format!("{value:?} is absolute; paths are relative to the release")));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(refuse(KIND, format!("{value:?} contains the control character {bad:?}")));
    }
    if value.contains('\\') {
        return Err(refuse(KIND, format!("{value:?} contains a backslash; use '/' between folders")));
    }
    if let Some(bad) = value.chars().find(|c| is_deceptive(*c)) {
        return Err(refuse(
            KIND,
            format!(
                "{value:?} contains U+{:04X}, an invisible or text-direction character that makes a name look like another",
                u32::from(bad)
            ),
        ));
    }
    if !unicode_normalization::is_nfc(value) {
        return Err(refuse(KIND, format!("{value:?} is not in Unicode normal form C")));
    }
    for segment in value.split('/') {
        match segment {
            "" => return Err(refuse(KIND, format!("{value:?} has an empty segment"))),
            "." | ".." => {
                return Err(refuse(KIND, format!("{value:?} has a {segment:?} segment")));
            }
            s if s.starts_with('.') => {
                return Err(refuse(
                    KIND,
                    format!("{value:?} has the hidden segment {s:?}; no segment may start with '.'"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the OpenAPI document says of a value: its pattern and its length in characters.
    fn documented(pattern: &str, max: usize, value: &str) -> bool {
        let regex = regex::Regex::new(pattern).expect("the documented pattern compiles");
        regex.is_match(value) && (1..=max).contains(&value.chars().count())
    }

    #[test]
    fn the_documented_patterns_are_the_grammar() {
        let samples = [
            "",
            "a",
            "httpd",
            "commons-io",
            "x1-2",
            "1abc",
            "Httpd",
            "has_underscore",
            "dot.ted",
            "-x",
            "2.4.68",
            "1.0.0-RC1",
            "3+build.5",
            "0_9",
            "v1.0",
            "1.0/2",
            "1 0",
            "wave",
            "a.b_c-d",
            "_x",
            "ü",
            "httpd-2.4.68.tar.gz",
            "dir/file.txt",
            "a/b/c",
            ".hidden",
            "a/.b",
            "a//b",
            "/abs",
            "a/",
            "a\\b",
            "x\u{7}y",
            "tab\there",
            "gpj\u{202e}exe",
            "zero\u{200b}width",
            "caf\u{e9}",
            "space name.txt",
            "a?b#c",
            "..",
            "a/../b",
            "x\u{85}y",
        ];
        let long = [
            "a".repeat(64),
            "a".repeat(65),
            format!("1{}", "0".repeat(63)),
            "f".repeat(255),
            "f".repeat(256),
            "\u{e9}".repeat(255),
            "\u{e9}".repeat(256),
        ];
        for value in samples.iter().copied().chain(long.iter().map(String::as_str)) {
            assert_eq!(documented(Name::PATTERN, 64, value), Name::parse(value).is_ok(), "name {value:?}");
            assert_eq!(documented(Version::PATTERN, 64, value), Version::parse(value).is_ok(), "version {value:?}");
            assert_eq!(documented(Uid::PATTERN, 64, value), Uid::parse(value).is_ok(), "uid {value:?}");
            // Paths: the pattern cannot say "NFC"; these samples are NFC.
            assert_eq!(
                documented(ReleasePath::PATTERN, 255, value),
                ReleasePath::parse(value).is_ok(),
                "path {value:?}"
            );
            let one_segment = ReleasePath::parse(value).is_ok() && !value.contains('/');
            assert_eq!(documented(RELEASE_PATH_SEGMENT_PATTERN, 255, value), one_segment, "segment {value:?}");
        }
    }

    #[test]
    fn names_follow_the_grammar() {
        for good in ["a", "httpd", "commons-io", "x1-2", &"a".repeat(64)] {
            assert!(Name::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "Httpd", "has_underscore", "dot.ted", "-x", &"a".repeat(65)] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_follow_the_grammar() {
        for good in ["2.4.68", "1.0.0-RC1", "3+build.5", "0_9"] {
            assert!(Version::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "v1.0", "1.0/2", "1 0", "1..;", &format!("1{}", "0".repeat(64))] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn release_paths_refuse_escapes_and_hidden_files() {
        for good in ["httpd-2.4.68.tar.gz", "bin/x.zip", "a b/c.txt", "über.txt"] {
            assert!(ReleasePath::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            ".htaccess",
            "dir/.git/x",
            "a\u{0}b",
            "a\nb",
            "a\\..\\b",
            long.as_str(),
        ] {
            let err = ReleasePath::parse(bad).expect_err(bad);
            assert_eq!(err.kind, "path");
        }
    }

    #[test]
    fn release_paths_cannot_spoof_other_names() {
        for deceptive in ["invoice\u{202E}gpj.exe", "a\u{200B}b.tar.gz", "x\u{2066}y", "\u{FEFF}bom.txt", "a\u{200D}b"]
        {
            let err = ReleasePath::parse(deceptive).expect_err(deceptive);
            assert!(err.reason.contains("U+"), "{err}");
        }
        let decomposed = "cafe\u{301}.txt";
        assert!(ReleasePath::parse(decomposed).is_err(), "only NFC is stored");
        let normalised = ReleasePath::normalise(decomposed).unwrap();
        assert_eq!(normalised.as_str(), "caf\u{e9}.txt");
        assert_eq!(normalised, ReleasePath::normalise("caf\u{e9}.txt").unwrap(), "two spellings, one name");
    }

    #[test]
    fn deserialising_applies_the_grammar() {
        let ok: Name = serde_json::from_str("\"httpd\"").expect("valid name");
        assert_eq!(ok.as_str(), "httpd");
        let bad: Result<Name, _> = serde_json::from_str("\"../x\"");
        let message = bad.expect_err("must refuse").to_string();
        assert!(message.contains("must start with a lower-case letter"), "{message}");
    }
}
