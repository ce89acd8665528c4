//! The interpreter: from a session and an outcome to the next blocking
//! command. Pure: it reads the account document and the time it is given
//! and returns the new session (whose `trace` holds only what this step
//! added) and the webhook the runtime must perform, if any.

use super::session::{Phase, Session, Wait, WebhookCall};
use super::spec::{self, NodeSpec};
use super::template::render;
use super::{sys, webhook};
use crate::account::{Account, DestKind, Flow, Queue};
use crate::hours::{self, HoursState};
use crate::limits::{FLOW_NODES_PER_ANSWER_MAX, FLOW_STEPS_MAX, FLOW_VARS_MAX};
use crate::time::Millis;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// What the interpreter reads besides the session.
pub struct Ctx<'a> {
    pub account: &'a Account,
    pub now: Millis,
    /// Sessions held in a queue right now (for `max_queued`).
    pub queued: &'a dyn Fn(&str) -> usize,
    /// Agents of a queue logged in and registered: its staff, for `ewt`,
    /// and none means `no_agents`.
    pub staffed: &'a dyn Fn(&str) -> u32,
}

/// The result of a step.
#[derive(Debug)]
pub enum Stepped {
    /// The session moved: log it.
    Moved(Box<Session>, Option<WebhookCall>),
    /// A poll while holding: nothing changed; answer this command.
    Hold(Value),
}

/// Why a step was refused (answered 400/409, nothing changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadOutcome(pub String);

/// The flow a session runs, system flows included.
pub fn flow<'a>(account: &'a Account, flow_id: &str) -> Option<Cow<'a, Flow>> {
    match account.flow(flow_id) {
        Some(flow) => Some(Cow::Borrowed(flow)),
        None => sys::flow(account, flow_id).map(Cow::Owned),
    }
}

/// Starts a session at the flow's `start` and runs to the first blocking
/// command.
pub fn start(ctx: &Ctx, mut session: Session) -> (Session, Option<WebhookCall>) {
    let mut run = Run::new(ctx);
    let Some(flow) = flow(ctx.account, &session.flow_id) else {
        run.end(&mut session, "unknown_flow", None);
        return (session, None);
    };
    session.trace(ctx.now, "started", json!({"flowId": session.flow_id}));
    let start = flow.start.clone();
    run.enter(&mut session, &start);
    (session, run.effect)
}

/// Applies the media engine's `outcome` (with `data`) to the current
/// command.
pub fn step(
    ctx: &Ctx,
    current: &Session,
    outcome: &str,
    data: &Map<String, Value>,
) -> Result<Stepped, BadOutcome> {
    let mut s = current.clone();
    s.trace.clear();
    let mut run = Run::new(ctx);
    if outcome == "hangup" {
        s.trace(
            ctx.now,
            "outcome",
            json!({"node": s.node, "outcome": "hangup"}),
        );
        run.end(&mut s, "hangup", None);
        return Ok(Stepped::Moved(Box::new(s), None));
    }
    let poll = outcome == "poll";
    if poll {
        match s.phase {
            Phase::Queued | Phase::Webhook => {
                let wait = s.wait.as_ref().expect("holding has a wait");
                // A held caller leaves by `no_agents` once no agent of its
                // queue is logged in and registered (reference §7.7).
                let unstaffed = s.phase == Phase::Queued && (ctx.staffed)(&wait.queue_id) == 0;
                if ctx.now < wait.deadline && !unstaffed {
                    return Ok(Stepped::Hold(noop_answer(&s)));
                }
            }
            _ => {
                return Err(BadOutcome(format!(
                    "`poll` is not an outcome of `{}`",
                    cmd(&s)
                )))
            }
        }
    } else {
        check_outcome(&s, outcome)?;
    }
    s.steps += 1;
    if s.steps >= FLOW_STEPS_MAX {
        s.trace(
            ctx.now,
            "error",
            json!({"error": "step_guard", "steps": s.steps}),
        );
        run.end(&mut s, "step_guard", None);
        return Ok(Stepped::Moved(Box::new(s), None));
    }
    let Some(flow) = flow(ctx.account, &s.flow_id) else {
        s.trace(
            ctx.now,
            "error",
            json!({"error": "flow_removed", "flowId": s.flow_id}),
        );
        run.end(&mut s, "flow_removed", None);
        return Ok(Stepped::Moved(Box::new(s), None));
    };
    let Some(spec) = node_spec(&flow, &s.node) else {
        s.trace(
            ctx.now,
            "error",
            json!({"error": "node_removed", "node": s.node}),
        );
        run.end(&mut s, "node_removed", None);
        return Ok(Stepped::Moved(Box::new(s), None));
    };
    let mut trace_data = json!({"node": s.node, "outcome": if poll { "poll" } else { outcome }});
    if let Some(digits) = data.get("digits").and_then(Value::as_str) {
        trace_data["digits"] = json!(digits);
    }
    s.trace(ctx.now, "outcome", trace_data);
    run.resume(&mut s, &flow, &spec, outcome, data);
    Ok(Stepped::Moved(Box::new(s), run.effect))
}

/// The runtime's report of a webhook (`ok` or `error`, with variables the
/// endpoint answered).
pub fn webhook_done(
    ctx: &Ctx,
    current: &Session,
    ok: bool,
    vars: &Map<String, Value>,
) -> Option<(Session, Option<WebhookCall>)> {
    if current.phase != Phase::Webhook {
        return None;
    }
    let mut s = current.clone();
    s.trace.clear();
    let mut run = Run::new(ctx);
    let outcome = if ok { "ok" } else { "error" };
    s.trace(
        ctx.now,
        "outcome",
        json!({"node": s.node, "outcome": outcome}),
    );
    if ok {
        for (name, value) in vars {
            run.set_var(&mut s, name, text_of(value));
        }
    }
    s.wait = None;
    match flow(ctx.account, &s.flow_id) {
        Some(flow) => run.leave(&mut s, &flow, outcome),
        None => run.end(&mut s, "flow_removed", None),
    }
    Some((s, run.effect))
}

/// The answer to a poll that changes nothing.
pub fn noop_answer(s: &Session) -> Value {
    let poll_sec = s
        .command_json()
        .get("pollSec")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    json!({"ok": true, "callId": s.call_id, "seq": s.seq, "node": s.node,
           "command": {"cmd": "noop", "pollSec": poll_sec}})
}

fn cmd(s: &Session) -> String {
    s.command_json()["cmd"].as_str().unwrap_or("").to_string()
}

/// The outcomes the current command can report.
fn check_outcome(s: &Session, outcome: &str) -> Result<(), BadOutcome> {
    let command = cmd(s);
    let ok = match (s.phase, command.as_str()) {
        (Phase::Ended, _) => false,
        (Phase::Bridged, _) => outcome == "completed",
        (Phase::Queued, _) => [
            "timeout",
            "abandon",
            "no_agents",
            "queue_full",
            "ewt",
            "answered",
        ]
        .contains(&outcome),
        (Phase::Webhook, _) => false,
        (_, "play") => outcome == "done",
        (_, "gather") => outcome == "timeout" || is_digits(outcome),
        (_, "dial") => ["answered", "no_answer", "busy", "failed"].contains(&outcome),
        (_, "record") => outcome == "recorded" || outcome == "timeout",
        (_, "conference") => outcome == "left",
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(BadOutcome(format!(
            "`{outcome}` is not an outcome of `{command}`"
        )))
    }
}

fn is_digits(outcome: &str) -> bool {
    outcome.strip_prefix("digit:").is_some_and(|d| {
        !d.is_empty()
            && d.len() <= spec::DIGITS_MAX as usize
            && d.bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
    })
}

fn node_spec(flow: &Flow, node_id: &str) -> Option<NodeSpec> {
    let node = flow.nodes.iter().find(|n| n.id == node_id)?;
    spec::parse(&node.data).ok()
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One interpreter pass: counts nodes entered (the loop guard) and
/// collects the webhook to perform.
struct Run<'c, 'a> {
    ctx: &'c Ctx<'a>,
    entered: usize,
    effect: Option<WebhookCall>,
}

/// Where to go after a node.
enum Next {
    Node(String),
    Flow(String),
    End(&'static str),
}

impl<'c, 'a> Run<'c, 'a> {
    fn new(ctx: &'c Ctx<'a>) -> Run<'c, 'a> {
        Run {
            ctx,
            entered: 0,
            effect: None,
        }
    }

    fn now(&self) -> Millis {
        self.ctx.now
    }

    fn account(&self) -> &'a Account {
        self.ctx.account
    }

    /// Makes `command` current at `node` (a new `seq`).
    fn issue(&self, s: &mut Session, node: &str, phase: Phase, command: Value) {
        s.seq += 1;
        s.node = node.to_string();
        s.phase = phase;
        s.command = command.to_string();
        s.updated_at = self.now();
    }

    /// Ends the flow with `hangup`.
    fn end(&self, s: &mut Session, cause: &str, sip: Option<(String, u16)>) {
        let (hangup_cause, code) = sip.unwrap_or_else(|| ("normal".into(), 0));
        let mut command = json!({"cmd": "hangup", "cause": hangup_cause});
        if code != 0 {
            command["sipCode"] = json!(code);
        }
        s.trace(self.now(), "ended", json!({"cause": cause}));
        let node = s.node.clone();
        self.issue(s, &node, Phase::Ended, command);
        s.wait = None;
        s.end_cause = cause.to_string();
    }

    fn set_var(&self, s: &mut Session, name: &str, value: String) {
        if !spec::is_var_name(name) {
            return;
        }
        if s.var(name).is_none() && s.vars.len() >= FLOW_VARS_MAX {
            s.trace(
                self.now(),
                "error",
                json!({"error": "too_many_vars", "name": name}),
            );
            return;
        }
        let value = render_bounded(value);
        s.trace(self.now(), "var", json!({"name": name, "value": value}));
        s.set_var(name, value);
    }

    /// Follows the edge for `outcome` (else `default`, else ends).
    fn leave(&mut self, s: &mut Session, flow: &Flow, outcome: &str) {
        match next_of(flow, &s.node, outcome) {
            Some(target) => self.enter(s, &target),
            None => self.end(s, "no_edge", None),
        }
    }

    /// Goes where `next` says.
    fn go(&mut self, s: &mut Session, next: Next) {
        match next {
            Next::Node(id) => self.enter(s, &id),
            Next::Flow(id) => self.switch_flow(s, &id),
            Next::End(cause) => self.end(s, cause, None),
        }
    }

    fn switch_flow(&mut self, s: &mut Session, flow_id: &str) {
        let Some(target) = flow(self.account(), flow_id) else {
            s.trace(
                self.now(),
                "error",
                json!({"error": "unknown_flow", "flowId": flow_id}),
            );
            return self.end(s, "unknown_flow", None);
        };
        s.trace(self.now(), "flow", json!({"flowId": flow_id}));
        s.flow_id = flow_id.to_string();
        let start = target.start.clone();
        self.enter(s, &start);
    }

    /// Enters `node_id` and runs until a blocking command.
    fn enter(&mut self, s: &mut Session, node_id: &str) {
        let mut node_id = node_id.to_string();
        loop {
            self.entered += 1;
            if self.entered > FLOW_NODES_PER_ANSWER_MAX {
                s.trace(
                    self.now(),
                    "error",
                    json!({"error": "loop_guard", "nodes": self.entered - 1}),
                );
                return self.end(s, "loop_guard", None);
            }
            let Some(flow) = flow(self.account(), &s.flow_id) else {
                return self.end(s, "unknown_flow", None);
            };
            let Some(node) = flow.nodes.iter().find(|n| n.id == node_id) else {
                s.trace(
                    self.now(),
                    "error",
                    json!({"error": "no_node", "node": node_id}),
                );
                return self.end(s, "no_node", None);
            };
            let spec = match spec::parse(&node.data) {
                Ok(spec) => spec,
                Err(e) => {
                    s.trace(
                        self.now(),
                        "error",
                        json!({"error": "bad_node", "node": node_id, "field": e.field}),
                    );
                    return self.end(s, "bad_node", None);
                }
            };
            s.node = node_id.clone();
            s.failures = 0;
            s.timeouts = 0;
            s.trace(
                self.now(),
                "node",
                json!({"node": node_id, "kind": node.kind()}),
            );
            match self.run_node(s, &flow, &spec) {
                Some(Next::Node(next)) => node_id = next,
                Some(other) => return self.go(s, other),
                None => return,
            }
        }
    }

    /// Runs one node: `None` when it issued a blocking command, else where
    /// to go next.
    fn run_node(&mut self, s: &mut Session, flow: &Flow, spec: &NodeSpec) -> Option<Next> {
        let node = s.node.clone();
        let now = self.now();
        let follow = |outcome: &str| match next_of(flow, &node, outcome) {
            Some(target) => Next::Node(target),
            None => Next::End("no_edge"),
        };
        match spec {
            NodeSpec::Entry(_) => Some(follow("default")),
            NodeSpec::Play(play) => {
                let mut media: Vec<String> = play
                    .audio_id
                    .iter()
                    .map(|id| self.media_key(id, s))
                    .collect();
                media.extend(play.media.iter().map(|k| render(k, s)));
                let command =
                    json!({"cmd": "play", "media": media, "loop": play.r#loop.unwrap_or(1)});
                self.issue(s, &node, Phase::Command, command);
                None
            }
            NodeSpec::Say(say) => {
                let tts = self.tts(&render(&say.text, s), say.voice.as_deref(), s);
                self.issue(
                    s,
                    &node,
                    Phase::Command,
                    json!({"cmd": "play", "tts": tts, "loop": 1}),
                );
                None
            }
            NodeSpec::Menu(menu) => {
                let prompt = self.prompt(
                    menu.prompt_audio_id.as_deref(),
                    menu.prompt_text.as_deref(),
                    s,
                );
                self.gather(s, &node, spec, prompt);
                None
            }
            NodeSpec::Collect(collect) => {
                let prompt = self.prompt(
                    collect.prompt_audio_id.as_deref(),
                    collect.prompt_text.as_deref(),
                    s,
                );
                self.gather(s, &node, spec, prompt);
                None
            }
            NodeSpec::TimeCondition(t) => {
                let Some(schedule) = self.account().schedule(&t.schedule_id) else {
                    s.trace(
                        now,
                        "error",
                        json!({"error": "no_schedule", "scheduleId": t.schedule_id}),
                    );
                    return Some(follow("default"));
                };
                let verdict = hours::evaluate(schedule, &self.account().doc().timezone, now);
                let state = verdict.state.as_str();
                s.trace(
                    now,
                    "hours",
                    json!({"scheduleId": t.schedule_id, "state": state}),
                );
                let outcome = match verdict.state {
                    HoursState::Holiday if next_edge(flow, &node, "holiday").is_none() => {
                        "out_of_hours"
                    }
                    _ => state,
                };
                Some(follow(outcome))
            }
            NodeSpec::SetVariable(set) => {
                if let Some(name) = &set.variable {
                    let value = render(set.value.as_deref().unwrap_or(""), s);
                    self.set_var(s, name, value);
                }
                for (name, value) in &set.vars {
                    let value = render(&text_of(value), s);
                    self.set_var(s, name, value);
                }
                Some(follow("default"))
            }
            NodeSpec::Condition(c) => {
                let holds = compare(
                    s.var(&c.variable),
                    c.operator.as_deref().unwrap_or("eq"),
                    &render(c.value.as_deref().unwrap_or(""), s),
                );
                s.trace(
                    now,
                    "condition",
                    json!({"variable": c.variable, "result": holds}),
                );
                Some(follow(if holds { "true" } else { "false" }))
            }
            NodeSpec::Dial(dial) => self.dial(s, &node, dial, flow),
            NodeSpec::RingGroup(group) => {
                let mut targets = Vec::new();
                for member in &group.members {
                    match self.user_target(member) {
                        Some(target) => targets.push(target),
                        None => s.trace(
                            now,
                            "error",
                            json!({"error": "no_member", "member": member}),
                        ),
                    }
                }
                if let (true, Some(group_id)) = (group.members.is_empty(), &group.group_id) {
                    let domain = self.account().primary_domain();
                    targets.push(json!({"kind": "aor", "uri": format!("sip:{group_id}@{domain}")}));
                }
                if targets.is_empty() {
                    return Some(follow("failed"));
                }
                let mode = match group.strategy.as_deref() {
                    Some("sequential") => "serial",
                    _ => "parallel",
                };
                let command = json!({"cmd": "dial", "targets": targets, "mode": mode,
                                     "timeoutSec": group.timeout_sec.unwrap_or(30)});
                self.issue(s, &node, Phase::Command, command);
                None
            }
            NodeSpec::Enqueue(e) => self.enqueue(s, &node, e, flow),
            NodeSpec::Voicemail(v) => {
                let greeting = self.greeting(&v.mailbox_id, s);
                self.issue(
                    s,
                    &node,
                    Phase::Greeting,
                    json!({"cmd": "play", "media": [greeting], "loop": 1}),
                );
                None
            }
            NodeSpec::Record(r) => {
                let key = match &r.key {
                    Some(key) => render(key, s),
                    None => format!("{}/rec/{}-{}.wav", s.account_id, s.call_id, node),
                };
                let command = json!({"cmd": "record", "key": key, "uploadUrl": format!("/media/{key}"),
                    "maxSec": r.max_sec.unwrap_or(120), "beep": r.beep.unwrap_or(true),
                    "finishOnKey": r.finish_on_key.clone().unwrap_or_else(|| "#".into()),
                    "silenceSec": r.silence_sec.unwrap_or(5)});
                self.issue(s, &node, Phase::Command, command);
                None
            }
            NodeSpec::Conference(c) => {
                let room = match (&c.room, &c.conference_id) {
                    (Some(room), _) => render(room, s),
                    (None, Some(id)) => id.clone(),
                    (None, None) => String::new(),
                };
                let command = json!({"cmd": "conference", "room": format!("{}:{room}", s.account_id),
                    "moderator": c.moderator.unwrap_or(false), "muted": c.muted.unwrap_or(false)});
                self.issue(s, &node, Phase::Command, command);
                None
            }
            NodeSpec::Goto(goto) => match (&goto.target, &goto.flow_id) {
                (Some(target), _) => Some(Next::Node(target.clone())),
                (None, Some(flow_id)) => Some(Next::Flow(flow_id.clone())),
                (None, None) => Some(Next::End("bad_node")),
            },
            NodeSpec::SetLanguage(set) => {
                s.language = set.language.clone();
                self.set_var(s, "language", set.language.clone());
                Some(follow("default"))
            }
            NodeSpec::Webhook(hook) => {
                let timeout_ms = u64::from(hook.timeout_sec.unwrap_or(5)) * 1000;
                let vars: Map<String, Value> =
                    s.vars.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                let body = json!({"callId": s.call_id, "accountId": s.account_id, "flowId": s.flow_id,
                                  "node": node, "vars": vars});
                self.issue(
                    s,
                    &node,
                    Phase::Webhook,
                    json!({"cmd": "noop", "pollSec": 1}),
                );
                s.wait = Some(Wait {
                    queue_id: String::new(),
                    since: now,
                    deadline: now.plus_ms(timeout_ms),
                });
                if webhook::parse_url(&hook.url).is_some() {
                    self.effect = Some(WebhookCall {
                        call_id: s.call_id.clone(),
                        seq: s.seq,
                        url: hook.url.clone(),
                        body: body.to_string(),
                        timeout_ms,
                    });
                }
                s.trace(now, "webhook", json!({"url": hook.url}));
                None
            }
            NodeSpec::Hangup(h) => {
                let cause = h.cause.clone().unwrap_or_else(|| "normal".into());
                self.end(s, "hangup_node", Some((cause, h.sip_code.unwrap_or(0))));
                None
            }
        }
    }

    /// Resumes the current node with `outcome`.
    fn resume(
        &mut self,
        s: &mut Session,
        flow: &Flow,
        spec: &NodeSpec,
        outcome: &str,
        data: &Map<String, Value>,
    ) {
        let node = s.node.clone();
        match (s.phase, spec) {
            (Phase::Bridged, _) => match next_edge(flow, &node, "answered") {
                Some(target) => self.enter(s, &target),
                None => self.end(s, "completed", None),
            },
            (Phase::Queued, NodeSpec::Enqueue(e)) => {
                // `poll` reaches here only past the deadline, or before it
                // with nobody left to take the call.
                let before_deadline = s.wait.as_ref().is_some_and(|w| self.now() < w.deadline);
                let outcome = match outcome {
                    "poll" if before_deadline => "no_agents",
                    "poll" => "timeout",
                    other => other,
                };
                self.queue_exit(s, flow, &e.queue_id, outcome);
            }
            (Phase::Webhook, _) => {
                // Past its deadline with no report: the webhook failed.
                s.wait = None;
                s.trace(self.now(), "webhook", json!({"error": "timeout"}));
                self.leave(s, flow, "error");
            }
            (Phase::Greeting, NodeSpec::Voicemail(v)) => {
                let key = format!("{}/vm/{}.wav", s.account_id, s.call_id);
                let command = json!({"cmd": "record", "key": key, "uploadUrl": format!("/media/{key}"),
                    "maxSec": v.max_sec.unwrap_or(120), "beep": true, "finishOnKey": "#", "silenceSec": 5});
                self.issue(s, &node, Phase::Command, command);
            }
            (_, NodeSpec::Menu(menu)) => self.menu_input(s, flow, spec, menu, outcome, data),
            (_, NodeSpec::Collect(collect)) => {
                self.collect_input(s, flow, spec, collect, outcome, data)
            }
            (_, NodeSpec::Dial(_) | NodeSpec::RingGroup(_)) if outcome == "answered" => {
                s.trace(self.now(), "bridged", json!({"node": node}));
                self.issue(
                    s,
                    &node,
                    Phase::Bridged,
                    json!({"cmd": "noop", "bridged": true}),
                );
            }
            (_, NodeSpec::Record(_) | NodeSpec::Voicemail(_)) if outcome == "recorded" => {
                if let Some(key) = data.get("key").and_then(Value::as_str) {
                    self.set_var(s, "recording_key", key.to_string());
                }
                if let Some(ms) = data.get("durationMs").and_then(Value::as_u64) {
                    self.set_var(s, "recording_ms", ms.to_string());
                }
                self.leave(s, flow, outcome);
            }
            (_, NodeSpec::Play(_) | NodeSpec::Say(_)) => self.leave(s, flow, "default"),
            _ => self.leave(s, flow, outcome),
        }
    }

    fn menu_input(
        &mut self,
        s: &mut Session,
        flow: &Flow,
        spec: &NodeSpec,
        menu: &spec::Menu,
        outcome: &str,
        data: &Map<String, Value>,
    ) {
        let node = s.node.clone();
        if outcome == "timeout" {
            s.timeouts += 1;
            if s.timeouts >= menu.max_timeouts.unwrap_or(3) {
                return self.leave(s, flow, "timeout");
            }
            let prompt = self.reprompt(
                menu.reprompt_audio_id.as_deref(),
                menu.prompt_audio_id.as_deref(),
                menu.prompt_text.as_deref(),
                s,
            );
            return self.regather(s, &node, spec, prompt);
        }
        let digits = digits_of(outcome, data);
        let handle = format!("digit:{digits}");
        if let Some(target) = next_edge(flow, &node, &handle) {
            return self.enter(s, &target);
        }
        s.failures += 1;
        s.trace(
            self.now(),
            "invalid",
            json!({"node": node, "digits": digits, "failures": s.failures}),
        );
        if s.failures >= menu.max_failures.unwrap_or(3) {
            return self.leave(s, flow, "invalid");
        }
        let prompt = self.reprompt(
            menu.invalid_audio_id.as_deref(),
            menu.prompt_audio_id.as_deref(),
            menu.prompt_text.as_deref(),
            s,
        );
        self.regather(s, &node, spec, prompt);
    }

    fn collect_input(
        &mut self,
        s: &mut Session,
        flow: &Flow,
        spec: &NodeSpec,
        collect: &spec::Collect,
        outcome: &str,
        data: &Map<String, Value>,
    ) {
        let node = s.node.clone();
        let tries = collect.max_tries.unwrap_or(3);
        if outcome == "timeout" {
            s.timeouts += 1;
            if s.timeouts + s.failures >= tries {
                return self.leave(s, flow, "timeout");
            }
            let prompt = self.reprompt(
                collect.reprompt_audio_id.as_deref(),
                collect.prompt_audio_id.as_deref(),
                collect.prompt_text.as_deref(),
                s,
            );
            return self.regather(s, &node, spec, prompt);
        }
        let digits = digits_of(outcome, data);
        let terminator = collect.terminator.as_deref().unwrap_or("#");
        let digits = digits
            .trim_end_matches(|c| terminator.contains(c))
            .to_string();
        let len = digits.len() as u32;
        let mut valid = len >= collect.min_digits.unwrap_or(1)
            && len <= collect.max_digits.unwrap_or(spec::DIGITS_MAX);
        if let (true, Some(pattern)) = (valid, &collect.regex) {
            valid = spec::compile_regex(pattern).is_ok_and(|re| re.is_match(&digits));
        }
        if valid {
            self.set_var(s, &collect.variable, digits);
            return self.leave(s, flow, "success");
        }
        s.failures += 1;
        s.trace(
            self.now(),
            "invalid",
            json!({"node": node, "digits": digits, "failures": s.failures}),
        );
        if s.timeouts + s.failures >= tries {
            return self.leave(s, flow, "invalid");
        }
        let prompt = self.reprompt(
            collect.invalid_audio_id.as_deref(),
            collect.prompt_audio_id.as_deref(),
            collect.prompt_text.as_deref(),
            s,
        );
        self.regather(s, &node, spec, prompt);
    }

    /// A gather command for a menu or collect node.
    fn gather(&self, s: &mut Session, node: &str, spec: &NodeSpec, prompt: Value) {
        let command = match spec {
            NodeSpec::Menu(m) => json!({"cmd": "gather", "prompt": prompt,
                "minDigits": m.min_digits.unwrap_or(1), "maxDigits": m.max_digits.unwrap_or(1),
                "timeoutSec": m.timeout_sec.unwrap_or(5), "interDigitTimeoutSec": m.inter_digit_timeout_sec.unwrap_or(3),
                "terminators": m.terminators.clone().unwrap_or_default(), "bargeIn": m.barge_in.unwrap_or(true)}),
            NodeSpec::Collect(c) => json!({"cmd": "gather", "prompt": prompt,
                "minDigits": c.min_digits.unwrap_or(1), "maxDigits": c.max_digits.unwrap_or(spec::DIGITS_MAX),
                "timeoutSec": c.timeout_sec.unwrap_or(5), "interDigitTimeoutSec": c.inter_digit_timeout_sec.unwrap_or(3),
                "terminators": c.terminator.clone().unwrap_or_else(|| "#".into()), "bargeIn": true}),
            _ => unreachable!("gather is issued by menus and collects only"),
        };
        self.issue(s, node, Phase::Command, command);
    }

    /// Re-prompts (the counters survive: `enter` is not called).
    fn regather(&self, s: &mut Session, node: &str, spec: &NodeSpec, prompt: Value) {
        let (failures, timeouts) = (s.failures, s.timeouts);
        self.gather(s, node, spec, prompt);
        s.failures = failures;
        s.timeouts = timeouts;
    }

    fn dial(
        &mut self,
        s: &mut Session,
        node: &str,
        dial: &spec::Dial,
        flow: &Flow,
    ) -> Option<Next> {
        let now = self.now();
        let target = if let Some(user_id) = &dial.user_id {
            self.user_target(user_id)
        } else if let Some(digits) = &dial.extension {
            let digits = render(digits, s);
            match self.account().extension(&digits) {
                Some(ext) if ext.dest_kind == DestKind::User => {
                    ext.dest_id.as_deref().and_then(|id| self.user_target(id))
                }
                Some(ext) if ext.dest_kind != DestKind::Extension => {
                    let flow_id = sys::dest_flow_id(ext.dest_kind, ext.dest_id.as_deref());
                    return Some(Next::Flow(flow_id));
                }
                _ => None,
            }
        } else {
            let number = render(dial.number.as_deref().unwrap_or(""), s);
            (!number.is_empty()).then(|| json!({"kind": "number", "uri": number}))
        };
        let Some(target) = target else {
            s.trace(now, "error", json!({"error": "no_target", "node": node}));
            return Some(match next_of(flow, node, "failed") {
                Some(next) => Next::Node(next),
                None => Next::End("no_edge"),
            });
        };
        let mut command = json!({"cmd": "dial", "targets": [target], "timeoutSec": dial.timeout_sec.unwrap_or(30)});
        if let Some(cid) = &dial.caller_id {
            command["callerId"] = json!(render(cid, s));
        }
        self.issue(s, node, Phase::Command, command);
        None
    }

    /// A user (by id, username or extension) as a dial target.
    fn user_target(&self, member: &str) -> Option<Value> {
        let account = self.account();
        let user = account
            .user(member)
            .or_else(|| account.user_by_username(member))
            .or_else(|| {
                let ext = account.extension(member)?;
                (ext.dest_kind == DestKind::User).then_some(())?;
                account.user(ext.dest_id.as_deref()?)
            })?;
        let domain = account.primary_domain();
        Some(
            json!({"kind": "user", "uri": format!("sip:{}@{domain}", user.username), "userId": user.id}),
        )
    }

    fn enqueue(
        &mut self,
        s: &mut Session,
        node: &str,
        e: &spec::Enqueue,
        flow: &Flow,
    ) -> Option<Next> {
        let now = self.now();
        let Some(queue) = self.account().queue(&e.queue_id) else {
            s.trace(
                now,
                "error",
                json!({"error": "no_queue", "queueId": e.queue_id}),
            );
            return Some(self.exit_next(flow, node, None, "failed"));
        };
        if let Some(schedule) = queue
            .schedule_id
            .as_deref()
            .and_then(|id| self.account().schedule(id))
        {
            let verdict = hours::evaluate(schedule, &self.account().doc().timezone, now);
            let dest = match verdict.state {
                HoursState::Open => None,
                HoursState::Holiday if queue.holiday_dest_kind.is_some() => {
                    Some((queue.holiday_dest_kind, queue.holiday_dest_id.as_deref()))
                }
                _ => Some((queue.closed_dest_kind, queue.closed_dest_id.as_deref())),
            };
            if let Some((kind, id)) = dest {
                s.trace(
                    now,
                    "queue",
                    json!({"queueId": queue.id, "exit": "closed", "state": verdict.state.as_str()}),
                );
                if let Some(target) = next_edge(flow, node, "closed") {
                    return Some(Next::Node(target));
                }
                if let Some(kind) = kind {
                    return Some(Next::Flow(sys::dest_flow_id(kind, id)));
                }
            }
        }
        let queued = (self.ctx.queued)(&queue.id);
        let staffed = (self.ctx.staffed)(&queue.id);
        let position = u32::try_from(queued).unwrap_or(u32::MAX).saturating_add(1);
        let exit = if staffed == 0 {
            Some("no_agents")
        } else if crate::acd::ewt::exceeds(
            position,
            staffed,
            queue.ewt_threshold_sec,
            queue.ewt_aht_sec,
        ) {
            Some("ewt")
        } else if queue.max_queued.is_some_and(|max| queued >= max as usize) {
            Some("queue_full")
        } else {
            None
        };
        if let Some(exit) = exit {
            s.trace(now, "queue", json!({"queueId": queue.id, "exit": exit}));
            return Some(self.exit_next(flow, node, Some(queue), exit));
        }
        let poll_sec = e.poll_sec.unwrap_or(2);
        let moh = json!({"mode": queue.moh_mode.as_str(),
                         "media": queue.moh_media_id.as_deref().and_then(|id| self.account().media_file(id)).map(|m| m.object_key.clone())});
        let command =
            json!({"cmd": "enqueue", "queueId": queue.id, "moh": moh, "pollSec": poll_sec});
        self.issue(s, node, Phase::Queued, command);
        s.wait = Some(Wait {
            queue_id: queue.id.clone(),
            since: now,
            deadline: now.plus_ms(u64::from(queue.max_wait_sec) * 1000),
        });
        s.trace(now, "queue", json!({"queueId": queue.id, "joined": true}));
        None
    }

    /// Leaves a queue by `exit`.
    fn queue_exit(&mut self, s: &mut Session, flow: &Flow, queue_id: &str, exit: &str) {
        let waited = s.wait.as_ref().map_or(0, |w| self.now().since(w.since));
        s.wait = None;
        s.trace(
            self.now(),
            "queue",
            json!({"queueId": queue_id, "exit": exit, "waitedMs": waited}),
        );
        let node = s.node.clone();
        match exit {
            "answered" => {
                s.trace(self.now(), "bridged", json!({"node": node}));
                self.issue(
                    s,
                    &node,
                    Phase::Bridged,
                    json!({"cmd": "noop", "bridged": true}),
                );
            }
            "abandon" => self.end(s, "abandon", None),
            _ => {
                let queue = self.account().queue(queue_id);
                let next = self.exit_next(flow, &node, queue, exit);
                self.go(s, next);
            }
        }
    }

    /// A queue exit: its edge, else the queue's `<exit>_dest_*`, else
    /// `default`, else the end.
    fn exit_next(&self, flow: &Flow, node: &str, queue: Option<&Queue>, exit: &str) -> Next {
        if let Some(target) = next_edge(flow, node, exit) {
            return Next::Node(target);
        }
        if let Some(queue) = queue {
            let dest = match exit {
                "timeout" => (queue.timeout_dest_kind, queue.timeout_dest_id.as_deref()),
                "abandon" => (queue.abandon_dest_kind, queue.abandon_dest_id.as_deref()),
                "no_agents" => (
                    queue.no_agents_dest_kind,
                    queue.no_agents_dest_id.as_deref(),
                ),
                "queue_full" => (
                    queue.queue_full_dest_kind,
                    queue.queue_full_dest_id.as_deref(),
                ),
                "ewt" => (queue.ewt_dest_kind, queue.ewt_dest_id.as_deref()),
                _ => (None, None),
            };
            if let (Some(kind), id) = dest {
                return Next::Flow(sys::dest_flow_id(kind, id));
            }
        }
        match next_edge(flow, node, "default") {
            Some(target) => Next::Node(target),
            None => Next::End("no_edge"),
        }
    }

    /// A media id of the account, a system prompt id, or an object key.
    fn media_key(&self, id: &str, s: &Session) -> String {
        if let Some(file) = self.account().media_file(id) {
            return file.object_key.clone();
        }
        if crate::media::tts::PROMPT_IDS.contains(&id) {
            return format!(
                "system/{}/{}/{id}.wav",
                s.language,
                self.account().doc().voice_gender.as_str()
            );
        }
        render(id, s)
    }

    fn tts(&self, text: &str, voice: Option<&str>, s: &Session) -> Value {
        let voice = match voice {
            Some(v) => v.to_string(),
            None => format!(
                "{}-neural-{}",
                s.language,
                self.account().doc().voice_gender.as_str()
            ),
        };
        json!({"text": text, "voice": voice, "lang": s.language})
    }

    fn prompt(&self, audio: Option<&str>, text: Option<&str>, s: &Session) -> Value {
        match (audio, text) {
            (Some(id), _) => json!({"media": [self.media_key(id, s)]}),
            (None, Some(text)) => json!({"tts": self.tts(&render(text, s), None, s)}),
            (None, None) => json!({"media": []}),
        }
    }

    /// `first` (a re-prompt or invalid-input notice), then the prompt.
    fn reprompt(
        &self,
        first: Option<&str>,
        audio: Option<&str>,
        text: Option<&str>,
        s: &Session,
    ) -> Value {
        let mut prompt = self.prompt(audio, text, s);
        if let Some(first) = first {
            let key = self.media_key(first, s);
            match prompt.get_mut("media").and_then(Value::as_array_mut) {
                Some(media) => media.insert(0, json!(key)),
                None => prompt["media"] = json!([key]),
            }
        }
        prompt
    }

    fn greeting(&self, mailbox_id: &str, s: &Session) -> String {
        let mailbox = self.account().voicemail_box(mailbox_id);
        match mailbox.and_then(|b| b.greeting_media_id.as_deref()) {
            Some(id) => self.media_key(id, s),
            None => self.media_key("vm-greeting", s),
        }
    }
}

fn render_bounded(value: String) -> String {
    let max = crate::limits::FLOW_TEXT_BYTES_MAX;
    if value.len() <= max {
        return value;
    }
    let mut cut = max;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    value[..cut].to_string()
}

fn digits_of(outcome: &str, data: &Map<String, Value>) -> String {
    match data.get("digits").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => outcome.strip_prefix("digit:").unwrap_or("").to_string(),
    }
}

/// The edge taken on exactly `outcome`.
fn next_edge(flow: &Flow, node: &str, outcome: &str) -> Option<String> {
    flow.edges
        .iter()
        .find(|e| e.source == node && e.outcome() == outcome)
        .map(|e| e.target.clone())
}

/// The edge for `outcome`, else the `default` edge.
fn next_of(flow: &Flow, node: &str, outcome: &str) -> Option<String> {
    next_edge(flow, node, outcome).or_else(|| next_edge(flow, node, "default"))
}

/// `condition` semantics: numbers compare as numbers when both sides parse.
fn compare(var: Option<&str>, op: &str, value: &str) -> bool {
    let left = var.unwrap_or("");
    let numbers = left.parse::<f64>().ok().zip(value.parse::<f64>().ok());
    let order = match numbers {
        Some((a, b)) => a.partial_cmp(&b),
        None => Some(left.cmp(value)),
    };
    use std::cmp::Ordering::*;
    match op {
        "eq" => order == Some(Equal),
        "ne" => order != Some(Equal),
        "gt" => order == Some(Greater),
        "ge" => matches!(order, Some(Greater | Equal)),
        "lt" => order == Some(Less),
        "le" => matches!(order, Some(Less | Equal)),
        "contains" => left.contains(value),
        "matches" => spec::compile_regex(value).is_ok_and(|re| re.is_match(left)),
        "empty" => left.is_empty(),
        "exists" => var.is_some(),
        _ => false,
    }
}
