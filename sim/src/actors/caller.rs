//! A SIP edge node placing calls (Kamailio with the dialog module): routes
//! inbound, internal and outbound calls of its own account over `/route`,
//! reports their dialogs over `/presence/event` — with lost, duplicated
//! and reordered reports — sends `sync` reports, and restarts now and then
//! (a new boot epoch, every call of the old one forgotten).
//!
//! Its account has tight limits and is never touched by the operators, so
//! the invariants can hold the brain's CAC state to it: counters equal the
//! admitted, unreleased calls; no hard limit is passed; every call is
//! released at most once, and by the end of the healed phase at least once
//! (the closing `sync` lists nothing).

use super::{Actor, Ctx, Next, EDGE_TOKEN};
use crate::client::{Op, Reply};
use crate::model::md5_hex;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// Prefix of the accounts callers own (invariants look for it).
pub const ACCOUNT_PREFIX: &str = "acc_calls_";

/// What an operation in flight was for.
#[derive(Clone, Debug)]
enum Intent {
    Provision,
    Register { bind: bool },
    Route { call_id: String },
    Dialog,
    Sync { last: bool },
}

/// A call this edge believes is up.
#[derive(Clone, Debug)]
struct Live {
    call_id: String,
    confirmed: bool,
}

/// One call-placing SIP edge.
pub struct Caller {
    name: String,
    peer: IpAddr,
    index: usize,
    node: String,
    epoch: u64,
    next_call: u64,
    provisioned: bool,
    registered: Option<bool>,
    intent: Option<(u64, Intent)>,
    live: Vec<Live>,
    /// Calls whose end was reported, to report again (duplicates, late).
    ended: Vec<String>,
    /// The first decision seen per callId: a retried /route must get it again.
    decisions: BTreeMap<String, Value>,
    /// Closing (healed phase): the final epoch is taken.
    closing: bool,
    done: bool,
}

impl Caller {
    pub fn new(index: usize) -> Caller {
        Caller {
            name: format!("caller-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 3, 0, index as u8 + 1)),
            index,
            node: format!("kam-{index}"),
            epoch: 1,
            next_call: 0,
            provisioned: false,
            registered: None,
            intent: None,
            live: Vec::new(),
            ended: Vec::new(),
            decisions: BTreeMap::new(),
            closing: false,
            done: false,
        }
    }

    fn account_id(&self) -> String {
        format!("{ACCOUNT_PREFIX}{}", self.index)
    }

    fn domain(&self) -> String {
        format!("calls-{}.sim.test", self.index)
    }

    fn did(&self, k: u32) -> String {
        format!("1555{:03}000{k}", self.index)
    }

    /// The caller's account: two users with devices, two DIDs, a trunk,
    /// tight concurrency limits and a hard outbound rate.
    pub fn document(&self) -> Value {
        let realm = self.domain();
        let device = |user: &str, name: &str| {
            json!({
                "id": format!("dev_{name}"), "user_id": user, "auth_username": name, "realm": realm,
                "ha1": md5_hex(&[name, &realm, "pw"]),
                "ha1b": md5_hex(&[&format!("{name}@{realm}"), &realm, "pw"]),
            })
        };
        json!({
            "name": format!("calls {}", self.index),
            "max_in": 3,
            "max_out": 2,
            "domains": [{"domain": realm, "is_primary": 1}],
            "users": [
                {"id": "us_a", "username": "1001", "max_simultaneous": 2, "out_cid_number": self.did(1)},
                {"id": "us_b", "username": "1002", "voicemail_id": "vm_main"},
            ],
            "devices": [device("us_a", "1001"), device("us_b", "1002")],
            "dids": [
                {"id": "did_b", "e164": self.did(2), "dest_kind": "user", "dest_id": "us_b", "max_channels": 2},
                {"id": "did_vm", "e164": self.did(3), "dest_kind": "voicemail", "dest_id": "vm_main"},
            ],
            "trunks": [{"id": "tr_out", "name": "carrier", "direction": "outbound",
                        "proxy": "carrier.sim.test:5060", "max_channels": 2}],
            "call_limits": [{"id": "lim_out", "scope_kind": "account", "direction": "out",
                             "period_sec": 20, "max_count": 4, "hard": 1}],
            "voicemail_boxes": [{"id": "vm_main", "name": "main"}],
        })
    }

    fn edge_op(&self, op: u64, kind: &'static str, path: &str, body: &Value, ctx: &mut Ctx) -> Op {
        let request = Op::new(op, kind, "POST", path)
            .header("x-edge-token", EDGE_TOKEN)
            .attempts(ctx.knobs.edge_attempts_max);
        if ctx.rng.gen_bool(0.5) {
            return request.json(body);
        }
        let fields: Vec<(String, String)> = body
            .as_object()
            .expect("bodies are objects")
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k.clone(), s.clone()),
                other => (k.clone(), other.to_string()),
            })
            .collect();
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request.form(&pairs)
    }

    fn send(&mut self, op: u64, intent: Intent, request: Op) -> Next {
        self.intent = Some((op, intent));
        Next::Send(request)
    }

    fn place_call(&mut self, ctx: &mut Ctx) -> Next {
        self.next_call += 1;
        let call_id = format!("{}-{}-{}", self.node, self.epoch, self.next_call);
        let domain = self.domain();
        let body = match ctx.rng.gen_range(0..3) {
            0 => {
                json!({"callId": call_id, "from": format!("1415555{:04}", ctx.rng.gen_range(0..10_000)),
                        "fromDomain": "carrier.sim.test", "to": self.did(ctx.rng.gen_range(2..=3)),
                        "sourceIp": "192.0.2.50"})
            }
            1 => json!({"callId": call_id, "from": "1001", "fromDomain": domain, "to": "1002",
                        "authUser": "1001"}),
            _ => json!({"callId": call_id, "from": "1001", "fromDomain": domain,
                        "to": format!("1202555{:04}", ctx.rng.gen_range(0..10_000)), "authUser": "1001"}),
        };
        self.route(call_id, body, ctx)
    }

    fn route(&mut self, call_id: String, mut body: Value, ctx: &mut Ctx) -> Next {
        body["node"] = json!(self.node);
        body["epoch"] = json!(self.epoch);
        let op = ctx.model.new_op();
        let request = self.edge_op(op, "route", "/route", &body, ctx);
        self.send(op, Intent::Route { call_id }, request)
    }

    fn dialog(&mut self, call_id: &str, state: &str, ctx: &mut Ctx) -> Next {
        let mut body =
            json!({"type": "dialog", "callId": call_id, "state": state, "node": self.node});
        if ctx.rng.gen_bool(0.5) {
            body["epoch"] = json!(self.epoch);
        }
        if state == "failed" {
            body["code"] = json!(*[486, 487, 408, 503]
                .get(ctx.rng.gen_range(0..4))
                .unwrap_or(&487));
        }
        let op = ctx.model.new_op();
        let request = self.edge_op(op, "dialog", "/presence/event", &body, ctx);
        self.send(op, Intent::Dialog, request)
    }

    fn sync(&mut self, last: bool, ctx: &mut Ctx) -> Next {
        let ids: Vec<&str> = self.live.iter().map(|l| l.call_id.as_str()).collect();
        let body = json!({"type": "dialog", "state": "sync", "node": self.node,
                          "epoch": self.epoch, "callIds": ids});
        let op = ctx.model.new_op();
        let mut request = self.edge_op(op, "sync", "/presence/event", &body, ctx);
        if last {
            request.attempts_max = None;
        }
        self.send(op, Intent::Sync { last }, request)
    }

    fn register(&mut self, bind: bool, ctx: &mut Ctx) -> Next {
        let body = json!({"type": "register", "event": if bind { "registered" } else { "unregistered" },
                          "username": "1002", "realm": self.domain(),
                          "contact": format!("sip:1002@10.3.0.{}:5060", self.index + 1),
                          "expires": 86_400, "node": self.node});
        let op = ctx.model.new_op();
        let request = self.edge_op(op, "register", "/presence/event", &body, ctx);
        self.send(op, Intent::Register { bind }, request)
    }

    /// The healed phase: end every call believed up, then stop as a node
    /// does: a last sync under a new epoch that lists nothing (retried until
    /// answered) releases whatever reports were lost. (A plain sync would
    /// spare calls routed within the grace period of the brain's clock,
    /// which a wall-clock step back can stretch.)
    fn close(&mut self, ctx: &mut Ctx) -> Next {
        if self.done || !self.provisioned {
            return Next::Done;
        }
        if let Some(live) = self.live.pop() {
            return self.dialog(&live.call_id, "terminated", ctx);
        }
        if !self.closing {
            self.closing = true;
            self.epoch += 1;
        }
        self.sync(true, ctx)
    }
}

impl Actor for Caller {
    fn name(&self) -> &str {
        &self.name
    }

    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn next(&mut self, ctx: &mut Ctx) -> Next {
        if !self.provisioned {
            let op = ctx.model.new_op();
            let request = super::account_put(op, &self.account_id(), &self.document());
            return self.send(op, Intent::Provision, request);
        }
        if ctx.healed {
            return self.close(ctx);
        }
        if self.registered.is_none() {
            return self.register(true, ctx);
        }
        let roll = ctx.rng.gen_range(0..100);
        if roll < 35 {
            return self.place_call(ctx);
        }
        if roll < 55 && !self.live.is_empty() {
            let i = ctx.rng.gen_range(0..self.live.len());
            let state = if self.live[i].confirmed || ctx.rng.gen_bool(0.2) {
                "early"
            } else {
                "confirmed"
            };
            self.live[i].confirmed |= state == "confirmed";
            let call_id = self.live[i].call_id.clone();
            return self.dialog(&call_id, state, ctx);
        }
        if roll < 75 && !self.live.is_empty() {
            let i = ctx.rng.gen_range(0..self.live.len());
            let live = self.live.swap_remove(i);
            if ctx.rng.gen_bool(0.1) {
                // The report is lost for good: sync or reaping must release it.
                return Next::Sleep(1);
            }
            self.ended.push(live.call_id.clone());
            let state = if live.confirmed || ctx.rng.gen_bool(0.5) {
                "terminated"
            } else {
                "failed"
            };
            return self.dialog(&live.call_id, state, ctx);
        }
        if roll < 82 && !self.ended.is_empty() {
            // A duplicate or late report of an ended call (or its progress).
            let call_id = self.ended[ctx.rng.gen_range(0..self.ended.len())].clone();
            let state = ["terminated", "failed", "confirmed", "early"][ctx.rng.gen_range(0..4)];
            return self.dialog(&call_id, state, ctx);
        }
        if roll < 87 && !self.decisions.is_empty() {
            // A /route retried much later by the edge: the same decision.
            let k = ctx.rng.gen_range(0..self.decisions.len());
            let call_id = self.decisions.keys().nth(k).cloned().expect("in range");
            let body = json!({"callId": call_id, "from": "1001", "fromDomain": self.domain(),
                              "to": "1002", "authUser": "1001"});
            return self.route(call_id, body, ctx);
        }
        if roll < 91 {
            return self.sync(false, ctx);
        }
        if roll < 93 {
            // The node restarts: its dialogs are gone; the new epoch tells
            // the brain to release them all.
            self.epoch += 1;
            self.live.clear();
            return self.sync(false, ctx);
        }
        if roll < 95 {
            let bind = !self.registered.unwrap_or(false);
            return self.register(bind, ctx);
        }
        Next::Sleep(ctx.rng.gen_range(1..300))
    }

    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx) {
        let Some((_, intent)) = self.intent.take().filter(|(id, _)| *id == op.id) else {
            return;
        };
        let name = &self.name;
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
            Intent::Register { bind } => {
                if reply.status == 200 {
                    self.registered = Some(bind);
                } else {
                    ctx.violation(format!("{name}: register answered {} {body}", reply.status));
                }
            }
            Intent::Route { call_id } => {
                if reply.status != 200 {
                    ctx.violation(format!(
                        "{name}: /route {call_id} answered {} {body}",
                        reply.status
                    ));
                    return;
                }
                let rtjson = body["rtjson"].clone();
                match self.decisions.get(&call_id) {
                    Some(first) if *first != rtjson => ctx.violation(format!(
                        "{name}: /route {call_id} retried got {rtjson}, first {first}"
                    )),
                    Some(_) => {}
                    None => {
                        if rtjson["action"] != "reject"
                            && call_id.contains(&format!("-{}-", self.epoch))
                        {
                            self.live.push(Live {
                                call_id: call_id.clone(),
                                confirmed: false,
                            });
                        }
                        if self.decisions.len() < 256 {
                            self.decisions.insert(call_id, rtjson);
                        }
                    }
                }
            }
            Intent::Dialog => {
                if reply.status != 200 && reply.status != 404 {
                    ctx.violation(format!(
                        "{name}: dialog report answered {} {body}",
                        reply.status
                    ));
                }
            }
            Intent::Sync { last } => {
                if reply.status != 200 {
                    ctx.violation(format!("{name}: sync answered {} {body}", reply.status));
                } else if last {
                    self.done = true;
                }
            }
        }
    }

    fn on_give_up(&mut self, _op: &Op, _copies: u32, _ctx: &mut Ctx) {
        self.intent = None;
    }
}
