//! The ACD side of `/flow`: a session that enters a queue joins it as a
//! caller; polls while held answer `dial` with the lease once an agent is
//! offered (else `noop`, with a position announcement when one is due);
//! the dial's `no_answer`/`busy`/`failed` (naming the offer's epoch) end
//! the offer; `answered` needs a confirmed lease.

use super::error::{ok, ApiError};
use super::flow::FlowStep;
use crate::acd::plan::Plan;
use crate::acd::Caller;
use crate::event::Event;
use crate::flow::engine::noop_answer;
use crate::flow::{Phase, Session};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Value};

/// After a flow decision: a session that entered a queue joins the ACD,
/// due timers run and offers are made; when the caller got an offer at
/// once, the reply is its `dial` (instant connect).
pub fn after_flow(shard: &Shard, now: Millis, salt: u64, decision: Decision) -> Decision {
    let session = decision.events.iter().rev().find_map(|e| match e {
        Event::FlowStep { session, .. } => Some((**session).clone()),
        _ => None,
    });
    let Some(session) = session else {
        return decision;
    };
    let Some(account) = shard.account(&session.account_id) else {
        return decision;
    };
    let involved = session.phase == Phase::Queued || shard.acd().caller(&session.call_id).is_some();
    if !involved {
        return decision;
    }
    let mut plan = Plan::new(shard, account, now, salt);
    let reply = decision.reply;
    for event in decision.events {
        plan.push(event);
    }
    if let (Phase::Queued, Some(wait)) = (session.phase, &session.wait) {
        if !plan.acd.callers.contains_key(&session.call_id) {
            if let Some(queue) = account.queue(&wait.queue_id) {
                let seq = plan.acd.counters.seq + 1;
                plan.push(Event::QueueJoined(Box::new(Caller {
                    account_id: account.id.clone(),
                    queue_id: queue.id.clone(),
                    call_id: session.call_id.clone(),
                    lease_id: format!("ls_{seq}"),
                    seq,
                    enqueued_at: now,
                    wrap_up_ms: u64::from(queue.wrap_up_sec) * 1000,
                    ring_ms: u64::from(queue.agent_ring_timeout_sec) * 1000,
                    offer: None,
                    last_epoch: 0,
                    connected: None,
                    announced: None,
                })));
            }
        }
    }
    plan.settle();
    let reply = match offer_answer(&plan, &session) {
        Some(answer) => ok(answer),
        None => reply,
    };
    Decision {
        reply,
        events: plan.events,
    }
}

/// A step of a held session the ACD answers itself (None: the engine's).
pub fn queued_step(
    shard: &Shard,
    now: Millis,
    salt: u64,
    session: &Session,
    step: &FlowStep,
) -> Option<Decision> {
    let account = shard.account(&session.account_id)?;
    shard.acd().caller(&session.call_id)?;
    let deadline = session.wait.as_ref().map_or(now, |w| w.deadline);
    let mut plan = Plan::new(shard, account, now, salt);
    match step.outcome.as_str() {
        "poll" if now < deadline => {
            // A waiting caller with no viable agent left is the engine's
            // to move on (`no_agents`); a live offer runs to its end first.
            let caller = &plan.acd.callers[&session.call_id];
            let staffed = crate::acd::plan::staffed(shard, account, now, &caller.queue_id);
            if caller.is_waiting() && staffed == 0 {
                return None;
            }
        }
        "no_answer" | "busy" | "failed" => {
            let epoch = step.data.get("epoch").and_then(|e| {
                e.as_u64()
                    .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
            });
            let caller = &plan.acd.callers[&session.call_id];
            let current = caller.offer.as_ref().map(|o| o.epoch);
            if epoch.is_some() && epoch == current {
                plan.push(Event::LeaseExpired {
                    account_id: account.id.clone(),
                    call_id: session.call_id.clone(),
                    epoch: current.expect("matched a live offer"),
                    at: now,
                    cause: step.outcome.clone(),
                });
            }
        }
        "answered" => {
            let caller = &plan.acd.callers[&session.call_id];
            if caller.connected.is_none() {
                let error = ApiError::new(
                    409,
                    "not_confirmed",
                    "a queued caller is answered only after its lease is confirmed",
                )
                .with_field("leaseId", json!(caller.lease_id));
                return Some(Decision::reply(error.to_response()));
            }
            return None;
        }
        _ => return None,
    }
    plan.settle();
    let answer = match offer_answer(&plan, session) {
        Some(answer) => answer,
        None => announce(&mut plan, session),
    };
    Some(Decision {
        reply: ok(answer),
        events: plan.events,
    })
}

/// The `noop` of a held caller, with the position when an announcement is
/// due (first after `announce_first_sec`, then every
/// `announce_interval_sec` when the position changed).
fn announce(plan: &mut Plan, session: &Session) -> Value {
    let mut answer = strip_ok(noop_answer(session));
    let caller = &plan.acd.callers[&session.call_id];
    let Some(queue) = plan.account.queue(&caller.queue_id) else {
        return answer;
    };
    if !queue.announce_position || !caller.is_waiting() {
        return answer;
    }
    let position = plan.acd.position(caller);
    let first = caller
        .enqueued_at
        .plus_sec(u64::from(queue.announce_first_sec));
    let due = match caller.announced {
        None => plan.now >= first,
        Some((last, at)) => {
            queue.announce_interval_sec > 0
                && last != position
                && plan.now >= at.plus_sec(u64::from(queue.announce_interval_sec))
        }
    };
    if !due {
        return answer;
    }
    let call_id = caller.call_id.clone();
    plan.push(Event::PositionAnnounced {
        account_id: plan.account.id.clone(),
        call_id,
        position,
        at: plan.now,
    });
    let lang = queue
        .language
        .clone()
        .unwrap_or_else(|| session.language.clone());
    answer["command"]["announce"] = json!({"position": position,
        "tts": {"text": format!("You are number {position} in the queue."), "lang": lang}});
    answer
}

fn strip_ok(answer: Value) -> Value {
    let mut answer = answer;
    if let Value::Object(map) = &mut answer {
        map.shift_remove("ok");
    }
    answer
}

/// The `dial` to the agents of the caller's live offer, if it has one.
fn offer_answer(plan: &Plan, session: &Session) -> Option<Value> {
    if session.phase != Phase::Queued {
        return None;
    }
    let caller = plan.acd.callers.get(&session.call_id)?;
    let offer = caller.offer.as_ref()?;
    let account = plan.account;
    let domain = account.primary_domain();
    let targets: Vec<Value> = offer
        .agents
        .iter()
        .filter_map(|id| account.user(id))
        .map(|user| {
            let mut target = json!({"kind": "agent", "uri": format!("sip:{}@{domain}", user.username),
                                    "userId": user.id});
            if offer.ring_all {
                target["claimUrl"] = json!(format!(
                    "/agent/claim/{}/{}/{}",
                    account.id, user.id, caller.call_id
                ));
            }
            target
        })
        .collect();
    let timeout_sec = offer.expires_at.since(plan.now).div_ceil(1000);
    let lease = json!({"leaseId": caller.lease_id, "epoch": offer.epoch,
        "expiresAt": offer.expires_at.0,
        "confirmUrl": format!("/agent/confirm/{}/{}/{}", account.id, caller.lease_id, offer.epoch)});
    Some(
        json!({"callId": session.call_id, "seq": session.seq, "node": session.node,
        "command": {"cmd": "dial", "targets": targets, "timeoutSec": timeout_sec,
                    "queueId": caller.queue_id, "lease": lease}}),
    )
}
