//! Actors: the brain's real clients, played over raw HTTP.
//!
//! An actor says what to send next ([`Actor::next`]) and checks each reply
//! against the shared [`Model`] ([`Actor::on_reply`]); the world does the
//! rest (connections, retries on timeout as Kamailio does, duplicates,
//! faults). Adding a client of a new endpoint is one file here and one
//! line in [`cast`].

pub mod agent;
pub mod caller;
pub mod edge;
pub mod guard;
pub mod media;
pub mod operator;
pub mod prober;

use crate::client::{Op, Reply};
use crate::knobs::Knobs;
use crate::model::{Model, OpLog};
use crate::rng::{self, SimRng};
use std::net::IpAddr;

/// The edge token every SIP edge and prober presents.
pub const EDGE_TOKEN: &str = "sim-edge-token-0123456789";
/// The operators' admin token.
pub const ADMIN_TOKEN: &str = "sim-admin-token-0123456789";

/// What an actor does next.
#[derive(Debug)]
pub enum Next {
    /// Send this request (the world retries it until answered or given up).
    Send(Op),
    /// Wake again after this many milliseconds.
    Sleep(u64),
    /// Nothing more to do (only in the healed phase).
    Done,
}

/// What an actor sees of the world while it decides or checks.
pub struct Ctx<'a> {
    /// The actor's own random stream.
    pub rng: &'a mut SimRng,
    pub model: &'a mut Model,
    pub ops: &'a OpLog,
    pub knobs: &'a Knobs,
    /// Monotonic time, microseconds.
    pub now_us: u64,
    /// The healed phase: finish pending work, start nothing new.
    pub healed: bool,
    /// Broken expectations, reported by the world as invariant failures.
    pub violations: &'a mut Vec<String>,
    /// Each answered operation, for the shard-count comparison.
    pub transcript: &'a mut Vec<String>,
}

impl Ctx<'_> {
    /// Records a broken expectation.
    pub fn violation(&mut self, text: String) {
        self.violations.push(text);
    }
}

/// `PUT /admin/accounts/{account_id}` with `doc`: how an actor provisions
/// its own account (retried until answered).
pub fn account_put(op: u64, account_id: &str, doc: &serde_json::Value) -> Op {
    Op::new(
        op,
        "account-put",
        "PUT",
        format!("/admin/accounts/{account_id}"),
    )
    .header("x-admin-token", ADMIN_TOKEN)
    .json(doc)
}

/// A client of the brain.
pub trait Actor {
    /// A short name for traces ("edge-2").
    fn name(&self) -> &str;
    /// The address the brain sees it connect from.
    fn peer(&self) -> IpAddr;
    /// What to do now (called when idle).
    fn next(&mut self, ctx: &mut Ctx) -> Next;
    /// A reply to `op` arrived (not a 503, which the world retries).
    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx);
    /// The world gave up on `op` (attempts exhausted): its effect is unknown.
    /// `copies` of it were sent (retries and duplicates).
    fn on_give_up(&mut self, _op: &Op, _copies: u32, _ctx: &mut Ctx) {}
}

/// The cast of a run: operators, SIP edges, callers, probers and guards,
/// with their own random streams.
pub fn cast(knobs: &Knobs, model: &mut Model) -> Vec<(Box<dyn Actor>, SimRng)> {
    let mut actors: Vec<(Box<dyn Actor>, SimRng)> = Vec::new();
    for i in 0..knobs.operators {
        let operator = operator::Operator::new(i, knobs.accounts_per_operator, model);
        actors.push((
            Box::new(operator),
            rng::stream(knobs.seed, &format!("operator-{i}")),
        ));
    }
    for i in 0..knobs.edges {
        actors.push((
            Box::new(edge::Edge::new(i)),
            rng::stream(knobs.seed, &format!("edge-{i}")),
        ));
    }
    for i in 0..knobs.callers {
        actors.push((
            Box::new(caller::Caller::new(i)),
            rng::stream(knobs.seed, &format!("caller-{i}")),
        ));
    }
    for i in 0..knobs.media_engines {
        actors.push((
            Box::new(media::MediaEngine::new(i)),
            rng::stream(knobs.seed, &format!("media-{i}")),
        ));
    }
    for i in 0..knobs.contact_centers {
        actors.push((
            Box::new(agent::ContactCenter::new(i)),
            rng::stream(knobs.seed, &format!("center-{i}")),
        ));
    }
    for i in 0..knobs.probers {
        actors.push((
            Box::new(prober::Prober::new(i)),
            rng::stream(knobs.seed, &format!("prober-{i}")),
        ));
    }
    for i in 0..knobs.guards {
        actors.push((
            Box::new(guard::Guard::new(i, knobs.guard_nodes)),
            rng::stream(knobs.seed, &format!("guard-{i}")),
        ));
    }
    actors
}
