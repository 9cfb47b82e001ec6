//! The currencies a workspace may keep its money in: the ISO 4217 codes in circulation, from the
//! `iso_currency` crate's copy of the standard. Funds, special drawing rights, precious metals
//! and superseded codes are left out: a price list is never kept in them.

use std::sync::OnceLock;

use iso_currency::IntoEnumIterator;

/// A currency in circulation (a valid workspace currency), by its ISO 4217 code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkspaceCurrency(iso_currency::Currency);

impl WorkspaceCurrency {
    /// The currency with this code (any case, surrounding spaces ignored), if it is in
    /// circulation.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_uppercase();
        Self::all().iter().copied().find(|c| c.code() == code)
    }

    /// Every currency in circulation, by code: what the pickers offer.
    pub fn all() -> &'static [WorkspaceCurrency] {
        static ALL: OnceLock<Vec<WorkspaceCurrency>> = OnceLock::new();
        ALL.get_or_init(|| {
            let mut all: Vec<_> = iso_currency::Currency::iter()
                .filter(|c| {
                    !c.is_fund()
                        && !c.is_special()
                        && c.is_superseded().is_none()
                        && c.exponent().is_some()
                })
                .map(WorkspaceCurrency)
                .collect();
            all.sort_by_key(|c| c.code());
            all
        })
    }

    /// The three-letter code, such as `EUR`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// The English name, such as "Euro".
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The decimals of the minor unit (JPY 0, EUR 2, KWD 3): what line totals round to.
    pub fn decimals(self) -> u16 {
        self.0.exponent().unwrap_or(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circulating_codes_parse_and_others_do_not() {
        assert_eq!(
            WorkspaceCurrency::parse(" eur ").map(|c| c.code()),
            Some("EUR")
        );
        assert_eq!(
            WorkspaceCurrency::parse("JPY").map(|c| c.decimals()),
            Some(0)
        );
        assert_eq!(
            WorkspaceCurrency::parse("KWD").map(|c| c.decimals()),
            Some(3)
        );
        for refused in ["XAU", "XDR", "BOV", "ABC", "US", ""] {
            assert_eq!(WorkspaceCurrency::parse(refused), None, "{refused}");
        }
        let all = WorkspaceCurrency::all();
        assert!(all.len() > 140, "only {} currencies", all.len());
        assert!(all.windows(2).all(|w| w[0].code() < w[1].code()));
    }
}
