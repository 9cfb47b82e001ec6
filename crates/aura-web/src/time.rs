//! Times as people read and write them (issue 18): every time a page shows, and every time a
//! form reads, is in the member's time zone (their own choice, or else the workspace's). This
//! is the one place that formats or parses a time for a page; the JSON API speaks RFC 3339.

use aura_platform::currency::WorkspaceCurrency;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A member's time zone, as the pages use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Default for Zone {
    fn default() -> Self {
        Self(Tz::UTC)
    }
}

impl Zone {
    /// The zone an IANA name names; UTC for a name this build does not know (a zone PostgreSQL
    /// accepted and chrono-tz lacks, say), so a page always renders.
    pub fn named(name: &str) -> Self {
        name.parse().map(Self).unwrap_or_default()
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// A moment as a page shows it: `2026-03-31 14:30`.
    pub fn when(&self, at: &DateTime<Utc>) -> String {
        at.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// A moment to the second, for the audit log: `2026-03-31 14:30:05`.
    pub fn exact(&self, at: &DateTime<Utc>) -> String {
        at.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// The day of a moment: `2026-03-31`.
    pub fn day(&self, at: &DateTime<Utc>) -> String {
        at.with_timezone(&self.0).format("%Y-%m-%d").to_string()
    }

    /// A moment as a `datetime-local` input holds it: `2026-03-31T14:30`.
    pub fn input(&self, at: &DateTime<Utc>) -> String {
        at.with_timezone(&self.0)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    }

    /// Now, for a `datetime-local` input.
    pub fn now_input(&self) -> String {
        self.input(&Utc::now())
    }

    /// A `datetime-local` value read in this zone. A wall time the clocks skip (a spring-forward
    /// gap) is read an hour later; one they pass twice, as the first.
    pub fn read(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
            .ok()?;
        let at = self.0.from_local_datetime(&local).earliest().or_else(|| {
            self.0
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })?;
        Some(at.with_timezone(&Utc))
    }
}

/// The IANA time zones a picker offers, by name.
pub fn zone_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    names.sort_unstable();
    names
}

/// One option of a picker.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The options of a picker of `listed` (value, label) with `selected` chosen; a stored value the
/// list lacks (saved before the pickers, or dropped from the list since) is offered first, as
/// it is, so that saving the form again keeps it.
fn choices(listed: impl Iterator<Item = (String, String)>, selected: &str) -> Vec<Choice> {
    let mut options: Vec<Choice> = listed
        .map(|(value, label)| Choice {
            selected: value == selected,
            value,
            label,
        })
        .collect();
    if !selected.is_empty() && !options.iter().any(|c| c.selected) {
        options.insert(
            0,
            Choice {
                value: selected.to_owned(),
                label: selected.to_owned(),
                selected: true,
            },
        );
    }
    options
}

/// The time zone picker's options: IANA names.
pub fn zone_choices(selected: &str) -> Vec<Choice> {
    choices(
        zone_names()
            .into_iter()
            .map(|z| (z.to_owned(), z.to_owned())),
        selected,
    )
}

/// The currency picker's options: the ISO 4217 currencies in circulation, "EUR · Euro".
pub fn currency_choices(selected: &str) -> Vec<Choice> {
    choices(
        WorkspaceCurrency::all()
            .iter()
            .map(|c| (c.code().to_owned(), format!("{} · {}", c.code(), c.name()))),
        selected,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_reads_and_shows_in_the_zone() {
        let berlin = Zone::named("Europe/Berlin");
        let at = berlin.read("2026-07-01T14:30").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-07-01T12:30:00+00:00");
        assert_eq!(berlin.when(&at), "2026-07-01 14:30");
        assert_eq!(berlin.input(&at), "2026-07-01T14:30");
        assert_eq!(Zone::named("UTC").when(&at), "2026-07-01 12:30");
        // The spring-forward gap: 02:30 does not exist in Berlin on 2026-03-29.
        let gap = berlin.read("2026-03-29T02:30").unwrap();
        assert_eq!(berlin.when(&gap), "2026-03-29 03:30");
        assert!(berlin.read("tomorrow").is_none());
        assert_eq!(Zone::named("Nowhere/Special"), Zone::default());
    }

    #[test]
    fn a_picker_keeps_an_unlisted_stored_value() {
        let listed = currency_choices("EUR");
        assert_eq!(listed.iter().filter(|c| c.selected).count(), 1);
        assert!(listed.iter().any(|c| c.selected && c.label == "EUR · Euro"));
        let unlisted = currency_choices("XYZ");
        assert!(unlisted[0].selected && unlisted[0].value == "XYZ");
        assert_eq!(unlisted.len(), listed.len() + 1);
    }
}
