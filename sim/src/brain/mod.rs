//! The simulated brain: N shards of the real `core`, each with a WAL on a
//! [`MemDisk`], wired the way the runtime wires them — an accepting core
//! parses, forwards a call to its owning core over a bounded mesh, the
//! owner decides, applies, group-commits, broadcasts directory events and
//! releases the reply only after its events are durable.
//!
//! The runtime does this with glommio tasks; here the same steps are
//! events the world schedules ([`Out`]), so a crash can fall between any
//! two of them.

pub mod commit;
pub mod conn;
pub mod disk;

use crate::ledger::Ledger;
use crate::net::ConnId;
use crate::rng::SimRng;
use disk::{run_now, SimDisk};
use sipbrain_core::api::gate::GateConfig;
use sipbrain_core::api::{Call, CONTROL_SHARD};
use sipbrain_core::event::{self, Event};
use sipbrain_core::http::{ParseLimits, Response};
use sipbrain_core::shard::{Shard, ShardConfig};
use sipbrain_storage::group::{Batch, GroupCommit};
use sipbrain_storage::{recover, CrashPlan, MemDisk, RecoveryMode, Wal, WalOptions};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;

/// WAL record kind of an event (the runtime logs the same).
pub const KIND_EVENT: u16 = event::RECORD_KIND;

/// How the brain is set up.
#[derive(Clone, Debug)]
pub struct BrainSettings {
    pub shards: usize,
    pub gates: GateConfig,
    pub limits: ParseLimits,
    /// Shard settings (the id is set per shard).
    pub shard: ShardConfig,
    pub wal: WalOptions,
    /// Snapshot after this many logged events (0: never).
    pub snapshot_events: u64,
    /// Calls one core may have in flight towards another before 503.
    pub mesh_capacity: usize,
    /// Per commit: chance the write or sync fails (fail-stop).
    pub p_eio: f64,
    /// Commits complete within the step that starts them (calm runs).
    pub inline_disk: bool,
}

/// What the brain asks the world to do.
#[derive(Debug)]
pub enum Out {
    /// Bytes for the client end of `conn`.
    Send { conn: ConnId, bytes: Vec<u8> },
    /// The brain closes `conn` (after what it sent).
    Close { conn: ConnId },
    /// The request on `conn` went as far as it will go: decided (the
    /// brain's running count of decisions, so the model knows their true
    /// order), or answered without a decision (None).
    Resolved { conn: ConnId, decision: Option<u64> },
    /// A message from one core to another.
    Mesh {
        from: usize,
        to: usize,
        msg: MeshMsg,
    },
    /// Poll `shard`'s disk again after one operation's latency.
    DiskStep { shard: usize },
    /// A WAL write or sync failed: the process stops (as the runtime does).
    FailStop { why: String },
}

/// A message on the mesh between cores.
#[derive(Debug)]
pub enum MeshMsg {
    /// A call forwarded to its owning core.
    Call {
        conn: ConnId,
        keep_alive: bool,
        call: Box<Call>,
    },
    /// Its reply, back to the accepting core.
    Reply {
        conn: ConnId,
        keep_alive: bool,
        response: Response,
    },
    /// Directory events for every other core.
    Broadcast { id: u64, events: Vec<Event> },
    /// A broadcast was applied.
    Ack { id: u64 },
}

/// Where a decided call's reply goes.
#[derive(Clone, Copy, Debug)]
enum Dest {
    Conn {
        conn: ConnId,
        keep_alive: bool,
    },
    Remote {
        from: usize,
        conn: ConnId,
        keep_alive: bool,
    },
    /// The brain's own call (timers): the reply goes nowhere.
    Internal,
}

/// A reply waiting for durability (and broadcast acks).
#[derive(Debug)]
struct Waiter {
    dest: Dest,
    response: Response,
    broadcast: Vec<Event>,
    /// Its shard's ledger length when it was decided.
    acked: usize,
}

type CommitFuture = Pin<Box<dyn Future<Output = (Wal<SimDisk>, io::Result<()>)>>>;

/// One core: its shard, WAL and group commit.
struct Node {
    shard: Shard,
    wal: Option<Wal<SimDisk>>,
    disk: MemDisk,
    group: GroupCommit<Waiter>,
    /// The disk work in flight: a commit (with its batch), or the
    /// snapshot that follows one (no batch). Both hold the WAL.
    commit: Option<(CommitFuture, Option<Batch<Waiter>>)>,
    /// A snapshot image taken with the batch being committed, written
    /// once that batch's replies are released (as the runtime does).
    image: Option<Vec<u8>>,
    events_since_snapshot: u64,
    /// The WAL's durable lsn as of the last completed commit.
    durable: usize,
}

/// The brain process (down between a crash and the restart).
pub struct Brain {
    settings: BrainSettings,
    /// Bumped by every crash: events scheduled for an older process are
    /// dropped.
    pub incarnation: u64,
    nodes: Vec<Node>,
    /// Each shard's disk; survives crashes.
    pub disks: Vec<MemDisk>,
    conns: BTreeMap<ConnId, conn::Conn>,
    /// Connections with requests to look at again.
    runnable: Vec<ConnId>,
    salt: SimRng,
    faults: SimRng,
    /// The wall clock's high-water mark in this process (the runtime clamps
    /// it the same way).
    clock_last: u64,
    /// The durability oracle, one per shard.
    pub ledgers: Vec<Ledger>,
    mesh_queued: BTreeMap<(usize, usize), usize>,
    /// Replies gathered so far for a call that runs on every core.
    gathers: BTreeMap<ConnId, Vec<Response>>,
    broadcasts: BTreeMap<u64, (usize, Waiter, usize)>,
    next_broadcast: u64,
    /// Calls decided so far (across restarts).
    decisions: u64,
}

/// A shard rebuilt from its disk.
pub struct RecoveredShard {
    pub shard: Shard,
    pub wal: Wal<SimDisk>,
    /// Records durable on disk (the WAL's last lsn).
    pub durable: usize,
    pub report: String,
}

/// Recovers shard `id` from `disk` as the runtime does at start.
pub fn recover_shard(
    settings: &BrainSettings,
    id: usize,
    disk: MemDisk,
) -> Result<RecoveredShard, String> {
    let sim_disk = SimDisk(disk);
    let recovered = run_now(recover(&sim_disk, &settings.wal, RecoveryMode::Strict))
        .map_err(|e| format!("shard {id}: recovery refused: {e}"))?;
    let mut shard = Shard::new(shard_config(settings, id));
    if let Some(snapshot) = &recovered.snapshot {
        for event in
            event::decode_all(&snapshot.bytes).map_err(|e| format!("shard {id} snapshot: {e}"))?
        {
            shard.apply(&event);
        }
    }
    for record in &recovered.records {
        assert_eq!(record.kind, KIND_EVENT, "the brain logs only events");
        let event = event::decode(&record.payload)
            .map_err(|e| format!("shard {id} record {}: {e}", record.lsn))?;
        shard.apply(&event);
    }
    let durable = recovered.next_lsn.0.saturating_sub(1) as usize;
    let report = format!(
        "shard {id}: snapshot {:?}, {} record(s) replayed, torn tail {:?}",
        recovered.report.snapshot_lsn.map(|l| l.0),
        recovered.report.records_replayed,
        recovered.report.torn_tail.as_ref().map(|t| t.bytes)
    );
    let wal = run_now(Wal::open(sim_disk, settings.wal, recovered.resume))
        .map_err(|e| format!("shard {id}: cannot open the WAL: {e}"))?;
    Ok(RecoveredShard {
        shard,
        wal,
        durable,
        report,
    })
}

fn shard_config(settings: &BrainSettings, id: usize) -> ShardConfig {
    ShardConfig {
        id,
        shards: settings.shards,
        ..settings.shard.clone()
    }
}

impl Brain {
    /// A brain with empty disks, not started.
    pub fn new(settings: BrainSettings, salt: SimRng, faults: SimRng) -> Brain {
        let disks = (0..settings.shards).map(|_| MemDisk::new()).collect();
        let ledgers = (0..settings.shards)
            .map(|id| Ledger::new(shard_config(&settings, id)))
            .collect();
        Brain {
            settings,
            incarnation: 0,
            nodes: Vec::new(),
            disks,
            conns: BTreeMap::new(),
            runnable: Vec::new(),
            salt,
            faults,
            clock_last: 0,
            ledgers,
            mesh_queued: BTreeMap::new(),
            gathers: BTreeMap::new(),
            broadcasts: BTreeMap::new(),
            next_broadcast: 1,
            decisions: 0,
        }
    }

    pub fn settings(&self) -> &BrainSettings {
        &self.settings
    }

    /// True while the process runs (and, since recovery is instant, is
    /// ready).
    pub fn is_up(&self) -> bool {
        !self.nodes.is_empty()
    }

    /// No more injected EIO (the healed phase).
    pub fn heal(&mut self) {
        self.settings.p_eio = 0.0;
    }

    /// Starts the process: recovers every shard from its disk, checks each
    /// against its ledger, then gives every shard the control shard's
    /// directory. An error is an invariant violation (only survivable
    /// faults ever reach the real disks).
    pub fn start(&mut self) -> Result<Vec<String>, String> {
        assert!(!self.is_up(), "start of a running brain");
        let mut reports = Vec::new();
        let mut nodes = Vec::new();
        for id in 0..self.settings.shards {
            let recovered = recover_shard(&self.settings, id, self.disks[id].clone())?;
            let ledger = &mut self.ledgers[id];
            ledger
                .recovered(&recovered.shard, recovered.durable)
                .map_err(|e| format!("shard {id}: {e} (recovery: {})", recovered.report))?;
            reports.push(recovered.report);
            nodes.push(Node {
                shard: recovered.shard,
                wal: Some(recovered.wal),
                disk: self.disks[id].clone(),
                group: GroupCommit::new(),
                commit: None,
                image: None,
                events_since_snapshot: 0,
                durable: recovered.durable,
            });
        }
        // Every shard's calls reach every other shard's callId index.
        let indexes: Vec<Vec<Event>> = nodes.iter().map(|n| n.shard.call_index_image()).collect();
        for (from, events) in indexes.iter().enumerate() {
            for (to, node) in nodes.iter_mut().enumerate() {
                if to != from {
                    for event in events {
                        node.shard.apply(event);
                    }
                }
            }
        }
        let directory = nodes[CONTROL_SHARD].shard.directory_image();
        for node in nodes
            .iter_mut()
            .filter(|n| n.shard.config().id != CONTROL_SHARD)
        {
            for event in &directory {
                node.shard.apply(event);
            }
        }
        // A new process: its clock starts from the wall clock, but never
        // before a time the recovered state has seen (as the runtime's).
        self.clock_last = nodes
            .iter()
            .map(|n| n.shard.clock_floor().0)
            .max()
            .unwrap_or(0);
        self.nodes = nodes;
        Ok(reports)
    }

    /// The process dies while shard `shard` recovers, after `polls` disk
    /// operations of its recovery (removing temporary files, cutting a torn
    /// tail, opening the WAL). True when the crash landed before that
    /// recovery finished.
    pub fn crash_during_recovery(
        &mut self,
        shard: usize,
        polls: usize,
        plan: impl FnMut(&MemDisk) -> CrashPlan,
    ) -> bool {
        assert!(!self.is_up(), "recovery runs before the brain is up");
        let disk = SimDisk(self.disks[shard].clone());
        let options = self.settings.wal;
        let recovery = async move {
            let recovered = recover(&disk, &options, RecoveryMode::Strict).await.ok()?;
            Wal::open(disk, options, recovered.resume).await.ok()
        };
        let mut recovery = std::pin::pin!(recovery);
        let mut interrupted = true;
        for _ in 0..polls {
            if disk::poll_once(recovery.as_mut()).is_ready() {
                interrupted = false;
                break;
            }
        }
        self.crash(plan);
        interrupted
    }

    /// The process dies: memory, connections and messages are gone; each
    /// disk keeps what `plan` says reached it.
    pub fn crash(&mut self, mut plan: impl FnMut(&MemDisk) -> CrashPlan) {
        self.nodes.clear();
        self.conns.clear();
        self.runnable.clear();
        self.mesh_queued.clear();
        self.gathers.clear();
        self.broadcasts.clear();
        self.incarnation += 1;
        for disk in &self.disks {
            let p = plan(disk);
            disk.crash_with(p);
        }
    }

    /// The brain's clock: the wall clock, never going back in a process.
    fn now(&mut self, wall_ms: u64) -> sipbrain_core::time::Millis {
        self.clock_last = self.clock_last.max(wall_ms);
        sipbrain_core::time::Millis(self.clock_last)
    }

    /// Runs each shard's due timers (CAC reaping, registration expiry) as
    /// the runtime's ticker does. Afterwards no admitted call may be past
    /// its setup TTL or longest duration: the name of the broken
    /// invariant's text otherwise.
    pub fn tick(&mut self, wall_ms: u64, out: &mut Vec<Out>) -> Result<(), String> {
        let now = self.now(wall_ms);
        for shard in 0..self.nodes.len() {
            let due = sipbrain_core::api::calls::next_deadline(&self.nodes[shard].shard)
                .is_some_and(|at| at <= now);
            if due {
                self.execute(
                    wall_ms,
                    shard,
                    sipbrain_core::api::Call::Tick,
                    Dest::Internal,
                    out,
                );
            }
            let config = self.nodes[shard].shard.config().clone();
            for record in self.nodes[shard].shard.calls().values() {
                let age = now.since(record.start.at);
                let late = age >= config.cac_max_call_ms
                    || (record.progress != sipbrain_core::calls::Progress::Confirmed
                        && age >= config.cac_setup_ttl_ms);
                if record.admitted && late {
                    return Err(format!(
                        "shard {shard}: call {} still holds its counters {age} ms after it was routed (setup TTL {} ms, max {} ms, progress {:?})",
                        record.start.call_id, config.cac_setup_ttl_ms, config.cac_max_call_ms, record.progress
                    ));
                }
            }
        }
        Ok(())
    }

    /// Each running shard's state (for invariants and the final hash).
    pub fn shards(&self) -> impl Iterator<Item = &Shard> {
        self.nodes.iter().map(|n| &n.shard)
    }

    /// Events durable in `shard`'s WAL (as of its last completed commit).
    pub fn durable(&self, shard: usize) -> Option<usize> {
        self.nodes.get(shard).map(|node| node.durable)
    }

    /// Nothing queued, committing, forwarded or broadcast: quiet.
    pub fn is_idle(&self) -> bool {
        self.broadcasts.is_empty()
            && self.mesh_queued.values().all(|n| *n == 0)
            && self
                .nodes
                .iter()
                .all(|n| n.commit.is_none() && n.group.is_idle())
    }
}
