//! `POST /route` and `POST /admin/route/explain`: the decision of
//! [`crate::route`], made durable (`CallRouted`) or only explained.

use super::error::ok;
use super::presence::epoch_events;
use crate::calls::{CallStart, TraceEvent};
use crate::event::Event;
use crate::limits::LIVE_CALLS_PER_SHARD_MAX;
use crate::route::{self, rtjson, RouteRequest, Routed};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Value};

/// Routes a call. Idempotent per `callId`: a known call gets its recorded
/// decision again and admits nothing.
pub fn decide(shard: &Shard, now: Millis, request: &RouteRequest) -> Decision {
    if let Some(record) = shard.call(&request.call_id) {
        let rtjson: Value = serde_json::from_str(&record.start.rtjson)
            .expect("a recorded rtjson is the JSON it was decided as");
        return Decision::reply(ok(json!({"rtjson": rtjson})));
    }
    let routed = route::decide(shard, now, request);
    let Some(account_id) = routed.account_id.clone() else {
        return Decision::reply(ok(json!({"rtjson": routed.rtjson})));
    };
    if !shard.owns(&account_id) {
        // The directory moved between the forward and now: answer without
        // recording (the edge retries, and lands on the owner).
        return Decision::reply(ok(json!({"rtjson": routed.rtjson})));
    }
    let rejected = rtjson::is_reject(&routed.rtjson);
    if !rejected && shard.live_calls() >= LIVE_CALLS_PER_SHARD_MAX {
        let rtjson = rtjson::reject(503, "Service Unavailable", "capacity");
        return Decision::reply(ok(json!({"rtjson": rtjson})));
    }
    let mut events = epoch_events(shard, &request.node, request.epoch, now);
    let start = call_start(request, &account_id, &routed, now);
    events.push(Event::CallRouted(Box::new(start)));
    Decision {
        reply: ok(json!({"rtjson": routed.rtjson})),
        events,
    }
}

fn call_start(request: &RouteRequest, account_id: &str, routed: &Routed, now: Millis) -> CallStart {
    let rejected = rtjson::is_reject(&routed.rtjson);
    let mut trace = vec![TraceEvent {
        seq: 1,
        ts: now,
        source: "route".into(),
        kind: "routed".into(),
        data: json!({
            "direction": routed.direction.map(|d| d.as_str()),
            "from": request.from, "to": request.to, "node": request.node,
            "action": routed.rtjson["action"], "detail": routed.rtjson.get("detail"),
            "steps": routed.trail.steps,
        })
        .to_string(),
    }];
    if let Some(admission) = &routed.admission {
        trace.push(TraceEvent {
            seq: 2,
            ts: now,
            source: "cac".into(),
            kind: "admitted".into(),
            data: json!({
                "dims": admission.dims.iter().map(|d| d.label()).collect::<Vec<_>>(),
                "rates": admission.rates.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
                "soft_limits_passed": routed.soft,
            })
            .to_string(),
        });
    }
    CallStart {
        call_id: request.call_id.clone(),
        account_id: account_id.to_string(),
        direction: routed.direction.unwrap_or(crate::calls::Direction::Inbound),
        from: routed.from.clone(),
        to: routed.to.clone(),
        node: request.node.clone(),
        epoch: request.epoch,
        at: now,
        rtjson: routed.rtjson.to_string(),
        admission: if rejected {
            None
        } else {
            routed.admission.clone()
        },
        trace,
        rejected,
        reject_code: routed.rtjson["code"].as_u64().unwrap_or(0) as u16,
    }
}

/// The what-if tool: the decision at `at` (default now) with its reasons;
/// admits and records nothing.
pub fn explain(shard: &Shard, now: Millis, request: &RouteRequest) -> Decision {
    let at = request.at.unwrap_or(now);
    let routed = route::decide(shard, at, request);
    Decision::reply(ok(json!({
        "at": at.0,
        "account_id": routed.account_id,
        "direction": routed.direction.map(|d| d.as_str()),
        "decision": routed.rtjson,
        "reasons": routed.trail.steps,
        "cac": routed.checks.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "schedule": routed.schedule,
        "trunk": routed.trunk,
        "would_admit": routed.admission.as_ref().map(|a| a.dims.iter().map(|d| d.label()).collect::<Vec<_>>()),
    })))
}
