//! The ACD (reference §7): agents, callers held in queues, and the offers
//! between them, as a pure state machine the shard owns. Everything for one
//! account lives on the account's shard, so no cross-shard protocol.
//!
//! One caller, one agent, by construction: an agent points at most at one
//! caller (`Agent::call`), a caller holds at most one offer or one
//! connection, and the two always point at each other ([`AccountAcd::check`]
//! asserts it after every change in debug builds and in the proptests).
//!
//! [`plan::Plan`] decides on a scratch copy: each event it makes is applied
//! to the copy at once, so later choices in the same decision see it, and
//! the shard's [`Acd::apply`] later replays exactly those events.

pub mod agent;
pub mod caller;
pub mod ewt;
pub mod plan;
pub mod strategy;

#[cfg(test)]
mod tests;

use crate::event::Event;
use crate::time::Millis;
pub use agent::{bucket, Agent, Membership, State, Status, BUCKETS};
pub use caller::{Caller, Connected, Offer};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A trace entry the shard adds to a call's record (`source: acd`).
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub call_id: String,
    pub at: Millis,
    pub kind: &'static str,
    pub data: Value,
}

/// Snapshot of one account's ACD state.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AcdImage {
    pub account_id: String,
    pub agents: Vec<Agent>,
    pub callers: Vec<Caller>,
    /// Round-robin cursors: (queue id, last agent offered).
    pub cursors: Vec<(String, String)>,
    /// The account's epoch and join counters.
    pub epoch: u64,
    pub seq: u64,
}

/// An account's counters: offer epochs and caller join numbers (per
/// account, so lease ids and epochs do not depend on how accounts are
/// spread over shards).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub epoch: u64,
    pub seq: u64,
}

/// One account's ACD state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountAcd {
    pub agents: BTreeMap<String, Agent>,
    /// Callers by callId.
    pub callers: BTreeMap<String, Caller>,
    /// `leaseId → callId`.
    pub leases: BTreeMap<String, String>,
    /// Round-robin cursor per queue: the agent offered last.
    pub cursors: BTreeMap<String, String>,
    pub counters: Counters,
}

/// Every owned account's ACD state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acd {
    accounts: BTreeMap<String, AccountAcd>,
    /// `callId → account` of the callers held.
    calls: BTreeMap<String, String>,
}

impl Acd {
    /// An account's state (None before its first agent or caller).
    pub fn account(&self, account_id: &str) -> Option<&AccountAcd> {
        self.accounts.get(account_id)
    }

    /// Every account's state.
    pub fn accounts(&self) -> &BTreeMap<String, AccountAcd> {
        &self.accounts
    }

    /// The caller held for `call_id`, if any.
    pub fn caller(&self, call_id: &str) -> Option<&Caller> {
        let account = self.calls.get(call_id)?;
        self.accounts.get(account)?.callers.get(call_id)
    }

    /// Applies an event (ACD events, and the flow steps and call ends that
    /// make callers leave); returns what goes to the calls' traces.
    pub fn apply(&mut self, event: &Event) -> Vec<Trace> {
        let mut traces = Vec::new();
        let account_id = match event {
            Event::CallEnded { call_id, .. } => match self.calls.get(call_id) {
                Some(account_id) => account_id.clone(),
                None => return traces,
            },
            Event::AcdImage(image) => {
                self.restore(image);
                return traces;
            }
            Event::AccountDeleted { account_id } => {
                self.accounts.remove(account_id);
                self.calls.retain(|_, a| a != account_id);
                return traces;
            }
            other => match account_of(other) {
                Some(account_id) => account_id.to_string(),
                None => return traces,
            },
        };
        let follows = matches!(event, Event::FlowStep { .. } | Event::CallEnded { .. });
        if follows && !self.accounts.contains_key(&account_id) {
            return traces;
        }
        let account = self.accounts.entry(account_id.clone()).or_default();
        account.apply(event, &mut traces);
        for trace in &traces {
            if trace.kind == "joined" {
                self.calls.insert(trace.call_id.clone(), account_id.clone());
            }
            if trace.kind == "queue_cdr" {
                self.calls.remove(&trace.call_id);
            }
        }
        debug_assert_eq!(account.check(), Ok(()), "after {event:?}");
        traces
    }

    fn restore(&mut self, image: &AcdImage) {
        let account = self.accounts.entry(image.account_id.clone()).or_default();
        account.counters.epoch = account.counters.epoch.max(image.epoch);
        account.counters.seq = account.counters.seq.max(image.seq);
        for agent in &image.agents {
            account.agents.insert(agent.user_id.clone(), agent.clone());
        }
        for caller in &image.callers {
            account
                .leases
                .insert(caller.lease_id.clone(), caller.call_id.clone());
            account
                .callers
                .insert(caller.call_id.clone(), caller.clone());
            self.calls
                .insert(caller.call_id.clone(), image.account_id.clone());
        }
        account.cursors.extend(image.cursors.iter().cloned());
    }

    /// The events that rebuild this state (one image per account).
    pub fn image(&self) -> Vec<Event> {
        let mut events = Vec::new();
        for (account_id, account) in &self.accounts {
            let fresh = account.counters == Counters::default();
            if account.agents.is_empty() && account.callers.is_empty() && fresh {
                continue;
            }
            events.push(Event::AcdImage(Box::new(AcdImage {
                account_id: account_id.clone(),
                agents: account.agents.values().cloned().collect(),
                callers: account.callers.values().cloned().collect(),
                cursors: account
                    .cursors
                    .iter()
                    .map(|(q, a)| (q.clone(), a.clone()))
                    .collect(),
                epoch: account.counters.epoch,
                seq: account.counters.seq,
            })));
        }
        events
    }

    /// The earliest lease expiry or wrap-up end.
    pub fn next_deadline(&self) -> Option<Millis> {
        let mut next: Option<Millis> = None;
        let mut see = |at: Millis| next = Some(next.map_or(at, |n| n.min(at)));
        for account in self.accounts.values() {
            for caller in account.callers.values() {
                if let Some(offer) = &caller.offer {
                    see(offer.expires_at);
                }
            }
            for agent in account.agents.values() {
                if let Some(until) = agent.wrap_until {
                    see(until);
                }
            }
        }
        next
    }
}

/// Moves an agent (see [`Agent::moved`]); a bucket change that concerns
/// a caller also goes to that call's trace (the agent event log there).
fn moved_traced(
    agent: &mut Agent,
    at: Millis,
    cause: &str,
    traces: &mut Vec<Trace>,
    change: impl FnOnce(&mut Agent),
) {
    let last = agent.log.back().cloned();
    let call = agent.call.clone();
    agent.moved(at, cause, change);
    let entry = agent.log.back().filter(|e| Some(*e) != last.as_ref());
    if let (Some(entry), Some(call_id)) = (entry, call.or_else(|| agent.call.clone())) {
        traces.push(Trace {
            call_id,
            at,
            kind: "agent",
            data: json!({"userId": agent.user_id, "from": entry.from, "to": entry.to, "cause": cause}),
        });
    }
}

/// The account an ACD-relevant event belongs to (None for call ends,
/// which name only the call, and for events the ACD ignores).
pub fn account_of(event: &Event) -> Option<&str> {
    match event {
        Event::AgentChanged { agent, .. } => Some(&agent.account_id),
        Event::QueueJoined(caller) => Some(&caller.account_id),
        Event::LeaseOffered { account_id, .. }
        | Event::LeaseConfirmed { account_id, .. }
        | Event::LeaseExpired { account_id, .. }
        | Event::PositionAnnounced { account_id, .. } => Some(account_id),
        Event::FlowStep { session, .. } => Some(&session.account_id),
        _ => None,
    }
}

impl AccountAcd {
    /// The agent `user_id`, or a logged-out one.
    pub fn agent_or_new(&self, account_id: &str, user_id: &str, at: Millis) -> Agent {
        self.agents
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| Agent::new(account_id, user_id, at))
    }

    /// Callers of `queue_id` waiting for an offer, in join order.
    pub fn waiting<'a>(&'a self, queue_id: &'a str) -> impl Iterator<Item = &'a Caller> + 'a {
        let mut callers: Vec<&Caller> = self
            .callers
            .values()
            .filter(|c| c.queue_id == queue_id && c.is_waiting())
            .collect();
        callers.sort_by_key(|c| c.seq);
        callers.into_iter()
    }

    /// A waiting caller's position in its queue (1 = next), counting the
    /// callers that joined before it and still wait.
    pub fn position(&self, caller: &Caller) -> u32 {
        let ahead = self
            .callers
            .values()
            .filter(|c| c.queue_id == caller.queue_id && c.is_waiting() && c.seq < caller.seq)
            .count();
        u32::try_from(ahead).unwrap_or(u32::MAX).saturating_add(1)
    }

    fn apply(&mut self, event: &Event, traces: &mut Vec<Trace>) {
        let counters = &mut self.counters;
        match event {
            Event::AgentChanged { agent, .. } => {
                self.agents.insert(agent.user_id.clone(), (**agent).clone());
            }
            Event::QueueJoined(caller) => {
                counters.seq = counters.seq.max(caller.seq);
                self.leases
                    .insert(caller.lease_id.clone(), caller.call_id.clone());
                self.callers
                    .insert(caller.call_id.clone(), (**caller).clone());
                traces.push(Trace {
                    call_id: caller.call_id.clone(),
                    at: caller.enqueued_at,
                    kind: "joined",
                    data: json!({"queueId": caller.queue_id, "leaseId": caller.lease_id}),
                });
            }
            Event::LeaseOffered {
                call_id,
                agents,
                epoch,
                expires_at,
                max_no_answer,
                ring_all,
                at,
                ..
            } => {
                counters.epoch = counters.epoch.max(*epoch);
                let caller = self.callers.get_mut(call_id).expect("offers go to callers");
                assert!(caller.is_waiting(), "one offer per caller");
                caller.offer = Some(Offer {
                    agents: agents.clone(),
                    epoch: *epoch,
                    expires_at: *expires_at,
                    max_no_answer: *max_no_answer,
                    ring_all: *ring_all,
                });
                caller.last_epoch = *epoch;
                if let Some(queue_cursor) = agents.last() {
                    self.cursors
                        .insert(caller.queue_id.clone(), queue_cursor.clone());
                }
                for agent_id in agents {
                    let agent = self.agents.get_mut(agent_id).expect("offers go to agents");
                    assert!(agent.call.is_none(), "one lease per agent");
                    moved_traced(agent, *at, "offer", traces, |a| {
                        a.state = State::Offering;
                        a.call = Some(call_id.clone());
                    });
                }
                traces.push(Trace {
                    call_id: call_id.clone(),
                    at: *at,
                    kind: "offered",
                    data: json!({"agents": agents, "leaseId": caller.lease_id,
                                 "epoch": epoch, "expiresAt": expires_at.0}),
                });
            }
            Event::LeaseConfirmed {
                call_id,
                agent_id,
                epoch,
                at,
                ..
            } => self.confirm(call_id, agent_id, *epoch, *at, traces),
            Event::LeaseExpired {
                call_id, at, cause, ..
            } => self.expire(call_id, *at, cause, traces),
            Event::PositionAnnounced {
                call_id,
                position,
                at,
                ..
            } => {
                if let Some(caller) = self.callers.get_mut(call_id) {
                    caller.announced = Some((*position, *at));
                }
            }
            Event::FlowStep { session, .. } => {
                let Some(caller) = self.callers.get(&session.call_id) else {
                    return;
                };
                let held = session.phase == crate::flow::Phase::Queued
                    && session
                        .wait
                        .as_ref()
                        .is_some_and(|w| w.queue_id == caller.queue_id);
                let talking = caller.connected.is_some()
                    && matches!(
                        session.phase,
                        crate::flow::Phase::Queued | crate::flow::Phase::Bridged
                    );
                if held || talking {
                    return;
                }
                let exit = session
                    .trace
                    .iter()
                    .filter(|t| t.kind == "queue")
                    .find_map(|t| {
                        let data: Value = serde_json::from_str(&t.data).ok()?;
                        data["exit"].as_str().map(str::to_string)
                    })
                    .unwrap_or_else(|| "abandon".to_string());
                self.leave(&session.call_id, &exit, session.updated_at, traces);
            }
            Event::CallEnded { call_id, at, .. } => self.leave(call_id, "abandon", *at, traces),
            _ => {}
        }
    }

    fn confirm(
        &mut self,
        call_id: &str,
        agent_id: &str,
        epoch: u64,
        at: Millis,
        traces: &mut Vec<Trace>,
    ) {
        let caller = self
            .callers
            .get_mut(call_id)
            .expect("confirms name callers");
        let offer = caller.offer.take().expect("confirms take a live offer");
        assert!(offer.agents.iter().any(|a| a == agent_id), "offered agent");
        caller.connected = Some(Connected {
            agent_id: agent_id.to_string(),
            epoch,
            at,
        });
        for other in offer.agents.iter().filter(|a| *a != agent_id) {
            let agent = self.agents.get_mut(other).expect("offered agents exist");
            moved_traced(agent, at, "claimed_by_other", traces, |a| {
                a.state = State::Waiting;
                a.call = None;
            });
        }
        let agent = self.agents.get_mut(agent_id).expect("offered agents exist");
        moved_traced(agent, at, "confirm", traces, |a| {
            a.state = State::InCall;
            a.missed = 0;
        });
        traces.push(Trace {
            call_id: call_id.to_string(),
            at,
            kind: "connected",
            data: json!({"agentId": agent_id, "epoch": epoch, "leaseId": caller.lease_id,
                         "waitedMs": at.since(caller.enqueued_at)}),
        });
    }

    fn expire(&mut self, call_id: &str, at: Millis, cause: &str, traces: &mut Vec<Trace>) {
        let caller = self
            .callers
            .get_mut(call_id)
            .expect("expiries name callers");
        let offer = caller.offer.take().expect("expiries take a live offer");
        let mut paused = Vec::new();
        for agent_id in &offer.agents {
            let agent = self.agents.get_mut(agent_id).expect("offered agents exist");
            agent.missed += 1;
            let pause = offer.max_no_answer > 0 && agent.missed >= offer.max_no_answer;
            moved_traced(agent, at, "no_answer", traces, |a| {
                a.state = State::Waiting;
                a.call = None;
                a.idle_since = at;
                if pause && a.status == Status::Available {
                    a.status = Status::OnBreak;
                    a.reason = Some("no_answer".into());
                }
            });
            if pause {
                paused.push(agent_id.clone());
            }
        }
        traces.push(Trace {
            call_id: call_id.to_string(),
            at,
            kind: "no_answer",
            data: json!({"agents": offer.agents, "epoch": offer.epoch, "cause": cause,
                         "autoPaused": paused}),
        });
    }

    /// The caller leaves: a live offer is withdrawn (no miss), a connected
    /// agent goes to wrap-up, and the queue CDR row is complete.
    fn leave(&mut self, call_id: &str, exit: &str, at: Millis, traces: &mut Vec<Trace>) {
        let Some(caller) = self.callers.remove(call_id) else {
            return;
        };
        self.leases.remove(&caller.lease_id);
        if let Some(offer) = &caller.offer {
            for agent_id in &offer.agents {
                let agent = self.agents.get_mut(agent_id).expect("offered agents exist");
                moved_traced(agent, at, "caller_left", traces, |a| {
                    a.state = State::Waiting;
                    a.call = None;
                });
            }
        }
        if let Some(connected) = &caller.connected {
            let agent = self
                .agents
                .get_mut(&connected.agent_id)
                .expect("connected agents exist");
            let until = at.plus_ms(caller.wrap_up_ms);
            moved_traced(agent, at, "call_ended", traces, |a| {
                a.state = State::WrapUp;
                a.call = None;
                a.calls += 1;
                a.talk_ms += at.since(connected.at);
                a.wrap_until = Some(until);
                a.idle_since = until;
            });
        }
        let disposition = match (&caller.connected, exit) {
            (Some(_), _) => "answered",
            (None, "abandon") => "abandoned",
            (None, other) => other,
        };
        traces.push(Trace {
            call_id: call_id.to_string(),
            at,
            kind: "queue_cdr",
            data: json!({"queueId": caller.queue_id, "agentId": caller.connected.as_ref().map(|c| &c.agent_id),
                "enqueued_at": caller.enqueued_at.0, "connected_at": caller.connected.as_ref().map(|c| c.at.0),
                "ended_at": at.0, "disposition": disposition, "exit": exit}),
        });
    }

    /// One caller, one agent: the cross-links hold both ways. The error
    /// names the first broken link.
    pub fn check(&self) -> Result<(), String> {
        for (user_id, agent) in &self.agents {
            let Some(call_id) = &agent.call else {
                if matches!(agent.state, State::Offering | State::InCall) {
                    return Err(format!(
                        "agent {user_id} is {:?} without a call",
                        agent.state
                    ));
                }
                continue;
            };
            let caller = self
                .callers
                .get(call_id)
                .ok_or_else(|| format!("agent {user_id} points at gone caller {call_id}"))?;
            let offered = caller
                .offer
                .as_ref()
                .is_some_and(|o| o.agents.contains(user_id));
            let connected = caller
                .connected
                .as_ref()
                .is_some_and(|c| &c.agent_id == user_id);
            let state_ok = (offered && agent.state == State::Offering)
                || (connected && agent.state == State::InCall);
            if !state_ok {
                return Err(format!(
                    "agent {user_id} ({:?}) and caller {call_id} disagree",
                    agent.state
                ));
            }
        }
        for (call_id, caller) in &self.callers {
            if caller.offer.is_some() && caller.connected.is_some() {
                return Err(format!("caller {call_id} is offered and connected"));
            }
            let agents = caller
                .offer
                .iter()
                .flat_map(|o| o.agents.iter())
                .chain(caller.connected.iter().map(|c| &c.agent_id));
            for agent_id in agents {
                let call = self.agents.get(agent_id).and_then(|a| a.call.as_ref());
                if call != Some(call_id) {
                    return Err(format!("caller {call_id} names agent {agent_id} elsewhere"));
                }
            }
            if self.leases.get(&caller.lease_id) != Some(call_id) {
                return Err(format!("lease {} not indexed", caller.lease_id));
            }
        }
        Ok(())
    }
}
