//! The actors' independent model of the brain: which accounts exist with
//! which credentials, computed from what operators sent and what the brain
//! acknowledged — never from the brain's state.
//!
//! Writes can land late (a retry or a duplicate still in flight), so an
//! account's state is a *set* of possibilities: the last confirmed write,
//! plus every write that may still take effect or took effect after the
//! confirmed one was first decided. Checks accept an answer if it is right
//! for some possibility.

use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};

/// The lowercase hex MD5 of `parts` joined by `:` (RFC 2617).
pub fn md5_hex(parts: &[&str]) -> String {
    hex::encode(Md5::digest(parts.join(":").as_bytes()))
}

/// The lowercase hex SHA-256 of `parts` joined by `:` (RFC 7616).
pub fn sha256_hex(parts: &[&str]) -> String {
    hex::encode(Sha256::digest(parts.join(":").as_bytes()))
}

/// One SIP user of a modelled account (one device each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserModel {
    pub username: String,
    pub password: String,
    pub user_active: bool,
    pub device_active: bool,
    /// The device has SHA-256 HA1s.
    pub sha256: bool,
}

/// An account as an operator wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountModel {
    pub id: String,
    pub version: u64,
    pub domain: String,
    pub active: bool,
    pub users: Vec<UserModel>,
}

impl AccountModel {
    /// The document a provisioning system would PUT.
    pub fn to_doc(&self) -> Value {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                json!({
                    "id": format!("us_{}", u.username),
                    "username": u.username,
                    "status": if u.user_active { "active" } else { "disabled" },
                })
            })
            .collect();
        let devices: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                let realm = &self.domain;
                let user_at = format!("{}@{realm}", u.username);
                let mut device = json!({
                    "id": format!("dev_{}", u.username),
                    "user_id": format!("us_{}", u.username),
                    "auth_username": u.username,
                    "realm": realm,
                    "ha1": md5_hex(&[&u.username, realm, &u.password]),
                    "ha1b": md5_hex(&[&user_at, realm, &u.password]),
                    "status": if u.device_active { "active" } else { "disabled" },
                });
                if u.sha256 {
                    device["ha1_sha256"] = json!(sha256_hex(&[&u.username, realm, &u.password]));
                    device["ha1b_sha256"] = json!(sha256_hex(&[&user_at, realm, &u.password]));
                }
                device
            })
            .collect();
        json!({
            "name": format!("{} v{}", self.id, self.version),
            "status": if self.active { "active" } else { "suspended" },
            "domains": [{"domain": self.domain, "is_primary": 1}],
            "users": users,
            "devices": devices,
        })
    }

    pub fn user(&self, username: &str) -> Option<&UserModel> {
        self.users.iter().find(|u| u.username == username)
    }
}

/// What the world knows about an operation's copies (for possibilities).
#[derive(Clone, Debug, Default)]
pub struct OpLog {
    /// Decision sequence numbers: first and last time a copy was decided.
    decided: BTreeMap<u64, (u64, u64)>,
    /// Connections whose copy of the operation may still take effect.
    live: BTreeMap<u64, BTreeSet<u64>>,
}

impl OpLog {
    /// A copy of `op` is on connection `conn` and may take effect.
    pub fn carried(&mut self, op: u64, conn: u64) {
        self.live.entry(op).or_default().insert(conn);
    }

    /// The copy of `op` on `conn` went as far as it will go: decided as
    /// the brain's `decision`-th call (None: refused without a decision).
    pub fn resolved(&mut self, op: u64, conn: u64, decision: Option<u64>) {
        if let Some(seq) = decision {
            let entry = self.decided.entry(op).or_insert((seq, seq));
            entry.0 = entry.0.min(seq);
            entry.1 = entry.1.max(seq);
        }
        self.dropped(op, conn);
    }

    /// The copy of `op` on `conn` can no longer take effect.
    pub fn dropped(&mut self, op: u64, conn: u64) {
        if let Some(set) = self.live.get_mut(&op) {
            set.remove(&conn);
            if set.is_empty() {
                self.live.remove(&op);
            }
        }
    }

    /// The brain crashed: every copy inside it or on its connections is gone.
    pub fn crash(&mut self) {
        self.live.clear();
    }

    /// Operations that may still take effect, with their connections.
    pub fn live(&self) -> impl Iterator<Item = (&u64, &BTreeSet<u64>)> {
        self.live.iter()
    }

    pub fn alive(&self, op: u64) -> bool {
        self.live.contains_key(&op)
    }

    pub fn first_decided(&self, op: u64) -> Option<u64> {
        self.decided.get(&op).map(|d| d.0)
    }

    pub fn last_decided(&self, op: u64) -> Option<u64> {
        self.decided.get(&op).map(|d| d.1)
    }
}

/// A write an operator sent: the account becomes `state` (None: deleted).
#[derive(Clone, Debug)]
struct Write {
    op: u64,
    state: Option<AccountModel>,
}

/// One account's possibilities.
#[derive(Clone, Debug)]
pub struct AccountSlot {
    pub id: String,
    pub domain: String,
    confirmed: Option<AccountModel>,
    /// The op whose write was confirmed last (None: nothing confirmed yet).
    confirmed_op: Option<u64>,
    writes: Vec<Write>,
}

impl AccountSlot {
    /// Every state the account may be in now.
    pub fn possible(&self, ops: &OpLog) -> Vec<Option<AccountModel>> {
        let mut out = vec![self.confirmed.clone()];
        let floor = self
            .confirmed_op
            .and_then(|op| ops.first_decided(op))
            .unwrap_or(0);
        for write in &self.writes {
            let may =
                ops.alive(write.op) || ops.last_decided(write.op).is_some_and(|seq| seq > floor);
            if may && !out.contains(&write.state) {
                out.push(write.state.clone());
            }
        }
        out
    }

    /// Every state the account may have had while an operation was out:
    /// those `seen` when it was sent (op `from_op`), those possible now, and
    /// those written since.
    pub fn possible_between(
        &self,
        seen: &[Option<AccountModel>],
        from_op: u64,
        ops: &OpLog,
    ) -> Vec<Option<AccountModel>> {
        let mut all = seen.to_vec();
        all.extend(self.possible(ops));
        all.extend(
            self.writes
                .iter()
                .filter(|w| w.op >= from_op)
                .map(|w| w.state.clone()),
        );
        all
    }

    /// True while a copy of some write of this account may still land.
    pub fn writes_alive(&self, ops: &OpLog) -> bool {
        self.writes.iter().any(|w| ops.alive(w.op))
    }

    /// The one state the account must be in, when only one is possible.
    pub fn certain(&self, ops: &OpLog) -> Option<Option<AccountModel>> {
        let possible = self.possible(ops);
        (possible.len() == 1).then(|| possible[0].clone())
    }

    pub fn confirmed(&self) -> &Option<AccountModel> {
        &self.confirmed
    }
}

/// One allowlist write (`POST` or `DELETE /security/allow`), in the order
/// sent.
#[derive(Clone, Debug)]
pub struct AllowWrite {
    pub op: u64,
    pub add: bool,
    /// The brain acknowledged it.
    pub confirmed: bool,
}

/// The allowlist writes of every guard, per entry.
#[derive(Clone, Debug, Default)]
pub struct AllowModel {
    pub writes: BTreeMap<ipnet::IpNet, Vec<AllowWrite>>,
}

impl AllowModel {
    /// A write of `net` was sent as `op`.
    pub fn sent(&mut self, net: ipnet::IpNet, op: u64, add: bool) {
        self.writes.entry(net).or_default().push(AllowWrite {
            op,
            add,
            confirmed: false,
        });
    }

    /// The brain acknowledged write `op` of `net`.
    pub fn confirmed(&mut self, net: &ipnet::IpNet, op: u64) {
        if let Some(write) = self
            .writes
            .get_mut(net)
            .and_then(|w| w.iter_mut().find(|w| w.op == op))
        {
            write.confirmed = true;
        }
    }

    /// True when `net` is on the allowlist whatever may still land: its
    /// last add was acknowledged, no delete was sent after it, and no
    /// earlier delete can still be (or was) decided after that add.
    pub fn surely(&self, net: &ipnet::IpNet, ops: &OpLog) -> bool {
        self.surely_before(net, ops, u64::MAX)
    }

    /// [`Self::surely`], for an operation first decided as the brain's
    /// `decision`-th call: every copy of the add must have been decided
    /// before it (a copy decided earlier may have been lost in a crash,
    /// and the acknowledged one decided again later).
    pub fn surely_before(&self, net: &ipnet::IpNet, ops: &OpLog, decision: u64) -> bool {
        let Some(writes) = self.writes.get(net) else {
            return false;
        };
        let Some(last_add) = writes.iter().rposition(|w| w.add && w.confirmed) else {
            return false;
        };
        if writes[last_add..].iter().any(|w| !w.add) {
            return false;
        }
        let (Some(added), Some(last)) = (
            ops.first_decided(writes[last_add].op),
            ops.last_decided(writes[last_add].op),
        ) else {
            return false;
        };
        if last >= decision {
            return false;
        }
        writes
            .iter()
            .filter(|w| !w.add)
            .all(|w| !ops.alive(w.op) && ops.last_decided(w.op).is_none_or(|seq| seq < added))
    }

    /// The entries surely on the allowlist when operation `op` (answered)
    /// was decided.
    pub fn sure(&self, ops: &OpLog, op: u64) -> Vec<ipnet::IpNet> {
        let Some(decision) = ops.first_decided(op) else {
            return Vec::new();
        };
        self.writes
            .keys()
            .filter(|net| self.surely_before(net, ops, decision))
            .copied()
            .collect()
    }
}

/// The model the actors share.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub accounts: BTreeMap<String, AccountSlot>,
    /// Auth requests per source IP that may have been counted as failures.
    pub failures: BTreeMap<String, usize>,
    /// The allowlist, as the guards wrote it.
    pub allow: AllowModel,
    next_op: u64,
}

impl Model {
    /// A fresh operation id (ids grow with time).
    pub fn new_op(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    /// The last op id handed out.
    pub fn last_op(&self) -> u64 {
        self.next_op
    }

    /// Adds an account slot (absent until written).
    pub fn add_account(&mut self, id: &str, domain: &str) {
        let slot = AccountSlot {
            id: id.to_string(),
            domain: domain.to_string(),
            confirmed: None,
            confirmed_op: None,
            writes: Vec::new(),
        };
        self.accounts.insert(id.to_string(), slot);
    }

    /// An operator sent write `op` for `id`.
    pub fn write_sent(&mut self, id: &str, op: u64, state: Option<AccountModel>) {
        let slot = self.accounts.get_mut(id).expect("a modelled account");
        slot.writes.push(Write { op, state });
    }

    /// The brain acknowledged write `op` (200, or 404 for a delete).
    pub fn write_confirmed(&mut self, id: &str, op: u64, state: Option<AccountModel>) {
        let slot = self.accounts.get_mut(id).expect("a modelled account");
        slot.confirmed = state;
        slot.confirmed_op = Some(op);
    }

    /// The account whose domain is `realm`, if modelled.
    pub fn by_domain(&self, realm: &str) -> Option<&AccountSlot> {
        self.accounts.values().find(|s| s.domain == realm)
    }
}
