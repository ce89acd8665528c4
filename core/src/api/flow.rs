//! `POST /flow`: start a call's flow session or step it with an outcome,
//! plus the runtime's webhook reports. The interpreter is
//! [`crate::flow::engine`]; this module decodes, guards and makes the
//! session's change an event.

use super::error::{ok, ApiError};
use super::fields::{opt_str, req_str};
use super::presence::ended;
use crate::calls::{CallStart, Direction, Progress, TraceEvent};
use crate::event::Event;
use crate::flow::engine::{self, BadOutcome, Ctx, Stepped};
use crate::flow::spec::is_var_name;
use crate::flow::{Phase, Session, WebhookCall};
use crate::http::Response;
use crate::limits::{
    CALL_ID_BYTES_MAX, FLOW_SESSIONS_PER_SHARD_MAX, FLOW_TEXT_BYTES_MAX, FLOW_VARS_MAX,
    LIVE_CALLS_PER_SHARD_MAX, SIP_FIELD_BYTES_MAX,
};
use crate::route::request::check_printable;
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Map, Value};

/// A flow start: `{callId, accountId, flowId, vars?, from?, to?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStart {
    pub call_id: String,
    pub account_id: String,
    pub flow_id: String,
    pub vars: Vec<(String, String)>,
    pub from: String,
    pub to: String,
}

/// A step: `{callId, outcome, seq?, data?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStep {
    pub call_id: String,
    pub outcome: String,
    pub seq: Option<u64>,
    pub data: Map<String, Value>,
}

/// What the runtime learnt from a webhook it performed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookReport {
    pub call_id: String,
    pub seq: u64,
    pub ok: bool,
    /// Variables the endpoint answered (`{"vars":{…}}`), checked.
    pub vars: Map<String, Value>,
}

/// A decoded `/flow` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Start(FlowStart),
    Step(FlowStep),
}

/// Decodes a body: with `outcome` it is a step, else a start.
pub fn decode(body: &Map<String, Value>) -> Result<Decoded, ApiError> {
    let call_id = req_str(body, "callId", CALL_ID_BYTES_MAX)?;
    check_printable("callId", &call_id)?;
    if let Some(outcome) = opt_str(body, "outcome", 64)? {
        let seq = match body.get("seq") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .ok_or_else(|| ApiError::bad_field("seq", "must be a whole number"))?,
            ),
            Some(Value::String(s)) => Some(
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_field("seq", "must be a whole number"))?,
            ),
            Some(_) => return Err(ApiError::bad_field("seq", "must be a whole number")),
        };
        let data = match body.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(ApiError::bad_field("data", "must be an object")),
        };
        if Value::Object(data.clone()).to_string().len() > 4 * FLOW_TEXT_BYTES_MAX {
            return Err(ApiError::invalid("data", "too large"));
        }
        if let Some(digits) = data.get("digits") {
            if !digits.is_string() {
                return Err(ApiError::bad_field("data.digits", "must be a string"));
            }
        }
        return Ok(Decoded::Step(FlowStep {
            call_id,
            outcome,
            seq,
            data,
        }));
    }
    let account_id = req_str(body, "accountId", 64)?;
    super::admin::check_account_id(&account_id)?;
    let flow_id = req_str(body, "flowId", 128)?;
    check_printable("flowId", &flow_id)?;
    let vars = match body.get("vars") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => check_vars("vars", map)?,
        Some(_) => return Err(ApiError::bad_field("vars", "must be an object")),
    };
    Ok(Decoded::Start(FlowStart {
        call_id,
        account_id,
        flow_id,
        vars,
        from: opt_str(body, "from", SIP_FIELD_BYTES_MAX)?.unwrap_or_default(),
        to: opt_str(body, "to", SIP_FIELD_BYTES_MAX)?.unwrap_or_default(),
    }))
}

/// Variables from a request or a webhook answer: names `[A-Za-z0-9_]`,
/// scalar values, bounded.
pub fn check_vars(path: &str, map: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    if map.len() > FLOW_VARS_MAX {
        return Err(ApiError::invalid(
            path,
            &format!("at most {FLOW_VARS_MAX} variables"),
        ));
    }
    let mut vars = Vec::new();
    for (name, value) in map {
        let at = format!("{path}.{name}");
        if !is_var_name(name) {
            return Err(ApiError::invalid(
                &at,
                "variable names are 1..64 chars of [A-Za-z0-9_]",
            ));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => {
                return Err(ApiError::bad_field(
                    &at,
                    "must be a string, number or boolean",
                ))
            }
        };
        if text.len() > FLOW_TEXT_BYTES_MAX {
            return Err(ApiError::invalid(
                &at,
                &format!("longer than {FLOW_TEXT_BYTES_MAX} bytes"),
            ));
        }
        vars.push((name.clone(), text));
    }
    vars.sort();
    vars.dedup_by(|a, b| a.0 == b.0);
    Ok(vars)
}

fn unknown_call(call_id: &str, why: &str) -> Response {
    ApiError::new(404, "unknown_call", format!("{why}: {call_id}"))
        .with_field("callId", json!(call_id))
        .with_field("command", json!({"cmd": "hangup", "cause": "unknown_call"}))
        .to_response()
}

/// `POST /flow` start.
pub fn decide_start(shard: &Shard, now: Millis, start: &FlowStart) -> Decision {
    if let Some(session) = shard.flow_session(&start.call_id) {
        if session.flow_id == start.flow_id && session.account_id == start.account_id {
            // A retried start: the current command again.
            return Decision::reply(ok_answer(session.answer()));
        }
        let error = ApiError::new(
            409,
            "session_exists",
            format!(
                "call {} already runs flow {}",
                start.call_id, session.flow_id
            ),
        );
        return Decision::reply(error.to_response());
    }
    let Some(account) = shard.account(&start.account_id) else {
        let error = ApiError::new(
            404,
            "unknown_account",
            format!("no account {}", start.account_id),
        )
        .with_field("field", json!("accountId"));
        return Decision::reply(error.to_response());
    };
    if !account.is_active() {
        let error = ApiError::new(
            409,
            "account_inactive",
            format!("account {} is not active", start.account_id),
        );
        return Decision::reply(error.to_response());
    }
    if engine::flow(account, &start.flow_id).is_none() {
        let error = ApiError::new(
            404,
            "unknown_flow",
            format!("no flow {} on {}", start.flow_id, start.account_id),
        )
        .with_field("field", json!("flowId"));
        return Decision::reply(error.to_response());
    }
    let record = shard.call(&start.call_id);
    if let Some(record) = record {
        if record.start.account_id != start.account_id {
            let error = ApiError::new(
                409,
                "call_of_other_account",
                "the call belongs to another account",
            )
            .with_field("field", json!("accountId"));
            return Decision::reply(error.to_response());
        }
        if !record.is_live() {
            let error = ApiError::new(
                409,
                "call_ended",
                format!("call {} has ended", start.call_id),
            );
            return Decision::reply(error.to_response());
        }
    }
    if shard.flow_sessions().len() >= FLOW_SESSIONS_PER_SHARD_MAX
        || (record.is_none() && shard.live_calls() >= LIVE_CALLS_PER_SHARD_MAX)
    {
        let error = ApiError::new(503, "capacity", "too many live flow sessions on this shard");
        return Decision::reply(error.to_response());
    }
    let mut session = Session {
        call_id: start.call_id.clone(),
        account_id: start.account_id.clone(),
        flow_id: start.flow_id.clone(),
        node: String::new(),
        seq: 0,
        command: String::new(),
        phase: Phase::Command,
        vars: Vec::new(),
        language: account.doc().language.clone(),
        failures: 0,
        timeouts: 0,
        steps: 0,
        started_at: now,
        updated_at: now,
        wait: None,
        owns_call: record.is_none(),
        trace: Vec::new(),
        end_cause: String::new(),
    };
    // Variables: the route's (`dest_xform`, caller data), then the start's.
    let mut seeded: Vec<(String, String)> = vec![
        ("callId".into(), start.call_id.clone()),
        ("accountId".into(), start.account_id.clone()),
    ];
    if let Some(record) = record {
        seeded.push(("from".into(), record.start.from.clone()));
        seeded.push(("to".into(), record.start.to.clone()));
        let rtjson: Value = serde_json::from_str(&record.start.rtjson).unwrap_or(Value::Null);
        if let Some(Value::Object(vars)) = rtjson.get("vars") {
            if let Ok(vars) = check_vars("vars", vars) {
                seeded.extend(vars);
            }
        }
    }
    if !start.from.is_empty() {
        seeded.push(("from".into(), start.from.clone()));
    }
    if !start.to.is_empty() {
        seeded.push(("to".into(), start.to.clone()));
    }
    seeded.extend(start.vars.iter().cloned());
    for (name, value) in seeded {
        if session.var(&name).is_some() || session.vars.len() < FLOW_VARS_MAX {
            session.set_var(&name, value);
        }
    }
    let vars: Map<String, Value> = session
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    session.trace(now, "vars", Value::Object(vars));
    let queued = |queue_id: &str| shard.queued(account.id.as_str(), queue_id);
    let staffed = |queue_id: &str| crate::acd::plan::staffed(shard, account, now, queue_id);
    let ctx = Ctx {
        account,
        staffed: &staffed,
        now,
        queued: &queued,
    };
    let (session, webhook) = engine::start(&ctx, session);
    let mut events = Vec::new();
    if record.is_none() {
        events.push(Event::CallRouted(Box::new(flow_call_start(start, now))));
        events.push(Event::CallProgressed {
            call_id: start.call_id.clone(),
            progress: Progress::Confirmed,
            at: now,
            note: json!({"state": "answered", "by": "flow"}).to_string(),
        });
    }
    finish(session, webhook, events, shard)
}

/// The record of a call that starts in a flow (no `/route` before it).
fn flow_call_start(start: &FlowStart, now: Millis) -> CallStart {
    let rtjson =
        json!({"action": "flow", "account_id": start.account_id, "flow_id": start.flow_id});
    CallStart {
        call_id: start.call_id.clone(),
        account_id: start.account_id.clone(),
        direction: Direction::Inbound,
        from: start.from.clone(),
        to: start.to.clone(),
        node: "flow".into(),
        epoch: 0,
        at: now,
        rtjson: rtjson.to_string(),
        admission: None,
        trace: vec![TraceEvent {
            seq: 1,
            ts: now,
            source: "flow".into(),
            kind: "call".into(),
            data: json!({"startedBy": "POST /flow", "flowId": start.flow_id}).to_string(),
        }],
        rejected: false,
        reject_code: 0,
    }
}

/// The events of a moved session and its answer; a flow that ended a call
/// it started also ends the call.
fn finish(
    session: Session,
    webhook: Option<WebhookCall>,
    mut events: Vec<Event>,
    shard: &Shard,
) -> Decision {
    let answer = session.answer();
    let ends_call = session.is_ended() && session.owns_call;
    let end_event = ends_call.then(|| {
        let live = shard.call(&session.call_id).is_none_or(|r| r.is_live());
        live.then(|| {
            ended(
                &session.call_id,
                session.updated_at,
                "answered",
                &format!("flow:{}", session.end_cause),
                "flow",
                json!({"cause": session.end_cause}),
            )
        })
    });
    events.push(Event::FlowStep {
        session: Box::new(session),
        webhook,
    });
    if let Some(Some(end)) = end_event {
        events.push(end);
    }
    Decision {
        reply: ok_answer(answer),
        events,
    }
}

fn ok_answer(answer: Value) -> Response {
    let Value::Object(mut map) = answer else {
        unreachable!("answers are objects")
    };
    map.shift_remove("ok");
    ok(Value::Object(map))
}

/// `POST /flow` step.
pub fn decide_step(shard: &Shard, now: Millis, step: &FlowStep) -> Decision {
    let Some(session) = shard.flow_session(&step.call_id) else {
        let why = match shard.call(&step.call_id) {
            Some(_) => "the call's flow has ended",
            None => "no flow session for call",
        };
        return Decision::reply(unknown_call(&step.call_id, why));
    };
    let seq = step.seq.unwrap_or(session.seq);
    #[cfg(feature = "planted-bugs")]
    let seq = if crate::planted::active(crate::planted::Bug::FlowStaleStepAdvances) {
        seq.max(session.seq)
    } else {
        seq
    };
    if seq < session.seq {
        // A retry of an earlier step: the current command again.
        return Decision::reply(ok_answer(session.answer()));
    }
    if seq > session.seq {
        let error = ApiError::new(
            409,
            "seq_ahead",
            format!("seq {seq} was never issued (current {})", session.seq),
        )
        .with_field("field", json!("seq"));
        return Decision::reply(error.to_response());
    }
    let Some(account) = shard.account(&session.account_id) else {
        return Decision::reply(unknown_call(&step.call_id, "the call's account is gone"));
    };
    let queued = |queue_id: &str| shard.queued(account.id.as_str(), queue_id);
    let staffed = |queue_id: &str| crate::acd::plan::staffed(shard, account, now, queue_id);
    let ctx = Ctx {
        account,
        staffed: &staffed,
        now: now.max(session.updated_at),
        queued: &queued,
    };
    match engine::step(&ctx, session, &step.outcome, &step.data) {
        Err(BadOutcome(message)) => {
            let error =
                ApiError::new(400, "bad_outcome", message).with_field("field", json!("outcome"));
            Decision::reply(error.to_response())
        }
        Ok(Stepped::Hold(answer)) => Decision::reply(ok_answer(answer)),
        Ok(Stepped::Moved(session, webhook)) => finish(*session, webhook, Vec::new(), shard),
    }
}

/// The runtime's webhook report (ignored when the session moved on).
pub fn decide_webhook(shard: &Shard, now: Millis, report: &WebhookReport) -> Decision {
    let stale = Decision::reply(ok(json!({"applied": false})));
    let Some(session) = shard.flow_session(&report.call_id) else {
        return stale;
    };
    if session.seq != report.seq {
        return stale;
    }
    let Some(account) = shard.account(&session.account_id) else {
        return stale;
    };
    let queued = |queue_id: &str| shard.queued(account.id.as_str(), queue_id);
    let staffed = |queue_id: &str| crate::acd::plan::staffed(shard, account, now, queue_id);
    let ctx = Ctx {
        account,
        staffed: &staffed,
        now: now.max(session.updated_at),
        queued: &queued,
    };
    match engine::webhook_done(&ctx, session, report.ok, &report.vars) {
        Some((session, webhook)) => {
            let mut decision = finish(session, webhook, Vec::new(), shard);
            decision.reply = ok(json!({"applied": true}));
            decision
        }
        None => stale,
    }
}
