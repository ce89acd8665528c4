//! Calls: the record each owning shard keeps from the routing decision to
//! the end of the dialog (CDR row and trace), and the callId index every
//! shard keeps so that a request carrying only a `callId` finds its account.

mod index;
mod record;

pub use index::CallIndex;
pub use record::{
    trace_bound, Admission, CallRecord, CallStart, Dim, Direction, Progress, RateHit, TraceEvent,
    TRACE_EVENTS_PER_CALL_MAX,
};
