//! Deciding ACD changes: a scratch copy of one account's ACD state that
//! every planned event is applied to at once, so later choices of the same
//! decision see earlier ones. [`Plan::settle`] turns due timers (lease
//! expiry, wrap-up end) into events and makes every offer that is possible.

use super::agent::{Agent, State};
use super::strategy::{self, Candidate};
use super::AccountAcd;
use crate::account::Account;
use crate::event::Event;
use crate::limits::ACD_OFFERS_PER_DECISION_MAX;
use crate::shard::Shard;
use crate::time::Millis;
use std::cell::OnceCell;
use std::collections::BTreeSet;

/// One decision's ACD changes for one account.
pub struct Plan<'a> {
    pub shard: &'a Shard,
    pub account: &'a Account,
    pub now: Millis,
    pub salt: u64,
    /// The account's state with the planned events applied.
    pub acd: AccountAcd,
    /// The planned events, in order.
    pub events: Vec<Event>,
    /// Users on a non-ACD call, taken once per plan (a plan moves agents,
    /// never calls).
    busy: OnceCell<BTreeSet<String>>,
}

impl<'a> Plan<'a> {
    /// A plan over `account`'s current state.
    pub fn new(shard: &'a Shard, account: &'a Account, now: Millis, salt: u64) -> Plan<'a> {
        Plan {
            shard,
            account,
            now,
            salt,
            acd: shard
                .acd()
                .account(&account.id)
                .cloned()
                .unwrap_or_default(),
            events: Vec::new(),
            busy: OnceCell::new(),
        }
    }

    /// Plans `event`: applies it to the scratch state (when it concerns
    /// this account) and keeps it.
    pub fn push(&mut self, event: Event) {
        let mine = super::account_of(&event).is_none_or(|id| id == self.account.id);
        if mine {
            let mut traces = Vec::new();
            self.acd.apply(&event, &mut traces);
            debug_assert_eq!(self.acd.check(), Ok(()), "planned {event:?}");
        }
        self.events.push(event);
    }

    /// The agent as planned so far (a logged-out one when unknown).
    pub fn agent(&self, user_id: &str) -> Agent {
        self.acd.agent_or_new(&self.account.id, user_id, self.now)
    }

    /// Plans an agent's new state, when it differs.
    pub fn change_agent(&mut self, agent: Agent, cause: &str) {
        if self.acd.agents.get(&agent.user_id) == Some(&agent) {
            return;
        }
        self.push(Event::AgentChanged {
            agent: Box::new(agent),
            at: self.now,
            cause: cause.to_string(),
        });
    }

    /// Due timers, then every possible offer.
    pub fn settle(&mut self) {
        self.expire_due();
        self.dispatch();
    }

    /// Leases past their expiry (no-answer) and wrap-ups that ended.
    pub fn expire_due(&mut self) {
        let expired: Vec<(String, u64)> = self
            .acd
            .callers
            .values()
            .filter_map(|c| c.offer.as_ref().map(|o| (c, o)))
            .filter(|(_, o)| o.expires_at <= self.now)
            .map(|(c, o)| (c.call_id.clone(), o.epoch))
            .collect();
        for (call_id, epoch) in expired {
            self.push(Event::LeaseExpired {
                account_id: self.account.id.clone(),
                call_id,
                epoch,
                at: self.now,
                cause: "timeout".into(),
            });
        }
        let wrapped: Vec<Agent> = self
            .acd
            .agents
            .values()
            .filter(|a| a.wrap_until.is_some_and(|until| until <= self.now))
            .cloned()
            .collect();
        for mut agent in wrapped {
            agent.moved(self.now, "wrap_up_end", |a| {
                a.wrap_until = None;
                if a.state == State::WrapUp {
                    a.state = State::Waiting;
                }
            });
            self.change_agent(agent, "wrap_up_end");
        }
    }

    /// True when `user_id` could ring now: a live registration and no
    /// call on its devices besides ACD ones.
    pub fn reachable_and_free(&self, user_id: &str) -> bool {
        self.shard.user_reachable(self.account, user_id, self.now) && !self.busy().contains(user_id)
    }

    /// Users of the account on a non-ACD call (`extcall`).
    pub fn busy(&self) -> &BTreeSet<String> {
        self.busy
            .get_or_init(|| self.shard.users_on_external_calls(self.account))
    }

    /// Makes offers until none is possible: waiting callers in join order,
    /// each to the ready members of its queue that have no waiting caller
    /// in a queue of a lower level (an agent scans its queues in tier
    /// order).
    pub fn dispatch(&mut self) {
        for _ in 0..ACD_OFFERS_PER_DECISION_MAX {
            if !self.offer_one() {
                return;
            }
        }
    }

    fn offer_one(&mut self) -> bool {
        let mut waiting: Vec<(u64, String, String)> = self
            .acd
            .callers
            .values()
            .filter(|c| c.is_waiting())
            .map(|c| (c.seq, c.call_id.clone(), c.queue_id.clone()))
            .collect();
        waiting.sort();
        for (_, call_id, queue_id) in waiting {
            let Some(queue) = self.account.queue(&queue_id) else {
                continue;
            };
            let candidates = self.candidates(&queue_id);
            let list: Vec<Candidate> = candidates
                .iter()
                .map(|(agent, level, position)| Candidate {
                    agent,
                    level: *level,
                    position: *position,
                })
                .collect();
            let cursor = self.acd.cursors.get(&queue_id).map(String::as_str);
            // The random strategy's draw: the decision's salt is ignored on
            // purpose, so the choice is a function of the account's history
            // alone (the same with any shard count).
            let salt = strategy::splitmix(self.acd.counters.epoch ^ fnv(&call_id));
            let agents = strategy::pick(queue.strategy, &list, cursor, salt);
            if agents.is_empty() {
                continue;
            }
            let ring_sec = u64::from(queue.agent_ring_timeout_sec);
            self.push(Event::LeaseOffered {
                account_id: self.account.id.clone(),
                call_id,
                agents,
                epoch: self.acd.counters.epoch + 1,
                expires_at: self.now.plus_sec(ring_sec),
                max_no_answer: queue.max_no_answer,
                ring_all: queue.strategy == crate::account::QueueStrategy::RingAll,
                at: self.now,
            });
            return true;
        }
        false
    }

    /// Ready members of `queue_id` that prefer it: (agent, level, position).
    fn candidates(&self, queue_id: &str) -> Vec<(Agent, u32, u32)> {
        let busy_levels = |agent: &Agent, level: u32| {
            agent
                .queues
                .iter()
                .any(|m| m.level < level && self.acd.waiting(&m.queue_id).next().is_some())
        };
        self.acd
            .agents
            .values()
            .filter(|a| a.is_free())
            .filter_map(|a| a.level_in(queue_id).map(|level| (a, level)))
            .filter(|(a, level)| !busy_levels(a, *level))
            .filter(|(a, _)| self.reachable_and_free(&a.user_id))
            .map(|(a, level)| {
                let position = self
                    .account
                    .queue_members(queue_id)
                    .find(|m| m.user_id == a.user_id)
                    .map_or(u32::MAX, |m| m.position);
                (a.clone(), level, position)
            })
            .collect()
    }
}

/// Agents of `account` logged in (any status but offline), registered,
/// and with `queue_id` among their active memberships: the queue's staff
/// (the EWT's divisor; none left means `no_agents`).
pub fn staffed(shard: &Shard, account: &Account, now: Millis, queue_id: &str) -> u32 {
    let Some(acd) = shard.acd().account(&account.id) else {
        return 0;
    };
    let staff = acd
        .agents
        .values()
        .filter(|a| a.status != super::Status::Offline && a.level_in(queue_id).is_some())
        .filter(|a| shard.user_reachable(account, &a.user_id, now))
        .count();
    u32::try_from(staff).unwrap_or(u32::MAX)
}

/// FNV-1a of a text (a stable hash, for the random strategy's draw).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
