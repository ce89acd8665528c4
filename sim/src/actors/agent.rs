//! A contact center: agent apps and the media engine of their queue in one
//! actor. Agents register and unregister their phones (also mid-offer),
//! log in, pause, unpause and log out; callers join the queue, poll, take
//! the `dial` with its lease, and abandon at random. Each agent answers in
//! its own style: at once, late (after a re-offer), never, twice, or with
//! a stale epoch; `ring_all` offers are claimed by a random target.
//!
//! What it holds the brain to (`actor-expectations`), from replies alone:
//! - a confirm (or claim) answered 200 named the newest epoch this actor
//!   has seen for that lease (after a successful confirm no newer epoch
//!   can exist) (`acd-epoch`);
//! - no caller is taken by two agents, no agent by two callers whose
//!   calls have not been ended (`acd-one-to-one`).

use super::{Actor, Ctx, Next, EDGE_TOKEN};
use crate::client::{Op, Reply};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// Prefix of the contact centers' accounts.
pub const ACCOUNT_PREFIX: &str = "acc_cc_";
/// Agents per center.
const AGENTS: usize = 3;
/// Callers one center holds at once.
const LIVE_MAX: usize = 4;
/// The queue's strategies, one drawn per center.
const STRATEGIES: [&str; 7] = [
    "longest_idle",
    "round_robin",
    "ring_all",
    "fewest_calls",
    "least_talk_time",
    "top_down",
    "random",
];

/// How an agent answers its offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Prompt,
    /// Confirms only once a newer epoch of the lease was seen.
    Late,
    Never,
    Twice,
    /// Confirms with the epoch before the offered one.
    Stale,
}

#[derive(Clone, Debug)]
struct Agent {
    user_id: String,
    username: String,
    style: Style,
}

/// An offer as a `dial` showed it: lease id, epoch, and each target agent
/// with its claim URL (`ring_all`).
type SeenOffer = (String, u64, Vec<(String, Option<String>)>);

/// A caller in the queue, as the center knows it.
#[derive(Clone, Debug, Default)]
struct Caller {
    call_id: String,
    /// The offer last seen: lease id, epoch, agents (with claim URLs).
    offer: Option<SeenOffer>,
    /// The agent a 200 confirm or claim gave it.
    connected: Option<String>,
    answered: bool,
    /// An ending step (hangup, completed) was sent: it may have ended.
    ending: bool,
}

#[derive(Clone, Debug)]
enum Intent {
    Provision,
    Presence,
    Start(String),
    Step {
        call_id: String,
        outcome: String,
    },
    Take {
        call_id: String,
        agent: String,
        lease: Option<(String, u64)>,
    },
}

/// One contact center.
pub struct ContactCenter {
    name: String,
    peer: IpAddr,
    index: usize,
    provisioned: bool,
    strategy: &'static str,
    agents: Vec<Agent>,
    intent: Option<(u64, Intent)>,
    callers: Vec<Caller>,
    next_call: u64,
    /// The newest epoch seen per lease.
    epochs: BTreeMap<String, u64>,
    /// Agent → the caller a 200 gave it.
    holding: BTreeMap<String, String>,
    /// Warm-up ops done (each agent: register, log in, available).
    warm: usize,
    done: bool,
}

impl ContactCenter {
    pub fn new(index: usize) -> ContactCenter {
        let styles = [
            Style::Prompt,
            Style::Late,
            Style::Never,
            Style::Twice,
            Style::Stale,
        ];
        let agents = (0..AGENTS)
            .map(|i| Agent {
                user_id: format!("us_a{i}"),
                username: format!("{}", 3001 + i),
                style: styles[(index + i * 2) % styles.len()],
            })
            .collect();
        ContactCenter {
            name: format!("center-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 5, 0, index as u8 + 1)),
            index,
            provisioned: false,
            strategy: STRATEGIES[index % STRATEGIES.len()],
            agents,
            intent: None,
            callers: Vec::new(),
            next_call: 0,
            epochs: BTreeMap::new(),
            holding: BTreeMap::new(),
            warm: 0,
            done: false,
        }
    }

    fn account_id(&self) -> String {
        format!("{ACCOUNT_PREFIX}{}", self.index)
    }

    fn realm(&self) -> String {
        format!("cc-{}.sim.test", self.index)
    }

    /// Three agents with phones, one queue with short timers.
    fn document(&self) -> Value {
        let realm = self.realm();
        let users: Vec<Value> = self
            .agents
            .iter()
            .map(|a| json!({"id": a.user_id, "username": a.username, "is_agent": 1}))
            .collect();
        let devices: Vec<Value> = self.agents.iter().map(|a| json!({"id": format!("d_{}", a.username), "user_id": a.user_id,
            "auth_username": a.username, "realm": realm, "ha1": "0".repeat(32), "ha1b": "0".repeat(32)})).collect();
        let members: Vec<Value> = self
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"queue_id": "q_cc", "user_id": a.user_id, "position": i}))
            .collect();
        json!({
            "name": format!("center {}", self.index),
            "domains": [{"domain": realm, "is_primary": 1}],
            "users": users, "devices": devices,
            "queues": [{"id": "q_cc", "strategy": self.strategy, "agent_ring_timeout_sec": 1,
                        "max_no_answer": 2, "wrap_up_sec": 1, "max_wait_sec": 60}],
            "queue_members": members,
        })
    }

    fn send(&mut self, op: u64, intent: Intent, request: Op) -> Next {
        self.intent = Some((op, intent));
        Next::Send(request)
    }

    fn edge_op(
        &self,
        op: u64,
        kind: &'static str,
        method: &'static str,
        path: String,
        ctx: &Ctx,
    ) -> Op {
        Op::new(op, kind, method, path)
            .header("x-edge-token", EDGE_TOKEN)
            .attempts(ctx.knobs.edge_attempts_max)
    }

    /// A phone or agent-app change: the warm-up's next one (each agent
    /// registers, logs in and becomes available), then of a random agent.
    fn presence(&mut self, ctx: &mut Ctx) -> Next {
        let (agent, roll) = if self.warm < AGENTS * 3 {
            let roll = [0, 30, 50][self.warm % 3];
            (self.agents[self.warm / 3].clone(), roll)
        } else {
            let agent = self.agents[ctx.rng.gen_range(0..AGENTS)].clone();
            (agent, ctx.rng.gen_range(0..100))
        };
        let body = if roll < 25 {
            let bind = roll == 0 || ctx.rng.gen_bool(0.8);
            json!({"type": "register", "event": if bind { "registered" } else { "unregistered" },
                   "username": agent.username, "realm": self.realm(),
                   "contact": format!("sip:{}@10.5.1.1", agent.username), "expires": 600, "node": "cc-edge"})
        } else {
            let event = match roll {
                25..=44 => "login",
                45..=74 => "available",
                75..=84 => "pause",
                85..=95 => "unpause",
                _ => "logout",
            };
            json!({"type": "agent", "accountId": self.account_id(), "userId": agent.username,
                   "event": event, "queues": [{"queueId": "q_cc", "level": 1}]})
        };
        let op = ctx.model.new_op();
        let request = self
            .edge_op(op, "acd-presence", "POST", "/presence/event".into(), ctx)
            .json(&body);
        self.send(op, Intent::Presence, request)
    }

    fn start(&mut self, ctx: &mut Ctx) -> Next {
        self.next_call += 1;
        let call_id = format!("{}-{}", self.name, self.next_call);
        let body =
            json!({"callId": call_id, "accountId": self.account_id(), "flowId": "sys:queue:q_cc"});
        let op = ctx.model.new_op();
        let request = self
            .edge_op(op, "acd-start", "POST", "/flow".into(), ctx)
            .json(&body);
        self.send(op, Intent::Start(call_id), request)
    }

    fn step(&mut self, i: usize, outcome: &str, data: Value, ctx: &mut Ctx) -> Next {
        let call_id = self.callers[i].call_id.clone();
        if outcome == "hangup" || outcome == "completed" {
            self.callers[i].ending = true;
        }
        let body = json!({"callId": call_id, "outcome": outcome, "data": data});
        let op = ctx.model.new_op();
        let mut request = self
            .edge_op(op, "acd-step", "POST", "/flow".into(), ctx)
            .json(&body);
        if ctx.healed {
            request.attempts_max = None;
        }
        self.send(
            op,
            Intent::Step {
                call_id,
                outcome: outcome.into(),
            },
            request,
        )
    }

    /// The offered agent answers in its style (None: it does nothing now).
    fn take(&mut self, i: usize, ctx: &mut Ctx) -> Option<Next> {
        let caller = &self.callers[i];
        let (lease_id, epoch, targets) = caller.offer.clone()?;
        let (agent_id, claim) = targets[ctx.rng.gen_range(0..targets.len())].clone();
        let style = self.agents.iter().find(|a| a.user_id == agent_id)?.style;
        let newest = self.epochs.get(&lease_id).copied().unwrap_or(epoch);
        let epoch = match style {
            Style::Never => return None,
            Style::Late if newest <= epoch => return None,
            Style::Stale if epoch > 1 && ctx.rng.gen_bool(0.5) => epoch - 1,
            _ => epoch,
        };
        let call_id = caller.call_id.clone();
        let account = self.account_id();
        let op = ctx.model.new_op();
        let (path, lease) = match claim {
            Some(url) => (url, None),
            None => (
                format!("/agent/confirm/{account}/{lease_id}/{epoch}"),
                Some((lease_id.clone(), epoch)),
            ),
        };
        if style != Style::Twice && style != Style::Late {
            self.callers[i].offer = None;
        }
        let request = self.edge_op(op, "acd-take", "GET", path, ctx);
        Some(self.send(
            op,
            Intent::Take {
                call_id,
                agent: agent_id,
                lease,
            },
            request,
        ))
    }

    fn on_take(
        &mut self,
        call_id: &str,
        agent: &str,
        lease: Option<(String, u64)>,
        reply: &Reply,
        ctx: &mut Ctx,
    ) {
        let name = self.name.clone();
        if reply.status != 200 {
            return;
        }
        if let Some((lease_id, epoch)) = &lease {
            let newest = self.epochs.get(lease_id).copied().unwrap_or(0);
            if newest > *epoch {
                ctx.violation(format!("acd-epoch: {name}: confirm of {lease_id} with epoch {epoch} succeeded after epoch {newest} was offered"));
            }
        }
        if let Some(other) = self.holding.get(agent) {
            let still = self
                .callers
                .iter()
                .any(|c| &c.call_id == other && !c.ending);
            if other != call_id && still {
                ctx.violation(format!(
                    "acd-one-to-one: {name}: {agent} took {call_id} while holding {other}"
                ));
            }
        }
        let Some(caller) = self.callers.iter_mut().find(|c| c.call_id == call_id) else {
            return;
        };
        if let Some(first) = &caller.connected {
            if first != agent {
                ctx.violation(format!(
                    "acd-one-to-one: {name}: {call_id} was taken by {first} and {agent}"
                ));
            }
        }
        caller.connected = Some(agent.to_string());
        self.holding.insert(agent.to_string(), call_id.to_string());
    }

    fn on_answer(&mut self, call_id: &str, body: &Value) {
        let Some(i) = self.callers.iter().position(|c| c.call_id == call_id) else {
            return;
        };
        let command = &body["command"];
        match command["cmd"].as_str() {
            Some("hangup") => {
                self.callers.swap_remove(i);
            }
            Some("dial") => {
                let lease_id = command["lease"]["leaseId"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let epoch = command["lease"]["epoch"].as_u64().unwrap_or(0);
                let newest = self.epochs.entry(lease_id.clone()).or_insert(0);
                *newest = (*newest).max(epoch);
                let targets = command["targets"].as_array().cloned().unwrap_or_default();
                let targets: Vec<(String, Option<String>)> = targets
                    .iter()
                    .map(|t| {
                        (
                            t["userId"].as_str().unwrap_or("").to_string(),
                            t["claimUrl"].as_str().map(str::to_string),
                        )
                    })
                    .collect();
                if !targets.is_empty() {
                    self.callers[i].offer = Some((lease_id, epoch, targets));
                }
            }
            Some("noop") if command["bridged"] == true => self.callers[i].answered = true,
            _ => {}
        }
    }
}

impl Actor for ContactCenter {
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
        if ctx.healed {
            if self.callers.is_empty() {
                self.done = true;
                return Next::Done;
            }
            return self.step(0, "hangup", json!({}), ctx);
        }
        let roll = ctx.rng.gen_range(0..100);
        if roll < 15 || self.warm < AGENTS * 3 {
            return self.presence(ctx);
        }
        if roll < 28 && self.callers.len() < LIVE_MAX {
            return self.start(ctx);
        }
        if self.callers.is_empty() {
            return Next::Sleep(ctx.rng.gen_range(1..200));
        }
        let i = ctx.rng.gen_range(0..self.callers.len());
        let caller = self.callers[i].clone();
        if roll < 33 {
            return self.step(i, "hangup", json!({}), ctx);
        }
        if caller.connected.is_some() && !caller.answered {
            return self.step(i, "answered", json!({}), ctx);
        }
        if caller.answered {
            if roll < 60 {
                return self.step(i, "completed", json!({}), ctx);
            }
            return Next::Sleep(ctx.rng.gen_range(1..200));
        }
        if roll < 60 {
            if let Some(next) = self.take(i, ctx) {
                return next;
            }
        }
        if roll < 66 {
            if let Some((_, epoch, _)) = &caller.offer {
                return self.step(i, "no_answer", json!({"epoch": epoch}), ctx);
            }
        }
        if roll < 90 {
            return self.step(i, "poll", json!({}), ctx);
        }
        Next::Sleep(ctx.rng.gen_range(1..200))
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
            Intent::Presence => {
                if reply.status == 200 && self.warm < AGENTS * 3 {
                    self.warm += 1;
                }
                if ![200, 409].contains(&reply.status) {
                    ctx.violation(format!(
                        "{name}: a presence change answered {} {body}",
                        reply.status
                    ));
                }
            }
            Intent::Start(call_id) => {
                if reply.status == 200 {
                    self.callers.push(Caller {
                        call_id: call_id.clone(),
                        ..Caller::default()
                    });
                    self.on_answer(&call_id, &body);
                } else if reply.status != 409 {
                    ctx.violation(format!(
                        "{name}: start {call_id} answered {} {body}",
                        reply.status
                    ));
                }
            }
            Intent::Step { call_id, outcome } => match reply.status {
                200 => self.on_answer(&call_id, &body),
                404 => self.callers.retain(|c| c.call_id != call_id),
                409 if outcome == "answered" => {}
                400 if outcome != "poll" => {}
                _ => ctx.violation(format!(
                    "{name}: step {call_id} `{outcome}` answered {} {body}",
                    reply.status
                )),
            },
            Intent::Take {
                call_id,
                agent,
                lease,
            } => self.on_take(&call_id, &agent, lease, reply, ctx),
        }
    }

    fn on_give_up(&mut self, op: &Op, _copies: u32, _ctx: &mut Ctx) {
        if self.intent.as_ref().is_some_and(|(id, _)| *id == op.id) {
            self.intent = None;
        }
    }
}
