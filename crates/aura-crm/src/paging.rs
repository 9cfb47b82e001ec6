//! Keyset pagination for every list (NFR-P5): 25 rows by default, at most 100, and a page ends
//! with the id of its last row, from which the next page continues in the same order.

use serde::Serialize;

pub const DEFAULT_PAGE_SIZE: i64 = 25;
pub const MAX_PAGE_SIZE: i64 = 100;

/// The page size to use for a request that asked for `requested` rows (or did not say).
pub fn page_size(requested: Option<i64>) -> i64 {
    requested
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
}

/// How a list of live records is sorted; search results are always by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// By name, A to Z.
    #[default]
    Name,
    /// The most recently changed first.
    RecentlyChanged,
}

impl ListOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::RecentlyChanged => "recent",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Name, Self::RecentlyChanged]
            .into_iter()
            .find(|order| order.as_str() == value.trim())
    }
}

impl std::str::FromStr for ListOrder {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        Self::parse(value).ok_or(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T, Id> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; none on the last page.
    pub next: Option<Id>,
}

impl<T, Id> Page<T, Id> {
    /// Builds a page from rows fetched with `limit size + 1`: the extra row, if it came, only
    /// says that there is more.
    pub fn from_rows(mut rows: Vec<T>, size: i64, id: impl Fn(&T) -> Id) -> Self {
        let size = usize::try_from(size).unwrap_or(0);
        let next = if rows.len() > size {
            rows.truncate(size);
            rows.last().map(&id)
        } else {
            None
        };
        Self { items: rows, next }
    }
}
