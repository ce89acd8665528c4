//! The world: one thread, one seed, one queue of timed events. Each step
//! pops the earliest event, lets the part it belongs to react (the brain,
//! an actor, the network, a disk), injects faults, then checks every
//! invariant. A run has a faulty phase of `steps` steps, then a healed
//! phase in which all pending work must finish within a time budget.

mod clients;
mod faults;

use crate::actors::{self, Actor, Ctx, ADMIN_TOKEN, EDGE_TOKEN};
use crate::brain::{Brain, BrainSettings, MeshMsg, Out};
use crate::client::{Op, ReplyReader};
use crate::clock::Clocks;
use crate::invariants;
use crate::knobs::Knobs;
use crate::model::{Model, OpLog};
use crate::net::{ConnId, Delivery, Dir, Net};
use crate::rng::{self, fnv64, SimRng};
use rand::Rng;
use sipbrain_core::api::gate::{GateConfig, Secret};
use sipbrain_core::auth::nonce::NonceKey;
use sipbrain_core::event;
use sipbrain_core::http::ParseLimits;
use sipbrain_core::shard::ShardConfig;
use sipbrain_storage::WalOptions;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

/// How many trace lines a failure report shows.
const RECENT_MAX: usize = 40;

/// A timed event.
#[derive(Debug)]
enum Ev {
    ToBrain {
        conn: ConnId,
        delivery: Delivery,
    },
    ToClient {
        conn: ConnId,
        delivery: Delivery,
    },
    Mesh {
        incarnation: u64,
        from: usize,
        to: usize,
        msg: MeshMsg,
    },
    DiskStep {
        incarnation: u64,
        shard: usize,
    },
    Wake {
        actor: usize,
    },
    Timeout {
        actor: usize,
        token: u64,
    },
    Restart {
        incarnation: u64,
    },
    /// The brain's timers, once a virtual second.
    Tick,
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Steps of the faulty phase (default: the knobs').
    pub steps: Option<u64>,
    /// Print every step.
    pub trace: bool,
}

/// An invariant that broke.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub step: u64,
    pub invariant: String,
    pub message: String,
    /// The last steps before it.
    pub recent: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "FAILED seed {} at step {}: invariant `{}`",
            self.seed, self.step, self.invariant
        )?;
        writeln!(f, "  {}", self.message)?;
        writeln!(f, "  last steps:")?;
        for line in &self.recent {
            writeln!(f, "    {line}")?;
        }
        write!(
            f,
            "  reproduce: cargo run -p sim --release -- --seed {} --trace",
            self.seed
        )
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    pub steps: u64,
    /// Replies actors received (answered requests).
    pub replies: u64,
    pub crashes: u64,
    pub fail_stops: u64,
    /// Damaged disk copies checked, and how many recovery refused.
    pub detect_checks: u64,
    pub detected: u64,
    /// Virtual time the run took.
    pub virtual_ms: u64,
    /// Hash of every step (the determinism check compares it).
    pub trace_hash: u64,
    /// Hash of the final durable state of every shard.
    pub state_hash: u64,
    /// Hash of what actors were answered (status and error code).
    pub transcript_hash: u64,
    /// Hash of every account document the brain holds at the end.
    pub accounts_hash: u64,
    pub failure: Option<Failure>,
    /// Real time the run took (not part of any hash).
    pub elapsed_us: u64,
}

/// An actor's connection and request in flight.
#[derive(Default)]
struct Client {
    conn: Option<ConnId>,
    reader: ReplyReader,
    op: Option<InFlight>,
    /// Bumped to cancel a pending timeout.
    token: u64,
    done: bool,
}

struct InFlight {
    op: Op,
    attempts: u32,
    copies: u32,
}

/// The simulated world.
pub struct World {
    knobs: Knobs,
    options: Options,
    clocks: Clocks,
    net: Net,
    brain: Brain,
    model: Model,
    ops: OpLog,
    actors: Vec<Box<dyn Actor>>,
    actor_rngs: Vec<SimRng>,
    clients: Vec<Client>,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    /// Crashes, restarts, disk damage, backoffs.
    faults: SimRng,
    /// Request encodings (framing choices).
    wire: SimRng,
    /// Actors' pauses between operations.
    think: SimRng,
    /// Latencies of the mesh and of disk operations.
    latency: SimRng,
    step: u64,
    healed: bool,
    heal_deadline_us: u64,
    violations: Vec<(String, String)>,
    transcript: Vec<String>,
    recent: VecDeque<String>,
    mesh_last: BTreeMap<(usize, usize), u64>,
    outcome: Outcome,
}

/// The brain's settings for a run's knobs.
pub fn brain_settings(knobs: &Knobs) -> BrainSettings {
    let gates = GateConfig {
        edge_token: Some(Secret::new(EDGE_TOKEN)),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        ..GateConfig::default()
    };
    BrainSettings {
        shards: knobs.shards,
        gates,
        limits: ParseLimits {
            header_bytes_max: 8 << 10,
            body_bytes_max: 64 << 10,
            media_body_bytes_max: 64 << 10,
        },
        shard: {
            let key = NonceKey(
                rng::mix(knobs.seed)
                    .to_le_bytes()
                    .repeat(4)
                    .try_into()
                    .expect("32 bytes"),
            );
            let mut config = ShardConfig::new(0, knobs.shards, key);
            config.nonce_ttl_ms = knobs.nonce_ttl_ms;
            config.auth_fail_threshold = knobs.auth_fail_threshold;
            config.auth_fail_window_ms = knobs.auth_fail_window_ms;
            config.cac_setup_ttl_ms = knobs.cac_setup_ttl_ms;
            config.cac_max_call_ms = knobs.cac_max_call_ms;
            config.security_report_period_ms = knobs.security_report_period_ms;
            config
        },
        wal: WalOptions {
            segment_bytes: knobs.segment_bytes,
            max_record_bytes: knobs.max_record_bytes,
        },
        snapshot_events: knobs.snapshot_events,
        mesh_capacity: knobs.mesh_capacity,
        p_eio: knobs.disk.p_eio,
        inline_disk: knobs.disk.op_us == (0, 0),
    }
}

impl World {
    pub fn new(knobs: Knobs, options: Options) -> World {
        let seed = knobs.seed;
        let mut model = Model::default();
        let cast = actors::cast(&knobs, &mut model);
        let (actors, actor_rngs): (Vec<_>, Vec<_>) = cast.into_iter().unzip();
        let clients = actors.iter().map(|_| Client::default()).collect();
        let brain = Brain::new(
            brain_settings(&knobs),
            rng::stream(seed, "salt"),
            rng::stream(seed, "disk-eio"),
        );

        World {
            clocks: Clocks::new(knobs.clock.clone(), rng::stream(seed, "clock")),
            net: Net::new(
                knobs.net.clone(),
                rng::stream(seed, "net"),
                rng::stream(seed, "accept"),
            ),
            brain,
            model,
            ops: OpLog::default(),
            actors,
            actor_rngs,
            clients,
            queue: BTreeMap::new(),
            seq: 0,
            faults: rng::stream(seed, "faults"),
            wire: rng::stream(seed, "wire"),
            think: rng::stream(seed, "think"),
            latency: rng::stream(seed, "latency"),
            step: 0,
            healed: false,
            heal_deadline_us: 0,
            violations: Vec::new(),
            transcript: Vec::new(),
            recent: VecDeque::new(),
            mesh_last: BTreeMap::new(),
            outcome: Outcome {
                seed,
                ..Outcome::default()
            },
            knobs,
            options,
        }
    }

    /// Runs to the end or the first broken invariant.
    pub fn run(mut self) -> Outcome {
        let steps = self.options.steps.unwrap_or(self.knobs.steps);
        if let Err(message) = self.brain.start() {
            self.fail("recovery", message);
            return self.outcome;
        }
        for actor in 0..self.actors.len() {
            let at = self.faults.gen_range(0..1_000);
            self.schedule(at, Ev::Wake { actor });
        }
        self.schedule(1_000_000, Ev::Tick);
        while self.outcome.failure.is_none() {
            if self.healed && self.finished() {
                self.final_checks();
                break;
            }
            let Some(((at, _), ev)) = self.queue.pop_first() else {
                self.fail(
                    "liveness",
                    "nothing left to happen but work is pending".into(),
                );
                break;
            };
            if self.healed && at > self.heal_deadline_us {
                let pending = self.pending_summary();
                self.fail(
                    "liveness",
                    format!(
                        "the healed phase did not finish within {} ms: {pending}",
                        self.knobs.heal_budget_ms
                    ),
                );
                break;
            }
            self.clocks.advance_to(at);
            self.step += 1;
            if !self.healed && self.step >= steps {
                self.heal();
            }
            if !self.healed {
                self.inject_faults();
            }
            self.dispatch(ev);
            self.check();
        }
        self.outcome.steps = self.step;
        self.outcome.virtual_ms = self.clocks.mono_us() / 1000;
        self.outcome.state_hash = self.state_hash();
        self.outcome.transcript_hash = fnv64(self.transcript.join("\n").as_bytes());
        self.outcome.accounts_hash = self.accounts_hash();
        self.outcome
    }

    fn schedule(&mut self, at_us: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at_us, self.seq), ev);
    }

    /// Closes `conn` in `dir` now: the other end sees it after the bytes
    /// already on their way.
    fn close(&mut self, conn: ConnId, dir: Dir) {
        if let Some((at, delivery)) = self.net.close(self.now(), conn, dir) {
            let ev = match dir {
                Dir::ToBrain => Ev::ToBrain { conn, delivery },
                Dir::ToClient => Ev::ToClient { conn, delivery },
            };
            self.schedule(at, ev);
        }
    }

    fn now(&self) -> u64 {
        self.clocks.mono_us()
    }

    /// Records a step in the trace (hash, recent lines, `--trace`).
    fn note(&mut self, line: String) {
        let line = format!("[{} {:>10}us] {line}", self.step, self.now());
        self.outcome.trace_hash = rng::mix(self.outcome.trace_hash ^ fnv64(line.as_bytes()));
        if self.options.trace {
            println!("{line}");
        }
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    fn fail(&mut self, invariant: &str, message: String) {
        if self.outcome.failure.is_some() {
            return;
        }
        self.outcome.failure = Some(Failure {
            seed: self.knobs.seed,
            step: self.step,
            invariant: invariant.to_string(),
            message,
            recent: self.recent.iter().cloned().collect(),
        });
    }

    fn heal(&mut self) {
        self.healed = true;
        self.net.heal();
        self.clocks.heal();
        self.brain.heal();
        self.heal_deadline_us = self.now() + self.knobs.heal_budget_ms * 1000;
        self.note("HEAL: faults off; all pending work must finish".into());
    }

    /// True when every actor is done and nothing is in flight anywhere.
    fn finished(&self) -> bool {
        self.clients.iter().all(|c| c.done && c.op.is_none())
            && self.brain.is_up()
            && self.brain.is_idle()
    }

    fn pending_summary(&self) -> String {
        let mut text = String::new();
        for (client, actor) in self.clients.iter().zip(&self.actors) {
            if let Some(f) = &client.op {
                let _ = write!(
                    text,
                    "{} waits on op {} ({} {}, {} attempts); ",
                    actor.name(),
                    f.op.id,
                    f.op.method,
                    f.op.path,
                    f.attempts
                );
            } else if !client.done {
                let _ = write!(text, "{} not done; ", actor.name());
            }
        }
        let _ = write!(
            text,
            "brain up={} idle={}",
            self.brain.is_up(),
            self.brain.is_idle()
        );
        text
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::ToBrain { conn, delivery } => self.deliver_to_brain(conn, delivery),
            Ev::ToClient { conn, delivery } => self.deliver_to_client(conn, delivery),
            Ev::Mesh {
                incarnation,
                from,
                to,
                msg,
            } => {
                if incarnation == self.brain.incarnation && self.brain.is_up() {
                    self.note(format!("mesh {from}->{to} {}", mesh_name(&msg)));
                    let wall = self.clocks.wall_ms();
                    let mut out = Vec::new();
                    self.brain.on_mesh(wall, from, to, msg, &mut out);
                    self.apply_outs(out);
                }
            }
            Ev::DiskStep { incarnation, shard } => {
                if incarnation == self.brain.incarnation
                    && self.brain.is_up()
                    && self.crash_mid_commit()
                {
                    self.note(format!("CRASH in the middle of shard {shard}'s commit"));
                    return self.crash();
                }
                if incarnation == self.brain.incarnation && self.brain.is_up() {
                    self.note(format!("disk step shard {shard}"));
                    let wall = self.clocks.wall_ms();
                    let mut out = Vec::new();
                    self.brain.on_disk_step(wall, shard, &mut out);
                    self.apply_outs(out);
                }
            }
            Ev::Wake { actor } => self.wake(actor),
            Ev::Timeout { actor, token } => self.timeout(actor, token),
            Ev::Restart { incarnation } => {
                if incarnation == self.brain.incarnation && !self.brain.is_up() {
                    self.restart();
                }
            }
            Ev::Tick => {
                self.schedule(self.now() + 1_000_000, Ev::Tick);
                if self.brain.is_up() {
                    let wall = self.clocks.wall_ms();
                    let mut out = Vec::new();
                    let reaped = self.brain.tick(wall, &mut out);
                    self.apply_outs(out);
                    if let Err(message) = reaped {
                        self.fail("cac-reaped", message);
                    }
                }
            }
        }
    }

    fn deliver_to_brain(&mut self, conn: ConnId, delivery: Delivery) {
        let Some(link) = self.net.links.get(&conn) else {
            return;
        };
        if link.brain_gone {
            return;
        }
        match delivery {
            Delivery::Bytes(bytes) => {
                self.note(format!("conn {conn} -> brain {} bytes", bytes.len()));
                let wall = self.clocks.wall_ms();
                let mut out = Vec::new();
                self.brain.on_bytes(wall, conn, &bytes, &mut out);
                self.apply_outs(out);
            }
            Delivery::Close => {
                self.note(format!("conn {conn} -> brain close"));
                if self.brain.on_close(conn) {
                    // Its call is on its way to another core: it ends when
                    // decided there (Out::Resolved) or lost in a crash.
                    return;
                }
                self.brain_gone(conn);
            }
        }
    }

    /// The brain side of `conn` is gone: its request can no longer act.
    fn brain_gone(&mut self, conn: ConnId) {
        if let Some(link) = self.net.links.get_mut(&conn) {
            if let (Some(op), false) = (link.op, link.resolved) {
                self.ops.dropped(op, conn);
            }
            link.brain_gone = true;
        }
        self.net.forget(conn);
    }

    fn apply_outs(&mut self, outs: Vec<Out>) {
        for out in outs {
            match out {
                Out::Send { conn, bytes } => {
                    self.outcome.trace_hash = rng::mix(self.outcome.trace_hash ^ fnv64(&bytes));
                    // A reply may be cut by a reset too: the client sees
                    // the connection drop mid-reply and retries.
                    let plan = self.net.send(self.now(), conn, Dir::ToClient, &bytes, true);
                    for (at, delivery) in plan {
                        self.schedule(at, Ev::ToClient { conn, delivery });
                    }
                }
                Out::Close { conn } => {
                    self.brain_gone(conn);
                    self.close(conn, Dir::ToClient);
                }
                Out::Resolved { conn, decision } => {
                    if let Some(link) = self.net.links.get_mut(&conn) {
                        if let (Some(op), false) = (link.op, link.resolved) {
                            link.resolved = true;
                            self.ops.resolved(op, conn, decision);
                        }
                    }
                }
                Out::Mesh { from, to, msg } if self.knobs.mesh_us == (0, 0) => {
                    // Calm runs: the hop takes no time and no step.
                    let incarnation = self.brain.incarnation;
                    let wall = self.clocks.wall_ms();
                    let mut out = Vec::new();
                    self.brain.on_mesh(wall, from, to, msg, &mut out);
                    self.apply_outs(out);
                    if self.brain.incarnation != incarnation {
                        return;
                    }
                }
                Out::Mesh { from, to, msg } => {
                    let (lo, hi) = self.knobs.mesh_us;
                    let delay = self.latency.gen_range(lo..=hi);
                    let last = self.mesh_last.entry((from, to)).or_default();
                    let at = (self.clocks.mono_us() + delay).max(*last);
                    *last = at;
                    let incarnation = self.brain.incarnation;
                    self.schedule(
                        at,
                        Ev::Mesh {
                            incarnation,
                            from,
                            to,
                            msg,
                        },
                    );
                }
                Out::DiskStep { shard } => {
                    let (lo, hi) = self.knobs.disk.op_us;
                    let at = self.now() + self.latency.gen_range(lo..=hi);
                    let incarnation = self.brain.incarnation;
                    self.schedule(at, Ev::DiskStep { incarnation, shard });
                }
                Out::FailStop { why } => {
                    self.outcome.fail_stops += 1;
                    self.note(format!("FAIL-STOP: {why}"));
                    self.crash();
                    // The process is gone: nothing after this leaves it.
                    return;
                }
            }
        }
    }

    /// Checks every invariant of the registry; the first broken one fails
    /// the run.
    fn check(&mut self) {
        if let Some((name, message)) = self.violations.first().cloned() {
            return self.fail(&name, message);
        }
        for invariant in invariants::REGISTRY {
            if let Err(message) = (invariant.check)(&self.view()) {
                return self.fail(invariant.name, message);
            }
        }
    }

    fn view(&self) -> invariants::View<'_> {
        invariants::View {
            brain: &self.brain,
            model: &self.model,
            ops: &self.ops,
        }
    }

    /// The end of the healed phase: every invariant once more, then the
    /// final state.
    fn final_checks(&mut self) {
        self.check();
        for invariant in invariants::FINAL_REGISTRY {
            if let Err(message) = (invariant.check)(&self.view()) {
                return self.fail(invariant.name, message);
            }
        }
    }

    fn accounts_hash(&self) -> u64 {
        let Some(control) = self.brain.shards().next() else {
            return 0;
        };
        let documents: Vec<_> = control
            .image()
            .into_iter()
            .filter(|e| e.is_directory())
            .collect();
        fnv64(&event::encode_all(&documents))
    }

    fn state_hash(&self) -> u64 {
        let mut hash = 0u64;
        for shard in self.brain.shards() {
            hash = rng::mix(hash ^ fnv64(&event::encode_all(&shard.image())));
        }
        hash
    }

    /// Runs `f` with actor `actor` and its view of the world; what it
    /// finds wrong becomes a violation of `actor-expectations`.
    fn with_actor<R>(&mut self, actor: usize, f: impl FnOnce(&mut dyn Actor, &mut Ctx) -> R) -> R {
        let mut found = Vec::new();
        let result = {
            let mut ctx = Ctx {
                rng: &mut self.actor_rngs[actor],
                model: &mut self.model,
                ops: &self.ops,
                knobs: &self.knobs,
                now_us: self.clocks.mono_us(),
                healed: self.healed,
                violations: &mut found,
                transcript: &mut self.transcript,
            };
            f(self.actors[actor].as_mut(), &mut ctx)
        };
        for message in found {
            self.violations.push(("actor-expectations".into(), message));
        }
        result
    }
}

fn mesh_name(msg: &MeshMsg) -> String {
    match msg {
        MeshMsg::Call { conn, .. } => format!("call (conn {conn})"),
        MeshMsg::Reply { conn, response, .. } => format!("reply {} (conn {conn})", response.status),
        MeshMsg::Broadcast { id, events } => format!("broadcast {id} ({} events)", events.len()),
        MeshMsg::Ack { id } => format!("ack {id}"),
    }
}
