//! Whole numbers as JSON Schema defines them: `{"type": "integer"}` admits `72.0`, which serde's
//! `u32` refuses. Fields documented as integers take any JSON number with no fractional part
//! in range, so a client that writes every number as a float is not refused.

use serde::de::{self, Deserializer, Visitor};

/// A deserializer for one integer type, `#[serde(deserialize_with = "crate::whole::<type>")]`.
macro_rules! whole {
    ($name:ident) => {
        pub fn $name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
            struct Whole;

            impl Visitor<'_> for Whole {
                type Value = $name;

                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    write!(f, "a whole number from {} to {}", $name::MIN, $name::MAX)
                }

                fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                    $name::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
                }

                fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                    $name::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                }

                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    clippy::cast_lossless
                )]
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                    // `MAX + 1` is exact in f64 for every type here (for i64 it is 2^63, which
                    // `MAX as f64` already rounds to), so the range is checked exactly.
                    let (min, end) = ($name::MIN as f64, $name::MAX as f64 + 1.0);
                    if v.fract() == 0.0 && v >= min && v < end {
                        Ok(v as $name)
                    } else {
                        Err(E::invalid_value(de::Unexpected::Float(v), &self))
                    }
                }
            }

            deserializer.deserialize_any(Whole)
        }
    };
}

whole!(u32);
whole!(i32);
whole!(i64);
whole!(u64);

/// An optional whole number: absent or `null` is `None` (with `#[serde(default)]`).
macro_rules! optional {
    ($name:ident, $t:ident, $path:literal) => {
        pub fn $name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<$t>, D::Error> {
            #[derive(serde::Deserialize)]
            struct Whole(#[serde(deserialize_with = $path)] $t);
            Ok(<Option<Whole> as serde::Deserialize>::deserialize(deserializer)?.map(|Whole(n)| n))
        }
    };
}

optional!(optional_u32, u32, "crate::whole::u32");
optional!(optional_i64, i64, "crate::whole::i64");

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Hours {
        #[serde(deserialize_with = "super::u32")]
        hours: u32,
    }

    fn hours(json: &str) -> Result<u32, String> {
        serde_json::from_str::<Hours>(json).map(|h| h.hours).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_in_any_json_spelling_are_read() {
        assert_eq!(hours(r#"{"hours": 72}"#), Ok(72));
        assert_eq!(hours(r#"{"hours": 72.0}"#), Ok(72));
        assert_eq!(hours(r#"{"hours": 7.2e1}"#), Ok(72));
        assert_eq!(hours(r#"{"hours": 4294967295}"#), Ok(u32::MAX));
    }

    #[test]
    fn fractions_negatives_and_overflow_are_refused() {
        for json in [
            r#"{"hours": 72.5}"#,
            r#"{"hours": -1}"#,
            r#"{"hours": -1.0}"#,
            r#"{"hours": 4294967296}"#,
            r#"{"hours": "72"}"#,
        ] {
            let error = hours(json).expect_err(json);
            assert!(error.contains("whole number") || error.contains("invalid type"), "{json}: {error}");
        }
    }

    #[test]
    fn signed_whole_numbers_keep_their_range() {
        #[derive(serde::Deserialize)]
        struct Seq {
            #[serde(deserialize_with = "super::i32")]
            seq: i32,
        }
        let seq = |json: &str| serde_json::from_str::<Seq>(json).map(|s| s.seq).map_err(|e| e.to_string());
        assert_eq!(seq(r#"{"seq": -3.0}"#), Ok(-3));
        assert_eq!(seq(r#"{"seq": 2147483647}"#), Ok(i32::MAX));
        assert!(seq(r#"{"seq": 2147483648.0}"#).is_err());
        assert!(seq(r#"{"seq": 0.5}"#).is_err());
    }

    #[test]
    fn i64_bounds_are_exact() {
        #[derive(serde::Deserialize)]
        struct N(#[serde(deserialize_with = "super::i64")] i64);
        let n = |json: &str| serde_json::from_str::<N>(json).map(|N(n)| n).map_err(|e| e.to_string());
        assert_eq!(n("9007199254740992.0"), Ok(1 << 53));
        assert_eq!(n("-9223372036854775808.0"), Ok(i64::MIN));
        assert!(n("9223372036854775808.0").is_err(), "2^63 is out of range");
        assert_eq!(n("9223372036854775807"), Ok(i64::MAX));
    }
}
