//! Digest response computation and verification.
//!
//! Supported: algorithms `MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`
//! (RFC 7616) with qop `auth` (RFC 2617 / 7616) or no qop at all
//! (RFC 2069). qop `auth-int` is not supported: it needs the message body,
//! which the brain never sees; [`verify`] answers `false` for it (and for
//! any other qop value), and the /auth handler refuses it earlier with a
//! clearer error.

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Digest algorithms of RFC 7616 the brain accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// Parses `MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess` (any case);
    /// absent means MD5. Unknown names give `None`.
    pub fn parse(name: Option<&str>) -> Option<Algorithm> {
        let Some(name) = name else {
            return Some(Algorithm::Md5);
        };
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(name))
    }

    /// The wire name (`MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// True for the SHA-256 family (needs a SHA-256 HA1).
    pub fn is_sha256(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha256Sess)
    }

    /// True for the `-sess` variants (HA1 mixed with nonce and cnonce).
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lower-case hex of H(parts joined with `:`), H by algorithm family.
    fn hash(self, parts: &[&str]) -> String {
        if self.is_sha256() {
            hash_joined::<Sha256>(parts)
        } else {
            hash_joined::<Md5>(parts)
        }
    }
}

/// Lower-case hex of `D(parts[0] ":" parts[1] ":" …)`.
fn hash_joined<D: Digest>(parts: &[&str]) -> String {
    let mut hasher = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The fields of one digest answer, as the SIP layer parsed them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestFields {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
    pub opaque: Option<String>,
}

/// HA1 = H(user:realm:password) in lower-case hex (for tests and demo data).
/// The `-sess` variants share their family's base HA1.
pub fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.hash(&[user, realm, password])
}

/// The response a client holding `ha1_hex` would send for `method`, in
/// lower-case hex.
///
/// For `-sess`, HA1' = H(HA1:nonce:cnonce) (a missing cnonce counts as
/// empty). HA2 = H(method:uri). With a qop: H(HA1:nonce:nc:cnonce:qop:HA2)
/// using the qop exactly as sent (missing nc/cnonce count as empty); without
/// (RFC 2069): H(HA1:nonce:HA2). `auth-int` is not supported: HA2 is always
/// H(method:uri), so its result is meaningless (see [`verify`]).
pub fn expected_response(
    algorithm: Algorithm,
    ha1_hex: &str,
    method: &str,
    fields: &DigestFields,
) -> String {
    let cnonce = fields.cnonce.as_deref().unwrap_or("");
    let session_ha1;
    let ha1 = if algorithm.is_sess() {
        session_ha1 = algorithm.hash(&[ha1_hex, &fields.nonce, cnonce]);
        session_ha1.as_str()
    } else {
        ha1_hex
    };
    let ha2 = algorithm.hash(&[method, &fields.uri]);
    match fields.qop.as_deref() {
        Some(qop) => {
            let nc = fields.nc.as_deref().unwrap_or("");
            algorithm.hash(&[ha1, &fields.nonce, nc, cnonce, qop, &ha2])
        }
        None => algorithm.hash(&[ha1, &fields.nonce, &ha2]),
    }
}

/// True when `fields.response` matches, compared in constant time and
/// case-insensitively. Always false for a qop other than `auth` (any case)
/// or none, and for a response of the wrong length.
pub fn verify(algorithm: Algorithm, ha1_hex: &str, method: &str, fields: &DigestFields) -> bool {
    if let Some(qop) = fields.qop.as_deref() {
        if !qop.eq_ignore_ascii_case("auth") {
            return false;
        }
    }
    let expected = expected_response(algorithm, ha1_hex, method, fields);
    let given = fields.response.to_ascii_lowercase();
    if given.len() != expected.len() {
        return false;
    }
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc2617_fields() -> DigestFields {
        DigestFields {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: "6629fae49393a05397450978507c4ef1".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            algorithm: None,
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
        }
    }

    fn rfc7616_fields(response: &str) -> DigestFields {
        DigestFields {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            response: response.into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            algorithm: None,
            opaque: None,
        }
    }

    fn md5_hex(s: &str) -> String {
        hex::encode(Md5::digest(s.as_bytes()))
    }

    fn sha256_hex(s: &str) -> String {
        hex::encode(Sha256::digest(s.as_bytes()))
    }

    #[test]
    fn algorithm_names_parse_in_any_case() {
        assert_eq!(Algorithm::parse(None), Some(Algorithm::Md5));
        assert_eq!(Algorithm::parse(Some("md5")), Some(Algorithm::Md5));
        assert_eq!(Algorithm::parse(Some("MD5-SESS")), Some(Algorithm::Md5Sess));
        assert_eq!(Algorithm::parse(Some("sha-256")), Some(Algorithm::Sha256));
        assert_eq!(
            Algorithm::parse(Some("Sha-256-Sess")),
            Some(Algorithm::Sha256Sess)
        );
        assert_eq!(Algorithm::parse(Some("SHA-512-256")), None);
        assert_eq!(Algorithm::parse(Some("")), None);
        for algorithm in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            assert_eq!(Algorithm::parse(Some(algorithm.as_str())), Some(algorithm));
        }
    }

    #[test]
    fn rfc2617_md5_vector_matches() {
        let fields = rfc2617_fields();
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(
            expected_response(Algorithm::Md5, &ha1, "GET", &fields),
            "6629fae49393a05397450978507c4ef1"
        );
        assert!(verify(Algorithm::Md5, &ha1, "GET", &fields));
    }

    #[test]
    fn rfc7616_md5_vector_matches() {
        let fields = rfc7616_fields("8ca523f5e9506fed4657c9700eebdbec");
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            expected_response(Algorithm::Md5, &ha1, "GET", &fields),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert!(verify(Algorithm::Md5, &ha1, "GET", &fields));
    }

    #[test]
    fn rfc7616_sha256_vector_matches() {
        let expected = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";
        let fields = rfc7616_fields(expected);
        let ha1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            expected_response(Algorithm::Sha256, &ha1, "GET", &fields),
            expected
        );
        assert!(verify(Algorithm::Sha256, &ha1, "GET", &fields));
    }

    #[test]
    fn md5_sess_matches_hand_composed_hashes() {
        let mut fields = rfc2617_fields();
        let base = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        assert_eq!(
            ha1(
                Algorithm::Md5Sess,
                "Mufasa",
                "testrealm@host.com",
                "Circle Of Life"
            ),
            base
        );
        let sess = md5_hex(&format!("{base}:{}:0a4f113b", fields.nonce));
        let ha2 = md5_hex("GET:/dir/index.html");
        let want = md5_hex(&format!(
            "{sess}:{}:00000001:0a4f113b:auth:{ha2}",
            fields.nonce
        ));
        assert_eq!(
            expected_response(Algorithm::Md5Sess, &base, "GET", &fields),
            want
        );
        assert_ne!(want, "6629fae49393a05397450978507c4ef1");
        fields.response = want;
        assert!(verify(Algorithm::Md5Sess, &base, "GET", &fields));
        assert!(!verify(Algorithm::Md5, &base, "GET", &fields));
    }

    #[test]
    fn sha256_sess_matches_hand_composed_hashes() {
        let mut fields = rfc7616_fields("");
        let base = sha256_hex("Mufasa:http-auth@example.org:Circle of Life");
        assert_eq!(
            ha1(
                Algorithm::Sha256Sess,
                "Mufasa",
                "http-auth@example.org",
                "Circle of Life"
            ),
            base
        );
        let cnonce = fields.cnonce.clone().unwrap();
        let sess = sha256_hex(&format!("{base}:{}:{cnonce}", fields.nonce));
        let ha2 = sha256_hex("GET:/dir/index.html");
        let want = sha256_hex(&format!(
            "{sess}:{}:00000001:{cnonce}:auth:{ha2}",
            fields.nonce
        ));
        assert_eq!(
            expected_response(Algorithm::Sha256Sess, &base, "GET", &fields),
            want
        );
        fields.response = want;
        assert!(verify(Algorithm::Sha256Sess, &base, "GET", &fields));
        assert!(!verify(Algorithm::Sha256, &base, "GET", &fields));
    }

    #[test]
    fn rfc2069_without_qop_matches_hand_composed_hashes() {
        let mut fields = rfc2617_fields();
        fields.qop = None;
        fields.nc = None;
        fields.cnonce = None;
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let ha2 = md5_hex("GET:/dir/index.html");
        let want = md5_hex(&format!("{ha1}:{}:{ha2}", fields.nonce));
        assert_eq!(
            expected_response(Algorithm::Md5, &ha1, "GET", &fields),
            want
        );
        fields.response = want;
        assert!(verify(Algorithm::Md5, &ha1, "GET", &fields));
    }

    #[test]
    fn verification_ignores_response_case() {
        let mut fields = rfc2617_fields();
        fields.response = fields.response.to_ascii_uppercase();
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(verify(Algorithm::Md5, &ha1, "GET", &fields));
    }

    #[test]
    fn wrong_or_truncated_or_unsupported_answers_fail() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let good = rfc2617_fields();
        assert!(!verify(Algorithm::Md5, &ha1, "POST", &good));
        let mut truncated = good.clone();
        truncated.response.pop();
        assert!(!verify(Algorithm::Md5, &ha1, "GET", &truncated));
        let mut empty = good.clone();
        empty.response.clear();
        assert!(!verify(Algorithm::Md5, &ha1, "GET", &empty));
        let mut wrong = good.clone();
        wrong.response.replace_range(0..1, "7");
        assert!(!verify(Algorithm::Md5, &ha1, "GET", &wrong));
        let mut auth_int = good.clone();
        auth_int.qop = Some("auth-int".into());
        auth_int.response = expected_response(Algorithm::Md5, &ha1, "GET", &auth_int);
        assert!(!verify(Algorithm::Md5, &ha1, "GET", &auth_int));
        let wrong_ha1 = ha1_wrong_password();
        assert!(!verify(Algorithm::Md5, &wrong_ha1, "GET", &good));
    }

    fn ha1_wrong_password() -> String {
        ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "circle of life",
        )
    }
}
