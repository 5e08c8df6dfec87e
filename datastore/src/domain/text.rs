//! Bounds on the free text people give the datastore (display names, labels, addresses): a
//! length people can read, no control characters, and a clear 422 otherwise. Nothing is cut
//! short silently.

use crate::error::{AppError, AppResult};

/// The longest display name, label or person's name, in characters.
pub const MAX_NAME: usize = 200;
/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// The longest comment (a ballot's), in characters.
pub const MAX_COMMENT: usize = 2000;

/// `value` trimmed, if it has at most `max` characters, no control characters, and more than
/// white space. The bounds apply to the text as given, so what the OpenAPI document says of a
/// field (length, pattern) is exactly what is accepted.
pub fn required(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = bounded(field, value, max)?.trim();
    if value.is_empty() {
        return Err(invalid(field, format!("{field} is empty")));
    }
    Ok(value.to_owned())
}

/// Like [`required`], for a field that may be left out (blank is taken as none).
pub fn optional(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let value = bounded(field, value, max)?.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// An optional comment of several lines: like [`optional`], but line breaks and tabs are text.
pub fn optional_comment(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let length = value.chars().count();
    if length > max {
        return Err(invalid(field, format!("{field} has {length} characters; at most {max} are allowed")));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(invalid(field, format!("{field} contains the control character {bad:?}")));
    }
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// An optional email address: empty (none), or one `@` with text on both sides and no white
/// space or control characters anywhere.
pub fn optional_email(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    let Some(address) = value.filter(|v| !v.is_empty()) else { return Ok(None) };
    let address = bounded(field, address, MAX_EMAIL)?;
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.contains(char::is_whitespace) =>
        {
            Ok(Some(address.to_owned()))
        }
        _ => Err(invalid(field, format!("{field} {address:?} is not an email address"))),
    }
}

fn bounded<'a>(field: &str, value: &'a str, max: usize) -> AppResult<&'a str> {
    let length = value.chars().count();
    if length > max {
        return Err(invalid(field, format!("{field} has {length} characters; at most {max} are allowed")));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(field, format!("{field} contains the control character {bad:?}")));
    }
    Ok(value)
}

fn invalid(field: &str, message: String) -> AppError {
    AppError::unprocessable("invalid_request", format!("{message}.")).with_details(serde_json::json!({"field": field}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_and_printable() {
        assert_eq!(required("display_name", "  Apache HTTP Server ", MAX_NAME).unwrap(), "Apache HTTP Server");
        assert!(required("display_name", "   ", MAX_NAME).is_err());
        let long = "x".repeat(MAX_NAME + 1);
        let err = required("display_name", &long, MAX_NAME).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (422, "invalid_request"));
        assert!(err.message.contains("201 characters"), "{}", err.message);
        assert!(required("label", "CI\u{7}", MAX_NAME).is_err());
        assert!(required("label", &"ü".repeat(MAX_NAME), MAX_NAME).is_ok(), "characters, not bytes");
        assert_eq!(optional("name", Some(""), MAX_NAME).unwrap(), None);
        assert_eq!(optional_email("email", Some("wave@apache.org")).unwrap().as_deref(), Some("wave@apache.org"));
        assert_eq!(optional("name", Some("   "), MAX_NAME).unwrap(), None);
        assert!(required("label", "\tCI", MAX_NAME).is_err(), "a control character at the edge is refused too");
        assert!(required("label", &format!(" {}", "x".repeat(MAX_NAME)), MAX_NAME).is_err(), "length as given");
        assert_eq!(optional_email("email", Some("")).unwrap(), None);
        for bad in ["wave", "@apache.org", "wave@", "a b@c.d", "a@b@c", " wave@apache.org", "   "] {
            assert!(optional_email("email", Some(bad)).is_err(), "{bad}");
        }
    }
}
