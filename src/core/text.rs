//! The rules for text the page hands in, whatever the field: one rule for text that is not
//! Unicode, one for text that must travel as an HTTP header value.
//!
//! **Not Unicode.** A JavaScript string is UTF-16 and may hold a lone surrogate (half of an
//! emoji, cut by `slice`); a Rust `String` cannot, and wasm-bindgen's conversion silently
//! turns one into U+FFFD, so `'cust\ud83c'` and `'cust\ud83d'` would become one customer.
//! The rule is to refuse such text where it enters, with the field's usual error
//! (`invalid_event` or `invalid_config`) naming the field's path ([`lone_surrogate`]); the
//! shell finds lone surrogates on the JavaScript side (`glue.js`, `isWellFormed`), before
//! any conversion, for every string it reads. Valid surrogate pairs (emoji, flags, ZWJ
//! sequences) are Unicode and pass untouched.
//!
//! **Header values** ([`check_header_value`]): Fetch takes a header value as a byte
//! sequence: a JavaScript string whose every code unit is at most U+00FF (`Headers` throws a
//! `TypeError` otherwise), with no NUL, CR or LF (a `TypeError` too), and with leading and
//! trailing spaces and tabs cut off. A value that would throw inside `fetch` would fail
//! every request of the queue; one that would be cut would reach the server changed. Both
//! are refused where the value enters (a config field, `setCustomer`), so `fetch` never
//! throws on a header.

use super::error::{Result, TrackerError};

/// The message refusing the string at `path` (a field, or a path into metadata such as
/// `events.review.text`) that holds a lone UTF-16 surrogate. The caller picks the code.
pub fn lone_surrogate(path: &str) -> String {
    [
        path,
        " is not valid Unicode text: it holds a lone UTF-16 surrogate (half of a character such as an emoji); String.prototype.toWellFormed() replaces them",
    ]
    .concat()
}

/// Checks that `value` (the config field `field`) can be sent as an HTTP header value
/// unchanged.
///
/// # Errors
/// `invalid_config` naming `field` and the first character a header cannot carry.
pub fn check_header_value(field: &str, value: &str) -> Result<()> {
    let carried = |c: char| u32::from(c) <= 0xFF && !matches!(c, '\0' | '\r' | '\n');
    let cut = value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']);
    if cut || !value.chars().all(carried) {
        return Err(TrackerError::config(
            [
                field,
                " cannot be sent as an HTTP header unchanged: a header value takes only Latin-1 characters (U+0000 to U+00FF), without NUL, CR or LF, and fetch cuts off spaces and tabs at its ends",
            ]
            .concat(),
        ));
    }
    Ok(())
}

/// Appends `value` in decimal. Messages and stored text are built with this and
/// `[..].concat()`, not `format!` or `to_string()`, which would compile `core::fmt` into the
/// module.
pub fn push_u64(out: &mut String, value: u64) {
    // At most 20 digits deep: the smallest code for it.
    if value >= 10 {
        push_u64(out, value / 10);
    }
    out.push(char::from(b'0' + (value % 10) as u8));
}

/// Appends `value` in decimal, with a `-` when negative.
pub fn push_i64(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_u64(out, value.unsigned_abs());
}

/// Reads a decimal as `str::parse::<u64>` does (an optional `+`, then ASCII digits, `None`
/// past `u64::MAX`): one reader in the module, not the standard library's per integer type.
pub fn parse_u64(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Reads a decimal as `str::parse::<i64>` does (an optional sign, then ASCII digits).
pub fn parse_i64(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(digits) if !digits.starts_with('+') => {
            let n = parse_u64(digits)?;
            // i64::MIN's magnitude is one past i64::MAX.
            (n <= i64::MAX.unsigned_abs() + 1).then(|| 0i64.wrapping_sub_unsigned(n))
        }
        Some(_) => None,
        None => i64::try_from(parse_u64(text)?).ok(),
    }
}

/// `value` in decimal, as `to_string()` writes it.
pub fn decimal(value: u64) -> String {
    let mut out = String::new();
    push_u64(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    #[test]
    fn header_values_are_latin1_without_breaks() {
        for ok in ["tok-en.123", "abc=", "café", "a b", "\u{ff}x"] {
            assert_eq!(check_header_value("sessionToken", ok), Ok(()), "{ok}");
        }
        for bad in ["tok€n", "tok\r\nX-Evil: 1", "a\nb", "a\0b", "😀", "\u{100}"] {
            let e = check_header_value("sessionToken", bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::InvalidConfig);
            assert!(
                e.message.starts_with("sessionToken cannot be sent"),
                "{}",
                e.message
            );
        }
        for cut in [" tok", "tok ", "\ttok", "tok\t"] {
            let e = check_header_value("apiKey", cut).expect_err(cut);
            assert!(
                e.message.starts_with("apiKey cannot be sent"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn decimals_read_as_to_string_writes_them() {
        for n in [0, 7, 10, 99, 1350, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
        for n in [0, -1, 42, -2001, i64::MIN, i64::MAX] {
            let mut out = String::new();
            push_i64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn decimals_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "+7",
            "-7",
            "",
            "+",
            "-",
            "-+1",
            "+-1",
            "1.0",
            "1e3",
            " 1",
            "١",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "00012",
        ] {
            assert_eq!(parse_u64(text), text.parse::<u64>().ok(), "{text:?}");
            assert_eq!(parse_i64(text), text.parse::<i64>().ok(), "{text:?}");
        }
    }

    #[test]
    fn the_lone_surrogate_message_names_the_path() {
        assert!(lone_surrogate("events.review.text")
            .starts_with("events.review.text is not valid Unicode"));
    }
}
