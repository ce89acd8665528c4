//! `Range` and validators for `GET /media/{key}` (RFC 9110 §13, §14).
//!
//! One range per request: `bytes=a-b`, `bytes=a-` and `bytes=-n`. A header
//! that does not parse, asks for several ranges, or comes with an
//! `If-Range` that is not the current entity tag is ignored (the whole
//! object, 200), as RFC 9110 allows. A range starting past the end, or a
//! zero-length suffix, is unsatisfiable (416).

/// What part of an object of `size` bytes to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// All of it (200).
    Full,
    /// Bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// 416, with `content-range: bytes */size`.
    Unsatisfiable,
}

/// The span a `Range` header (and `If-Range`) asks of an object of `size`
/// bytes whose entity tag is `etag`.
pub fn resolve(range: Option<&str>, if_range: Option<&str>, etag: &str, size: u64) -> Span {
    let Some(range) = range else {
        return Span::Full;
    };
    if if_range.is_some_and(|tag| tag.trim() != etag) {
        return Span::Full;
    }
    let Some((unit, spec)) = range.trim().split_once('=') else {
        return Span::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Span::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Span::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (number(first), number(last)) {
        (Some(start), Some(end)) if start <= end => within(start, end, size),
        (Some(start), None) if last.is_empty() => within(start, u64::MAX, size),
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || size == 0 {
                Span::Unsatisfiable
            } else {
                Span::Partial {
                    start: size - suffix.min(size),
                    end: size - 1,
                }
            }
        }
        _ => Span::Full,
    }
}

/// `start..=end` clipped to the object.
fn within(start: u64, end: u64, size: u64) -> Span {
    if start >= size {
        return Span::Unsatisfiable;
    }
    Span::Partial {
        start,
        end: end.min(size - 1),
    }
}

/// A run of ASCII digits (saturating at `u64::MAX`); `None` otherwise.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// True when an `If-None-Match` header lists `etag` (or is `*`): the
/// client's copy is current (304). Weak comparison, as RFC 9110 §13.1.2
/// asks for this header.
pub fn none_match(header: &str, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    header.trim() == "*" || header.split(',').any(|tag| bare(tag) == bare(etag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TAG: &str = "\"abc\"";

    fn span(range: &str, size: u64) -> Span {
        resolve(Some(range), None, TAG, size)
    }

    #[test]
    fn the_three_single_range_forms() {
        assert_eq!(span("bytes=0-9", 100), Span::Partial { start: 0, end: 9 });
        assert_eq!(
            span("bytes=90-200", 100),
            Span::Partial { start: 90, end: 99 }
        );
        assert_eq!(span("bytes=10-", 100), Span::Partial { start: 10, end: 99 });
        assert_eq!(span("bytes=-10", 100), Span::Partial { start: 90, end: 99 });
        assert_eq!(
            span("bytes=-1000", 100),
            Span::Partial { start: 0, end: 99 }
        );
        assert_eq!(
            span(" Bytes = 5 - 5 ", 100),
            Span::Partial { start: 5, end: 5 }
        );
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(span("bytes=100-", 100), Span::Unsatisfiable);
        assert_eq!(span("bytes=100-200", 100), Span::Unsatisfiable);
        assert_eq!(span("bytes=-0", 100), Span::Unsatisfiable);
        assert_eq!(span("bytes=0-", 0), Span::Unsatisfiable);
        assert_eq!(span("bytes=-5", 0), Span::Unsatisfiable);
        assert_eq!(
            span("bytes=99999999999999999999999-", 100),
            Span::Unsatisfiable
        );
    }

    #[test]
    fn malformed_multiple_or_stale_ranges_are_ignored() {
        for range in [
            "bytes=9-1",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=",
            "0-1",
            "bytes=-",
        ] {
            assert_eq!(span(range, 100), Span::Full, "{range}");
        }
        assert_eq!(resolve(None, None, TAG, 100), Span::Full);
        assert_eq!(
            resolve(Some("bytes=0-1"), Some("\"old\""), TAG, 100),
            Span::Full
        );
        assert_eq!(
            resolve(Some("bytes=0-1"), Some(TAG), TAG, 100),
            Span::Partial { start: 0, end: 1 }
        );
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        assert!(none_match(TAG, TAG));
        assert!(none_match("W/\"abc\"", TAG));
        assert!(none_match("\"x\", \"abc\"", TAG));
        assert!(none_match("*", TAG));
        assert!(!none_match("\"abd\"", TAG));
    }

    proptest! {
        #[test]
        fn a_partial_span_is_always_inside_the_object(
            range in "(bytes|x)=[0-9]{0,3}-[0-9]{0,3}",
            size in 0u64..1200,
        ) {
            match span(&range, size) {
                Span::Partial { start, end } => prop_assert!(start <= end && end < size),
                Span::Unsatisfiable | Span::Full => {}
            }
        }
    }
}
