//! Lookups built once at parse time (BTreeMaps: deterministic, no hashing
//! seeds) so each request finds its device, user or number in O(log n).
//! Derived entirely from the normalized document.

use super::enums::DestKind;
use super::Document;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Positions of rows in the document's lists, by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    pub users: BTreeMap<String, usize>,
    pub users_by_username: BTreeMap<String, usize>,
    /// (auth_username, lower-case realm) → device.
    pub devices_by_auth: BTreeMap<(String, String), usize>,
    pub dids_by_e164: BTreeMap<String, usize>,
    pub dids: BTreeMap<String, usize>,
    /// Device id → position.
    pub devices: BTreeMap<String, usize>,
    pub extensions: BTreeMap<String, usize>,
    pub extensions_by_digits: BTreeMap<String, usize>,
    /// User id → its first active extension targeting it.
    pub extension_for_user: BTreeMap<String, usize>,
    pub flows: BTreeMap<String, usize>,
    pub queues: BTreeMap<String, usize>,
    pub schedules: BTreeMap<String, usize>,
    pub trunks: BTreeMap<String, usize>,
    pub voicemail_boxes: BTreeMap<String, usize>,
    pub media_files: BTreeMap<String, usize>,
    /// SHA-256 digests of the agent keys.
    pub agent_keys: Vec<[u8; 32]>,
}

fn positions<'a>(keys: impl Iterator<Item = &'a String>) -> BTreeMap<String, usize> {
    keys.enumerate().map(|(i, key)| (key.clone(), i)).collect()
}

impl Index {
    /// Builds the index of a validated document.
    pub fn build(doc: &Document) -> Index {
        let mut extension_for_user = BTreeMap::new();
        for (i, extension) in doc.extensions.iter().enumerate() {
            if extension.active && extension.dest_kind == DestKind::User {
                if let Some(user_id) = &extension.dest_id {
                    extension_for_user.entry(user_id.clone()).or_insert(i);
                }
            }
        }
        let agent_keys = doc
            .agent_keys
            .iter()
            .map(|key| {
                let bytes =
                    hex::decode(&key.sha256).expect("validation: agent key digests are hex");
                bytes
                    .try_into()
                    .expect("validation: agent key digests are 32 bytes")
            })
            .collect();
        Index {
            users: positions(doc.users.iter().map(|u| &u.id)),
            users_by_username: positions(doc.users.iter().map(|u| &u.username)),
            devices_by_auth: doc
                .devices
                .iter()
                .enumerate()
                .map(|(i, d)| ((d.auth_username.clone(), d.realm.clone()), i))
                .collect(),
            dids_by_e164: positions(doc.dids.iter().map(|d| &d.e164)),
            dids: positions(doc.dids.iter().map(|d| &d.id)),
            devices: positions(doc.devices.iter().map(|d| &d.id)),
            extensions: positions(doc.extensions.iter().map(|e| &e.id)),
            extensions_by_digits: positions(doc.extensions.iter().map(|e| &e.digits)),
            extension_for_user,
            flows: positions(doc.flows.iter().map(|f| &f.id)),
            queues: positions(doc.queues.iter().map(|q| &q.id)),
            schedules: positions(doc.schedules.iter().map(|s| &s.id)),
            trunks: positions(doc.trunks.iter().map(|t| &t.id)),
            voicemail_boxes: positions(doc.voicemail_boxes.iter().map(|v| &v.id)),
            media_files: positions(doc.media_files.iter().map(|m| &m.id)),
            agent_keys,
        }
    }

    /// True when SHA-256(`key`) is one of the agent key digests; every
    /// digest is compared, in constant time.
    pub fn agent_key_matches(&self, key: &str) -> bool {
        use subtle::ConstantTimeEq;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for stored in &self.agent_keys {
            found |= stored.ct_eq(&digest);
        }
        found.into()
    }
}
