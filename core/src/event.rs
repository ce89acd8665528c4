//! Events: the facts a decision produces. `Shard::apply` of an event is the
//! only way state changes, so logging events and replaying them is enough to
//! rebuild a shard.

use crate::time::Millis;
use std::net::IpAddr;

/// One state change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// An account document was created or replaced. `doc` is the validated,
    /// normalized document as compact JSON. Broadcast to every shard.
    AccountPut { account_id: String, doc: String },
    /// An account was removed. Broadcast to every shard.
    AccountDeleted { account_id: String },
    /// A digest (nonce, nc) pair was accepted; it is a replay until
    /// `expires_at`.
    NonceUsed {
        nonce: String,
        nc: String,
        at: Millis,
        expires_at: Millis,
    },
    /// A digest check from `ip` failed at `at`.
    AuthFailed { ip: IpAddr, at: Millis },
}

impl Event {
    /// True for events every shard applies (directory changes); the others
    /// stay on the shard that decided them.
    pub fn is_broadcast(&self) -> bool {
        matches!(
            self,
            Event::AccountPut { .. } | Event::AccountDeleted { .. }
        )
    }
}
