//! Paging of lists: `?limit=&offset=`, and the `page` object that says where a list stops.

use serde::Deserialize;
use shared_models::api::PageInfo;

/// Items per page unless asked otherwise.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most items one page holds.
pub const MAX_LIMIT: u32 = 1000;

/// `?limit=&offset=` of list endpoints.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many items (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip this many items (default 0).
    #[param(minimum = 0)]
    pub offset: Option<u64>,
}

impl Page {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The offset asked for; SQL cannot skip more than `i64::MAX` rows, nor would it find any.
    pub fn offset(&self) -> u64 {
        self.offset.unwrap_or(0).min(i64::MAX.unsigned_abs())
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
}
