//! The interpreter through a real shard (decide + apply): every node kind,
//! the guards, retries, durability of sessions and their traces.

use crate::account;
use crate::api::agent::AgentAction;
use crate::api::flow::{decode, Decoded, WebhookReport};
use crate::api::Call;
use crate::event::Event;
use crate::flow::Phase;
use crate::shard::Shard;
use crate::time::Millis;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::testkit::{agent_call, blank_shard, demo_doc, registered, shard_with, ACME, T0};

/// The demo account with one more flow `f` made of `nodes` and `edges`.
fn doc_with(nodes: Value, edges: Value) -> Value {
    let mut doc = demo_doc();
    doc["flows"].as_array_mut().unwrap().push(json!({
        "id": "f", "start": nodes[0]["id"], "nodes": nodes, "edges": edges
    }));
    doc
}

struct Bench {
    shard: Shard,
    now: Millis,
    call: String,
    events: Vec<Event>,
}

impl Bench {
    fn new(doc: &Value) -> Bench {
        Bench {
            shard: shard_with(doc),
            now: T0,
            call: "c1".into(),
            events: Vec::new(),
        }
    }

    fn demo() -> Bench {
        Bench::new(&demo_doc())
    }

    /// The demo account, staffed (see [`Bench::staff`]).
    fn staffed() -> Bench {
        let mut b = Bench::demo();
        b.staff();
        b
    }

    /// Registers Dan and logs him in, not ready, to both demo queues: they
    /// hold callers (someone could take them) without offering them.
    fn staff(&mut self) {
        self.shard.apply(&registered("dev_dan", self.now));
        let login = agent_call(
            "us_dan",
            AgentAction::Login,
            Some(&[("q_support", 1), ("q_sales", 2)]),
        );
        let (status, body) = self.run(&login);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["agent"]["status"], "not_ready");
    }

    fn flow(nodes: Value, edges: Value) -> Bench {
        Bench::new(&doc_with(nodes, edges))
    }

    fn post(&mut self, body: Value) -> (u16, Value) {
        let call = match decode(body.as_object().unwrap()) {
            Ok(Decoded::Start(start)) => Call::FlowStart(Box::new(start)),
            Ok(Decoded::Step(step)) => Call::FlowStep(Box::new(step)),
            Err(e) => {
                let r = e.to_response();
                return (r.status, serde_json::from_slice(&r.body).unwrap());
            }
        };
        self.run(&call)
    }

    fn run(&mut self, call: &Call) -> (u16, Value) {
        let decision = self.shard.execute(self.now, 1, call);
        self.events.extend(decision.events.iter().cloned());
        let body = serde_json::from_slice(&decision.reply.body).unwrap();
        (decision.reply.status, body)
    }

    fn start(&mut self, flow_id: &str) -> Value {
        let (status, body) = self.post(json!({"callId": self.call, "accountId": ACME, "flowId": flow_id, "from": "+15551230000"}));
        assert_eq!(status, 200, "{body}");
        body
    }

    fn step(&mut self, outcome: &str) -> Value {
        let (status, body) = self.post(json!({"callId": self.call, "outcome": outcome}));
        assert_eq!(status, 200, "{outcome}: {body}");
        body
    }

    fn digits(&mut self, digits: &str) -> Value {
        let (status, body) = self.post(json!({"callId": self.call, "outcome": format!("digit:{digits}"), "data": {"digits": digits}}));
        assert_eq!(status, 200, "{body}");
        body
    }

    fn trace(&self) -> Vec<(String, String, Value)> {
        let record = self.shard.call(&self.call).expect("a record");
        record
            .trace
            .iter()
            .map(|e| {
                (
                    e.source.clone(),
                    e.kind.clone(),
                    serde_json::from_str(&e.data).unwrap(),
                )
            })
            .collect()
    }

    fn live(&self) -> bool {
        self.shard.flow_session(&self.call).is_some()
    }
}

fn cmd(answer: &Value) -> &str {
    answer["command"]["cmd"].as_str().unwrap_or("")
}

#[test]
fn the_demo_menu_walks_every_branch() {
    let mut b = Bench::staffed();
    let first = b.start("flow_main");
    assert_eq!(first["node"], "menu");
    assert_eq!(first["seq"], 1);
    assert_eq!(cmd(&first), "gather");
    assert_eq!(
        first["command"]["prompt"]["tts"]["text"],
        "Press 1 for sales, 2 for support"
    );
    assert_eq!(first["command"]["maxDigits"], 1);
    let sales = b.digits("1");
    assert_eq!(
        (cmd(&sales), sales["node"].as_str()),
        ("enqueue", Some("sales"))
    );
    assert_eq!(sales["command"]["queueId"], "q_sales");

    let mut b = Bench::staffed();
    b.start("flow_main");
    let support = b.digits("2");
    assert_eq!(support["command"]["queueId"], "q_support");

    // Three silences: re-prompt twice, then the timeout edge to voicemail.
    let mut b = Bench::staffed();
    b.start("flow_main");
    for seq in [2, 3] {
        let again = b.step("timeout");
        assert_eq!((cmd(&again), again["seq"].as_u64()), ("gather", Some(seq)));
    }
    let vm = b.step("timeout");
    assert_eq!((cmd(&vm), vm["node"].as_str()), ("play", Some("vm")));
    assert_eq!(
        vm["command"]["media"][0],
        "acc_acme/greetings/after-hours.wav"
    );
    let record = b.step("done");
    assert_eq!(cmd(&record), "record");
    assert_eq!(record["command"]["key"], "acc_acme/vm/c1.wav");
    assert_eq!(record["command"]["uploadUrl"], "/media/acc_acme/vm/c1.wav");
    let (status, end) = b.post(json!({"callId": "c1", "outcome": "recorded", "data": {"key": "acc_acme/vm/c1.wav", "durationMs": 4200}}));
    assert_eq!((status, cmd(&end)), (200, "hangup"));
    assert!(!b.live(), "an ended session is evicted");
    let trace = b.trace();
    assert!(trace.iter().any(|(s, k, d)| s == "flow"
        && k == "var"
        && d["name"] == "recording_ms"
        && d["value"] == "4200"));
    assert!(trace.iter().any(|(s, k, _)| s == "flow" && k == "ended"));
    let record = b.shard.call("c1").unwrap();
    assert!(
        !record.is_live(),
        "the flow started the call, so its end ends it"
    );

    // Invalid keys: re-prompt with the notice, then `invalid` (no edge, no
    // default): the flow hangs up.
    let mut b = Bench::staffed();
    b.start("flow_main");
    b.digits("9");
    b.digits("8");
    let end = b.digits("7");
    assert_eq!(cmd(&end), "hangup");
    let invalid = b.trace().iter().filter(|(_, k, _)| k == "invalid").count();
    assert_eq!(invalid, 3);
}

#[test]
fn seq_makes_retries_safe() {
    let mut b = Bench::staffed();
    b.start("flow_main");
    let moved = b.digits("1");
    assert_eq!(moved["seq"], 2);
    let events = b.events.len();
    // A retry of the first step (seq 1) gets the current command, and
    // nothing is logged.
    let (status, again) = b.post(json!({"callId": "c1", "outcome": "digit:2", "seq": 1}));
    assert_eq!(
        (status, again["seq"].as_u64(), again["node"].as_str()),
        (200, Some(2), Some("sales"))
    );
    assert_eq!(b.events.len(), events);
    let (status, ahead) = b.post(json!({"callId": "c1", "outcome": "timeout", "seq": 9}));
    assert_eq!(
        (status, ahead["error"]["code"].as_str()),
        (409, Some("seq_ahead"))
    );
    // A retried start is the current command too.
    let restart = b.start("flow_main");
    assert_eq!(restart["seq"], 2);
    let (status, other) =
        b.post(json!({"callId": "c1", "accountId": ACME, "flowId": "sys:queue:q_support"}));
    assert_eq!(
        (status, other["error"]["code"].as_str()),
        (409, Some("session_exists"))
    );
}

#[test]
fn bad_requests_are_refused_by_field() {
    let mut b = Bench::demo();
    let cases = [
        (
            json!({"accountId": ACME, "flowId": "flow_main"}),
            400,
            "callId",
        ),
        (
            json!({"callId": "c1", "flowId": "flow_main"}),
            400,
            "accountId",
        ),
        (json!({"callId": "c1", "accountId": ACME}), 400, "flowId"),
        (
            json!({"callId": "c1", "accountId": ACME, "flowId": "flow_main", "vars": [1]}),
            400,
            "vars",
        ),
        (
            json!({"callId": "c1", "accountId": ACME, "flowId": "flow_main", "vars": {"a b": "x"}}),
            422,
            "vars.a b",
        ),
        (
            json!({"callId": "c1", "outcome": "done", "seq": "x"}),
            400,
            "seq",
        ),
        (
            json!({"callId": "c1", "outcome": "done", "data": 3}),
            400,
            "data",
        ),
    ];
    for (body, status, field) in cases {
        let (got, answer) = b.post(body.clone());
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (status, answer) =
        b.post(json!({"callId": "c1", "accountId": ACME, "flowId": "flow_nope"}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("unknown_flow"))
    );
    let (status, answer) = b.post(json!({"callId": "nope", "outcome": "done"}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("unknown_call"))
    );
    assert_eq!(answer["command"]["cmd"], "hangup");
    b.start("flow_main");
    let (status, answer) = b.post(json!({"callId": "c1", "outcome": "recorded"}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("bad_outcome"))
    );
    let (status, _) = b.post(json!({"callId": "c1", "outcome": "poll"}));
    assert_eq!(status, 400, "a gather is not polled");
}

#[test]
fn a_queue_holds_without_logging_and_exits_by_its_destinations() {
    let mut b = Bench::staffed();
    let held = b.start("sys:queue:q_sales");
    assert_eq!(cmd(&held), "enqueue");
    assert_eq!(held["command"]["pollSec"], 2);
    let events = b.events.len();
    // Before q_sales' first position announcement (15 s): nothing to log.
    b.now = T0.plus_sec(10);
    let poll = b.step("poll");
    assert_eq!((cmd(&poll), poll["seq"].as_u64()), ("noop", Some(1)));
    assert_eq!(b.events.len(), events, "a hold poll logs nothing");
    assert_eq!(b.shard.queued(ACME, "q_sales"), 1);
    // q_sales: max_wait_sec 300, timeout → voicemail vm_main.
    b.now = T0.plus_sec(300);
    let out = b.step("poll");
    assert_eq!(cmd(&out), "play", "{out}");
    assert_eq!(
        b.shard.flow_session("c1").unwrap().flow_id,
        "sys:voicemail:vm_main"
    );
    assert_eq!(b.shard.queued(ACME, "q_sales"), 0);

    // The edge reports an exit (queue_full to the queue's destination).
    let mut b = Bench::staffed();
    b.start("sys:queue:q_support");
    let out = b.step("queue_full");
    assert_eq!(
        b.shard.flow_session("c1").unwrap().flow_id,
        "sys:voicemail:vm_main",
        "{out}"
    );
    // Abandon ends the session.
    let mut b = Bench::staffed();
    b.start("sys:queue:q_support");
    assert_eq!(cmd(&b.step("abandon")), "hangup");
    assert!(!b.live());
}

#[test]
fn a_queue_without_members_exits_no_agents_and_max_queued_is_enforced() {
    let mut doc = demo_doc();
    doc["queue_members"] = json!([]);
    let mut b = Bench::new(&doc);
    let out = b.start("sys:queue:q_sales");
    // q_sales: no_agents → voicemail.
    assert_eq!(cmd(&out), "play");
    assert!(
        b.trace().is_empty()
            || b.shard.flow_session("c1").unwrap().flow_id == "sys:voicemail:vm_main"
    );

    let mut doc = demo_doc();
    doc["queues"][1]["max_queued"] = json!(1);
    let mut b = Bench::new(&doc);
    b.staff();
    assert_eq!(cmd(&b.start("sys:queue:q_support")), "enqueue");
    b.call = "c2".into();
    let second = b.start("sys:queue:q_support");
    assert_eq!(cmd(&second), "play", "queue_full → voicemail: {second}");
}

#[test]
fn collect_checks_digits_and_stores_the_variable() {
    let nodes = json!([
        {"id": "pin", "data": {"kind": "collect", "variable": "pin", "promptText": "PIN for {{from}}", "minDigits": 4, "maxDigits": 6, "regex": "^1[0-9]+$", "maxTries": 2}},
        {"id": "ok", "data": {"kind": "say", "text": "Thanks {{pin}}"}},
        {"id": "bye", "data": {"kind": "hangup", "cause": "rejected", "sipCode": 403}}
    ]);
    let edges = json!([
        {"id": "e1", "source": "pin", "target": "ok", "sourceHandle": "success"},
        {"id": "e2", "source": "pin", "target": "bye", "sourceHandle": "invalid"}
    ]);
    let mut b = Bench::flow(nodes.clone(), edges.clone());
    let first = b.start("f");
    assert_eq!(
        first["command"]["prompt"]["tts"]["text"],
        "PIN for +15551230000"
    );
    let again = b.digits("123");
    assert_eq!(cmd(&again), "gather", "too short");
    let ok = b.digits("1234#");
    assert_eq!(ok["command"]["tts"]["text"], "Thanks 1234");

    let mut b = Bench::flow(nodes, edges);
    b.start("f");
    b.digits("9999");
    let bye = b.digits("2222");
    assert_eq!(
        bye["command"],
        json!({"cmd": "hangup", "cause": "rejected", "sipCode": 403})
    );
}

#[test]
fn time_conditions_follow_the_schedule() {
    let nodes = json!([
        {"id": "tc", "data": {"kind": "timeCondition", "scheduleId": "sch_office"}},
        {"id": "open", "data": {"kind": "say", "text": "open"}},
        {"id": "closed", "data": {"kind": "say", "text": "closed"}}
    ]);
    let edges = json!([
        {"id": "e1", "source": "tc", "target": "open", "sourceHandle": "in_hours"},
        {"id": "e2", "source": "tc", "target": "closed", "sourceHandle": "out_of_hours"}
    ]);
    for (at, expect) in [
        (T0, "open"),
        (T0.plus_sec(12 * 3600), "closed"),
        // 2025-12-25 15:00 UTC: a Thursday, but a holiday (no holiday edge:
        // out_of_hours).
        (Millis(1_766_674_800_000), "closed"),
    ] {
        let mut b = Bench::flow(nodes.clone(), edges.clone());
        b.now = at;
        let answer = b.start("f");
        assert_eq!(answer["command"]["tts"]["text"], expect, "at {at:?}");
    }
}

#[test]
fn variables_conditions_language_and_goto() {
    let nodes = json!([
        {"id": "set", "data": {"kind": "setVariable", "variable": "tier", "value": "{{level}}"}},
        {"id": "check", "data": {"kind": "condition", "variable": "tier", "operator": "ge", "value": "5"}},
        {"id": "vip", "data": {"kind": "setLanguage", "language": "es-ES"}},
        {"id": "jump", "data": {"kind": "goto", "target": "hello"}},
        {"id": "hello", "data": {"kind": "say", "text": "hola"}},
        {"id": "plain", "data": {"kind": "play", "audioId": "goodbye"}}
    ]);
    let edges = json!([
        {"id": "e1", "source": "set", "target": "check"},
        {"id": "e2", "source": "check", "target": "vip", "sourceHandle": "true"},
        {"id": "e3", "source": "check", "target": "plain", "sourceHandle": "false"},
        {"id": "e4", "source": "vip", "target": "jump"}
    ]);
    let mut b = Bench::flow(nodes.clone(), edges.clone());
    let (status, vip) =
        b.post(json!({"callId": "c1", "accountId": ACME, "flowId": "f", "vars": {"level": 7}}));
    assert_eq!(status, 200);
    assert_eq!(
        vip["command"]["tts"],
        json!({"text": "hola", "voice": "es-ES-neural-female", "lang": "es-ES"})
    );
    let mut b = Bench::flow(nodes, edges);
    let (_, plain) = b.post(
        json!({"callId": "c1", "accountId": ACME, "flowId": "f", "vars": {"level": "10.0e-1"}}),
    );
    assert_eq!(
        plain["command"]["media"],
        json!(["system/en-US/female/goodbye.wav"])
    );
}

#[test]
fn dial_bridges_then_completes() {
    let nodes = json!([
        {"id": "call", "data": {"kind": "dial", "userId": "us_alice", "timeoutSec": 20, "callerId": "{{from}}"}},
        {"id": "busy", "data": {"kind": "voicemail", "mailboxId": "vm_main"}}
    ]);
    let edges = json!([{"id": "e1", "source": "call", "target": "busy", "sourceHandle": "busy"}]);
    let mut b = Bench::flow(nodes.clone(), edges.clone());
    let dial = b.start("f");
    assert_eq!(
        dial["command"]["targets"][0],
        json!({"kind": "user", "uri": "sip:1001@acme.sip.io", "userId": "us_alice"})
    );
    assert_eq!(dial["command"]["callerId"], "+15551230000");
    let bridged = b.step("answered");
    assert_eq!(bridged["command"], json!({"cmd": "noop", "bridged": true}));
    assert!(
        b.trace().iter().any(|(_, k, _)| k == "bridged"),
        "the trace is written at the bridge"
    );
    assert_eq!(cmd(&b.step("completed")), "hangup");
    let mut b = Bench::flow(nodes, edges);
    b.start("f");
    assert_eq!(cmd(&b.step("busy")), "play");
}

#[test]
fn other_nodes_issue_their_commands() {
    let nodes = json!([
        {"id": "rec", "data": {"kind": "record", "key": "acc_acme/notes/{{callId}}.wav", "maxSec": 30}},
        {"id": "room", "data": {"kind": "conference", "room": "standup", "moderator": true}},
        {"id": "group", "data": {"kind": "ringGroup", "members": ["us_alice", "1002"], "strategy": "sequential"}},
        {"id": "end", "data": {"kind": "hangup"}}
    ]);
    let edges = json!([
        {"id": "e1", "source": "rec", "target": "room", "sourceHandle": "recorded"},
        {"id": "e2", "source": "room", "target": "group", "sourceHandle": "left"},
        {"id": "e3", "source": "group", "target": "end", "sourceHandle": "no_answer"}
    ]);
    let mut b = Bench::flow(nodes, edges);
    let rec = b.start("f");
    assert_eq!(rec["command"]["key"], "acc_acme/notes/c1.wav");
    assert_eq!(rec["command"]["maxSec"], 30);
    let room = b.step("recorded");
    assert_eq!(
        room["command"],
        json!({"cmd": "conference", "room": "acc_acme:standup", "moderator": true, "muted": false})
    );
    let group = b.step("left");
    assert_eq!(group["command"]["mode"], "serial");
    assert_eq!(group["command"]["targets"].as_array().unwrap().len(), 2);
    assert_eq!(cmd(&b.step("no_answer")), "hangup");
}

#[test]
fn system_flows_start_from_route_targets() {
    let mut b = Bench::demo();
    assert_eq!(cmd(&b.start("sys:voicemail:vm_main")), "play");
    b.call = "c2".into();
    assert_eq!(
        b.start("sys:conference:conf_1")["command"]["room"],
        "acc_acme:conf_1"
    );
    b.call = "c3".into();
    let group = b.start("sys:ring_group:rg_sales");
    assert_eq!(
        group["command"]["targets"][0]["uri"],
        "sip:rg_sales@acme.sip.io"
    );
    let (status, _) =
        b.post(json!({"callId": "c4", "accountId": ACME, "flowId": "sys:queue:q_nope"}));
    assert_eq!(status, 404);
}

#[test]
fn the_loop_guard_ends_a_flow_that_never_blocks() {
    let nodes = json!([
        {"id": "a", "data": {"kind": "goto", "target": "b"}},
        {"id": "b", "data": {"kind": "goto", "target": "a"}}
    ]);
    let mut b = Bench::flow(nodes, json!([]));
    let end = b.start("f");
    assert_eq!(cmd(&end), "hangup");
    assert!(b
        .trace()
        .iter()
        .any(|(_, k, d)| k == "error" && d["error"] == "loop_guard"));
}

#[test]
fn the_step_guard_ends_a_flow_after_a_thousand_steps() {
    let nodes = json!([{"id": "a", "data": {"kind": "play", "media": ["x.wav"]}}]);
    let edges = json!([{"id": "e", "source": "a", "target": "a"}]);
    let mut b = Bench::flow(nodes, edges);
    b.start("f");
    for _ in 0..999 {
        assert_eq!(cmd(&b.step("done")), "play");
    }
    assert_eq!(cmd(&b.step("done")), "hangup");
    let trace = b.trace();
    assert!(trace
        .iter()
        .any(|(_, k, d)| k == "error" && d["error"] == "step_guard"));
}

#[test]
fn webhooks_hold_the_caller_until_the_runtime_reports() {
    let nodes = json!([
        {"id": "hook", "data": {"kind": "webhook", "url": "http://crm.example:8080/lookup", "timeoutSec": 3}},
        {"id": "ok", "data": {"kind": "say", "text": "Hello {{name}}"}},
        {"id": "err", "data": {"kind": "say", "text": "sorry"}}
    ]);
    let edges = json!([
        {"id": "e1", "source": "hook", "target": "ok", "sourceHandle": "ok"},
        {"id": "e2", "source": "hook", "target": "err", "sourceHandle": "error"}
    ]);
    let mut b = Bench::flow(nodes.clone(), edges.clone());
    let wait = b.start("f");
    assert_eq!(wait["command"], json!({"cmd": "noop", "pollSec": 1}));
    let webhook = b.events.iter().find_map(|e| match e {
        Event::FlowStep {
            webhook: Some(w), ..
        } => Some(w.clone()),
        _ => None,
    });
    let webhook = webhook.expect("the event carries the webhook");
    assert_eq!(webhook.url, "http://crm.example:8080/lookup");
    assert_eq!(cmd(&b.step("poll")), "noop");
    let report = WebhookReport {
        call_id: "c1".into(),
        seq: webhook.seq,
        ok: true,
        vars: json!({"name": "Ada"}).as_object().unwrap().clone(),
    };
    let (status, applied) = b.run(&Call::FlowWebhook(Box::new(report.clone())));
    assert_eq!((status, applied["applied"].as_bool()), (200, Some(true)));
    assert_eq!(
        b.shard.flow_session("c1").unwrap().command_json()["tts"]["text"],
        "Hello Ada"
    );
    // A late duplicate report changes nothing.
    let (_, again) = b.run(&Call::FlowWebhook(Box::new(report)));
    assert_eq!(again["applied"], false);

    let mut b = Bench::flow(nodes, edges);
    b.start("f");
    b.now = T0.plus_sec(3);
    assert_eq!(b.step("poll")["command"]["tts"]["text"], "sorry");
}

#[test]
fn sessions_survive_a_restart_through_the_image_and_log() {
    let mut b = Bench::demo();
    b.start("flow_main");
    b.step("timeout");
    let image = b.shard.image();
    let mut restarted = blank_shard();
    for event in &image {
        restarted.apply(event);
    }
    assert_eq!(restarted.flow_session("c1"), b.shard.flow_session("c1"));
    // And from the log alone (every event of the run, replayed).
    let mut replayed = Bench::demo();
    for event in &b.events {
        replayed.shard.apply(event);
    }
    assert_eq!(
        replayed.shard.flow_session("c1"),
        b.shard.flow_session("c1")
    );
    b.shard = restarted;
    assert_eq!(b.digits("2")["node"], "support");
}

#[test]
fn a_call_ending_under_its_flow_evicts_the_session_with_its_trace() {
    let mut b = Bench::staffed();
    b.start("flow_main");
    b.digits("1");
    assert_eq!(b.shard.flow_session("c1").unwrap().phase, Phase::Queued);
    let body = json!({"type": "dialog", "callId": "c1", "state": "terminated", "node": "n1"});
    let crate::api::presence::Decoded::Event(event) =
        crate::api::presence::decode(body.as_object().unwrap()).unwrap()
    else {
        panic!("a dialog event")
    };
    b.run(&Call::Presence(Box::new(event)));
    assert!(!b.live());
    let trace = b.trace();
    assert!(trace
        .iter()
        .any(|(s, k, d)| s == "flow" && k == "node" && d["node"] == "sales"));
    assert!(trace
        .iter()
        .any(|(s, k, _)| s == "presence" && k == "ended"));
}

/// A small random flow over the kinds that branch on outcomes.
fn any_flow() -> impl Strategy<Value = (Value, Value)> {
    let kinds = prop_oneof![
        Just(
            json!({"kind": "menu", "promptText": "x", "maxDigits": 1, "maxFailures": 2, "maxTimeouts": 2})
        ),
        Just(json!({"kind": "play", "audioId": "welcome"})),
        Just(json!({"kind": "say", "text": "hi {{from}}"})),
        Just(json!({"kind": "collect", "variable": "v", "maxDigits": 3})),
        Just(json!({"kind": "dial", "number": "+15550001111"})),
        Just(json!({"kind": "record"})),
        Just(json!({"kind": "conference", "room": "r"})),
        Just(json!({"kind": "setVariable", "variable": "v", "value": "{{v}}1"})),
        Just(json!({"kind": "condition", "variable": "v", "operator": "contains", "value": "11"})),
        Just(json!({"kind": "timeCondition", "scheduleId": "sch_office"})),
        Just(json!({"kind": "enqueue", "queueId": "q_support"})),
        Just(json!({"kind": "hangup"})),
    ];
    let handles = [
        "default",
        "digit:1",
        "digit:2",
        "timeout",
        "invalid",
        "success",
        "true",
        "false",
        "in_hours",
        "out_of_hours",
        "answered",
        "no_answer",
        "busy",
        "recorded",
        "left",
    ];
    (proptest::collection::vec(kinds, 1..7), proptest::collection::vec((0usize..7, 0usize..7, 0usize..handles.len()), 0..14))
        .prop_map(move |(kinds, edges)| {
            let n = kinds.len();
            let nodes: Vec<Value> = kinds.into_iter().enumerate().map(|(i, data)| json!({"id": format!("n{i}"), "data": data})).collect();
            let mut seen = std::collections::BTreeSet::new();
            let mut out = Vec::new();
            for (i, (from, to, handle)) in edges.into_iter().enumerate() {
                let (from, to) = (from % n, to % n);
                let spec = crate::flow::spec::parse(nodes[from]["data"].as_object().unwrap()).unwrap();
                if !spec.has_outcome(handles[handle]) || !seen.insert((from, handle)) {
                    continue;
                }
                out.push(json!({"id": format!("e{i}"), "source": format!("n{from}"), "target": format!("n{to}"), "sourceHandle": handles[handle]}));
            }
            (Value::Array(nodes), Value::Array(out))
        })
}

const OUTCOMES: [&str; 16] = [
    "done",
    "digit:1",
    "digit:2",
    "digit:9",
    "timeout",
    "answered",
    "no_answer",
    "busy",
    "failed",
    "completed",
    "recorded",
    "left",
    "poll",
    "abandon",
    "hangup",
    "bogus",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// Any outcome sequence on any valid flow: every answer is a command or
    /// a 4xx, a retried step never advances twice, the session ends within
    /// the guards and leaves its trace on the record.
    #[test]
    fn any_outcomes_on_any_flow_end_within_the_guards(
        (nodes, edges) in any_flow(),
        picks in proptest::collection::vec(0usize..OUTCOMES.len(), 0..60),
    ) {
        let doc = doc_with(nodes, edges);
        prop_assume!(account::parse(ACME, &doc).is_ok());
        let mut b = Bench::new(&doc);
        let mut answer = b.start("f");
        let mut steps = 0u32;
        for pick in picks.iter().chain(std::iter::once(&14)) {
            if cmd(&answer) == "hangup" {
                break;
            }
            let seq = answer["seq"].as_u64().unwrap();
            b.now = b.now.plus_sec(7);
            let (status, next) = b.post(json!({"callId": "c1", "outcome": OUTCOMES[*pick], "seq": seq}));
            // A queued caller's `answered` needs a confirmed lease (the ACD).
            let unconfirmed = status == 409 && next["error"]["code"] == "not_confirmed";
            prop_assert!(status == 200 || status == 400 || unconfirmed, "{status} {next}");
            if status == 200 {
                let command = cmd(&next);
                prop_assert!(["play", "gather", "dial", "enqueue", "record", "conference", "hangup", "noop"].contains(&command), "{next}");
                prop_assert!(next["seq"].as_u64().unwrap() >= seq);
                if next["seq"].as_u64().unwrap() > seq {
                    // The same step again is a retry: the same answer, no event.
                    let events = b.events.len();
                    let (_, again) = b.post(json!({"callId": "c1", "outcome": OUTCOMES[*pick], "seq": seq}));
                    if command != "hangup" {
                        prop_assert_eq!(&again, &next);
                        prop_assert_eq!(b.events.len(), events);
                    }
                }
                answer = next;
                steps += 1;
            }
        }
        prop_assert!(steps <= crate::limits::FLOW_STEPS_MAX + 1);
        prop_assert_eq!(cmd(&answer), "hangup", "the final hangup ends every flow: {}", answer);
        prop_assert!(!b.live());
        prop_assert!(b.trace().iter().any(|(s, k, _)| s == "flow" && k == "ended"));
    }
}
