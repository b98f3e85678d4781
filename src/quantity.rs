//! Kubernetes resource quantities (`250m`, `128Mi`, `1.5`, `1e3`): validation and comparison.
//!
//! k8s-openapi's `Quantity` is an unchecked string; the API server rejects malformed ones when
//! a Job is created, far too late. The grammar is apimachinery's:
//! `<sign><digits>[.<digits>]<suffix>` with suffix one of `Ki Mi Gi Ti Pi Ei`,
//! `n u m "" k M G T P E`, or `e<signed int>` / `E<signed int>`.

use std::cmp::Ordering;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid quantity (examples: 250m, 1, 1.5, 128Mi, 2Gi, 30M)")]
pub struct InvalidQuantity(pub String);

/// The value of a quantity, as a float (exact enough to compare requests with limits).
pub fn parse(text: &str) -> Result<f64, InvalidQuantity> {
    let invalid = || InvalidQuantity(text.to_owned());
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1.0, &text[1..]),
        Some(b'-') => (-1.0, &text[1..]),
        _ => (1.0, text),
    };
    let number_len = rest
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(invalid());
    }
    let mantissa: f64 = format!(
        "{}.{}0",
        if whole.is_empty() { "0" } else { whole },
        fraction
    )
    .parse()
    .map_err(|_| invalid())?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent
                .strip_prefix('e')
                .or_else(|| exponent.strip_prefix('E'))
                .ok_or_else(invalid)?;
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            let power: i32 = digits.parse().map_err(|_| invalid())?;
            10f64.powi(power)
        }
    };
    Ok(sign * mantissa * multiplier)
}

/// A validated quantity.
pub fn quantity(text: &str) -> Result<Quantity, InvalidQuantity> {
    parse(text).map(|_| Quantity(text.to_owned()))
}

/// Compares two quantities by value; `None` when either is malformed.
pub fn compare(a: &Quantity, b: &Quantity) -> Option<Ordering> {
    parse(&a.0).ok()?.partial_cmp(&parse(&b.0).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_apimachinery_accepts() {
        for (text, value) in [
            ("0", 0.0),
            ("1", 1.0),
            ("250m", 0.25),
            ("1000m", 1.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("+2", 2.0),
            ("-2", -2.0),
            ("128Mi", 128.0 * 1024.0 * 1024.0),
            ("1Gi", 1024.0 * 1024.0 * 1024.0),
            ("30M", 30e6),
            ("1k", 1e3),
            ("100n", 100e-9),
            ("3u", 3e-6),
            ("1e3", 1e3),
            ("1E-3", 1e-3),
            ("2e+2", 200.0),
            ("1Ei", 1024f64.powi(6)),
        ] {
            let parsed = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(
                (parsed - value).abs() <= value.abs() * 1e-12,
                "{text}: {parsed} != {value}"
            );
        }
    }

    #[test]
    fn rejects_malformed_quantities() {
        for text in [
            "", "m", "abc", "1.2.3", "1 Gi", "1gi", "1KiB", "1e", "1e+", "1ee3", "--1", "1m5",
            " 1", "1 ",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be rejected");
        }
        let error = quantity("lots").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"lots\" is not a valid quantity")
        );
    }

    #[test]
    fn compares_by_value_across_suffixes() {
        let q = |s: &str| Quantity(s.to_owned());
        assert_eq!(compare(&q("1000m"), &q("1")), Some(Ordering::Equal));
        assert_eq!(compare(&q("1Gi"), &q("1024Mi")), Some(Ordering::Equal));
        assert_eq!(compare(&q("1G"), &q("1Gi")), Some(Ordering::Less));
        assert_eq!(compare(&q("bad"), &q("1")), None);
    }
}
