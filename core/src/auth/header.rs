//! Parsing a raw `Authorization: Digest …` header value.

use super::digest::DigestFields;
use crate::limits::DIGEST_FIELD_BYTES_MAX;

/// Parses `Digest username="1001", realm="…", …` into fields. The error
/// names the problem (missing `Digest` scheme, unterminated quote, missing
/// `username`, …).
///
/// The scheme and parameter names are case-insensitive; values are quoted
/// strings (a backslash escapes the next character) or tokens; whitespace
/// (spaces, tabs, CR, LF) may surround every element. Unknown parameters
/// are ignored; a known one given twice is an error. Every name and value
/// is capped at [`DIGEST_FIELD_BYTES_MAX`] bytes.
pub fn parse_authorization(value: &str) -> Result<DigestFields, String> {
    let mut cursor = Cursor { rest: value };
    cursor.skip_whitespace();
    let scheme = cursor.take_while(|c| !is_whitespace(c));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err("the scheme must be `Digest`".into());
    }

    let mut fields = DigestFields::default();
    let mut seen = Seen::default();
    loop {
        cursor.skip_whitespace_and_commas();
        if cursor.rest.is_empty() {
            break;
        }
        let name = cursor.take_while(|c| !is_whitespace(c) && c != '=' && c != ',');
        if name.is_empty() {
            return Err("expected a parameter name".into());
        }
        if name.len() > DIGEST_FIELD_BYTES_MAX {
            return Err(format!(
                "a parameter name is longer than {DIGEST_FIELD_BYTES_MAX} bytes"
            ));
        }
        cursor.skip_whitespace();
        if !cursor.eat('=') {
            return Err(format!("parameter `{}` has no `=value`", printable(name)));
        }
        cursor.skip_whitespace();
        let value = if cursor.eat('"') {
            cursor
                .quoted()
                .ok_or_else(|| format!("unterminated quote in parameter `{}`", printable(name)))?
        } else {
            cursor
                .take_while(|c| !is_whitespace(c) && c != ',')
                .to_string()
        };
        if value.len() > DIGEST_FIELD_BYTES_MAX {
            return Err(format!(
                "parameter `{}` is longer than {DIGEST_FIELD_BYTES_MAX} bytes",
                printable(name)
            ));
        }
        cursor.skip_whitespace();
        if !cursor.rest.is_empty() && !cursor.eat(',') {
            return Err(format!(
                "expected `,` after parameter `{}`",
                printable(name)
            ));
        }
        seen.assign(&mut fields, name, value)?;
    }

    for (present, field) in [
        (seen.username, "username"),
        (seen.realm, "realm"),
        (seen.nonce, "nonce"),
        (seen.uri, "uri"),
        (seen.response, "response"),
    ] {
        if !present {
            return Err(format!("missing `{field}`"));
        }
    }
    Ok(fields)
}

/// Linear whitespace of a header value.
fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A parameter name fit for an error message (short, printable ASCII).
fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// The unparsed remainder of a header value.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    /// Skips leading whitespace.
    fn skip_whitespace(&mut self) {
        self.rest = self.rest.trim_start_matches(is_whitespace);
    }

    /// Skips leading whitespace and empty list elements.
    fn skip_whitespace_and_commas(&mut self) {
        self.rest = self
            .rest
            .trim_start_matches(|c| is_whitespace(c) || c == ',');
    }

    /// Consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Consumes and returns the longest prefix whose characters match.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    /// After an opening quote: the unescaped content up to the closing
    /// quote (consumed), or `None` when the quote is never closed.
    fn quoted(&mut self) -> Option<String> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + c.len_utf8()..];
                    return Some(out);
                }
                '\\' => out.push(chars.next()?.1),
                c => out.push(c),
            }
            if out.len() > DIGEST_FIELD_BYTES_MAX {
                // Too long anyway: stop copying, skip to the closing quote.
                return self.skip_quoted().then_some(out);
            }
        }
        None
    }

    /// Skips the rest of a quoted string (past its closing quote); false
    /// when it is never closed.
    fn skip_quoted(&mut self) -> bool {
        let mut escaped = false;
        for (i, c) in self.rest.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                self.rest = &self.rest[i + 1..];
                return true;
            }
        }
        false
    }
}

/// Which known parameters were given (to report missing and duplicates).
#[derive(Default)]
struct Seen {
    username: bool,
    realm: bool,
    nonce: bool,
    uri: bool,
    response: bool,
    qop: bool,
    nc: bool,
    cnonce: bool,
    algorithm: bool,
    opaque: bool,
}

impl Seen {
    /// Stores `value` in the field `name` designates (any case); unknown
    /// names are ignored, a repeated known name is an error.
    fn assign(
        &mut self,
        fields: &mut DigestFields,
        name: &str,
        value: String,
    ) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        let (flag, slot): (&mut bool, Slot<'_>) = match lower.as_str() {
            "username" => (&mut self.username, Slot::Required(&mut fields.username)),
            "realm" => (&mut self.realm, Slot::Required(&mut fields.realm)),
            "nonce" => (&mut self.nonce, Slot::Required(&mut fields.nonce)),
            "uri" => (&mut self.uri, Slot::Required(&mut fields.uri)),
            "response" => (&mut self.response, Slot::Required(&mut fields.response)),
            "qop" => (&mut self.qop, Slot::Optional(&mut fields.qop)),
            "nc" => (&mut self.nc, Slot::Optional(&mut fields.nc)),
            "cnonce" => (&mut self.cnonce, Slot::Optional(&mut fields.cnonce)),
            "algorithm" => (&mut self.algorithm, Slot::Optional(&mut fields.algorithm)),
            "opaque" => (&mut self.opaque, Slot::Optional(&mut fields.opaque)),
            _ => return Ok(()),
        };
        if std::mem::replace(flag, true) {
            return Err(format!("parameter `{lower}` is given twice"));
        }
        match slot {
            Slot::Required(slot) => *slot = value,
            Slot::Optional(slot) => *slot = Some(value),
        }
        Ok(())
    }
}

/// Where a parameter's value goes.
enum Slot<'a> {
    Required(&'a mut String),
    Optional(&'a mut Option<String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FULL: &str = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41", algorithm=MD5"#;

    #[test]
    fn a_full_rfc2617_header_parses() {
        let fields = parse_authorization(FULL).unwrap();
        assert_eq!(
            fields,
            DigestFields {
                username: "Mufasa".into(),
                realm: "testrealm@host.com".into(),
                nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
                uri: "/dir/index.html".into(),
                response: "6629fae49393a05397450978507c4ef1".into(),
                qop: Some("auth".into()),
                nc: Some("00000001".into()),
                cnonce: Some("0a4f113b".into()),
                algorithm: Some("MD5".into()),
                opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            }
        );
    }

    #[test]
    fn scheme_and_names_are_case_insensitive_and_whitespace_is_free() {
        let header = "  dIgEsT\tUserName = \"1001\" ,REALM=acme.sip.io,\r\n Nonce=\"n\",  URI=\"sip:acme.sip.io\",Response=abc  ";
        let fields = parse_authorization(header).unwrap();
        assert_eq!(fields.username, "1001");
        assert_eq!(fields.realm, "acme.sip.io");
        assert_eq!(fields.nonce, "n");
        assert_eq!(fields.uri, "sip:acme.sip.io");
        assert_eq!(fields.response, "abc");
        assert_eq!(fields.qop, None);
    }

    #[test]
    fn quoted_values_keep_commas_and_unescape_backslashes() {
        let header = r#"Digest username="a\"b\\c, d", realm="r", nonce="", uri="u", response="x""#;
        let fields = parse_authorization(header).unwrap();
        assert_eq!(fields.username, r#"a"b\c, d"#);
        assert_eq!(fields.nonce, "");
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let header =
            r#"Digest foo="bar", username=u, realm=r, nonce=n, uri=u, response=x, userhash=false"#;
        assert!(parse_authorization(header).is_ok());
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(parse_authorization("Basic dXNlcjpwYXNz")
            .unwrap_err()
            .contains("Digest"));
        assert!(parse_authorization(r#"Digestusername="u""#)
            .unwrap_err()
            .contains("Digest"));
        assert!(parse_authorization("").unwrap_err().contains("Digest"));
    }

    #[test]
    fn each_missing_required_field_is_named() {
        for field in ["username", "realm", "nonce", "uri", "response"] {
            let header = ["username", "realm", "nonce", "uri", "response"]
                .iter()
                .filter(|f| **f != field)
                .map(|f| format!("{f}=\"v\""))
                .collect::<Vec<_>>()
                .join(", ");
            let error = parse_authorization(&format!("Digest {header}")).unwrap_err();
            assert!(error.contains(field), "{error}");
        }
        assert!(parse_authorization("Digest")
            .unwrap_err()
            .contains("username"));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let base = "Digest realm=r, nonce=n, uri=u, response=x, ";
        assert!(parse_authorization(&format!("{base}username=\"open"))
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_authorization(&format!("{base}username=\"open\\\""))
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_authorization(&format!("{base}username"))
            .unwrap_err()
            .contains("="));
        assert!(parse_authorization(&format!("{base}=u")).is_err());
        assert!(parse_authorization(&format!("{base}username=\"a\" b"))
            .unwrap_err()
            .contains(","));
        assert!(
            parse_authorization(&format!("{base}username=a, username=b"))
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn overlong_values_are_refused() {
        let at_limit = "a".repeat(DIGEST_FIELD_BYTES_MAX);
        let over = "a".repeat(DIGEST_FIELD_BYTES_MAX + 1);
        let base = "Digest realm=r, nonce=n, uri=u, response=x, ";
        assert!(parse_authorization(&format!("{base}username=\"{at_limit}\"")).is_ok());
        assert!(parse_authorization(&format!("{base}username={at_limit}")).is_ok());
        assert!(parse_authorization(&format!("{base}username=\"{over}\""))
            .unwrap_err()
            .contains("longer"));
        assert!(parse_authorization(&format!("{base}username={over}"))
            .unwrap_err()
            .contains("longer"));
        assert!(parse_authorization(&format!("{base}username=\"{over}")).is_err());
        assert!(parse_authorization(&format!("{base}opaque=\"{over}\""))
            .unwrap_err()
            .contains("longer"));
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = parse_authorization(&s);
            let _ = parse_authorization(&format!("Digest {s}"));
        }

        #[test]
        fn header_like_strings_never_panic(s in r#"(?i)digest[ \t]*([a-z]{0,8}[ ]*=?[ ]*("([^"\\]|\\.){0,8}"?|[a-z0-9\\"]{0,8})[ ]*,?[ ]*){0,8}"#) {
            let _ = parse_authorization(&s);
        }

        #[test]
        fn well_formed_quoted_values_roundtrip(user in any::<String>().prop_filter("short", |s| s.len() <= DIGEST_FIELD_BYTES_MAX)) {
            let escaped = user.replace('\\', "\\\\").replace('"', "\\\"");
            let header = format!("Digest username=\"{escaped}\", realm=r, nonce=n, uri=u, response=x");
            prop_assert_eq!(parse_authorization(&header).unwrap().username, user);
        }
    }
}
