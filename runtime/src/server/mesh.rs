//! Messages between cores. Requests and broadcasts travel on one mesh,
//! replies and acks on another, so a full request queue never blocks a reply.

use sipbrain_core::api::Call;
use sipbrain_core::event::Event;
use sipbrain_core::http::Response;

/// To the shard that must act.
#[derive(Debug)]
pub enum ToShard {
    /// Decide this call and reply with `id`.
    Call { id: u64, call: Call },
    /// Apply these broadcast events (directory changes) and ack `id`.
    Broadcast { id: u64, events: Vec<Event> },
}

/// Back to the shard that asked.
#[derive(Debug)]
pub enum FromShard {
    Reply { id: u64, response: Response },
    Ack { id: u64 },
}
