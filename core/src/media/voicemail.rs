//! Voicemail messages: what an upload to `<account>/vm/<callId>.wav`
//! leaves on the account (reference §12: a `voicemail_message` row with the
//! caller, the duration and the time). Kept by the account's owner shard,
//! newest last, at most `VOICEMAILS_PER_ACCOUNT_MAX` per account (the
//! oldest message is forgotten first; its object stays in the store).

use crate::limits::VOICEMAILS_PER_ACCOUNT_MAX;
use crate::time::Millis;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

/// One message.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct VoicemailMessage {
    pub account_id: String,
    pub call_id: String,
    /// The object key (`<account>/vm/<callId>.wav`).
    pub key: String,
    pub size_bytes: u64,
    /// From the WAV header.
    pub duration_ms: u64,
    /// SHA-256 of the object, hex.
    pub sha256: String,
    /// When the upload was stored.
    pub at: Millis,
    /// The caller (the call's normalized `from`) when the brain knows the call.
    pub from: Option<String>,
}

impl VoicemailMessage {
    /// The reply's shape.
    pub fn to_json(&self) -> Value {
        json!({
            "key": self.key,
            "callId": self.call_id,
            "from": self.from,
            "durationMs": self.duration_ms,
            "size": self.size_bytes,
            "sha256": self.sha256,
            "at": self.at.0,
        })
    }
}

/// The messages of the accounts a shard owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Voicemails {
    by_account: BTreeMap<String, VecDeque<VoicemailMessage>>,
}

impl Voicemails {
    /// Adds a message; an upload to the same key again replaces it.
    pub fn record(&mut self, message: VoicemailMessage) {
        let list = self
            .by_account
            .entry(message.account_id.clone())
            .or_default();
        list.retain(|m| m.key != message.key);
        list.push_back(message);
        while list.len() > VOICEMAILS_PER_ACCOUNT_MAX {
            list.pop_front();
        }
        assert!(list.len() <= VOICEMAILS_PER_ACCOUNT_MAX, "bounded above");
    }

    /// Restores an account's list from a snapshot.
    pub fn restore(&mut self, account_id: &str, messages: &[VoicemailMessage]) {
        assert!(
            messages.iter().all(|m| m.account_id == account_id),
            "a snapshot list holds one account's messages"
        );
        let list = self.by_account.entry(account_id.to_string()).or_default();
        list.clear();
        list.extend(messages.iter().cloned());
        while list.len() > VOICEMAILS_PER_ACCOUNT_MAX {
            list.pop_front();
        }
    }

    /// Drops a deleted account's messages.
    pub fn forget_account(&mut self, account_id: &str) {
        self.by_account.remove(account_id);
    }

    /// An account's messages, oldest first.
    pub fn of(&self, account_id: &str) -> impl DoubleEndedIterator<Item = &VoicemailMessage> {
        self.by_account.get(account_id).into_iter().flatten()
    }

    /// Every account's list, by account.
    pub fn all(&self) -> impl Iterator<Item = (&String, &VecDeque<VoicemailMessage>)> {
        self.by_account.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str, at: u64) -> VoicemailMessage {
        VoicemailMessage {
            account_id: "acc_a".into(),
            call_id: key.into(),
            key: format!("acc_a/vm/{key}.wav"),
            size_bytes: 44,
            duration_ms: 0,
            sha256: String::new(),
            at: Millis(at),
            from: None,
        }
    }

    #[test]
    fn a_repeated_upload_replaces_its_message_and_the_list_is_bounded() {
        let mut voicemails = Voicemails::default();
        voicemails.record(message("c1", 1));
        voicemails.record(message("c2", 2));
        voicemails.record(message("c1", 3));
        let keys: Vec<u64> = voicemails.of("acc_a").map(|m| m.at.0).collect();
        assert_eq!(keys, [2, 3]);
        for i in 0..(VOICEMAILS_PER_ACCOUNT_MAX as u64 + 5) {
            voicemails.record(message(&format!("x{i}"), 10 + i));
        }
        assert_eq!(voicemails.of("acc_a").count(), VOICEMAILS_PER_ACCOUNT_MAX);
        assert_eq!(
            voicemails.of("acc_a").next().unwrap().at,
            Millis(15),
            "oldest dropped first"
        );
        voicemails.forget_account("acc_a");
        assert_eq!(voicemails.of("acc_a").count(), 0);
    }
}
