//! A media engine running IVRs over `POST /flow`: it starts flows for new
//! calls, executes each command by reporting a random outcome (valid ones
//! mostly; invalid ones must be refused), repeats steps as a retrying edge
//! does, sends stale `seq`s, hangs up mid-flow, and at the end reads every
//! call's trace.
//!
//! What it holds the brain to:
//! - a step repeated with the same `seq` gets the same answer and never
//!   advances the flow twice (`flow-retry-once`);
//! - every node the trace shows entered follows the previous one along an
//!   edge of the flow or a `goto` (`flow-edges`);
//! - every started session ends, leaving a CDR with an end and a flow
//!   `ended` trace entry (`flow-cdr`).

use super::{Actor, Ctx, Next, ADMIN_TOKEN, EDGE_TOKEN};
use crate::client::{Op, Reply};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// Prefix of the media engines' accounts.
pub const ACCOUNT_PREFIX: &str = "acc_media_";
/// Sessions one engine runs at once.
const LIVE_MAX: usize = 3;
/// Calls whose traces are checked at the end.
const CHECKED_MAX: usize = 48;
/// Ops that staff the queue before the first call: the agent's phone
/// registers, then the agent logs in (not ready), so callers hold in
/// `q_main` instead of leaving by `no_agents`, and nobody is offered.
const STAFF_OPS: usize = 2;

/// What an operation in flight was for.
#[derive(Clone, Debug)]
enum Intent {
    Provision,
    /// One of the staffing ops (see [`STAFF_OPS`]).
    Staff,
    Start {
        call_id: String,
    },
    Step {
        call_id: String,
        outcome: String,
        seq: u64,
        /// The first answer, when this repeats an earlier step.
        repeat: Option<Value>,
        /// The outcome is one the command reports.
        valid: bool,
    },
    Trace {
        call_id: String,
    },
}

/// A call in a flow, as the engine knows it.
#[derive(Clone, Debug)]
struct Session {
    call_id: String,
    /// The last answer (command, seq, node).
    answer: Value,
    /// The last step sent and its answer: a repeat must get it again.
    last: Option<(String, u64, Value)>,
    /// A step was given up: its effect is unknown until the next answer.
    unsure: bool,
}

/// One media engine.
pub struct MediaEngine {
    name: String,
    peer: IpAddr,
    index: usize,
    next_call: u64,
    provisioned: bool,
    /// Staffing ops answered 200 so far.
    staffed: usize,
    intent: Option<(u64, Intent)>,
    live: Vec<Session>,
    /// Calls started, to check at the end.
    started: Vec<String>,
    checked: BTreeSet<String>,
    /// The flow's edges (source → targets) and gotos, for `flow-edges`.
    edges: BTreeMap<String, BTreeSet<String>>,
    done: bool,
}

impl MediaEngine {
    pub fn new(index: usize) -> MediaEngine {
        let mut engine = MediaEngine {
            name: format!("media-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 4, 0, index as u8 + 1)),
            index,
            next_call: 0,
            provisioned: false,
            staffed: 0,
            intent: None,
            live: Vec::new(),
            started: Vec::new(),
            checked: BTreeSet::new(),
            edges: BTreeMap::new(),
            done: false,
        };
        let doc = engine.document();
        for edge in doc["flows"][0]["edges"].as_array().expect("edges") {
            let (source, target) = (edge["source"].as_str(), edge["target"].as_str());
            engine
                .edges
                .entry(source.expect("source").to_string())
                .or_default()
                .insert(target.expect("target").to_string());
        }
        for node in doc["flows"][0]["nodes"].as_array().expect("nodes") {
            if let Some(target) = node["data"]["target"].as_str() {
                let id = node["id"].as_str().expect("id").to_string();
                engine
                    .edges
                    .entry(id)
                    .or_default()
                    .insert(target.to_string());
            }
        }
        engine
    }

    fn account_id(&self) -> String {
        format!("{ACCOUNT_PREFIX}{}", self.index)
    }

    /// The engine's account: one IVR using most node kinds, a queue and a
    /// mailbox.
    pub fn document(&self) -> Value {
        let realm = format!("media-{}.sim.test", self.index);
        let node = |id: &str, data: Value| json!({"id": id, "data": data});
        let edge = |id: &str, source: &str, target: &str, handle: Option<&str>| match handle {
            Some(h) => json!({"id": id, "source": source, "target": target, "sourceHandle": h}),
            None => json!({"id": id, "source": source, "target": target}),
        };
        json!({
            "name": format!("media {}", self.index),
            "domains": [{"domain": realm, "is_primary": 1}],
            "users": [{"id": "us_a", "username": "2001"}, {"id": "us_b", "username": "2002", "is_agent": 1}],
            "devices": [{"id": "d_2002", "user_id": "us_b", "auth_username": "2002", "realm": realm,
                         "ha1": "0".repeat(32), "ha1b": "0".repeat(32)}],
            "queues": [{"id": "q_main", "name": "main", "max_wait_sec": 30, "max_queued": 2,
                        "timeout_dest_kind": "voicemail", "timeout_dest_id": "vm_main"}],
            "queue_members": [{"queue_id": "q_main", "user_id": "us_b"}],
            "voicemail_boxes": [{"id": "vm_main", "name": "main"}],
            "schedules": [{"id": "sch", "name": "weekdays", "rules": [
                {"kind": "weekly", "dow": 1, "start_time": "00:00", "end_time": "23:59"},
                {"kind": "weekly", "dow": 3, "start_time": "08:00", "end_time": "18:00"}]}],
            "flows": [{"id": "flow_ivr", "start": "entry", "nodes": [
                node("entry", json!({"kind": "entry"})),
                node("menu", json!({"kind": "menu", "promptText": "1, 2 or 3", "maxDigits": 1, "maxFailures": 2, "maxTimeouts": 2})),
                node("collect", json!({"kind": "collect", "variable": "acct", "maxDigits": 4, "regex": "^[0-9]+$"})),
                node("cond", json!({"kind": "condition", "variable": "acct", "operator": "ge", "value": "500"})),
                node("dial", json!({"kind": "dial", "userId": "us_a", "timeoutSec": 10})),
                node("ring", json!({"kind": "ringGroup", "members": ["us_a", "2002"]})),
                node("conf", json!({"kind": "conference", "room": "r{{acct}}"})),
                node("set", json!({"kind": "setVariable", "vars": {"visited": "1"}})),
                node("lang", json!({"kind": "setLanguage", "language": "fr-FR"})),
                node("back", json!({"kind": "goto", "target": "menu"})),
                node("queue", json!({"kind": "enqueue", "queueId": "q_main"})),
                node("vm", json!({"kind": "voicemail", "mailboxId": "vm_main"})),
                node("tc", json!({"kind": "timeCondition", "scheduleId": "sch"})),
                node("say", json!({"kind": "say", "text": "Hello {{from}}"})),
                node("play", json!({"kind": "play", "audioId": "welcome"})),
                node("hook", json!({"kind": "webhook", "url": "http://hooks.sim.test/x", "timeoutSec": 2})),
                node("rec", json!({"kind": "record", "maxSec": 10})),
                node("bye", json!({"kind": "hangup"})),
            ], "edges": [
                edge("e1", "entry", "menu", None),
                edge("e2", "menu", "collect", Some("digit:1")),
                edge("e3", "menu", "queue", Some("digit:2")),
                edge("e4", "menu", "vm", Some("digit:3")),
                edge("e5", "menu", "tc", Some("timeout")),
                edge("e6", "menu", "rec", Some("invalid")),
                edge("e7", "collect", "cond", Some("success")),
                edge("e8", "collect", "bye", None),
                edge("e9", "cond", "dial", Some("true")),
                edge("e10", "cond", "ring", Some("false")),
                edge("e11", "dial", "bye", Some("answered")),
                edge("e12", "dial", "vm", Some("no_answer")),
                edge("e13", "dial", "hook", None),
                edge("e14", "ring", "conf", None),
                edge("e15", "conf", "set", Some("left")),
                edge("e16", "set", "lang", None),
                edge("e17", "lang", "back", None),
                edge("e18", "queue", "bye", None),
                edge("e19", "tc", "say", Some("in_hours")),
                edge("e20", "tc", "bye", Some("out_of_hours")),
                edge("e21", "say", "play", None),
                edge("e22", "play", "hook", None),
                edge("e23", "hook", "bye", Some("ok")),
                edge("e24", "hook", "menu", Some("error")),
                edge("e25", "rec", "bye", None),
            ]}],
        })
    }

    fn send(&mut self, op: u64, intent: Intent, request: Op) -> Next {
        self.intent = Some((op, intent));
        Next::Send(request)
    }

    fn flow_op(&self, op: u64, kind: &'static str, body: &Value, ctx: &mut Ctx) -> Op {
        Op::new(op, kind, "POST", "/flow")
            .header("x-edge-token", EDGE_TOKEN)
            .attempts(ctx.knobs.edge_attempts_max)
            .json(body)
    }

    /// The next staffing op: us_b's phone registers, then us_b logs in.
    fn staff(&mut self, ctx: &mut Ctx) -> Next {
        let body = if self.staffed == 0 {
            json!({"type": "register", "event": "registered", "username": "2002",
                   "realm": format!("media-{}.sim.test", self.index),
                   "contact": "sip:2002@10.4.1.1", "expires": 3600, "node": "media-edge"})
        } else {
            json!({"type": "agent", "accountId": self.account_id(), "userId": "us_b",
                   "event": "login", "queues": [{"queueId": "q_main", "level": 1}]})
        };
        let op = ctx.model.new_op();
        let request = Op::new(op, "media-staff", "POST", "/presence/event")
            .header("x-edge-token", EDGE_TOKEN)
            .attempts(ctx.knobs.edge_attempts_max)
            .json(&body);
        self.send(op, Intent::Staff, request)
    }

    fn start(&mut self, ctx: &mut Ctx) -> Next {
        self.next_call += 1;
        let call_id = format!("{}-{}", self.name, self.next_call);
        let body = json!({"callId": call_id, "accountId": self.account_id(), "flowId": "flow_ivr",
                          "from": format!("1555{:04}", ctx.rng.gen_range(0..10_000)),
                          "vars": {"campaign": "sim"}});
        let op = ctx.model.new_op();
        let request = self.flow_op(op, "flow-start", &body, ctx);
        self.send(op, Intent::Start { call_id }, request)
    }

    /// An outcome for `command`: a valid one mostly (the flag says which).
    fn outcome(command: &Value, ctx: &mut Ctx) -> (String, Value, bool) {
        let pick = |options: &[&str], ctx: &mut Ctx| {
            options[ctx.rng.gen_range(0..options.len())].to_string()
        };
        if ctx.rng.gen_bool(0.04) {
            return (
                pick(&["bogus", "digit:x", "recorded", "left"], ctx),
                json!({}),
                false,
            );
        }
        let (outcome, data) = MediaEngine::valid_outcome(command, ctx);
        (outcome, data, true)
    }

    fn valid_outcome(command: &Value, ctx: &mut Ctx) -> (String, Value) {
        let pick = |options: &[&str], ctx: &mut Ctx| {
            options[ctx.rng.gen_range(0..options.len())].to_string()
        };
        let cmd = command["cmd"].as_str().unwrap_or("");
        match cmd {
            "play" => ("done".into(), json!({})),
            "gather" => {
                if ctx.rng.gen_bool(0.2) {
                    return ("timeout".into(), json!({}));
                }
                let digits = pick(&["1", "2", "3", "9", "12", "734", "1234"], ctx);
                (format!("digit:{digits}"), json!({"digits": digits}))
            }
            "dial" => (
                pick(&["answered", "no_answer", "busy", "failed"], ctx),
                json!({}),
            ),
            "noop" if command["bridged"] == true => ("completed".into(), json!({})),
            "noop" => ("poll".into(), json!({})),
            "enqueue" => (
                pick(
                    &[
                        "poll",
                        "poll",
                        "poll",
                        "timeout",
                        "abandon",
                        "answered",
                        "queue_full",
                    ],
                    ctx,
                ),
                json!({}),
            ),
            "record" => {
                let key = command["key"].as_str().unwrap_or("").to_string();
                (
                    pick(&["recorded", "recorded", "timeout"], ctx),
                    json!({"key": key, "durationMs": 1500}),
                )
            }
            "conference" => ("left".into(), json!({})),
            _ => ("hangup".into(), json!({})),
        }
    }

    fn step(&mut self, i: usize, ctx: &mut Ctx) -> Next {
        let session = &self.live[i];
        let seq = session.answer["seq"].as_u64().unwrap_or(0);
        let call_id = session.call_id.clone();
        let roll = ctx.rng.gen_range(0..100);
        // A repeat of the last step (a retrying edge): the same answer.
        if roll < 12 && !session.unsure {
            if let Some((outcome, seq, answer)) = session.last.clone() {
                let body = json!({"callId": call_id, "outcome": outcome, "seq": seq});
                let op = ctx.model.new_op();
                let request = self.flow_op(op, "flow-repeat", &body, ctx);
                let intent = Intent::Step {
                    call_id,
                    outcome,
                    seq,
                    repeat: Some(answer),
                    valid: true,
                };
                return self.send(op, intent, request);
            }
        }
        let (outcome, data, valid) = if roll < 16 {
            ("hangup".to_string(), json!({}), true)
        } else {
            MediaEngine::outcome(&session.answer["command"], ctx)
        };
        let body = json!({"callId": call_id, "outcome": outcome, "seq": seq, "data": data});
        let op = ctx.model.new_op();
        let mut request = self.flow_op(op, "flow-step", &body, ctx);
        if ctx.healed {
            request.attempts_max = None;
        }
        self.send(
            op,
            Intent::Step {
                call_id,
                outcome,
                seq,
                repeat: None,
                valid,
            },
            request,
        )
    }

    fn trace(&mut self, call_id: String, ctx: &mut Ctx) -> Next {
        let op = ctx.model.new_op();
        let request = Op::new(op, "flow-trace", "GET", format!("/calls/{call_id}/trace"))
            .header("x-admin-token", ADMIN_TOKEN);
        self.send(op, Intent::Trace { call_id }, request)
    }

    /// `flow-edges` and `flow-cdr` on one ended call's trace.
    fn check_trace(&self, call_id: &str, body: &Value, ctx: &mut Ctx) {
        let name = &self.name;
        if body["live"] != false || !body["cdr"]["end_ts"].is_u64() {
            ctx.violation(format!(
                "flow-cdr: {name}: {call_id} ended its flow but its CDR has no end: {body}"
            ));
        }
        let events = body["events"].as_array().cloned().unwrap_or_default();
        if !events
            .iter()
            .any(|e| e["source"] == "flow" && e["type"] == "ended")
        {
            ctx.violation(format!(
                "flow-cdr: {name}: {call_id} has no flow `ended` in its trace"
            ));
        }
        let mut in_ivr = true;
        let mut prev: Option<String> = None;
        for event in events.iter().filter(|e| e["source"] == "flow") {
            match event["type"].as_str() {
                Some("flow") => {
                    in_ivr = event["data"]["flowId"] == "flow_ivr";
                    prev = None;
                }
                Some("node") if in_ivr => {
                    let node = event["data"]["node"].as_str().unwrap_or("").to_string();
                    if let Some(p) = &prev {
                        if !self.edges.get(p).is_some_and(|t| t.contains(&node)) {
                            ctx.violation(format!("flow-edges: {name}: {call_id} went from {p} to {node}, which no edge joins"));
                        }
                    }
                    prev = Some(node);
                }
                _ => {}
            }
        }
    }
}

impl Actor for MediaEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn next(&mut self, ctx: &mut Ctx) -> Next {
        if self.done {
            return Next::Done;
        }
        if !self.provisioned {
            let op = ctx.model.new_op();
            let request = super::account_put(op, &self.account_id(), &self.document());
            return self.send(op, Intent::Provision, request);
        }
        if self.staffed < STAFF_OPS && !ctx.healed {
            return self.staff(ctx);
        }
        if ctx.healed {
            // Hang up whatever is still in a flow, then read every trace.
            if let Some(i) = (!self.live.is_empty()).then_some(0) {
                let session = &self.live[i];
                let seq = session.answer["seq"].as_u64().unwrap_or(0);
                let call_id = session.call_id.clone();
                let body = json!({"callId": call_id, "outcome": "hangup", "seq": seq});
                let op = ctx.model.new_op();
                let mut request = self.flow_op(op, "flow-step", &body, ctx);
                request.attempts_max = None;
                let intent = Intent::Step {
                    call_id,
                    outcome: "hangup".into(),
                    seq,
                    repeat: None,
                    valid: true,
                };
                return self.send(op, intent, request);
            }
            let unchecked = self
                .started
                .iter()
                .find(|c| !self.checked.contains(*c))
                .cloned();
            return match unchecked {
                Some(call_id) => self.trace(call_id, ctx),
                None => {
                    self.done = true;
                    Next::Done
                }
            };
        }
        let roll = ctx.rng.gen_range(0..100);
        if self.live.len() < LIVE_MAX
            && self.started.len() < CHECKED_MAX
            && (roll < 25 || self.live.is_empty())
        {
            return self.start(ctx);
        }
        if !self.live.is_empty() && roll < 90 {
            let i = ctx.rng.gen_range(0..self.live.len());
            return self.step(i, ctx);
        }
        Next::Sleep(ctx.rng.gen_range(1..2_000))
    }

    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx) {
        let Some((_, intent)) = self.intent.take().filter(|(id, _)| *id == op.id) else {
            return;
        };
        let name = self.name.clone();
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        match intent {
            Intent::Provision => {
                if reply.status == 200 {
                    self.provisioned = true;
                } else {
                    ctx.violation(format!(
                        "{name}: its account was refused: {} {body}",
                        reply.status
                    ));
                }
            }
            Intent::Staff => match reply.status {
                200 => self.staffed += 1,
                // Shed (503) or refused while the node restarts: try again.
                503 | 409 => {}
                _ => ctx.violation(format!("{name}: staffing answered {} {body}", reply.status)),
            },
            Intent::Start { call_id } => {
                // A retried start of a session that has moved on gets its
                // current command; one that ended meanwhile is refused.
                if reply.status == 200 {
                    self.live.push(Session {
                        call_id: call_id.clone(),
                        answer: body,
                        last: None,
                        unsure: false,
                    });
                    self.started.push(call_id);
                } else if reply.status == 409 {
                    self.started.push(call_id);
                } else {
                    ctx.violation(format!(
                        "{name}: flow start {call_id} answered {} {body}",
                        reply.status
                    ));
                }
            }
            Intent::Step {
                call_id,
                outcome,
                seq,
                repeat,
                valid,
            } => {
                let Some(i) = self.live.iter().position(|s| s.call_id == call_id) else {
                    return;
                };
                match reply.status {
                    200 => {
                        if let Some(first) = &repeat {
                            // Only a step that advanced is held to its answer
                            // (a hold poll may end by time on a repeat).
                            let advanced = first["seq"].as_u64() > Some(seq);
                            if advanced && *first != body {
                                ctx.violation(format!(
                                    "flow-retry-once: {name}: {call_id} step seq {seq} `{outcome}` repeated got {body}, first {first}"
                                ));
                            }
                        }
                        let session = &mut self.live[i];
                        session.unsure = false;
                        if repeat.is_none() {
                            session.last = Some((outcome, seq, body.clone()));
                        }
                        if body["command"]["cmd"] == "hangup" {
                            self.live.swap_remove(i);
                        } else {
                            session.answer = body;
                        }
                    }
                    400 => {
                        if valid && !self.live[i].unsure {
                            ctx.violation(format!(
                                "{name}: flow step {call_id} seq {seq} `{outcome}` is valid for its command but was refused: {body}"
                            ));
                        }
                    }
                    409 if outcome == "answered" && body["error"]["code"] == "not_confirmed" => {
                        // A queued caller is answered only through the ACD.
                    }
                    404 => {
                        // The call ended under the flow (reaped, or the
                        // hangup was applied and this is a retry copy).
                        self.live.swap_remove(i);
                    }
                    _ => ctx.violation(format!(
                        "{name}: flow step {call_id} answered {} {body}",
                        reply.status
                    )),
                }
            }
            Intent::Trace { call_id } => {
                self.checked.insert(call_id.clone());
                match reply.status {
                    200 => self.check_trace(&call_id, &body, ctx),
                    _ => ctx.violation(format!(
                        "flow-cdr: {name}: no trace for {call_id}: {} {body}",
                        reply.status
                    )),
                }
            }
        }
    }

    fn on_give_up(&mut self, op: &Op, _copies: u32, _ctx: &mut Ctx) {
        if let Some((_, Intent::Step { call_id, .. })) =
            self.intent.take().filter(|(id, _)| *id == op.id)
        {
            if let Some(session) = self.live.iter_mut().find(|s| s.call_id == call_id) {
                session.unsure = true;
                session.last = None;
            }
        }
        self.intent = None;
    }
}
