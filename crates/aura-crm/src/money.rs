//! Money figures the queries derive (sums, weighted sums), as the pages and the API show them.

use rust_decimal::Decimal;

/// A derived amount with its two decimals, rounded half to even like every other rounding of
/// money in Aura. The driver reads a zero `numeric` without its scale, hence the rescale.
pub(crate) fn cents(mut value: Decimal) -> Decimal {
    value = value.round_dp(2);
    value.rescale(2);
    value
}
