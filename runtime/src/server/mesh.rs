//! Messages between cores. Requests and broadcasts travel on one mesh,
//! replies and acks on another, so a full request queue never blocks a reply.
//!
//! Crossing cores costs a round trip of tens of microseconds, so both
//! directions carry batches: the calls a core forwards to one target while
//! it is busy go as one `Calls` message, answered by one `Replies`; the
//! broadcasts that become durable while one is in flight go together as the
//! next `Broadcast`.

use sipbrain_core::api::Call;
use sipbrain_core::event::Event;
use sipbrain_core::http::Response;

/// To the shard that must act.
#[derive(Debug)]
pub enum ToShard {
    /// Decide these calls in order (they share one group commit) and
    /// answer them with one `Replies`, each under its id.
    Calls(Vec<(u64, Call)>),
    /// Apply these broadcast events (directory changes) and ack `id`.
    Broadcast { id: u64, events: Vec<Event> },
}

/// Back to the shard that asked.
#[derive(Debug)]
pub enum FromShard {
    /// The answers to one `Calls`, in its order.
    Replies(Vec<(u64, Response)>),
    /// A `Broadcast` is applied.
    Ack { id: u64 },
}
