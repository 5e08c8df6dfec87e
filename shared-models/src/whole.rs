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

                fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                    if v.fract() == 0.0 && (f64::from($name::MIN)..=f64::from($name::MAX)).contains(&v) {
                        // Exact: a whole number within the type's range.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
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
}
