//! One agent's live ACD state (reference §7.1–§7.3): what it wants
//! (`status`), what it does (`state`), its active queue memberships, its
//! counters for the strategies, and its bucket log.

use crate::time::Millis;
use std::collections::VecDeque;

/// Bucket-log entries kept per agent (oldest dropped first).
pub const AGENT_LOG_MAX: usize = 32;

/// What the agent wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Status {
    /// Logged out.
    Offline,
    /// Logged in, not taking calls yet (the `idle` bucket).
    NotReady,
    Available,
    /// Paused (by the agent, or auto-paused after `max_no_answer` misses).
    OnBreak,
}

impl Status {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Offline => "offline",
            Status::NotReady => "not_ready",
            Status::Available => "available",
            Status::OnBreak => "on_break",
        }
    }
}

/// What the agent is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum State {
    Waiting,
    /// Holds a live lease: its phone rings.
    Offering,
    /// Confirmed or claimed an ACD caller.
    InCall,
    /// After an ACD call, until `wrap_until`.
    WrapUp,
}

impl State {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Offering => "offering",
            State::InCall => "in_call",
            State::WrapUp => "wrap_up",
        }
    }
}

/// The nine buckets, in priority order (the metrics family reads them in
/// this order too).
pub const BUCKETS: [&str; 9] = [
    "extcall",
    "incall",
    "offline",
    "unreachable",
    "ring",
    "paused",
    "wrapup",
    "ready",
    "idle",
];

/// An active queue membership: lower `level` is offered first.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Membership {
    pub queue_id: String,
    pub level: u32,
    /// `static`, `dynamic` or `mandatory`.
    pub mode: String,
}

/// One bucket change of the agent event log.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct LogEntry {
    pub at: Millis,
    pub from: String,
    pub to: String,
    /// What moved it (`login`, `offer`, `no_answer`, `wrap_up_end`, …).
    pub cause: String,
    /// The ACD caller involved, if any.
    pub call_id: Option<String>,
}

/// An agent as the ACD keeps it.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Agent {
    pub account_id: String,
    pub user_id: String,
    pub status: Status,
    pub state: State,
    /// Why it is paused (`no_answer` for an auto-pause).
    pub reason: Option<String>,
    /// Active memberships, sorted by (level, queue id).
    pub queues: Vec<Membership>,
    /// Last status/state change.
    pub since: Millis,
    /// Free since (longest_idle picks the smallest).
    pub idle_since: Millis,
    /// The ACD caller offered to or connected with the agent.
    pub call: Option<String>,
    /// Consecutive offers not answered.
    pub missed: u32,
    /// ACD calls answered.
    pub calls: u32,
    /// Talk time of those calls.
    pub talk_ms: u64,
    pub wrap_until: Option<Millis>,
    /// Latest bucket changes, oldest first (bounded by [`AGENT_LOG_MAX`]).
    pub log: VecDeque<LogEntry>,
}

impl Agent {
    /// A logged-out agent.
    pub fn new(account_id: &str, user_id: &str, at: Millis) -> Agent {
        Agent {
            account_id: account_id.to_string(),
            user_id: user_id.to_string(),
            status: Status::Offline,
            state: State::Waiting,
            reason: None,
            queues: Vec::new(),
            since: at,
            idle_since: at,
            call: None,
            missed: 0,
            calls: 0,
            talk_ms: 0,
            wrap_until: None,
            log: VecDeque::new(),
        }
    }

    /// The bucket from status and state alone (what the log records;
    /// readers add reachability and external calls with [`bucket`]).
    pub fn state_bucket(&self) -> &'static str {
        bucket(self, true, false)
    }

    /// Sets status/state and logs the bucket change, if any.
    pub fn moved(&mut self, at: Millis, cause: &str, change: impl FnOnce(&mut Agent)) {
        let before = self.state_bucket();
        let (status, state) = (self.status, self.state);
        change(self);
        if (status, state) != (self.status, self.state) {
            self.since = at;
        }
        let after = self.state_bucket();
        if before != after {
            self.log_change(at, before, after, cause);
        }
    }

    /// Appends a bucket change to the log (the oldest entry goes first
    /// when it is full).
    pub fn log_change(&mut self, at: Millis, from: &str, to: &str, cause: &str) {
        if self.log.len() >= AGENT_LOG_MAX {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            at,
            from: from.into(),
            to: to.into(),
            cause: cause.into(),
            call_id: self.call.clone(),
        });
    }

    /// The level of the agent's membership of `queue_id`, if active.
    pub fn level_in(&self, queue_id: &str) -> Option<u32> {
        self.queues
            .iter()
            .find(|m| m.queue_id == queue_id)
            .map(|m| m.level)
    }

    /// Takes offers (reachability and external calls aside).
    pub fn is_free(&self) -> bool {
        self.status == Status::Available && self.state == State::Waiting && self.call.is_none()
    }
}

/// The agent's bucket (priority order of [`BUCKETS`]), given its
/// reachability and whether a non-ACD call is on its devices.
pub fn bucket(agent: &Agent, reachable: bool, extcall: bool) -> &'static str {
    if extcall {
        "extcall"
    } else if agent.state == State::InCall {
        "incall"
    } else if agent.status == Status::Offline {
        "offline"
    } else if !reachable {
        "unreachable"
    } else if agent.state == State::Offering {
        "ring"
    } else if agent.status == Status::OnBreak {
        "paused"
    } else if agent.state == State::WrapUp {
        "wrapup"
    } else if agent.status == Status::Available {
        "ready"
    } else {
        "idle"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_priority_order() {
        let mut agent = Agent::new("a", "u", Millis(0));
        assert_eq!(bucket(&agent, true, false), "offline");
        assert_eq!(bucket(&agent, true, true), "extcall");
        agent.status = Status::NotReady;
        assert_eq!(bucket(&agent, false, false), "unreachable");
        assert_eq!(bucket(&agent, true, false), "idle");
        agent.status = Status::Available;
        assert_eq!(bucket(&agent, true, false), "ready");
        agent.state = State::WrapUp;
        assert_eq!(bucket(&agent, true, false), "wrapup");
        agent.status = Status::OnBreak;
        assert_eq!(bucket(&agent, true, false), "paused");
        agent.state = State::Offering;
        assert_eq!(bucket(&agent, true, false), "ring");
        agent.state = State::InCall;
        assert_eq!(bucket(&agent, false, false), "incall");
    }

    #[test]
    fn a_move_logs_only_bucket_changes_and_the_log_is_bounded() {
        let mut agent = Agent::new("a", "u", Millis(0));
        agent.moved(Millis(1), "login", |a| a.status = Status::NotReady);
        agent.moved(Millis(2), "noop", |a| a.missed = 1);
        assert_eq!(agent.log.len(), 1);
        assert_eq!(agent.log[0].to, "idle");
        for i in 0..100 {
            agent.moved(Millis(3 + i), "toggle", |a| {
                a.status = if a.status == Status::Available {
                    Status::OnBreak
                } else {
                    Status::Available
                }
            });
        }
        assert_eq!(agent.log.len(), AGENT_LOG_MAX);
        assert_eq!(agent.since, Millis(102));
    }
}
