//! The ACD through a real shard (decide + apply, with images): offers,
//! the reserve fence, expiry, wrap-up, exits, strategies; and a proptest
//! over random sequences for one caller, one agent.

use crate::acd::Status;
use crate::api::agent::AgentAction;
use crate::api::flow::FlowStep;
use crate::api::Call;
use crate::event::Event;
use crate::shard::Shard;
use crate::time::Millis;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::testkit::{agent_call, blank_shard, demo_doc, registered, shard_with, ACME, T0};

struct Bench {
    shard: Shard,
    now: Millis,
    events: Vec<Event>,
    salt: u64,
}

impl Bench {
    fn new(doc: &Value) -> Bench {
        Bench {
            shard: shard_with(doc),
            now: T0,
            events: Vec::new(),
            salt: 1,
        }
    }

    fn demo() -> Bench {
        Bench::new(&demo_doc())
    }

    fn run(&mut self, call: &Call) -> (u16, Value) {
        self.salt += 1;
        let decision = self.shard.execute(self.now, self.salt, call);
        self.events.extend(decision.events.iter().cloned());
        let check = self.shard.acd().account(ACME).map(|a| a.check());
        assert!(check.clone().is_none_or(|c| c.is_ok()), "{check:?}");
        (
            decision.reply.status,
            serde_json::from_slice(&decision.reply.body).unwrap(),
        )
    }

    fn register(&mut self, device: &str) {
        self.shard.apply(&registered(device, self.now));
    }

    fn agent(
        &mut self,
        user: &str,
        action: AgentAction,
        queues: Option<&[(&str, u32)]>,
    ) -> (u16, Value) {
        self.run(&agent_call(user, action, queues))
    }

    /// Registers and logs in `user`, not ready, in `queues`: the queues
    /// are staffed (callers wait) but nobody is offered a call.
    fn standby(&mut self, device: &str, user: &str, queues: &[(&str, u32)]) {
        self.register(device);
        let (status, view) = self.agent(user, AgentAction::Login, Some(queues));
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["agent"]["status"], "not_ready", "{view}");
    }

    /// Registers and logs in `user` as available in `queues`.
    fn ready(&mut self, device: &str, user: &str, queues: &[(&str, u32)]) {
        self.register(device);
        let (status, _) = self.agent(user, AgentAction::Login, Some(queues));
        assert_eq!(status, 200);
        let (status, view) = self.agent(user, AgentAction::Available, None);
        assert_eq!(status, 200, "{view}");
    }

    fn start(&mut self, call: &str, flow: &str) -> Value {
        let body = json!({"callId": call, "accountId": ACME, "flowId": flow});
        let call = match crate::api::flow::decode(body.as_object().unwrap()).unwrap() {
            crate::api::flow::Decoded::Start(start) => Call::FlowStart(Box::new(start)),
            _ => unreachable!(),
        };
        let (status, answer) = self.run(&call);
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn step(&mut self, call: &str, outcome: &str, data: Value) -> (u16, Value) {
        let data: Map<String, Value> = data.as_object().cloned().unwrap_or_default();
        self.run(&Call::FlowStep(Box::new(FlowStep {
            call_id: call.into(),
            outcome: outcome.into(),
            seq: None,
            data,
        })))
    }

    fn poll(&mut self, call: &str) -> Value {
        let (status, answer) = self.step(call, "poll", json!({}));
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn confirm(&mut self, lease: &Value) -> (u16, Value) {
        self.confirm_epoch(lease, lease["epoch"].as_u64().unwrap())
    }

    fn confirm_epoch(&mut self, lease: &Value, epoch: u64) -> (u16, Value) {
        self.run(&Call::AgentConfirm {
            account_id: ACME.into(),
            lease_id: lease["leaseId"].as_str().unwrap().into(),
            epoch,
        })
    }

    /// Bob (authUser 1002) dials `to` directly (`POST /route`).
    fn bob_dials(&mut self, call_id: &str, to: &str) -> (u16, Value) {
        let body = json!({"callId": call_id, "from": "1002", "fromDomain": "acme.sip.io",
                          "to": to, "authUser": "1002", "sourceIp": "198.51.100.8"});
        let request =
            crate::route::RouteRequest::decode(body.as_object().unwrap(), [127, 0, 0, 1].into())
                .unwrap();
        self.run(&Call::Route(Box::new(request)))
    }

    fn tick(&mut self) {
        self.run(&Call::Tick);
    }

    fn view(&mut self, user: &str) -> Value {
        let (status, body) = self.run(&Call::AgentGet {
            account_id: ACME.into(),
            user: user.into(),
        });
        assert_eq!(status, 200);
        body["agent"].clone()
    }

    fn rebuilt(&self) -> Shard {
        let mut rebuilt = blank_shard();
        for event in self.shard.image() {
            rebuilt.apply(&event);
        }
        rebuilt
    }
}

fn cmd(answer: &Value) -> &str {
    answer["command"]["cmd"].as_str().unwrap_or("")
}

#[test]
fn login_lands_not_ready_unless_auto_ready_and_auto_queue_login_takes_static_members() {
    let mut doc = demo_doc();
    doc["users"][3]["auto_queue_login"] = json!(1);
    let mut b = Bench::new(&doc);
    let (_, bob) = b.agent("1002", AgentAction::Login, None);
    assert_eq!(bob["agent"]["status"], "not_ready");
    assert_eq!(bob["agent"]["bucket"], "unreachable");
    b.register("dev_bob");
    assert_eq!(b.view("us_bob")["bucket"], "idle");
    let (_, carol) = b.agent("us_carol", AgentAction::Login, None);
    assert_eq!(carol["agent"]["status"], "available", "auto_ready_on_login");
    let (_, dan) = b.agent("1004", AgentAction::Login, None);
    let queues: Vec<&str> = dan["agent"]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queueId"].as_str().unwrap())
        .collect();
    assert_eq!(
        queues,
        ["q_support", "q_sales"],
        "tier order from queue_members"
    );
    let (status, body) = b.agent("us_alice", AgentAction::Login, None);
    assert_eq!((status, body["path"].as_str()), (422, Some("userId")));
    let (status, _) = b.agent("us_nobody", AgentAction::Login, None);
    assert_eq!(status, 404);
    let (status, body) = b.agent("us_bob", AgentAction::Logout, None);
    assert_eq!(
        (status, body["agent"]["status"].as_str()),
        (200, Some("offline"))
    );
    let (status, body) = b.agent("us_bob", AgentAction::Pause, None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_logged_in"))
    );
}

#[test]
fn an_agent_rung_by_a_direct_call_is_on_an_external_call_and_offered_nothing() {
    let mut b = Bench::demo();
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    b.register("dev_bob");
    assert_eq!(b.view("us_carol")["bucket"], "ready");
    // Bob dials Carol's extension: her devices ring, outside the ACD.
    let (status, answer) = b.bob_dials("direct", "1003");
    assert_eq!(
        (status, answer["rtjson"]["user_id"].as_str()),
        (200, Some("us_carol")),
        "{answer}"
    );
    assert_eq!(b.view("us_carol")["bucket"], "extcall");
    assert_eq!(
        b.rebuilt().call("direct").unwrap().rung_users(),
        ["us_carol"]
    );
    let wait = b.start("c1", "sys:queue:q_sales");
    assert_ne!(cmd(&wait), "dial", "Carol is on a call: {wait}");
}

#[test]
fn a_direct_call_that_rang_no_device_does_not_make_the_user_busy() {
    let mut b = Bench::demo();
    b.register("dev_bob");
    // Bob dials Alice, whose phone is not registered: the call goes on to
    // her voicemail without ringing her.
    let (status, answer) = b.bob_dials("direct", "1001");
    assert_eq!(status, 200, "{answer}");
    let record = b.shard.call("direct").expect("a routed call");
    assert!(record.is_live(), "{answer}");
    assert!(
        record.trace[0]
            .data
            .contains(r#""user_id":"us_alice","ring_strategy""#),
        "the decision went through Alice's ring step: {}",
        record.trace[0].data
    );
    assert_eq!(record.rung_users(), Vec::<String>::new());
    b.register("dev_alice");
    let acme = b.shard.account(ACME).unwrap();
    let busy = b.shard.users_on_external_calls(acme);
    assert_eq!(
        busy.into_iter().collect::<Vec<_>>(),
        ["us_bob"],
        "the caller only"
    );
}

#[test]
fn a_ready_agent_is_offered_at_join_and_the_confirm_fences_by_epoch() {
    let mut b = Bench::demo();
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    let dial = b.start("c1", "sys:queue:q_sales");
    assert_eq!(cmd(&dial), "dial", "instant connect: {dial}");
    let lease = dial["command"]["lease"].clone();
    assert_eq!(dial["command"]["targets"][0]["userId"], "us_carol");
    assert_eq!(b.view("us_carol")["bucket"], "ring");
    let stale = lease["epoch"].as_u64().unwrap() + 1;
    let (status, body) = b.confirm_epoch(&lease, stale);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("stale_lease"))
    );
    let (status, body) = b.confirm(&lease);
    assert_eq!((status, body["agentId"].as_str()), (200, Some("us_carol")));
    let (status, body) = b.confirm(&lease);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("stale_lease")),
        "once"
    );
    assert_eq!(b.view("us_carol")["bucket"], "incall");
    let (status, answer) = b.step("c1", "answered", json!({}));
    assert_eq!(
        (status, answer["command"]["bridged"].as_bool()),
        (200, Some(true))
    );
    b.now = b.now.plus_sec(60);
    b.step("c1", "completed", json!({}));
    let carol = b.view("us_carol");
    assert_eq!(
        (carol["bucket"].as_str(), carol["calls"].as_u64()),
        (Some("wrapup"), Some(1))
    );
    assert_eq!(carol["talkMs"], 60_000);
    // q_sales: wrap_up_sec 10.
    b.now = b.now.plus_sec(10);
    b.tick();
    assert_eq!(b.view("us_carol")["bucket"], "ready");
    let trace = &b.shard.call("c1").unwrap().trace;
    let cdr = trace
        .iter()
        .find(|t| t.kind == "queue_cdr")
        .expect("queue CDR in the trace");
    let cdr: Value = serde_json::from_str(&cdr.data).unwrap();
    assert_eq!(cdr["disposition"], "answered");
    assert_eq!(cdr["agentId"], "us_carol");
    assert!(cdr["connected_at"].as_u64().is_some() && cdr["ended_at"].as_u64().is_some());
    assert!(trace
        .iter()
        .any(|t| t.source == "acd" && t.kind == "offered"));
}

#[test]
fn a_caller_waits_until_an_agent_is_ready_and_gets_the_dial_on_its_next_poll() {
    let mut b = Bench::demo();
    b.standby("dev_dan", "us_dan", &[("q_support", 1)]);
    let held = b.start("c1", "sys:queue:q_support");
    assert_eq!(cmd(&held), "enqueue");
    assert_eq!(cmd(&b.poll("c1")), "noop");
    let (status, _) = b.agent("us_dan", AgentAction::Available, None);
    assert_eq!(status, 200);
    let dial = b.poll("c1");
    assert_eq!(cmd(&dial), "dial", "{dial}");
    assert_eq!(
        dial["command"]["lease"]["confirmUrl"],
        format!(
            "/agent/confirm/{ACME}/{}/{}",
            dial["command"]["lease"]["leaseId"].as_str().unwrap(),
            dial["command"]["lease"]["epoch"]
        )
    );
}

#[test]
fn expiry_counts_a_miss_reoffers_and_auto_pauses_at_max_no_answer() {
    let mut doc = demo_doc();
    doc["queues"][0]["max_no_answer"] = json!(2);
    let mut b = Bench::new(&doc);
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    let first = b.start("c1", "sys:queue:q_sales")["command"]["lease"].clone();
    // q_sales: agent_ring_timeout_sec 20.
    b.now = b.now.plus_sec(20);
    let (status, body) = b.confirm(&first);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("expired"))
    );
    let carol = b.view("us_carol");
    assert_eq!(
        (carol["missed"].as_u64(), carol["state"].as_str()),
        (Some(1), Some("offering")),
        "re-offered: {carol}"
    );
    let second = b.poll("c1")["command"]["lease"].clone();
    assert_eq!(second["leaseId"], first["leaseId"], "one lease id per wait");
    assert!(second["epoch"].as_u64() > first["epoch"].as_u64());
    let (status, body) = b.confirm(&first);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("stale_lease"))
    );
    b.now = b.now.plus_sec(20);
    b.tick();
    let carol = b.view("us_carol");
    assert_eq!(
        (carol["status"].as_str(), carol["missed"].as_u64()),
        (Some("on_break"), Some(2))
    );
    assert_eq!(carol["reason"], "no_answer");
    assert_eq!(cmd(&b.poll("c1")), "noop", "nobody left to offer");
    b.agent("us_carol", AgentAction::Unpause, None);
    assert_eq!(cmd(&b.poll("c1")), "dial");
    assert_eq!(b.view("us_carol")["missed"], 0);
}

#[test]
fn the_edge_reporting_no_answer_with_the_epoch_ends_the_offer_early() {
    let mut b = Bench::demo();
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    b.ready("dev_dan", "us_dan", &[("q_sales", 1)]);
    let dial = b.start("c1", "sys:queue:q_sales");
    let first = dial["command"]["targets"][0]["userId"].clone();
    let epoch = dial["command"]["lease"]["epoch"].clone();
    b.now = b.now.plus_sec(1);
    let (_, same) = b.step("c1", "no_answer", json!({}));
    assert_eq!(
        same["command"]["lease"]["epoch"], epoch,
        "no epoch: nothing changes"
    );
    let (_, next) = b.step("c1", "no_answer", json!({"epoch": epoch}));
    assert_eq!(cmd(&next), "dial");
    assert_ne!(
        next["command"]["targets"][0]["userId"], first,
        "longest idle: the other agent"
    );
}

#[test]
fn an_abandon_withdraws_the_offer_and_frees_the_agent_for_the_next_caller() {
    let mut b = Bench::demo();
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    b.start("c1", "sys:queue:q_sales");
    assert_eq!(cmd(&b.start("c2", "sys:queue:q_sales")), "enqueue");
    let (_, out) = b.step("c1", "hangup", json!({}));
    assert_eq!(cmd(&out), "hangup");
    assert_eq!(
        cmd(&b.poll("c2")),
        "dial",
        "the freed agent goes to the next caller"
    );
    let carol = b.view("us_carol");
    assert_eq!(
        (carol["missed"].as_u64(), carol["call"].as_str()),
        (Some(0), Some("c2"))
    );
    let cdr = b
        .shard
        .call("c1")
        .unwrap()
        .trace
        .iter()
        .find(|t| t.kind == "queue_cdr")
        .cloned()
        .unwrap();
    assert!(
        cdr.data.contains("\"disposition\":\"abandoned\""),
        "{}",
        cdr.data
    );
}

#[test]
fn an_agent_in_two_queues_takes_the_caller_of_its_lower_level_first() {
    let mut b = Bench::demo();
    b.standby("dev_dan", "us_dan", &[("q_support", 1), ("q_sales", 2)]);
    b.start("c1", "sys:queue:q_support");
    b.start("c2", "sys:queue:q_sales");
    b.ready("dev_carol", "us_carol", &[("q_support", 2), ("q_sales", 1)]);
    assert_eq!(b.view("us_carol")["call"], "c2", "q_sales is her level 1");
}

/// The `queue_cdr` entry of `call`'s trace, parsed.
fn queue_cdr(b: &Bench, call: &str) -> Value {
    let entry = b
        .shard
        .call(call)
        .unwrap()
        .trace
        .iter()
        .find(|t| t.kind == "queue_cdr")
        .cloned();
    serde_json::from_str(&entry.expect("a queue CDR").data).unwrap()
}

#[test]
fn no_agents_deflects_at_join_and_ends_a_wait_once_nobody_is_logged_in_and_registered() {
    let mut b = Bench::demo();
    // Doc members, but nobody logged in: deflected at join to q_sales'
    // no_agents destination (voicemail vm_main).
    assert_eq!(cmd(&b.start("c0", "sys:queue:q_sales")), "play");
    assert_eq!(
        b.shard.flow_session("c0").unwrap().flow_id,
        "sys:voicemail:vm_main"
    );
    // Logged in but not registered is not a viable agent either.
    let (status, _) = b.agent("us_dan", AgentAction::Login, Some(&[("q_sales", 1)]));
    assert_eq!(status, 200);
    assert_eq!(cmd(&b.start("c1", "sys:queue:q_sales")), "play");

    // Waiting: the last agent logs out → the next poll leaves by no_agents.
    b.register("dev_dan");
    assert_eq!(cmd(&b.start("c2", "sys:queue:q_sales")), "enqueue");
    assert_eq!(cmd(&b.poll("c2")), "noop", "paused but logged in: viable");
    let (status, _) = b.agent("us_dan", AgentAction::Logout, None);
    assert_eq!(status, 200);
    assert_eq!(cmd(&b.poll("c2")), "play");
    assert_eq!(
        b.shard.flow_session("c2").unwrap().flow_id,
        "sys:voicemail:vm_main"
    );
    assert_eq!(b.shard.queued(ACME, "q_sales"), 0);
    let cdr = queue_cdr(&b, "c2");
    assert_eq!(
        (cdr["disposition"].as_str(), cdr["exit"].as_str()),
        (Some("no_agents"), Some("no_agents"))
    );

    // Waiting: the last agent's device unregisters → no_agents too.
    b.standby("dev_dan", "us_dan", &[("q_sales", 1)]);
    assert_eq!(cmd(&b.start("c3", "sys:queue:q_sales")), "enqueue");
    b.shard.apply(&Event::Unregistered {
        account_id: ACME.into(),
        device_id: "dev_dan".into(),
        contact: None,
        at: b.now,
    });
    assert_eq!(cmd(&b.poll("c3")), "play");
    assert_eq!(queue_cdr(&b, "c3")["exit"], "no_agents");

    // A live offer runs to its end first: Carol is rung, then unregisters;
    // the offer expires (a miss), and only then the caller leaves.
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    let dial = b.start("c4", "sys:queue:q_sales");
    assert_eq!(cmd(&dial), "dial", "{dial}");
    b.shard.apply(&Event::Unregistered {
        account_id: ACME.into(),
        device_id: "dev_carol".into(),
        contact: None,
        at: b.now,
    });
    assert_eq!(cmd(&b.poll("c4")), "dial", "the offer is still live");
    // q_sales: agent_ring_timeout_sec 20.
    b.now = b.now.plus_sec(20);
    assert_eq!(cmd(&b.poll("c4")), "noop", "expired: nobody to re-offer to");
    assert_eq!(b.view("us_carol")["missed"], 1);
    assert_eq!(cmd(&b.poll("c4")), "play");
    assert_eq!(queue_cdr(&b, "c4")["exit"], "no_agents");
}

#[test]
fn ring_all_rings_every_ready_agent_and_the_first_claim_wins() {
    let mut doc = demo_doc();
    doc["queues"][0]["strategy"] = json!("ring_all");
    let mut b = Bench::new(&doc);
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    b.ready("dev_dan", "us_dan", &[("q_sales", 1)]);
    let dial = b.start("c1", "sys:queue:q_sales");
    assert_eq!(dial["command"]["targets"].as_array().unwrap().len(), 2);
    let (status, body) = b.confirm(&dial["command"]["lease"]);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("claim_required"))
    );
    let claim = |agent: &str| Call::AgentClaim {
        account_id: ACME.into(),
        agent_id: agent.into(),
        call_id: "c1".into(),
    };
    let (status, _) = b.run(&claim("1004"));
    assert_eq!(status, 200);
    let (status, body) = b.run(&claim("us_carol"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_claimed"))
    );
    assert_eq!(b.view("us_carol")["bucket"], "ready");
    assert_eq!(b.view("us_dan")["bucket"], "incall");
    let (status, body) = b.run(&Call::AgentClaim {
        account_id: ACME.into(),
        agent_id: "us_dan".into(),
        call_id: "nope".into(),
    });
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("unknown_call"))
    );
}

#[test]
fn ewt_deflects_at_join_and_positions_are_announced_when_they_change() {
    let mut doc = demo_doc();
    doc["queues"][1]["ewt_threshold_sec"] = json!(150);
    doc["queues"][1]["ewt_aht_sec"] = json!(60);
    doc["queues"][1]["ewt_dest_kind"] = json!("voicemail");
    doc["queues"][1]["ewt_dest_id"] = json!("vm_main");
    doc["queues"][1]["announce_position"] = json!(1);
    let mut b = Bench::new(&doc);
    b.register("dev_dan");
    b.agent("us_dan", AgentAction::Login, Some(&[("q_support", 1)]));
    assert_eq!(
        cmd(&b.start("c1", "sys:queue:q_support")),
        "enqueue",
        "1 × 60 s"
    );
    assert_eq!(
        cmd(&b.start("c2", "sys:queue:q_support")),
        "enqueue",
        "2 × 60 s"
    );
    let out = b.start("c3", "sys:queue:q_support");
    assert_eq!(
        cmd(&out),
        "play",
        "3 × 60 s > 150 s: ewt → voicemail: {out}"
    );
    assert!(
        b.poll("c2")["command"]["announce"].is_null(),
        "not before announce_first_sec"
    );
    b.now = b.now.plus_sec(15);
    assert_eq!(b.poll("c2")["command"]["announce"]["position"], 2);
    b.now = b.now.plus_sec(31);
    assert!(
        b.poll("c2")["command"]["announce"].is_null(),
        "same position: silent"
    );
    b.step("c1", "hangup", json!({}));
    assert_eq!(b.poll("c2")["command"]["announce"]["position"], 1);
}

#[test]
fn answered_without_a_confirmed_lease_is_refused() {
    let mut b = Bench::demo();
    b.standby("dev_dan", "us_dan", &[("q_sales", 1)]);
    b.start("c1", "sys:queue:q_sales");
    let (status, body) = b.step("c1", "answered", json!({}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_confirmed"))
    );
}

#[test]
fn presence_users_counts_the_nine_tiles_and_an_image_keeps_everything() {
    let mut b = Bench::demo();
    b.ready("dev_carol", "us_carol", &[("q_sales", 1)]);
    b.register("dev_dan");
    b.agent("us_dan", AgentAction::Login, Some(&[("q_sales", 2)]));
    b.agent("us_dan", AgentAction::Pause, None);
    b.start("c1", "sys:queue:q_sales");
    let (status, body) = b.run(&Call::PresenceUsers {
        account_id: ACME.into(),
    });
    assert_eq!(status, 200);
    let tiles = &body["tiles"];
    assert_eq!(tiles.as_object().unwrap().len(), 9);
    assert_eq!(
        (tiles["ring"].as_u64(), tiles["paused"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(tiles["offline"], 3, "alice, bob, erin");
    let rebuilt = b.rebuilt();
    assert_eq!(rebuilt.acd(), b.shard.acd());
    assert_eq!(
        rebuilt.image(),
        b.shard.image(),
        "an image is a fixed point"
    );
    assert_eq!(
        rebuilt.acd().account(ACME).unwrap().agents["us_dan"].status,
        Status::OnBreak
    );
}

#[derive(Clone, Debug)]
enum Op {
    Join(u8, bool),
    Ready(u8, u8),
    Pause(u8),
    Logout(u8),
    Poll(u8),
    Confirm(u8, bool),
    Claim(u8, u8),
    NoAnswer(u8),
    Hangup(u8),
    Unregister(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, any::<bool>()).prop_map(|(c, q)| Op::Join(c, q)),
        (0u8..3, 0u8..3).prop_map(|(a, q)| Op::Ready(a, q)),
        (0u8..3).prop_map(Op::Pause),
        (0u8..3).prop_map(Op::Logout),
        (0u8..6).prop_map(Op::Poll),
        (0u8..6, any::<bool>()).prop_map(|(c, stale)| Op::Confirm(c, stale)),
        (0u8..6, 0u8..3).prop_map(|(c, a)| Op::Claim(c, a)),
        (0u8..6).prop_map(Op::NoAnswer),
        (0u8..6).prop_map(Op::Hangup),
        (0u8..3).prop_map(Op::Unregister),
        (1u16..40).prop_map(Op::Advance),
    ]
}

const AGENTS: [(&str, &str); 3] = [
    ("us_bob", "dev_bob"),
    ("us_carol", "dev_carol"),
    ("us_dan", "dev_dan"),
];

/// Runs one op; returns the (call, epoch) a 200 confirm took, if any.
fn run_op(
    b: &mut Bench,
    op: &Op,
    leases: &mut std::collections::BTreeMap<String, Value>,
) -> Option<(String, u64)> {
    let call = |c: &u8| format!("c{c}");
    match op {
        Op::Join(c, sales) => {
            if b.shard.flow_session(&call(c)).is_none() && b.shard.call(&call(c)).is_none() {
                b.start(
                    &call(c),
                    if *sales {
                        "sys:queue:q_sales"
                    } else {
                        "sys:queue:q_support"
                    },
                );
            }
        }
        Op::Ready(a, q) => {
            let (user, device) = AGENTS[*a as usize];
            let queues: &[(&str, u32)] = match q {
                0 => &[("q_sales", 1)],
                1 => &[("q_support", 1)],
                _ => &[("q_sales", 2), ("q_support", 1)],
            };
            b.ready(device, user, queues);
        }
        Op::Pause(a) => {
            b.agent(AGENTS[*a as usize].0, AgentAction::Pause, None);
        }
        Op::Logout(a) => {
            b.agent(AGENTS[*a as usize].0, AgentAction::Logout, None);
        }
        Op::Poll(c) => {
            let (_, answer) = b.step(&call(c), "poll", json!({}));
            // A caller still waiting after a poll has someone who could
            // take it: an agent of its queue logged in and registered.
            if let Some(caller) = b.shard.acd().caller(&call(c)).filter(|c| c.is_waiting()) {
                let account = b.shard.account(ACME).unwrap();
                let staff = crate::acd::plan::staffed(&b.shard, account, b.now, &caller.queue_id);
                assert!(
                    staff > 0,
                    "{} waits in {} with nobody to take it: {answer}",
                    caller.call_id,
                    caller.queue_id
                );
            }
            if cmd(&answer) == "dial" {
                leases.insert(call(c), answer["command"]["lease"].clone());
            }
        }
        Op::Confirm(c, stale) => {
            let lease = leases.get(&call(c))?.clone();
            let epoch = lease["epoch"].as_u64()? - u64::from(*stale);
            let (status, _) = b.confirm_epoch(&lease, epoch);
            if status == 200 {
                b.step(&call(c), "answered", json!({}));
                return Some((call(c), epoch));
            }
        }
        Op::Claim(c, a) => {
            b.run(&Call::AgentClaim {
                account_id: ACME.into(),
                agent_id: AGENTS[*a as usize].0.into(),
                call_id: call(c),
            });
        }
        Op::NoAnswer(c) => {
            let epoch = leases
                .get(&call(c))
                .map(|l| l["epoch"].clone())
                .unwrap_or_default();
            b.step(&call(c), "no_answer", json!({"epoch": epoch}));
        }
        Op::Hangup(c) => {
            b.step(&call(c), "hangup", json!({}));
        }
        Op::Unregister(a) => {
            b.shard.apply(&Event::Unregistered {
                account_id: ACME.into(),
                device_id: AGENTS[*a as usize].1.into(),
                contact: None,
                at: b.now,
            });
        }
        Op::Advance(sec) => {
            b.now = b.now.plus_sec(u64::from(*sec));
            b.tick();
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn one_caller_one_agent_under_random_sequences(ops in proptest::collection::vec(op(), 1..80)) {
        let mut doc = demo_doc();
        doc["queues"][0]["strategy"] = json!("ring_all");
        let mut b = Bench::new(&doc);
        let mut leases = std::collections::BTreeMap::new();
        let mut joined = std::collections::BTreeSet::new();
        let mut left = std::collections::BTreeMap::<String, usize>::new();
        for op in &ops {
            if let Some((call_id, epoch)) = run_op(&mut b, op, &mut leases) {
                let caller = b.shard.acd().caller(&call_id).expect("confirmed callers stay");
                prop_assert_eq!(caller.last_epoch, epoch, "a confirm takes only the current epoch");
            }
            let acd = b.shard.acd().account(ACME).cloned().unwrap_or_default();
            prop_assert_eq!(acd.check(), Ok(()));
            let mut holders = std::collections::BTreeMap::new();
            for caller in acd.callers.values() {
                let agents = caller.offer.iter().flat_map(|o| o.agents.clone())
                    .chain(caller.connected.iter().map(|c| c.agent_id.clone()));
                for agent in agents {
                    prop_assert!(holders.insert(agent.clone(), caller.call_id.clone()).is_none(),
                        "agent {} holds two callers", agent);
                }
            }
        }
        for event in &b.events {
            match event {
                Event::QueueJoined(caller) => { joined.insert(caller.call_id.clone()); }
                Event::FlowStep { .. } | Event::CallEnded { .. } => {}
                _ => {}
            }
        }
        for trace in b.shard.calls().values().flat_map(|r| r.trace.iter().map(move |t| (r, t))) {
            if trace.1.kind == "queue_cdr" {
                *left.entry(trace.0.start.call_id.clone()).or_default() += 1;
            }
        }
        for (call, count) in &left {
            prop_assert_eq!(*count, 1, "{} left more than once", call);
            prop_assert!(joined.contains(call));
        }
        for call in &joined {
            let held = b.shard.acd().caller(call).is_some();
            prop_assert!(held != left.contains_key(call), "{} neither held nor left once", call);
        }
        let rebuilt = b.rebuilt();
        prop_assert_eq!(rebuilt.acd(), b.shard.acd());
    }
}
