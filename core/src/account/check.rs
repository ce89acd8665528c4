//! Field-level checks shared by every list: ids, bounded text, digests,
//! domains, numbers, times. Each names the path of the value it refuses,
//! and the normalizing ones rewrite the value in place (lower-case hex and
//! domains, E.164 digits, canonical time zone names).

use super::DocError;
use crate::limits::{DOMAIN_BYTES_MAX, ID_BYTES_MAX};
use std::collections::BTreeSet;

/// Longest name or label.
pub const NAME_MAX: usize = 256;
/// Longest free-text value (secret references, addresses, tokens).
pub const TEXT_MAX: usize = 1024;
/// Longest media object key (the contract's `/media/{key}` rule).
pub const MEDIA_KEY_MAX: usize = 512;
/// Longest extension (`digits`).
pub const DIGITS_MAX: usize = 32;
/// Longest SIP user part (`username`, `auth_username`).
pub const SIP_USER_MAX: usize = 64;
/// Most entries of a `dest_xform` object.
pub const XFORM_ENTRIES_MAX: usize = 64;
/// Most entries of a trunk's `inbound_cidrs`.
pub const CIDRS_MAX: usize = 64;

/// The outcome of one check.
pub type Checked = Result<(), DocError>;

/// A failed check at `path`.
pub fn fail<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, DocError> {
    Err(DocError::new(path, message))
}

/// `base.field`, or `field` at the top level.
pub fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// True for an opaque id: 1..64 chars of `[A-Za-z0-9_.:-]`.
pub fn is_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= ID_BYTES_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// An opaque id.
pub fn id(path: &str, value: &str) -> Checked {
    if is_id(value) {
        Ok(())
    } else {
        fail(
            path,
            format!("ids are 1..{ID_BYTES_MAX} chars of [A-Za-z0-9_.:-]"),
        )
    }
}

/// An optional opaque id.
pub fn opt_id(path: &str, value: &Option<String>) -> Checked {
    value.as_deref().map_or(Ok(()), |v| id(path, v))
}

/// Human text: at most `max` bytes, no control characters.
pub fn text(path: &str, value: &str, max: usize) -> Checked {
    if value.len() > max {
        return fail(path, format!("at most {max} bytes"));
    }
    if value.chars().any(char::is_control) {
        return fail(path, "control characters are not allowed");
    }
    Ok(())
}

/// Optional human text.
pub fn opt_text(path: &str, value: &Option<String>, max: usize) -> Checked {
    value.as_deref().map_or(Ok(()), |v| text(path, v, max))
}

/// A non-empty token without whitespace (secret references, providers).
pub fn token(path: &str, value: &str, max: usize) -> Checked {
    if value.is_empty() {
        return fail(path, "must not be empty");
    }
    text(path, value, max)?;
    if value.chars().any(char::is_whitespace) {
        return fail(path, "whitespace is not allowed");
    }
    Ok(())
}

/// An optional token.
pub fn opt_token(path: &str, value: &Option<String>, max: usize) -> Checked {
    value.as_deref().map_or(Ok(()), |v| token(path, v, max))
}

/// A hex digest of exactly `len` chars, stored lower-case.
pub fn hex_digest(path: &str, value: &mut str, len: usize) -> Checked {
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return fail(path, format!("must be {len} hex characters"));
    }
    value.make_ascii_lowercase();
    Ok(())
}

/// An optional hex digest.
pub fn opt_hex_digest(path: &str, value: &mut Option<String>, len: usize) -> Checked {
    value.as_mut().map_or(Ok(()), |v| hex_digest(path, v, len))
}

/// A SIP domain (realm): 1..253 chars of `[A-Za-z0-9._@:-]`, stored lower-case.
pub fn domain(path: &str, value: &mut str) -> Checked {
    let valid = !value.is_empty()
        && value.len() <= DOMAIN_BYTES_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@:-".contains(&b));
    if !valid {
        return fail(
            path,
            format!("domains are 1..{DOMAIN_BYTES_MAX} chars of [A-Za-z0-9._@:-]"),
        );
    }
    value.make_ascii_lowercase();
    Ok(())
}

/// A phone number, stored as E.164 digits without `+`.
pub fn number(path: &str, value: &mut String) -> Checked {
    match crate::number::normalize(value) {
        Some(digits) => {
            *value = digits;
            Ok(())
        }
        None => fail(path, format!("`{}` is not a phone number", shorten(value))),
    }
}

/// An optional phone number.
pub fn opt_number(path: &str, value: &mut Option<String>) -> Checked {
    value.as_mut().map_or(Ok(()), |v| number(path, v))
}

/// A SIP user part (`username`, `auth_username`): 1..64 chars of
/// `[A-Za-z0-9._~+!*'&=$,-]` (RFC 3261 unreserved and user marks, without
/// `@`, `:`, `;` or whitespace so it cannot smuggle URI parts).
pub fn sip_user(path: &str, value: &str) -> Checked {
    let valid = !value.is_empty()
        && value.len() <= SIP_USER_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~+!*'&=$,-".contains(&b));
    if valid {
        Ok(())
    } else {
        fail(
            path,
            format!("1..{SIP_USER_MAX} chars of [A-Za-z0-9._~+!*'&=$,-]"),
        )
    }
}

/// Dialable extension digits: 1..32 chars of `[0-9*#]`.
pub fn digits(path: &str, value: &str) -> Checked {
    let valid = !value.is_empty()
        && value.len() <= DIGITS_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
    if valid {
        Ok(())
    } else {
        fail(path, format!("1..{DIGITS_MAX} chars of [0-9*#]"))
    }
}

/// A list no longer than `max`.
pub fn count(path: &str, len: usize, max: usize) -> Checked {
    if len > max {
        fail(path, format!("at most {max} entries"))
    } else {
        Ok(())
    }
}

/// Records `key` in `seen`; a repeat is refused at `path`.
pub fn unique(seen: &mut BTreeSet<String>, key: &str, path: &str, what: &str) -> Checked {
    if seen.insert(key.to_string()) {
        Ok(())
    } else {
        fail(path, format!("duplicate {what} `{}`", shorten(key)))
    }
}

/// An IANA time zone known to the bundled database, stored under its
/// canonical name.
pub fn timezone(path: &str, value: &mut String) -> Checked {
    match jiff::tz::TimeZone::get(value) {
        Ok(zone) => {
            if let Some(name) = zone.iana_name() {
                *value = name.to_string();
            }
            Ok(())
        }
        Err(_) => fail(
            path,
            format!("`{}` is not an IANA time zone", shorten(value)),
        ),
    }
}

/// The 16 languages the TTS catalog speaks (reference §12).
pub const LANGUAGES: [&str; 16] = [
    "en-US", "es-ES", "fr-FR", "de-DE", "it-IT", "pt-BR", "nl-NL", "pl-PL", "ru-RU", "tr-TR",
    "ar-XA", "he-IL", "hi-IN", "ja-JP", "ko-KR", "cmn-CN",
];

/// One of [`LANGUAGES`].
pub fn language(path: &str, value: &str) -> Checked {
    if LANGUAGES.contains(&value) {
        Ok(())
    } else {
        fail(
            path,
            format!(
                "`{}` is not one of {}",
                shorten(value),
                LANGUAGES.join(", ")
            ),
        )
    }
}

/// An e-mail address (shape only: `local@domain`, no whitespace).
pub fn email(path: &str, value: &str) -> Checked {
    token(path, value, NAME_MAX)?;
    match value.split_once('@') {
        Some((local, host)) if !local.is_empty() && !host.is_empty() && !host.contains('@') => {
            Ok(())
        }
        _ => fail(path, "not an e-mail address"),
    }
}

/// `host[:port]` (host name, IPv4, or `[IPv6]`), port 1..65535.
pub fn host_port(path: &str, value: &str) -> Checked {
    let bad = || fail(path, "must be host[:port]");
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return bad();
        };
        if v6.parse::<core::net::Ipv6Addr>().is_err() {
            return bad();
        }
        match after {
            "" => ("v6", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return bad(),
            },
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= DOMAIN_BYTES_MAX
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0) && !p.starts_with('+'));
    if host_ok && port_ok {
        Ok(())
    } else {
        bad()
    }
}

/// A media object key: 1..512 chars of `[A-Za-z0-9._/-]`, no `..`, no
/// leading `/` (the contract's `/media/{key}` rule).
pub fn media_key(path: &str, value: &str) -> Checked {
    let valid = !value.is_empty()
        && value.len() <= MEDIA_KEY_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        && !value.contains("..")
        && !value.starts_with('/');
    if valid {
        Ok(())
    } else {
        fail(
            path,
            format!(
                "keys are 1..{MEDIA_KEY_MAX} chars of [A-Za-z0-9._/-], no `..`, no leading `/`"
            ),
        )
    }
}

/// A wall-clock time `HH:MM` (00:00..23:59, or 24:00 when `end` is true),
/// as minutes since midnight.
pub fn clock(path: &str, value: &str, end: bool) -> Result<u32, DocError> {
    let parsed = match value.as_bytes() {
        [h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) => {
            let hours = u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0');
            let minutes = u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0');
            Some((hours, minutes))
        }
        _ => None,
    };
    match parsed {
        Some((hours, minutes)) if hours < 24 && minutes < 60 => Ok(hours * 60 + minutes),
        Some((24, 0)) if end => Ok(24 * 60),
        _ if end => fail(path, "must be HH:MM (00:00..24:00)"),
        _ => fail(path, "must be HH:MM (00:00..23:59)"),
    }
}

/// A calendar date `YYYY-MM-DD` that exists.
pub fn date(path: &str, value: &str) -> Result<jiff::civil::Date, DocError> {
    let bad = || fail(path, "must be a date YYYY-MM-DD");
    let bytes = value.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return bad();
    }
    let year: i16 = value[0..4]
        .parse()
        .map_err(|_| DocError::new(path, "bad year"))?;
    let month: i8 = value[5..7]
        .parse()
        .map_err(|_| DocError::new(path, "bad month"))?;
    let day: i8 = value[8..10]
        .parse()
        .map_err(|_| DocError::new(path, "bad day"))?;
    jiff::civil::Date::new(year, month, day).or_else(|_| bad())
}

/// A value cut short for an error message (documents may hold long junk).
pub fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.len() <= MAX {
        return value.to_string();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}
