//! Money on the wire: an integer amount in the currency's minor units (cents) and an ISO 4217
//! code. Never a float: sums of floats drift, and a part list's total must add up to the cent.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The largest amount accepted: 10^12 minor units (ten billion in a two-decimal currency), far
/// above any spare part, and far below `i64::MAX`, so quantities × amounts cannot overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// An amount of money, e.g. `{"amount_minor": 1999, "currency": "EUR"}` for 19.99 €.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// In the currency's minor units (cents for EUR), 0 to 10^12.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub amount_minor: i64,
    /// ISO 4217 code: three upper-case letters.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3}$", example = "EUR"))]
    pub currency: String,
}

impl Money {
    /// What is wrong with it, per sub-field (`amount_minor`, `currency`), for a 422 that names
    /// the field; empty when valid.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if !(0..=MAX_AMOUNT_MINOR).contains(&self.amount_minor) {
            out.push((
                "amount_minor",
                "must be an integer 0-1000000000000 (minor units)",
            ));
        }
        if !is_currency_code(&self.currency) {
            out.push((
                "currency",
                "must be an ISO 4217 code: three upper-case letters",
            ));
        }
        out
    }
}

/// Whether `s` has the shape of an ISO 4217 code (three upper-case ASCII letters). The list of
/// codes itself changes over time; the shape does not.
pub fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount_minor: i64, currency: &str) -> Money {
        Money {
            amount_minor,
            currency: currency.into(),
        }
    }

    #[test]
    fn valid_money_has_no_problems() {
        assert!(money(0, "EUR").problems().is_empty());
        assert!(money(MAX_AMOUNT_MINOR, "JPY").problems().is_empty());
    }

    #[test]
    fn negative_huge_and_badly_coded_amounts_are_named() {
        assert_eq!(money(-1, "EUR").problems()[0].0, "amount_minor");
        assert_eq!(
            money(MAX_AMOUNT_MINOR + 1, "EUR").problems()[0].0,
            "amount_minor"
        );
        for bad in ["eur", "EU", "EURO", "E1R", "ÉUR", ""] {
            assert_eq!(
                money(1, bad).problems(),
                vec![(
                    "currency",
                    "must be an ISO 4217 code: three upper-case letters"
                )]
            );
        }
    }

    #[test]
    fn the_wire_form_is_integer_minor_units() {
        let m: Money = serde_json::from_str(r#"{"amount_minor":1999,"currency":"EUR"}"#).unwrap();
        assert_eq!(m, money(1999, "EUR"));
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor":19.99,"currency":"EUR"}"#).is_err()
        );
    }
}
