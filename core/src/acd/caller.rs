//! A caller in an ACD queue: its lease id (stable for the whole wait), the
//! live offer if any, and the connection once an agent took it. Its queue
//! CDR row comes from these fields (reference §10.3).

use crate::time::Millis;

/// A live offer: the agents ringing for the caller. One agent, except under
/// `ring_all` where the first claimant wins.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Offer {
    pub agents: Vec<String>,
    /// The fencing token: the account's counter, bumped by every offer.
    pub epoch: u64,
    pub expires_at: Millis,
    /// The queue's `max_no_answer` when offered (0 = no auto-pause).
    pub max_no_answer: u32,
    /// A `ring_all` offer: answered by claim, not confirm.
    pub ring_all: bool,
}

/// The agent that took the caller.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Connected {
    pub agent_id: String,
    /// The epoch the confirm (or claim) named.
    pub epoch: u64,
    pub at: Millis,
}

/// A caller held in a queue.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Caller {
    pub account_id: String,
    pub queue_id: String,
    pub call_id: String,
    /// `ls_<n>`: the lease id every offer to this caller carries.
    pub lease_id: String,
    /// Join order on the shard (first come, first served).
    pub seq: u64,
    pub enqueued_at: Millis,
    /// The queue's `wrap_up_sec`, in ms, when it joined.
    pub wrap_up_ms: u64,
    /// The queue's `agent_ring_timeout_sec`, in ms.
    pub ring_ms: u64,
    pub offer: Option<Offer>,
    /// The newest epoch offered to this caller (0 = never offered).
    pub last_epoch: u64,
    pub connected: Option<Connected>,
    /// The last position announced and when.
    pub announced: Option<(u32, Millis)>,
}

impl Caller {
    /// Waiting for an offer (not offered, not connected).
    pub fn is_waiting(&self) -> bool {
        self.offer.is_none() && self.connected.is_none()
    }
}
