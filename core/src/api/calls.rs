//! `GET /calls/{callId}/trace` (the CDR and ordered events of one call)
//! and the shard's timer tick (CAC leak reaping, registration expiry).

use super::error::{ok, ApiError};
use super::presence::{disposition_of, ended};
use crate::calls::Progress;
use crate::event::Event;
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::json;

/// Events one tick produces at most (the next tick takes the rest).
pub const TICK_EVENTS_MAX: usize = 1_000;

/// `GET /calls/{callId}/trace`.
pub fn decide_trace(shard: &Shard, call_id: &str) -> Decision {
    let Some(record) = shard.call(call_id) else {
        let error = ApiError::new(
            404,
            "unknown_call",
            format!("no call {call_id} (or no longer retained)"),
        );
        return Decision::reply(error.to_response());
    };
    let events: Vec<_> = record.trace.iter().map(|e| e.to_json()).collect();
    Decision::reply(ok(json!({
        "callId": call_id,
        "accountId": record.start.account_id,
        "live": record.is_live(),
        "cdr": record.cdr(),
        "events": events,
    })))
}

/// The earliest instant a tick has work: a call's setup or length limit,
/// or a registration's expiry.
pub fn next_deadline(shard: &Shard) -> Option<Millis> {
    let config = shard.config();
    let calls = shard
        .calls()
        .values()
        .filter(|r| r.is_live())
        .map(|record| {
            let start = record.start.at;
            if record.progress == Progress::Confirmed {
                Millis(start.0.saturating_add(config.cac_max_call_ms))
            } else {
                Millis(
                    start
                        .0
                        .saturating_add(config.cac_setup_ttl_ms.min(config.cac_max_call_ms)),
                )
            }
        })
        .min();
    [
        calls,
        shard.registrations().next_expiry(),
        shard.acd().next_deadline(),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Turns due timers into events: admitted calls never confirmed within
/// `cac_setup_ttl`, calls longer than `cac_max_call`, expired contacts.
pub fn decide_tick(shard: &Shard, now: Millis) -> Decision {
    let config = shard.config();
    let mut events = Vec::new();
    for record in shard.calls().values().filter(|r| r.is_live()) {
        if events.len() >= TICK_EVENTS_MAX {
            break;
        }
        let age = now.since(record.start.at);
        let cause = if age >= config.cac_max_call_ms {
            "max_call"
        } else if record.progress != Progress::Confirmed && age >= config.cac_setup_ttl_ms {
            "setup_ttl"
        } else {
            continue;
        };
        let disposition = match cause {
            "max_call" if record.progress == Progress::Confirmed => "answered",
            _ => disposition_of(record.progress, None, false),
        };
        events.push(ended(
            &record.start.call_id,
            now,
            disposition,
            cause,
            "cac",
            json!({"reaped": cause, "age_ms": age, "flag": "leak"}),
        ));
    }
    for (account_id, device_id, contact) in shard.registrations().expired(now) {
        if events.len() >= TICK_EVENTS_MAX {
            break;
        }
        events.push(Event::Unregistered {
            account_id,
            device_id,
            contact: Some(contact),
            at: now,
        });
    }
    let events = settle_every_account(shard, now, events);
    let count = events.len();
    Decision {
        reply: ok(json!({"events": count})),
        events,
    }
}

/// Runs the ACD of every owned account with agents or callers after
/// `events`: lease expiries, wrap-up ends and the offers they allow. The
/// tick's salt is its time (ticks carry no other randomness).
fn settle_every_account(shard: &Shard, now: Millis, events: Vec<Event>) -> Vec<Event> {
    let mut pending = events;
    for account_id in shard.acd().accounts().keys() {
        let Some(account) = shard.account(account_id) else {
            continue;
        };
        let mut plan = crate::acd::plan::Plan::new(shard, account, now, now.0);
        for event in pending {
            plan.push(event);
        }
        plan.settle();
        pending = plan.events;
    }
    pending
}
