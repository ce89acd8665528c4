//! Digest responses computed independently of the server's code.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// H(text) in lower-case hex, MD5 or SHA-256.
pub fn h(sha256: bool, text: &str) -> String {
    if sha256 {
        hex::encode(Sha256::digest(text.as_bytes()))
    } else {
        hex::encode(Md5::digest(text.as_bytes()))
    }
}

/// HA1 = H(user:realm:password).
pub fn ha1(sha256: bool, user: &str, realm: &str, password: &str) -> String {
    h(sha256, &format!("{user}:{realm}:{password}"))
}

/// The qop=auth response for HA1 (session variants: pass `sess`).
#[allow(clippy::too_many_arguments)]
pub fn response(
    sha256: bool,
    sess: bool,
    ha1: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    method: &str,
    uri: &str,
) -> String {
    let ha1 = if sess {
        h(sha256, &format!("{ha1}:{nonce}:{cnonce}"))
    } else {
        ha1.to_string()
    };
    let ha2 = h(sha256, &format!("{method}:{uri}"));
    h(sha256, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

/// The RFC 2069 response (no qop).
pub fn response_no_qop(ha1: &str, nonce: &str, method: &str, uri: &str) -> String {
    let ha2 = h(false, &format!("{method}:{uri}"));
    h(false, &format!("{ha1}:{nonce}:{ha2}"))
}
