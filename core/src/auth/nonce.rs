//! Stateless, signed nonces: issued time + salt + HMAC-SHA256 tag.
//!
//! Layout (32 bytes, sent as 64 lower-case hex characters):
//! `issued_at ms (u64 BE) | salt (u64 BE) | HMAC-SHA256(key, first 16 bytes || realm)[..16]`.
//! Binding the realm in the tag makes a nonce issued for one realm foreign
//! to every other.

use crate::time::Millis;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Bytes of the signed prefix (issued time + salt).
const PREFIX_BYTES: usize = 16;
/// Bytes of the truncated HMAC tag.
const TAG_BYTES: usize = 16;
/// Length of a nonce issued here, in hex characters.
pub const NONCE_HEX_LEN: usize = 2 * (PREFIX_BYTES + TAG_BYTES);

/// The server secret nonces are signed with.
#[derive(Clone)]
pub struct NonceKey(pub [u8; 32]);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// What a nonce turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceOrigin {
    /// Issued by this brain (valid tag) at this time.
    Ours { issued_at: Millis },
    /// Not ours (the SIP layer issued and checks it).
    Foreign,
}

/// The truncated HMAC tag of `prefix` for `realm`.
fn tag(key: &NonceKey, prefix: &[u8; PREFIX_BYTES], realm: &str) -> [u8; TAG_BYTES] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC accepts keys of any length");
    mac.update(prefix);
    mac.update(realm.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TAG_BYTES];
    out.copy_from_slice(&full[..TAG_BYTES]);
    out
}

/// A fresh nonce for `realm`, issued at `now`, salted with `salt`:
/// 64 lower-case hex characters.
pub fn issue(key: &NonceKey, now: Millis, salt: u64, realm: &str) -> String {
    let mut prefix = [0u8; PREFIX_BYTES];
    prefix[..8].copy_from_slice(&now.0.to_be_bytes());
    prefix[8..].copy_from_slice(&salt.to_be_bytes());
    let mut bytes = [0u8; PREFIX_BYTES + TAG_BYTES];
    bytes[..PREFIX_BYTES].copy_from_slice(&prefix);
    bytes[PREFIX_BYTES..].copy_from_slice(&tag(key, &prefix, realm));
    hex::encode(bytes)
}

/// Tells whether `nonce` is one of ours for `realm`, and when it was issued.
/// Ours only in the exact form [`issue`] produces (lower-case hex of the
/// right length) with a tag that verifies (compared in constant time).
pub fn origin(key: &NonceKey, nonce: &str, realm: &str) -> NonceOrigin {
    if nonce.len() != NONCE_HEX_LEN
        || !nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return NonceOrigin::Foreign;
    }
    let mut bytes = [0u8; PREFIX_BYTES + TAG_BYTES];
    if hex::decode_to_slice(nonce, &mut bytes).is_err() {
        return NonceOrigin::Foreign;
    }
    let mut prefix = [0u8; PREFIX_BYTES];
    prefix.copy_from_slice(&bytes[..PREFIX_BYTES]);
    let expected = tag(key, &prefix, realm);
    if !bool::from(expected.ct_eq(&bytes[PREFIX_BYTES..])) {
        return NonceOrigin::Foreign;
    }
    let mut issued = [0u8; 8];
    issued.copy_from_slice(&prefix[..8]);
    NonceOrigin::Ours {
        issued_at: Millis(u64::from_be_bytes(issued)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: NonceKey = NonceKey([7; 32]);

    #[test]
    fn an_issued_nonce_roundtrips_with_its_issue_time() {
        let nonce = issue(&KEY, Millis(1_700_000_000_123), 42, "acme.sip.io");
        assert_eq!(nonce.len(), NONCE_HEX_LEN);
        assert!(nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(
            origin(&KEY, &nonce, "acme.sip.io"),
            NonceOrigin::Ours {
                issued_at: Millis(1_700_000_000_123)
            }
        );
    }

    #[test]
    fn the_layout_is_time_then_salt_then_tag() {
        let nonce = issue(
            &KEY,
            Millis(0x0102_0304_0506_0708),
            0x1112_1314_1516_1718,
            "r",
        );
        assert!(nonce.starts_with("01020304050607081112131415161718"));
    }

    #[test]
    fn different_salts_give_different_nonces() {
        let a = issue(&KEY, Millis(5), 1, "r");
        let b = issue(&KEY, Millis(5), 2, "r");
        assert_ne!(a, b);
        assert!(matches!(origin(&KEY, &b, "r"), NonceOrigin::Ours { .. }));
    }

    #[test]
    fn a_nonce_for_another_realm_is_foreign() {
        let nonce = issue(&KEY, Millis(1000), 9, "acme.sip.io");
        assert_eq!(origin(&KEY, &nonce, "other.sip.io"), NonceOrigin::Foreign);
    }

    #[test]
    fn a_nonce_under_another_key_is_foreign() {
        let nonce = issue(&KEY, Millis(1000), 9, "acme.sip.io");
        assert_eq!(
            origin(&NonceKey([8; 32]), &nonce, "acme.sip.io"),
            NonceOrigin::Foreign
        );
    }

    #[test]
    fn every_flipped_character_makes_it_foreign() {
        let nonce = issue(&KEY, Millis(1000), 9, "acme.sip.io");
        for i in 0..nonce.len() {
            let mut bytes = nonce.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let flipped = String::from_utf8(bytes).unwrap();
            assert_eq!(
                origin(&KEY, &flipped, "acme.sip.io"),
                NonceOrigin::Foreign,
                "position {i}"
            );
        }
        assert_eq!(
            origin(&KEY, &nonce.to_ascii_uppercase(), "acme.sip.io"),
            NonceOrigin::Foreign
        );
        assert_eq!(
            origin(&KEY, &nonce[..NONCE_HEX_LEN - 2], "acme.sip.io"),
            NonceOrigin::Foreign
        );
        assert_eq!(
            origin(&KEY, &format!("{nonce}00"), "acme.sip.io"),
            NonceOrigin::Foreign
        );
    }

    proptest! {
        #[test]
        fn arbitrary_strings_are_foreign(s in any::<String>(), realm in any::<String>()) {
            prop_assert_eq!(origin(&KEY, &s, &realm), NonceOrigin::Foreign);
        }

        #[test]
        fn arbitrary_hex_of_the_right_length_is_foreign(s in "[0-9a-f]{64}") {
            prop_assert_eq!(origin(&KEY, &s, "r"), NonceOrigin::Foreign);
        }

        #[test]
        fn any_issued_nonce_roundtrips(now in any::<u64>(), salt in any::<u64>(), realm in any::<String>()) {
            let nonce = issue(&KEY, Millis(now), salt, &realm);
            prop_assert_eq!(origin(&KEY, &nonce, &realm), NonceOrigin::Ours { issued_at: Millis(now) });
        }
    }
}
