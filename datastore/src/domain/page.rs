//! Paging of lists: `?limit=&offset=`, and the `page` object that says where a list stops.

use serde::Deserialize;
use shared_models::api::PageInfo;

/// Items per page unless asked otherwise.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most items one page holds.
pub const MAX_LIMIT: u32 = 1000;

/// The largest offset: SQL cannot skip more than `i64::MAX` rows, nor would it find any.
pub const MAX_OFFSET: u64 = i64::MAX.unsigned_abs();

/// `?limit=&offset=` of list endpoints. Values outside the documented bounds are refused (400)
/// rather than silently changed.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(try_from = "RawPage")]
pub struct Page {
    /// At most this many items (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip this many items (default 0).
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<u32>,
    offset: Option<u64>,
}

impl TryFrom<RawPage> for Page {
    type Error = String;

    fn try_from(raw: RawPage) -> Result<Self, String> {
        if let Some(limit) = raw.limit.filter(|l| !(1..=MAX_LIMIT).contains(l)) {
            return Err(format!("limit is {limit}; it must be between 1 and {MAX_LIMIT}"));
        }
        if let Some(offset) = raw.offset.filter(|o| *o > MAX_OFFSET) {
            return Err(format!("offset is {offset}; it can be at most {MAX_OFFSET}"));
        }
        Ok(Self { limit: raw.limit, offset: raw.offset })
    }
}

impl Page {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The offset asked for, at most [`MAX_OFFSET`].
    pub fn offset(&self) -> u64 {
        self.offset.unwrap_or(0).min(MAX_OFFSET)
    }

    /// `(limit, offset)` for SQL.
    pub fn sql(&self) -> (i64, i64) {
        (i64::from(self.limit()), i64::try_from(self.offset()).unwrap_or(i64::MAX))
    }

    /// Describes the page that was returned out of `total` items; `extra_query` is put before
    /// the paging parameters in `next` (e.g. `q=http&`).
    pub fn info(&self, total: i64, extra_query: &str) -> PageInfo {
        let total = u64::try_from(total).unwrap_or_default();
        let next_offset = self.offset().saturating_add(u64::from(self.limit()));
        PageInfo {
            limit: self.limit(),
            offset: self.offset(),
            total,
            next: (next_offset < total).then(|| format!("?{extra_query}offset={next_offset}&limit={}", self.limit())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_bound_their_numbers() {
        let huge = Page { limit: Some(u32::MAX), offset: Some(u64::MAX) };
        assert_eq!(huge.limit(), MAX_LIMIT);
        assert_eq!(huge.sql(), (1000, i64::MAX));
        let info = huge.info(5, "");
        assert_eq!((info.offset, info.next), (i64::MAX.unsigned_abs(), None), "no overflow, no next page");
        let first = Page::default().info(250, "q=x&");
        assert_eq!(first.next.as_deref(), Some("?q=x&offset=100&limit=100"));
        assert_eq!(Page { limit: Some(0), offset: None }.limit(), 1);
    }

    #[test]
    fn out_of_range_pages_are_refused() {
        let parse = |query: &str| {
            actix_web::web::Query::<Page>::from_query(query).map(|q| q.into_inner()).map_err(|e| e.to_string())
        };
        assert_eq!(parse("limit=1000&offset=9223372036854775807").map(|p| p.sql()), Ok((1000, i64::MAX)));
        assert!(parse("limit=0").unwrap_err().contains("between 1 and 1000"));
        assert!(parse("limit=1001").unwrap_err().contains("between 1 and 1000"));
        assert!(parse("offset=18446744073709551615").unwrap_err().contains("at most 9223372036854775807"));
        assert!(parse("offset=-1").is_err());
    }
}
