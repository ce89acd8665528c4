//! Phone number normalization (contract: E.164 digits without `+`).
//!
//! Every number that enters the brain (DIDs, `to`/`from` of `/route`,
//! caller-IDs, forward targets) goes through [`normalize`] so lookups compare
//! like with like: `+1 (202) 555-0123`, `tel:+1-202-555-0123` and
//! `sip:+12025550123@carrier.example;user=phone` are all `12025550123`.

/// Longest normalized number (E.164 allows 15 digits; a little slack for
/// carrier prefixes).
pub const NUMBER_DIGITS_MAX: usize = 20;

/// Strips a `sip:`/`sips:`/`tel:` scheme (any case), `@host…` and `;params`,
/// a leading `+` and visual separators (space, `-`, `.`, `(`, `)`); `None`
/// when what is left is not 1..=20 ASCII digits.
pub fn normalize(input: &str) -> Option<String> {
    let mut rest = input.trim();
    for scheme in ["sips:", "sip:", "tel:"] {
        if rest.len() >= scheme.len()
            && rest.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
        {
            rest = &rest[scheme.len()..];
            break;
        }
    }
    if let Some(end) = rest.find(['@', ';']) {
        rest = &rest[..end];
    }
    let rest = rest.trim();
    let rest = rest.strip_prefix('+').unwrap_or(rest);
    let mut digits = String::with_capacity(rest.len().min(NUMBER_DIGITS_MAX));
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                if digits.len() == NUMBER_DIGITS_MAX {
                    return None;
                }
                digits.push(c);
            }
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    if digits.is_empty() {
        None
    } else {
        Some(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_usual_spellings() {
        let cases = [
            ("12025550123", "12025550123"),
            ("+12025550123", "12025550123"),
            ("+1 (202) 555-0123", "12025550123"),
            ("1.202.555.0123", "12025550123"),
            ("  +1 202 555 0123  ", "12025550123"),
            ("tel:+1-202-555-0123", "12025550123"),
            ("TEL:+1-202-555-0123;ext=22", "12025550123"),
            ("sip:+12025550123@carrier.example;user=phone", "12025550123"),
            ("SIPS:12025550123@carrier.example:5061", "12025550123"),
            ("Sip:1001@acme.sip.io", "1001"),
            ("12025550123;npdi", "12025550123"),
            ("0", "0"),
            ("12345678901234567890", "12345678901234567890"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize(input).as_deref(),
                Some(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        let cases = [
            "",
            "+",
            "sip:",
            "sip:@host",
            "()- .",
            "alice",
            "sip:alice@acme.sip.io",
            "1001a",
            "++12025550123",
            "1+2025550123",
            "123456789012345678901",
            "٣٤٥",
            "1*2",
            "#31#",
            "urn:1234",
            "\u{0}123",
        ];
        for input in cases {
            assert_eq!(normalize(input), None, "input {input:?}");
        }
    }

    proptest! {
        #[test]
        fn output_is_digits_and_normalizing_again_changes_nothing(input in ".{0,40}") {
            if let Some(digits) = normalize(&input) {
                prop_assert!(!digits.is_empty() && digits.len() <= NUMBER_DIGITS_MAX);
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(normalize(&digits), Some(digits.clone()));
                prop_assert_eq!(normalize(&format!("+{digits}")), Some(digits.clone()));
                prop_assert_eq!(normalize(&format!("sip:{digits}@host;x=y")), Some(digits));
            }
        }

        #[test]
        fn separators_do_not_matter(digits in "[0-9]{1,15}", seps in proptest::collection::vec("[ .()-]{0,2}", 15)) {
            let mut spelled = String::from("+");
            for (i, c) in digits.chars().enumerate() {
                spelled.push(c);
                spelled.push_str(&seps[i]);
            }
            prop_assert_eq!(normalize(&spelled), Some(digits));
        }
    }
}
