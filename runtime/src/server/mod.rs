//! The thread-per-core server: one pinned glommio executor per shard, all
//! accepting on the same port (SO_REUSEPORT), joined by two channel meshes
//! (requests, replies). glommio is used here and nowhere else.

mod clock;
mod conn;
mod mesh;
mod node;

pub use node::NodeSettings;

use crate::config::Config;
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
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Everything an executor needs to start.
#[derive(Clone)]
pub struct Plan {
    pub config: Config,
    pub listen: SocketAddr,
    pub settings: NodeSettings,
    pub nonce_key: NonceKey,
    /// Account documents the control shard loads before the brain is ready.
    pub documents: Vec<(String, Value)>,
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
    let mut handles = Vec::new();
    for id in 0..shards {
        let (plan, shared) = (plan.clone(), shared.clone());
        let (requests, replies) = (requests.clone(), replies.clone());
        let builder = LocalExecutorBuilder::new(Placement::Fixed(id % cores))
            .name(&format!("shard-{id}"))
            .io_memory(plan.config.io_memory_bytes)
            .spin_before_park(Duration::from_micros(plan.config.spin_before_park_us));
        let handle = builder
            .spawn(move || async move { shard_main(id, plan, shared, requests, replies).await })
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
    let shard = Shard::new(ShardConfig {
        id,
        shards,
        nonce_key: plan.nonce_key.clone(),
        nonce_ttl_ms: plan.config.nonce_ttl_sec * 1000,
        auth_fail_threshold: plan.config.auth_fail_threshold,
        auth_fail_window_ms: plan.config.auth_fail_window_sec * 1000,
    });
    let node = Rc::new(Node::new(
        id,
        shards,
        plan.settings.clone(),
        shared.clone(),
        shard,
        StdRng::from_entropy(),
        request_senders,
        reply_senders,
    ));
    for (source, stream) in request_receivers.streams() {
        let node = node.clone();
        glommio::spawn_local(async move {
            while let Some(message) = stream.recv().await {
                node.serve_requests(source, message).await;
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
    if id == sipbrain_core::api::CONTROL_SHARD {
        load_documents(&node, &plan.documents).await?;
        shared.ready.store(true, Ordering::Release);
        println!("sipbrain ready on http://{} ({shards} shards)", plan.listen);
    }
    accept_until_stopped(&node, &listener).await;
    drain(&node).await;
    Ok(())
}

/// Loads the start-up documents through the ordinary provisioning path.
async fn load_documents(node: &Node, documents: &[(String, Value)]) -> Result<(), String> {
    for (account_id, doc) in documents {
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

/// Lets requests being handled finish (bounded), then returns.
async fn drain(node: &Node) {
    for _ in 0..100 {
        if node.in_flight.get() == 0 {
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
