//! The thread-per-core server: one pinned glommio executor per shard, all
//! accepting on the same port (SO_REUSEPORT), joined by two channel meshes
//! (requests, replies). glommio is used here and nowhere else.

mod clock;
mod conn;
mod debug;
mod media;
mod mesh;
mod node;

pub use node::NodeSettings;

use crate::config::Config;
use crate::observe::Observe;
use crate::store;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use mesh::{FromShard, ToShard};
use node::{Node, Shared};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;
use sipbrain_core::api::Call;
use sipbrain_core::auth::nonce::NonceKey;
use sipbrain_core::shard::{Shard, ShardConfig};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// An account document to load at start.
#[derive(Clone, Debug)]
pub struct StartDocument {
    pub account_id: String,
    pub doc: Value,
    /// Demo data: loaded only when the account does not exist yet, so a
    /// restart never overwrites what operators changed since.
    pub only_if_missing: bool,
}

/// Everything an executor needs to start.
#[derive(Clone)]
pub struct Plan {
    pub config: Config,
    pub listen: SocketAddr,
    pub settings: NodeSettings,
    pub nonce_key: NonceKey,
    /// The store generation to open (see `store::layout`).
    pub generation: u64,
    pub wal_options: sipbrain_storage::wal::WalOptions,
    /// Account documents the control shard loads before the brain is ready.
    pub documents: Vec<StartDocument>,
}

/// Runs the server until SIGTERM/SIGINT; returns once every core drained.
pub fn run(plan: Plan) -> Result<(), String> {
    let shared = Arc::new(Shared::default());
    watch_signals(shared.clone())?;
    let shards = plan.config.shards;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let requests = MeshBuilder::<ToShard, _>::full(shards, plan.config.forward_queue_max);
    let replies = MeshBuilder::<FromShard, _>::full(shards, plan.config.forward_queue_max);
    let observes = Observe::for_shards(shards, plan.config.debug_client_buffer);
    let mut handles = Vec::new();
    for (id, observe) in observes.into_iter().enumerate() {
        let (plan, shared) = (plan.clone(), shared.clone());
        let (requests, replies) = (requests.clone(), replies.clone());
        // glommio spins only after this core last ran a task (then parks),
        // so it spins while busy and an idle core sleeps; the setting is
        // read once when the executor starts (no switch at run time).
        let builder = LocalExecutorBuilder::new(Placement::Fixed(id % cores))
            .name(&format!("shard-{id}"))
            .io_memory(plan.config.io_memory_bytes)
            .spin_before_park(Duration::from_micros(plan.config.spin_before_park_us));
        let handle = builder
            .spawn(move || async move {
                let result = shard_main(id, plan, shared, observe, requests, replies).await;
                // A shard that cannot start (refused recovery, a port in
                // use) stops the whole process: the others would wait for
                // it forever.
                if let Err(message) = &result {
                    eprintln!("error: shard {id}: {message}");
                    std::process::exit(1);
                }
                result
            })
            .map_err(|e| format!("cannot start executor {id}: {e}"))?;
        handles.push(handle);
    }
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(message)) => failure = Some(message),
            Err(e) => failure = Some(format!("executor failed: {e}")),
        }
    }
    match failure {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

async fn shard_main(
    id: usize,
    plan: Plan,
    shared: Arc<Shared>,
    observe: Observe,
    requests: MeshBuilder<ToShard, glommio::channels::channel_mesh::Full>,
    replies: MeshBuilder<FromShard, glommio::channels::channel_mesh::Full>,
) -> Result<(), String> {
    let shards = plan.config.shards;
    let (request_senders, mut request_receivers) = requests
        .join()
        .await
        .map_err(|_| "request mesh join failed".to_string())?;
    let (reply_senders, mut reply_receivers) = replies
        .join()
        .await
        .map_err(|_| "reply mesh join failed".to_string())?;
    let mut shard_config = ShardConfig::new(id, shards, plan.nonce_key.clone());
    shard_config.nonce_ttl_ms = plan.config.nonce_ttl_sec * 1000;
    shard_config.auth_fail_threshold = plan.config.auth_fail_threshold;
    shard_config.auth_fail_window_ms = plan.config.auth_fail_window_sec * 1000;
    shard_config.security_report_period_ms =
        plan.config.security_report_period_sec.saturating_mul(1000);
    shard_config.cac_setup_ttl_ms = plan.config.cac_setup_ttl_sec * 1000;
    shard_config.cac_max_call_ms = plan.config.cac_max_call_sec * 1000;
    shard_config.wholesale_proxy = plan.config.wholesale_proxy.clone();
    let shard = Shard::new(shard_config);
    let (journal, bell) = store::journal::Journal::new();
    let node = Rc::new(Node::new(
        id,
        shards,
        plan.settings.clone(),
        shared.clone(),
        shard,
        StdRng::from_entropy(),
        request_senders,
        reply_senders,
        journal,
        observe,
    ));
    node::spawn_mesh_tasks(&node);
    let forwarded_max = plan.config.forward_queue_max;
    for (source, stream) in request_receivers.streams() {
        let node = node.clone();
        glommio::spawn_local(async move {
            while let Some(message) = stream.recv().await {
                // Directory broadcasts apply inline, in arrival order.
                // Batches of forwarded calls run concurrently so they
                // share group commits; past the bound (in calls), one
                // batch at a time (backpressure).
                let calls = match &message {
                    mesh::ToShard::Calls(calls) => calls.len(),
                    mesh::ToShard::Broadcast { .. } => 0,
                };
                let concurrent = calls > 0 && node.forwarded.get() < forwarded_max;
                if concurrent {
                    let node = node.clone();
                    node.forwarded.set(node.forwarded.get() + calls);
                    glommio::spawn_local(async move {
                        node.serve_requests(source, message).await;
                        node.forwarded.set(node.forwarded.get() - calls);
                    })
                    .detach();
                } else {
                    node.serve_requests(source, message).await;
                }
            }
        })
        .detach();
    }
    for (_, stream) in reply_receivers.streams() {
        let node = node.clone();
        glommio::spawn_local(async move {
            while let Some(message) = stream.recv().await {
                node.complete(message);
            }
        })
        .detach();
    }
    let listener = TcpListener::bind(plan.listen)
        .map_err(|e| format!("shard {id}: cannot listen on {}: {e}", plan.listen))?;
    let opened = store::open_shard(
        &plan.config.data_dir,
        plan.generation,
        id,
        &plan.wal_options,
        plan.config.recover_truncate,
    )
    .await
    .map_err(|e| format!("recovery refused: {e}"))?;
    tracing::info!("{}", opened.report);
    node.restore(&opened.events);
    let wal = Rc::new(RefCell::new(Some(opened.wal)));
    spawn_committer(
        &node,
        bell,
        wal.clone(),
        opened.disk.clone(),
        plan.config.snapshot_events,
        plan.config.snapshot_bytes,
    );
    shared.recovered.fetch_add(1, Ordering::AcqRel);
    while shared.recovered.load(Ordering::Acquire) < shards {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // Every core's callId index learns this shard's calls.
    node.share_call_index().await;
    shared.indexed.fetch_add(1, Ordering::AcqRel);
    spawn_ticker(&node);
    spawn_webhooks(&node);
    if id == sipbrain_core::api::CONTROL_SHARD {
        while shared.indexed.load(Ordering::Acquire) < shards {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        node.share_directory().await;
        load_documents(&node, &plan.documents).await?;
        shared.ready.store(true, Ordering::Release);
        println!("sipbrain ready on http://{} ({shards} shards)", plan.listen);
    }
    accept_until_stopped(&node, &listener).await;
    drain(&node).await;
    final_snapshot(&node, &wal, &opened.disk).await;
    Ok(())
}

/// Performs flow webhooks as their events become durable (each in its own
/// task, at most 64 at a time), and reports each result as a logged call.
fn spawn_webhooks(node: &Rc<Node>) {
    let (sender, receiver) = glommio::channels::local_channel::new_unbounded();
    node.set_webhooks(sender);
    let node = node.clone();
    glommio::spawn_local(async move {
        let slots = Rc::new(glommio::sync::Semaphore::new(64));
        while let Some(call) = receiver.recv().await {
            let permit = slots.acquire_static_permit(1).await;
            let node = node.clone();
            glommio::spawn_local(async move {
                let report = crate::webhook::perform(&call).await;
                node.execute(Call::FlowWebhook(Box::new(report))).await;
                drop(permit);
            })
            .detach();
        }
    })
    .detach();
}

/// Runs the shard's timers (CAC leak reaping, registration expiry) once a
/// second when one is due, as an ordinary logged call.
fn spawn_ticker(node: &Rc<Node>) {
    let node = node.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(Duration::from_secs(1)).await;
            if node.shared.stopping.load(Ordering::Acquire) {
                return;
            }
            if node.shared.ready.load(Ordering::Acquire) && node.tick_due() {
                node.execute(Call::Tick).await;
            }
        }
    })
    .detach();
}

/// Runs group commit for this shard; a disk error stops the process
/// (fail-stop: never retry an fsync; recovery happens on restart).
fn spawn_committer(
    node: &Rc<Node>,
    bell: glommio::channels::local_channel::LocalReceiver<()>,
    wal: Rc<RefCell<Option<sipbrain_storage::wal::Wal<store::disk::GlommioDisk>>>>,
    disk: store::disk::GlommioDisk,
    snapshot_events: u64,
    snapshot_bytes: u64,
) {
    let node = node.clone();
    glommio::spawn_local(async move {
        let error = store::journal::run_committer(
            node.journal.clone(),
            bell,
            wal.clone(),
            || {
                let journal = &node.journal;
                let due = journal.events_since_snapshot.get() >= snapshot_events
                    || journal.bytes_since_snapshot.get() >= snapshot_bytes;
                // Called just before the committer takes the queue: the
                // image is the state once that batch is durable, under
                // load as much as when idle.
                due.then(|| node.image_events())
            },
            disk,
            |elapsed, events| node.observe.shard.commit(elapsed, events),
        )
        .await;
        eprintln!(
            "error: shard {}: the WAL failed ({error}); stopping so that recovery can run",
            node.id
        );
        std::process::exit(3);
    })
    .detach();
}

/// On graceful shutdown, a snapshot of what changed since the last one.
async fn final_snapshot(
    node: &Node,
    wal: &Rc<RefCell<Option<sipbrain_storage::wal::Wal<store::disk::GlommioDisk>>>>,
    disk: &store::disk::GlommioDisk,
) {
    let journal = &node.journal;
    let busy = !journal.is_idle() || journal.snapshotting.get();
    if journal.events_since_snapshot.get() == 0 || busy {
        return;
    }
    let Some(lsn) = wal.borrow().as_ref().map(|w| w.durable_lsn()) else {
        return;
    };
    let image = node.image();
    match sipbrain_storage::snapshot::write_snapshot(disk, lsn, &image)
        .await
        .map(|_| ())
    {
        Ok(()) => tracing::info!(shard = node.id, lsn = lsn.0, "snapshot written at shutdown"),
        Err(error) => {
            tracing::warn!(shard = node.id, %error, "snapshot at shutdown failed; the WAL covers it")
        }
    }
}

/// Loads the start-up documents through the ordinary provisioning path.
async fn load_documents(node: &Node, documents: &[StartDocument]) -> Result<(), String> {
    for StartDocument {
        account_id,
        doc,
        only_if_missing,
    } in documents
    {
        if *only_if_missing && node.has_account(account_id) {
            continue;
        }
        let call = Call::AccountPut {
            account_id: account_id.clone(),
            doc: doc.clone(),
        };
        let response = node.execute(call).await;
        if response.status != 200 {
            let body = String::from_utf8_lossy(&response.body).into_owned();
            return Err(format!("account {account_id} refused: {body}"));
        }
    }
    Ok(())
}

async fn accept_until_stopped(node: &Rc<Node>, listener: &TcpListener) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            wait_stopping(&node.shared).await;
            None
        })
        .await;
        match accepted {
            Some(Ok(stream)) => {
                glommio::spawn_local(conn::serve(node.clone(), stream)).detach();
            }
            Some(Err(error)) => {
                tracing::warn!(shard = node.id, %error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            None => return,
        }
    }
}

async fn wait_stopping(shared: &Shared) {
    while !shared.stopping.load(Ordering::Acquire) {
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets requests being handled finish and `/debug` sessions close
/// (bounded), then returns.
async fn drain(node: &Node) {
    for _ in 0..100 {
        if node.in_flight.get() == 0 && !node.observe.hub.watched() {
            break;
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(shard = node.id, "drained");
}

fn watch_signals(shared: Arc<Shared>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "stopping: draining requests");
                shared.stopping.store(true, Ordering::Release);
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
