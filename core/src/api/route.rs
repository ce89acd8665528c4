//! `POST /route` and `POST /admin/route/explain`: the decision of
//! [`crate::route`], made durable (`CallRouted`) or only explained.

use super::error::ok;
use super::presence::epoch_events;
use crate::calls::{CallStart, TraceEvent};
use crate::event::Event;
use crate::http::Response;
use crate::limits::LIVE_CALLS_PER_SHARD_MAX;
use crate::route::{self, rtjson, RouteRequest, Routed, Step};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde::Serialize;
use serde_json::json;

/// Routes a call. Idempotent per `callId`: a known call gets its recorded
/// decision again and admits nothing.
pub fn decide(shard: &Shard, now: Millis, request: &RouteRequest) -> Decision {
    if let Some(record) = shard.call(&request.call_id) {
        // The recorded text is the rtjson as it was answered.
        return Decision::reply(routed_reply(&record.start.rtjson));
    }
    let mut routed = route::decide(shard, now, request);
    let rtjson = routed.rtjson.to_text();
    let Some(account_id) = routed.account_id.take() else {
        return Decision::reply(routed_reply(&rtjson));
    };
    if !shard.owns(&account_id) {
        // The directory moved between the forward and now: answer without
        // recording (the edge retries, and lands on the owner).
        return Decision::reply(routed_reply(&rtjson));
    }
    let rejected = routed.rtjson.is_reject();
    if !rejected && shard.live_calls() >= LIVE_CALLS_PER_SHARD_MAX {
        let rtjson = rtjson::reject(503, "Service Unavailable", "capacity");
        return Decision::reply(routed_reply(&rtjson.to_text()));
    }
    let mut events = epoch_events(shard, &request.node, request.epoch, now);
    let reply = routed_reply(&rtjson);
    let start = call_start(request, account_id, routed, rtjson, now);
    events.push(Event::CallRouted(Box::new(start)));
    Decision { reply, events }
}

/// `{"ok":true,"rtjson":…}` around rtjson already serialized: the bytes of
/// `ok(json!({"rtjson": …}))`, without building the value again.
fn routed_reply(rtjson: &str) -> Response {
    const HEAD: &[u8] = br#"{"ok":true,"rtjson":"#;
    let mut body = Vec::with_capacity(HEAD.len() + rtjson.len() + 1);
    body.extend_from_slice(HEAD);
    body.extend_from_slice(rtjson.as_bytes());
    body.push(b'}');
    Response::json_bytes(200, body)
}

/// The trace entry of a routed call, serialized as it stands (fields in
/// this order), borrowing the decision instead of copying it into a value.
#[derive(Serialize)]
struct RoutedTrace<'a> {
    direction: Option<&'a str>,
    from: &'a str,
    to: &'a str,
    node: &'a str,
    action: &'a str,
    detail: Option<&'a str>,
    steps: &'a [Step<'a>],
}

/// The trace entry of an admitted call.
#[derive(Serialize)]
struct AdmittedTrace<'a> {
    dims: Vec<String>,
    rates: Vec<&'a str>,
    soft_limits_passed: &'a [String],
}

/// The recorded start of a call, taking the decision's parts instead of
/// copying them.
fn call_start(
    request: &RouteRequest,
    account_id: String,
    routed: Routed<'_>,
    rtjson: String,
    now: Millis,
) -> CallStart {
    let rejected = routed.rtjson.is_reject();
    let routed_trace = RoutedTrace {
        direction: routed.direction.map(|d| d.as_str()),
        from: &request.from,
        to: &request.to,
        node: &request.node,
        action: routed.rtjson.action(),
        detail: routed.rtjson.detail(),
        steps: &routed.trail.steps,
    };
    let mut trace = vec![TraceEvent {
        seq: 1,
        ts: now,
        source: "route".into(),
        kind: "routed".into(),
        data: serde_json::to_string(&routed_trace).expect("a trace always serializes"),
    }];
    if let Some(admission) = &routed.admission {
        let admitted = AdmittedTrace {
            dims: admission.dims.iter().map(|d| d.label()).collect(),
            rates: admission.rates.iter().map(|r| r.key.as_str()).collect(),
            soft_limits_passed: &routed.soft,
        };
        trace.push(TraceEvent {
            seq: 2,
            ts: now,
            source: "cac".into(),
            kind: "admitted".into(),
            data: serde_json::to_string(&admitted).expect("a trace always serializes"),
        });
    }
    let reject_code = routed.rtjson.code().unwrap_or(0);
    CallStart {
        call_id: request.call_id.clone(),
        account_id,
        direction: routed.direction.unwrap_or(crate::calls::Direction::Inbound),
        from: routed.from,
        to: routed.to,
        node: request.node.clone(),
        epoch: request.epoch,
        at: now,
        rtjson,
        admission: if rejected { None } else { routed.admission },
        trace,
        rejected,
        reject_code,
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
        "reasons": routed.trail,
        "cac": routed.trail.checks(),
        "schedule": routed.trail.schedule(),
        "trunk": routed.trail.trunk(),
        "would_admit": routed.admission.as_ref().map(|a| a.dims.iter().map(|d| d.label()).collect::<Vec<_>>()),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_reply_is_the_bytes_of_the_value_reply() {
        let rtjson = json!({"version": "1.0", "routing": "serial",
            "routes": [{"uri": "sip:1001@10.1.2.3:5060;ob", "fr_inv_timer": 25000}]});
        let expected = ok(json!({"rtjson": rtjson}));
        assert_eq!(routed_reply(&rtjson.to_string()), expected);
    }

    #[test]
    fn a_routed_trace_is_the_bytes_of_its_value() {
        let steps = vec![Step::caller_device("us_alice", "dev_alice")];
        for (rtjson, detail) in [
            (rtjson::reject(404, "Not Found", "pstn"), json!("pstn")),
            (
                rtjson::flow("acc_acme", "flow_main", &Default::default()),
                json!(null),
            ),
        ] {
            let typed = RoutedTrace {
                direction: Some("outbound"),
                from: "1001",
                to: "+12125550100",
                node: "edge-1",
                action: rtjson.action(),
                detail: rtjson.detail(),
                steps: &steps,
            };
            let value = json!({"direction": "outbound", "from": "1001", "to": "+12125550100",
                "node": "edge-1", "action": rtjson.action(), "detail": detail,
                "steps": [{"step": "caller", "authenticated": "digest", "user_id": "us_alice",
                           "device_id": "dev_alice"}]});
            assert_eq!(serde_json::to_string(&typed).unwrap(), value.to_string());
        }
        let admitted = AdmittedTrace {
            dims: vec!["account".into()],
            rates: vec!["acc_acme:cps"],
            soft_limits_passed: &[],
        };
        let value = json!({"dims": ["account"], "rates": ["acc_acme:cps"],
            "soft_limits_passed": Vec::<String>::new()});
        assert_eq!(serde_json::to_string(&admitted).unwrap(), value.to_string());
    }
}
