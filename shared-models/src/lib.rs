//! Wire types of the Trusted Releases HTTP contract (`../shared/design/API.md`), shared by the
//! datastore, the runner and clients. Serde and OpenAPI derives only: no database, no HTTP server.
//! The optional `logging` feature adds the one log set-up both services share.

pub use names::{Name, NameError, RELEASE_PATH_PATTERN, RELEASE_PATH_SEGMENT_PATTERN, ReleasePath, Uid, Version};

/// A stored or received value that is not one of an enumeration's names (a phase, a task status,
/// a task kind, a check status). Unknown values are errors, never read as a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// What the value should have been, e.g. `phase`.
    pub kind: &'static str,
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// An enumeration stored and sent as its `snake_case` names: `ALL`, `as_str`, `parse` (an
/// unknown name is an [`UnknownValue`]), `Display` and `FromStr`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident as $kind:literal {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(value: &str) -> Result<$name, $crate::UnknownValue> {
                match value {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::UnknownValue { kind: $kind, value: other.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownValue;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                $name::parse(value)
            }
        }
    };
}
pub(crate) use named_enum;

pub mod advisories;
pub mod api;
pub mod catalog;
pub mod checks;
#[cfg(feature = "logging")]
pub mod logging;
pub mod names;
pub mod outbound;
pub mod publishing;
pub mod runner;
pub mod sbom;
#[cfg(feature = "terminal")]
pub mod terminal;
pub mod whole;

/// The body of every error response: a stable code that clients switch on, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable `snake_case` code, e.g. `wrong_phase`, `not_found`, `payload_too_large`.
    #[schema(example = "wrong_phase")]
    pub error: String,
    /// What went wrong and, where possible, what to do about it.
    pub message: String,
    /// Extra machine-readable facts for some errors (for example the skipped keys of a KEYS import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}
