//! `application/x-www-form-urlencoded` decoding (bodies and query strings).
//!
//! [`pairs`] follows the WHATWG URL standard's urlencoded parser: it never
//! fails. `+` is a space, a `%` not followed by two hex digits is kept
//! literally (`100%` stays `100%`), and decoded bytes that are not UTF-8
//! become U+FFFD. [`percent_decode`] (for path segments) is strict instead:
//! a bad escape or invalid UTF-8 is `None`, so a route never matches on a
//! guess.

/// Decodes `a=1&b=x%20y` into pairs, `+` as space, percent-decoded.
///
/// Empty segments (`a=1&&b=2`) are skipped; `a` without `=` is `("a", "")`;
/// only the first `=` splits name from value.
pub fn pairs(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            (decode_lenient(name), decode_lenient(value))
        })
        .collect()
}

/// Percent-decodes one path segment or value (no `+` rule).
///
/// `None` when a `%` is not followed by two hex digits or the decoded bytes
/// are not UTF-8.
pub fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(hex_pair(bytes, i + 1)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Form decoding of one name or value: `+` is a space, bad escapes stay.
fn decode_lenient(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match hex_pair(bytes, i + 1) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// The byte encoded by the two hex digits at `at`, if there are two.
fn hex_pair(bytes: &[u8], at: usize) -> Option<u8> {
    let high = (*bytes.get(at)? as char).to_digit(16)?;
    let low = (*bytes.get(at + 1)? as char).to_digit(16)?;
    Some((high * 16 + low) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_input_gives_no_pairs() {
        assert!(pairs("").is_empty());
    }

    #[test]
    fn plus_and_escapes_are_decoded() {
        assert_eq!(
            pairs("a=1&b=x%20y+z&c%3D=%E2%82%AC"),
            owned(&[("a", "1"), ("b", "x y z"), ("c=", "€")])
        );
    }

    #[test]
    fn a_name_without_equals_has_an_empty_value() {
        assert_eq!(pairs("a&b=&=c"), owned(&[("a", ""), ("b", ""), ("", "c")]));
    }

    #[test]
    fn only_the_first_equals_splits() {
        assert_eq!(pairs("q=a=b"), owned(&[("q", "a=b")]));
    }

    #[test]
    fn empty_segments_are_skipped() {
        assert_eq!(pairs("&a=1&&b=2&"), owned(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn invalid_escapes_are_kept_literally_in_forms() {
        assert_eq!(
            pairs("p=100%&q=%zz&r=%4"),
            owned(&[("p", "100%"), ("q", "%zz"), ("r", "%4")])
        );
    }

    #[test]
    fn invalid_utf8_in_forms_becomes_replacement_characters() {
        assert_eq!(pairs("a=%FF"), owned(&[("a", "\u{FFFD}")]));
    }

    #[test]
    fn percent_decode_keeps_plus_and_decodes_escapes() {
        assert_eq!(percent_decode("a+b%2Fc").as_deref(), Some("a+b/c"));
        assert_eq!(percent_decode("").as_deref(), Some(""));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("€"));
    }

    #[test]
    fn percent_decode_rejects_bad_escapes_and_invalid_utf8() {
        assert_eq!(percent_decode("100%"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
