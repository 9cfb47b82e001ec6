//! Keyset pagination for every list (NFR-P5): 25 rows by default, at most 100, and a page ends
//! with a cursor holding its last row's sort key and id, after which the next page continues in
//! the same order.

pub use aura_platform::cursor::Cursor;

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

#[derive(Debug, Clone)]
pub struct Page<T, Id> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; none on the last page.
    pub next: Option<Cursor<Id>>,
}

impl<T, Id> Page<T, Id> {
    /// Builds a page from rows fetched with `limit size + 1`: the extra row, if it came, only
    /// says that there is more.
    pub fn from_rows(mut rows: Vec<T>, size: i64, position: impl Fn(&T) -> Cursor<Id>) -> Self {
        let size = usize::try_from(size).unwrap_or(0);
        let next = if rows.len() > size {
            rows.truncate(size);
            rows.last().map(&position)
        } else {
            None
        };
        Self { items: rows, next }
    }
}

/// Where a list by text key continues: after the cursor, or from the start (no key sorts before
/// the empty one). A cursor of another list's kind starts from the start.
pub(crate) fn text_position<Id: Copy + From<uuid::Uuid>>(
    after: Option<&Cursor<Id>>,
) -> (String, Id) {
    after
        .and_then(Cursor::text_position)
        .map_or((String::new(), Id::from(uuid::Uuid::nil())), |(key, id)| {
            (key.to_owned(), id)
        })
}

/// Where a newest-first list by time continues: after the cursor, or from the newest. A cursor
/// of another list's kind starts from the newest.
pub(crate) fn time_position<Id: Copy + From<uuid::Uuid>>(
    after: Option<&Cursor<Id>>,
) -> (chrono::DateTime<chrono::Utc>, Id) {
    after.and_then(Cursor::time_position).unwrap_or((
        chrono::DateTime::<chrono::Utc>::MAX_UTC,
        Id::from(uuid::Uuid::max()),
    ))
}
