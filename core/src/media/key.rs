//! Media object keys: which names may become files under the media dir.
//!
//! A key is 1..=512 bytes of `[A-Za-z0-9._/-]` (the contract), split by `/`
//! into at most 16 segments of at most 255 bytes (a Linux file name). No
//! `..` anywhere, no leading or trailing `/`, no empty segment, and no
//! segment starting with `.`: that rules out `.` and `..`, hidden files,
//! and the store's own `.tmp` directory. A key that passes names a plain
//! path below the media dir, never outside it.
//!
//! `<account>/vm/<callId>.wav` is a voicemail upload ([`voicemail`]).

use crate::limits::{MEDIA_KEY_BYTES_MAX, MEDIA_KEY_SEGMENTS_MAX, MEDIA_KEY_SEGMENT_BYTES_MAX};

/// Checks a key; the error says what is wrong with it.
pub fn check(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.len() > MEDIA_KEY_BYTES_MAX {
        return Err(format!(
            "the key is longer than {MEDIA_KEY_BYTES_MAX} bytes"
        ));
    }
    if let Some(bad) = key.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "the key holds {bad:?}; keys use only A-Z a-z 0-9 . _ / -"
        ));
    }
    if key.contains("..") {
        return Err("the key holds `..`".into());
    }
    if key.starts_with('/') {
        return Err("the key starts with `/` (keys are relative)".into());
    }
    let segments: Vec<&str> = key.split('/').collect();
    if segments.len() > MEDIA_KEY_SEGMENTS_MAX {
        return Err(format!(
            "the key has more than {MEDIA_KEY_SEGMENTS_MAX} segments"
        ));
    }
    for segment in segments {
        if segment.is_empty() {
            return Err("the key has an empty segment (`//` or a trailing `/`)".into());
        }
        if segment.starts_with('.') {
            return Err(format!("the key segment {segment:?} starts with `.`"));
        }
        if segment.len() > MEDIA_KEY_SEGMENT_BYTES_MAX {
            return Err(format!(
                "a key segment is longer than {MEDIA_KEY_SEGMENT_BYTES_MAX} bytes"
            ));
        }
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

/// The account and call of a voicemail key `<account>/vm/<callId>.wav`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoicemailKey {
    pub account_id: String,
    pub call_id: String,
}

/// The voicemail a (checked) key names, if it has the voicemail shape.
pub fn voicemail(key: &str) -> Option<VoicemailKey> {
    let mut segments = key.split('/');
    let (account, vm, file) = (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() || vm != "vm" {
        return None;
    }
    let call_id = file.strip_suffix(".wav")?;
    if call_id.is_empty() || account.is_empty() {
        return None;
    }
    Some(VoicemailKey {
        account_id: account.to_string(),
        call_id: call_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    #[test]
    fn contract_keys_pass() {
        for key in [
            "system/en-US/male/welcome.wav",
            "acc_acme/vm/call-1.wav",
            "1/greetings/after-hours.wav",
            "a",
            "moh_2.mp3",
        ] {
            assert_eq!(check(key), Ok(()), "{key}");
        }
        assert_eq!(
            check(&"a".repeat(512)).unwrap_err(),
            "a key segment is longer than 255 bytes"
        );
        let long_ok = ["a".repeat(255), "b".repeat(255)].join("/");
        assert_eq!(check(&long_ok), Ok(()));
    }

    #[test]
    fn traversal_absolute_odd_and_long_keys_are_refused() {
        for (key, why) in [
            ("", "empty"),
            ("../etc/passwd", "`..`"),
            ("a/../../b", "`..`"),
            ("a..b", "`..`"),
            ("/etc/passwd", "starts with `/`"),
            ("a//b", "empty segment"),
            ("a/b/", "empty segment"),
            ("./a", "starts with `.`"),
            (".tmp/x", "starts with `.`"),
            ("a/.hidden", "starts with `.`"),
            ("a b", "holds"),
            ("a\\b", "holds"),
            ("a%2Fb", "holds"),
            ("caf\u{e9}", "holds"),
            ("a\0b", "holds"),
        ] {
            let error = check(key).unwrap_err();
            assert!(error.contains(why), "{key:?}: {error}");
        }
        assert!(check(&"a/".repeat(300))
            .unwrap_err()
            .contains("longer than 512"));
        assert!(check(
            &"a/"
                .repeat(16)
                .trim_end_matches('/')
                .replacen('a', "a/b", 1)
        )
        .unwrap_err()
        .contains("more than 16 segments"));
    }

    #[test]
    fn voicemail_keys_name_the_account_and_call() {
        assert_eq!(
            voicemail("acc_acme/vm/call-1.wav"),
            Some(VoicemailKey {
                account_id: "acc_acme".into(),
                call_id: "call-1".into()
            })
        );
        for key in [
            "acc_acme/vm/.wav",
            "acc_acme/vm/call.mp3",
            "acc_acme/vm/x/call.wav",
            "acc_acme/greetings/call.wav",
            "vm/call.wav",
        ] {
            assert_eq!(voicemail(key), None, "{key}");
        }
    }

    proptest! {
        #[test]
        fn every_accepted_key_is_a_plain_relative_path(key in "[a./_-]{0,12}(/[a./_-]{0,6}){0,4}") {
            if check(&key).is_ok() {
                let path = Path::new(&key);
                prop_assert!(path.is_relative());
                prop_assert!(path.components().all(|c| matches!(c, Component::Normal(_))));
                prop_assert!(!key.contains(".."));
                let hidden = |c: Component| c.as_os_str().to_string_lossy().starts_with('.');
                prop_assert!(!path.components().any(hidden));
            }
        }

        #[test]
        fn any_string_is_checked_without_panicking(key in "\\PC{0,40}") {
            let _ = check(&key);
            let _ = voicemail(&key);
        }
    }
}
