//! Keyset cursors (NFR-P5): where a page of a list ends, as an opaque token that the next
//! request sends back as `after`. It holds the last row's sort key and id, so the next page
//! continues from those values with a row comparison on the list's index, never looking the row
//! up. It is only a position: under row-level security it reaches no row the caller could not
//! list anyway, so it needs no signature, only to be well-formed.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};

/// The version of the token's layout, `<version>:<kind>:<key>:<id>`, which is base64url
/// without padding (nothing to escape in a query string or a page).
const VERSION: &str = "1";

/// The sort key of the row a page ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// A stored text key (a lower-cased name), exactly as stored.
    Text(String),
    /// A time, to the microsecond: PostgreSQL's precision, so the cursor names the exact row.
    Time(DateTime<Utc>),
}

/// Where a page ends: the next one starts after the row with this sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<Id> {
    pub key: SortKey,
    pub id: Id,
}

impl<Id> Cursor<Id> {
    pub fn text(key: String, id: Id) -> Self {
        Self {
            key: SortKey::Text(key),
            id,
        }
    }

    pub fn time(at: DateTime<Utc>, id: Id) -> Self {
        Self {
            key: SortKey::Time(at),
            id,
        }
    }
}

impl<Id: Copy> Cursor<Id> {
    /// The text key and id to continue after, if this cursor comes from a list by text key.
    pub fn text_position(&self) -> Option<(&str, Id)> {
        match &self.key {
            SortKey::Text(key) => Some((key, self.id)),
            SortKey::Time(_) => None,
        }
    }

    /// The time and id to continue after, if this cursor comes from a list by time.
    pub fn time_position(&self) -> Option<(DateTime<Utc>, Id)> {
        match self.key {
            SortKey::Time(at) => Some((at, self.id)),
            SortKey::Text(_) => None,
        }
    }
}

impl<Id: fmt::Display + FromStr> Cursor<Id> {
    /// A token as produced by `Display`; anything else (another layout, a key PostgreSQL could
    /// not hold, a non-canonical spelling) is none.
    pub fn parse(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let plain = String::from_utf8(bytes).ok()?;
        let (kind, rest) = plain
            .strip_prefix(VERSION)?
            .strip_prefix(':')?
            .split_once(':')?;
        // Ids hold no `:`, so the last one ends the key whatever the key holds.
        let (key, id) = rest.rsplit_once(':')?;
        let key = match kind {
            "k" if !key.contains('\0') => SortKey::Text(key.to_owned()),
            "t" => SortKey::Time(DateTime::parse_from_rfc3339(key).ok()?.with_timezone(&Utc)),
            _ => return None,
        };
        let cursor = Self {
            key,
            id: id.parse().ok()?,
        };
        // One spelling per position: a time with nanoseconds or an offset, an id in capitals,
        // is an edited token.
        (cursor.plain() == plain).then_some(cursor)
    }

    fn plain(&self) -> String {
        let id = &self.id;
        match &self.key {
            SortKey::Text(key) => format!("{VERSION}:k:{key}:{id}"),
            SortKey::Time(at) => {
                let at = at.to_rfc3339_opts(SecondsFormat::Micros, true);
                format!("{VERSION}:t:{at}:{id}")
            }
        }
    }
}

impl<Id: fmt::Display + FromStr> fmt::Display for Cursor<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.plain()))
    }
}

impl<Id: fmt::Display + FromStr> FromStr for Cursor<Id> {
    type Err = ();

    fn from_str(token: &str) -> Result<Self, ()> {
        Self::parse(token).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(plain: &str) -> String {
        URL_SAFE_NO_PAD.encode(plain)
    }

    #[test]
    fn cursors_round_trip_exactly() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T05:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let time = Cursor::time(at, 42_i64);
        assert_eq!(Cursor::parse(&time.to_string()), Some(time.clone()));
        assert_eq!(time.time_position(), Some((at, 42)));
        assert_eq!(time.text_position(), None);

        // Any text, separators and all, comes back byte for byte.
        let id = uuid::Uuid::new_v4();
        for key in ["", "o'brien anne", "zoë_1:2:3 ", "a\u{1}b", "名前"] {
            let text = Cursor::text(key.to_owned(), id);
            let encoded = text.to_string();
            assert!(
                encoded
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{encoded}"
            );
            assert_eq!(Cursor::parse(&encoded), Some(text.clone()));
            assert_eq!(text.text_position(), Some((key, id)));
        }
    }

    #[test]
    fn junk_and_edited_cursors_are_refused() {
        let id = uuid::Uuid::nil();
        for junk in [
            String::new(),
            "42".to_owned(),
            id.to_string(),
            "2026-11-22T05:00:00Z_42".to_owned(),
            "'; drop table contacts; --".to_owned(),
            token(&format!("2:k:smith:{id}")),
            token(&format!("1:x:smith:{id}")),
            token("1:k:smith:42"),
            token(&format!("1:k:smi\0th:{id}")),
            token(&format!("1:k:smith:{}", id.simple())),
            token(&format!("1:t:yesterday:{id}")),
            token(&format!("1:t:2026-11-22T05:00:00.123456789Z:{id}")),
            token(&format!("1:t:2026-11-22T06:00:00.000000+01:00:{id}")),
            format!("{}=", token(&format!("1:k:smith:{id}"))),
        ] {
            assert_eq!(Cursor::<uuid::Uuid>::parse(&junk), None, "{junk}");
        }
        assert!(Cursor::<uuid::Uuid>::parse(&token(&format!("1:k:smith:{id}"))).is_some());
    }
}
