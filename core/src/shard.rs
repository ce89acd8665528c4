//! A shard: the single-threaded owner of a set of accounts and everything
//! live about them. [`Shard::decide`] reads; [`Shard::apply`] mutates.
//!
//! Run loop (the runtime and the simulator both follow it): for each call,
//! `decide`, then make the events durable, then `apply` them in order (and
//! broadcast the ones for which [`Event::is_broadcast`] holds to every other
//! shard, which `apply` them too), then release the reply. Never start the
//! next `decide` before the previous events are applied.

use crate::account::{self, Account};
use crate::api::{self, Call, CONTROL_SHARD};
use crate::auth::failures::FailureCounter;
use crate::auth::nonce::NonceKey;
use crate::auth::replay::ReplayCache;
use crate::directory::{owner_shard, Directory};
use crate::event::Event;
use crate::http::Response;
use crate::time::Millis;
use std::collections::BTreeMap;

/// Settings a shard decides with (from the server config).
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// This shard's index.
    pub id: usize,
    /// Number of shards of the brain.
    pub shards: usize,
    pub nonce_key: NonceKey,
    /// How long a brain-issued nonce is valid (contract default 300 s).
    pub nonce_ttl_ms: u64,
    /// Failures per source IP within the window before /auth answers 429.
    pub auth_fail_threshold: usize,
    pub auth_fail_window_ms: u64,
}

/// What a decision produced: the reply, and the events to log and apply
/// before the reply may leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub reply: Response,
    pub events: Vec<Event>,
}

impl Decision {
    /// A reply that changes nothing.
    pub fn reply(reply: Response) -> Decision {
        Decision {
            reply,
            events: Vec::new(),
        }
    }
}

/// One shard's state. `Clone` lets the simulator keep a reference copy.
#[derive(Clone, Debug)]
pub struct Shard {
    config: ShardConfig,
    directory: Directory,
    /// Documents of the accounts this shard owns (all of them on the
    /// control shard).
    accounts: BTreeMap<String, Account>,
    replays: ReplayCache,
    failures: FailureCounter,
    /// The latest time any applied event carries: the floor of this
    /// shard's clock after a restart.
    clock_floor: Millis,
}

impl Shard {
    /// An empty shard.
    pub fn new(config: ShardConfig) -> Shard {
        assert!(
            config.id < config.shards,
            "shard id {} out of {}",
            config.id,
            config.shards
        );
        Shard {
            config,
            directory: Directory::default(),
            accounts: BTreeMap::new(),
            replays: ReplayCache::default(),
            failures: FailureCounter::default(),
            clock_floor: Millis(0),
        }
    }

    /// Decides `call` at `now`; `salt` is fresh randomness from the caller
    /// (nonces). Reads only: the events say what changes.
    pub fn decide(&self, now: Millis, salt: u64, call: &Call) -> Decision {
        match call {
            Call::Auth(request) => api::auth::decide(self, now, salt, request),
            Call::AccountPut { account_id, doc } => {
                assert_eq!(
                    self.config.id, CONTROL_SHARD,
                    "provisioning runs on the control shard"
                );
                api::admin::decide_put(self, account_id, doc)
            }
            Call::AccountGet { account_id } => api::admin::decide_get(self, account_id),
            Call::AccountDelete { account_id } => api::admin::decide_delete(self, account_id),
        }
    }

    /// Decides `call`, then applies its events: the step the runtime and
    /// the simulator run for every call (logging the events is theirs).
    pub fn execute(&mut self, now: Millis, salt: u64, call: &Call) -> Decision {
        let decision = self.decide(now, salt, call);
        for event in &decision.events {
            self.apply(event);
        }
        decision
    }

    /// Applies one event: the only code that changes a shard.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::AccountPut { account_id, doc } => {
                let value: serde_json::Value = serde_json::from_str(doc)
                    .expect("AccountPut carries the JSON it was decided with");
                let account = account::parse(account_id, &value)
                    .expect("AccountPut carries a document that passed validation");
                let keys = crate::directory::agent_key_digests(&account);
                self.directory.put(&account, keys);
                if self.keeps(account_id) {
                    self.accounts.insert(account_id.clone(), account);
                }
            }
            Event::AccountDeleted { account_id } => {
                self.directory.remove(account_id);
                self.accounts.remove(account_id);
            }
            Event::NonceUsed {
                nonce,
                nc,
                at,
                expires_at,
            } => {
                self.replays.record(nonce, nc, *expires_at, *at);
                self.clock_floor = self.clock_floor.max(*at);
            }
            Event::AuthFailed { ip, at } => {
                self.failures
                    .record((*ip).into(), *at, self.config.auth_fail_window_ms);
                self.clock_floor = self.clock_floor.max(*at);
            }
            Event::ClockSeen { at } => {
                self.clock_floor = self.clock_floor.max(*at);
            }
        }
    }

    /// The events that rebuild this shard's durable state from empty: what
    /// a snapshot stores. Account documents are only in the control shard's
    /// image; the other shards get them from the control shard at start.
    pub fn image(&self) -> Vec<Event> {
        let mut events = Vec::new();
        if self.clock_floor > Millis(0) {
            events.push(Event::ClockSeen {
                at: self.clock_floor,
            });
        }
        if self.config.id == CONTROL_SHARD {
            for (account_id, account) in &self.accounts {
                let doc = account.to_json().to_string();
                events.push(Event::AccountPut {
                    account_id: account_id.clone(),
                    doc,
                });
            }
        }
        let replays = crate::auth::replay::ReplaySnapshot::from(self.replays.clone());
        for entry in replays.entries {
            let (nonce, nc, expires_at) = (entry.nonce, entry.nc, entry.expires_at);
            events.push(Event::NonceUsed {
                nonce,
                nc,
                at: Millis(0),
                expires_at,
            });
        }
        let failures = crate::auth::failures::FailureSnapshot::from(self.failures.clone());
        for ip in failures.ips {
            for at in ip.failures {
                events.push(Event::AuthFailed {
                    ip: ip.ip.into(),
                    at,
                });
            }
        }
        events
    }

    /// The broadcast events that give another shard the control shard's
    /// directory and documents (sent at start, after recovery).
    pub fn directory_image(&self) -> Vec<Event> {
        assert_eq!(
            self.config.id, CONTROL_SHARD,
            "the control shard holds every document"
        );
        self.image()
            .into_iter()
            .filter(Event::is_broadcast)
            .collect()
    }

    /// True when this shard keeps the full document of `account_id`.
    fn keeps(&self, account_id: &str) -> bool {
        self.config.id == CONTROL_SHARD
            || owner_shard(account_id, self.config.shards) == self.config.id
    }

    pub fn config(&self) -> &ShardConfig {
        &self.config
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// A document this shard keeps.
    pub fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }

    /// The account whose domain is `realm`, if this shard keeps it.
    pub fn account_for_realm(&self, realm: &str) -> Option<&Account> {
        self.directory
            .account_for_domain(realm)
            .and_then(|id| self.accounts.get(id))
    }

    /// True when a challenge for this realm (and user) may offer SHA-256.
    pub fn offers_sha256(&self, realm: &str, username: Option<&str>) -> bool {
        let (Some(account), Some(username)) = (self.account_for_realm(realm), username) else {
            return false;
        };
        let (user, ha1b) = match username.split_once('@') {
            Some((user, _)) => (user, true),
            None => (username, false),
        };
        account.device_for_auth(user, realm).is_some_and(|device| {
            if ha1b {
                device.ha1b_sha256.is_some()
            } else {
                device.ha1_sha256.is_some()
            }
        })
    }

    /// The latest time this shard's state has seen: a restarted brain's
    /// clock starts no earlier.
    pub fn clock_floor(&self) -> Millis {
        self.clock_floor
    }

    pub fn replays(&self) -> &ReplayCache {
        &self.replays
    }

    pub fn auth_failures(&self) -> &FailureCounter {
        &self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::nonce::NonceKey;
    use crate::event::Ip;

    fn shard(id: usize) -> Shard {
        Shard::new(ShardConfig {
            id,
            shards: 2,
            nonce_key: NonceKey([7; 32]),
            nonce_ttl_ms: 300_000,
            auth_fail_threshold: 10,
            auth_fail_window_ms: 60_000,
        })
    }

    fn demo() -> Vec<Event> {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/demo/acme.json")).unwrap();
        let account = account::parse("acc_acme", &doc).unwrap();
        vec![
            Event::AccountPut {
                account_id: "acc_acme".into(),
                doc: account.to_json().to_string(),
            },
            Event::NonceUsed {
                nonce: "n1".into(),
                nc: "00000001".into(),
                at: Millis(5),
                expires_at: Millis(900),
            },
            Event::AuthFailed {
                ip: Ip::from(core::net::IpAddr::from([192, 0, 2, 1])),
                at: Millis(7),
            },
            Event::AuthFailed {
                ip: Ip::from(core::net::IpAddr::from([192, 0, 2, 1])),
                at: Millis(9),
            },
        ]
    }

    #[test]
    fn replaying_a_control_shards_image_rebuilds_the_same_state() {
        let mut original = shard(0);
        for event in demo() {
            original.apply(&event);
        }
        let mut rebuilt = shard(0);
        for event in original.image() {
            rebuilt.apply(&event);
        }
        assert_eq!(rebuilt.accounts, original.accounts);
        assert_eq!(rebuilt.directory, original.directory);
        assert!(rebuilt.replays.seen("n1", "00000001", Millis(10)));
        let ip = core::net::IpAddr::from([192, 0, 2, 1]);
        assert_eq!(rebuilt.failures.count(ip, Millis(10), 60_000), 2);
        assert_eq!(rebuilt.clock_floor(), Millis(9), "time never goes back");
        assert_eq!(
            rebuilt.image(),
            original.image(),
            "an image is a fixed point"
        );
    }

    #[test]
    fn only_the_control_shard_image_carries_documents() {
        let mut other = shard(1);
        for event in demo() {
            other.apply(&event);
        }
        assert!(other.image().iter().all(|e| !e.is_broadcast()));
        assert_eq!(
            other.image().len(),
            4,
            "the clock floor, a nonce, two failures"
        );
        assert_eq!(other.image()[0], Event::ClockSeen { at: Millis(9) });
    }
}
