//! One executor's node: its shard, its ends of the two meshes, and the glue
//! that runs a call locally or forwards it to the owning core.

use super::clock::Clock;
use super::mesh::{FromShard, ToShard};
use crate::media::store::MediaStore;
use crate::media::tts::Tts;
use crate::observe::{metrics, Observe};
use crate::store::journal::Journal;
use futures_channel::oneshot;
use glommio::channels::channel_mesh::Senders;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use rand::rngs::StdRng;
use rand::RngCore;
use sipbrain_core::api::gate::GateConfig;
use sipbrain_core::api::{self, ApiError, Call, Prepared};
use sipbrain_core::debug;
use sipbrain_core::event::Event;
use sipbrain_core::flow::WebhookCall;
use sipbrain_core::http::{ParseLimits, Request, Response};
use sipbrain_core::media::tts::TtsRequest;
use sipbrain_core::shard::Shard;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Flags every core reads.
#[derive(Debug, Default)]
pub struct Shared {
    /// Recovery and initial loading are done.
    pub ready: AtomicBool,
    /// Shards whose recovery finished.
    pub recovered: std::sync::atomic::AtomicUsize,
    /// Shards whose calls every core's callId index has.
    pub indexed: std::sync::atomic::AtomicUsize,
    /// SIGTERM/SIGINT arrived: stop accepting, drain, exit.
    pub stopping: AtomicBool,
}

/// What a waiting request gets back from another core.
#[derive(Debug)]
enum Done {
    Reply(Response),
    Ack,
    /// The target's queue was full: the call was never sent (503).
    Shed,
}

/// One forwarded request towards a core, counted while it is in flight
/// (released on drop, also when the waiting request is cancelled).
struct Slot<'a>(&'a Cell<usize>);

impl<'a> Slot<'a> {
    fn take(count: &'a Cell<usize>) -> Slot<'a> {
        count.set(count.get() + 1);
        Slot(count)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The answer when the owning shard's queue is full.
fn overloaded() -> Response {
    ApiError::new(503, "overloaded", "the owning shard's queue is full; retry").to_response()
}

/// An answer being computed; it borrows the node.
type Pending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + 'a>>;

/// One pipelined request's answer: ready, or waiting (for its group commit).
enum Answer<'a> {
    Done(Response),
    Waiting(Pending<'a>),
}

/// Awaits every waiting answer. They run together (one answer's broadcast
/// does not wait for the one before it to be acked), polled in order, so
/// answers whose events became durable in one group commit queue their
/// broadcasts in decision order.
async fn finish_answers(answers: &mut [Answer<'_>]) {
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for answer in answers.iter_mut() {
            if let Answer::Waiting(pending) = answer {
                match pending.as_mut().poll(cx) {
                    std::task::Poll::Ready(response) => *answer = Answer::Done(response),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// The responses of answers that are all done, in order.
fn into_responses(answers: Vec<Answer<'_>>) -> Vec<Response> {
    answers
        .into_iter()
        .map(|answer| match answer {
            Answer::Done(response) => response,
            Answer::Waiting(_) => unreachable!("finish_answers awaited every answer"),
        })
        .collect()
}

/// Settings a node needs besides its shard.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub gates: GateConfig,
    pub limits: ParseLimits,
    pub connections_max: usize,
    /// Requests this core may have in flight towards one other core
    /// (queued, sent or being served) before it sheds with 503.
    pub forward_queue_max: usize,
    /// The media object store's directory.
    pub media_dir: std::path::PathBuf,
    /// The TTS engine's command template.
    pub tts_command: sipbrain_core::media::tts::Template,
}

/// One core's state. Lives in an `Rc`; never crosses threads.
pub struct Node {
    pub id: usize,
    pub shards: usize,
    pub settings: NodeSettings,
    pub shared: Arc<Shared>,
    pub connections: Cell<usize>,
    pub in_flight: Cell<usize>,
    /// Calls forwarded by other cores being served concurrently.
    pub forwarded: Cell<usize>,
    pub journal: Rc<Journal>,
    /// The debug stream and this shard's metrics.
    pub observe: Observe,
    /// The media object store (shared directory, this core's handle).
    pub media: Rc<MediaStore>,
    tts: Tts,
    shard: RefCell<Shard>,
    clock: Clock,
    rng: RefCell<StdRng>,
    requests: Senders<ToShard>,
    replies: Senders<FromShard>,
    pending: RefCell<BTreeMap<u64, oneshot::Sender<Done>>>,
    next_id: Cell<u64>,
    /// Forwarded requests in flight towards each core (the 503 bound).
    outstanding: Vec<Cell<usize>>,
    /// Calls waiting to go to each core: the forwarder sends each core's
    /// as one message once the tasks that are ready now have run.
    outbox: RefCell<Vec<Vec<(u64, Call)>>>,
    /// Wakes the forwarder (capacity one: a ring is never lost).
    outbox_bell: LocalSender<()>,
    /// Broadcasts waiting for the next message to every other core, in
    /// the order their events became durable, with their waiters.
    broadcasts: RefCell<Vec<(Vec<Event>, oneshot::Sender<()>)>>,
    /// Wakes the broadcaster.
    broadcast_bell: LocalSender<()>,
    /// The two bells' receivers, until `spawn_mesh_tasks` takes them.
    bells: RefCell<Option<(LocalReceiver<()>, LocalReceiver<()>)>>,
    /// Flow webhooks to perform, once their event is durable.
    webhooks: RefCell<Option<LocalSender<WebhookCall>>>,
    /// When the agents-by-bucket gauges were last counted (a pass over the
    /// shard's agents and live calls: at most once a second, not per
    /// request).
    agents_counted_at: Cell<Option<sipbrain_core::time::Millis>>,
}

/// How stale the agents-by-bucket gauges may be (Prometheus scrapes every
/// 15 s or so; counting them is a pass over the shard's agents and calls).
const AGENTS_COUNT_EVERY_MS: u64 = 1_000;

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        shards: usize,
        settings: NodeSettings,
        shared: Arc<Shared>,
        shard: Shard,
        rng: StdRng,
        requests: Senders<ToShard>,
        replies: Senders<FromShard>,
        journal: Rc<Journal>,
        observe: Observe,
    ) -> Node {
        let media = Rc::new(MediaStore::new(settings.media_dir.clone(), id));
        let tts = Tts::new(media.clone(), settings.tts_command.clone());
        let (outbox_bell, outbox_rung) = local_channel::new_bounded(1);
        let (broadcast_bell, broadcast_rung) = local_channel::new_bounded(1);
        Node {
            id,
            shards,
            media,
            tts,
            settings,
            shared,
            connections: Cell::new(0),
            in_flight: Cell::new(0),
            forwarded: Cell::new(0),
            journal,
            observe,
            shard: RefCell::new(shard),
            clock: Clock::default(),
            rng: RefCell::new(rng),
            requests,
            replies,
            pending: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(1),
            outstanding: (0..shards).map(|_| Cell::new(0)).collect(),
            outbox: RefCell::new(vec![Vec::new(); shards]),
            outbox_bell,
            broadcasts: RefCell::new(Vec::new()),
            broadcast_bell,
            bells: RefCell::new(Some((outbox_rung, broadcast_rung))),
            webhooks: RefCell::new(None),
            agents_counted_at: Cell::new(None),
        }
    }

    /// Answers pipelined requests, in order. One whose call runs on this
    /// core is decided and applied at once (after those before it) and
    /// then waits for its group commit together with the others, so one
    /// durable write covers the whole run; every answer still waits for its
    /// events (and all applied before them) to be durable. One that must
    /// wait on another core (forwarded, or run on every shard) or on the
    /// TTS engine first lets those before it finish, then runs alone.
    pub async fn handle_pipelined(&self, requests: &[Request], peer: IpAddr) -> Vec<Response> {
        let mut answers: Vec<Answer<'_>> = Vec::with_capacity(requests.len());
        for req in requests {
            let started = Instant::now();
            let (endpoint, prepared) = self.prepare(req, peer);
            let here = self.answers_here(&prepared);
            let mut answer: Pending<'_> = Box::pin(async move {
                let response = self.answer_prepared(prepared).await;
                self.observe
                    .shard
                    .request(endpoint, response.status, started.elapsed());
                response
            });
            if !here {
                finish_answers(&mut answers).await;
                answers.push(Answer::Done(answer.await));
                continue;
            }
            // Runs up to its group commit wait: decided and applied now.
            match futures_lite::future::poll_once(&mut answer).await {
                Some(response) => answers.push(Answer::Done(response)),
                None => answers.push(Answer::Waiting(answer)),
            }
        }
        finish_answers(&mut answers).await;
        let responses = into_responses(answers);
        assert_eq!(responses.len(), requests.len(), "one answer per request");
        responses
    }

    /// True when `prepared` is answered without waiting on another core or
    /// the TTS engine (its call, if any, runs on this core's shard).
    fn answers_here(&self, prepared: &Prepared) -> bool {
        match prepared {
            Prepared::Call(call) => {
                let key = call.key(&self.shard.borrow());
                key != api::ShardKey::Every && key.shard(self.shards, self.id) == self.id
            }
            Prepared::Tts(_) => false,
            _ => true,
        }
    }

    /// Routes, gates and decodes `req` (core's `prepare_named`).
    pub fn prepare(&self, req: &Request, peer: IpAddr) -> (Option<usize>, Prepared) {
        let shard = self.shard.borrow();
        api::prepare_named(req, peer, &self.settings.gates, shard.directory())
    }

    async fn answer_prepared(&self, prepared: Prepared) -> Response {
        let call = match prepared {
            Prepared::Reply(response) => return response,
            Prepared::Health { ready_probe } => return self.health(ready_probe),
            Prepared::Observe(api::Observe::Metrics) => return self.observe.metrics.response(),
            Prepared::Observe(api::Observe::Debug { .. }) => {
                // A WebSocket upgrade never gets here (the connection hands
                // it to the debug session first).
                return ApiError::new(
                    426,
                    "upgrade_required",
                    "GET /debug is a WebSocket: send upgrade: websocket",
                )
                .with_header("upgrade", "websocket".into())
                .to_response();
            }
            Prepared::Call(call) => *call,
            Prepared::Tts(request) => return self.generate_prompts(&request).await,
            // The connection hands media to `server::media` before this.
            Prepared::Media(_) => {
                let why = "a media request reached the JSON path";
                return ApiError::new(500, "internal", why).to_response();
            }
        };
        if !self.shared.ready.load(Ordering::Acquire) {
            return ApiError::new(503, "not_ready", "recovery in progress").to_response();
        }
        self.dispatch(call).await
    }

    /// `POST /admin/tts/generate`, on this core (no shard state involved).
    async fn generate_prompts(&self, request: &TtsRequest) -> Response {
        if !self.is_ready() {
            return ApiError::new(503, "not_ready", "recovery in progress").to_response();
        }
        self.tts.generate(request).await
    }

    /// True once recovery and initial loading are done.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// Runs a call on the shard that owns it (every shard for `Every`).
    pub async fn dispatch(&self, call: Call) -> Response {
        let key = call.key(&self.shard.borrow());
        if key == api::ShardKey::Every {
            let mut replies = Vec::with_capacity(self.shards);
            for target in 0..self.shards {
                let reply = if target == self.id {
                    self.execute(call.clone()).await
                } else {
                    self.forward(target, call.clone()).await
                };
                replies.push(reply);
            }
            return api::merge_every(replies);
        }
        let target = key.shard(self.shards, self.id);
        if target == self.id {
            self.execute(call).await
        } else {
            self.forward(target, call).await
        }
    }

    /// True when the directory knows the account.
    pub fn has_account(&self, account_id: &str) -> bool {
        self.shard.borrow().directory().contains(account_id)
    }

    fn health(&self, ready_probe: bool) -> Response {
        let ready = self.shared.ready.load(Ordering::Acquire);
        if !ready_probe {
            return sipbrain_core::api::error::ok(
                serde_json::json!({"status": "live", "shard": self.id}),
            );
        }
        if ready {
            sipbrain_core::api::error::ok(
                serde_json::json!({"status": "ready", "shards": self.shards}),
            )
        } else {
            ApiError::new(503, "not_ready", "recovery in progress").to_response()
        }
    }

    /// Decides and applies `call` on this core's shard, then waits until
    /// its events (and all applied before them) are durable; broadcast
    /// events then go to every other core, and the reply waits for their
    /// acks. Decide and apply run without a pause, so calls are decided in
    /// arrival order.
    pub async fn execute(&self, call: Call) -> Response {
        let now = self.clock.now();
        let salt = self.rng.borrow_mut().next_u64();
        let decision = self.shard.borrow_mut().execute(now, salt, &call);
        self.record_state();
        {
            let _waiting = metrics::hold(&self.observe.shard.committing);
            self.journal.durable(&decision.events).await;
        }
        // Durable and applied: now the debug stream may show it.
        if self.observe.hub.watched() {
            self.publish(now, &decision.events);
        }
        let broadcast = sipbrain_core::event::for_peers_of(&decision.events, self.shards);
        if !broadcast.is_empty() {
            self.broadcast(broadcast).await;
        }
        for event in &decision.events {
            if let Event::FlowStep {
                webhook: Some(webhook),
                ..
            } = event
            {
                if let Some(sender) = self.webhooks.borrow().as_ref() {
                    // Unbounded: webhooks are bounded by live sessions.
                    let _ = sender.try_send(webhook.clone());
                }
            }
        }
        decision.reply
    }

    /// Where durable webhook requests go (the performer task's queue).
    pub fn set_webhooks(&self, sender: LocalSender<WebhookCall>) {
        *self.webhooks.borrow_mut() = Some(sender);
    }

    /// Applies events recovered from disk (snapshot image, then WAL).
    pub fn restore(&self, events: &[Event]) {
        let mut shard = self.shard.borrow_mut();
        for event in events {
            shard.apply(event);
        }
        self.clock.raise(shard.clock_floor());
        drop(shard);
        self.record_state();
    }

    /// Renders events this shard decided for the debug stream's
    /// subscribers (only when someone watches).
    fn publish(&self, now: sipbrain_core::time::Millis, events: &[Event]) {
        let shard = self.shard.borrow();
        let account_of = |call_id: &str| shard.call_index().account(call_id).map(str::to_string);
        let messages: Vec<debug::DebugMessage> = events
            .iter()
            .flat_map(|event| debug::render(event, now, &account_of))
            .collect();
        self.observe.hub.publish(&messages);
    }

    /// Stores the gauges read from the shard's state (live calls, bans,
    /// agents by bucket).
    fn record_state(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let shard = self.shard.borrow();
        let gauges = &self.observe.shard;
        gauges
            .active_calls
            .store(shard.live_calls() as u64, Relaxed);
        gauges.bans.store(shard.security().rows() as u64, Relaxed);
        let now = self.clock.now();
        let due = self
            .agents_counted_at
            .get()
            .is_none_or(|at| now.since(at) >= AGENTS_COUNT_EVERY_MS);
        if due {
            self.agents_counted_at.set(Some(now));
            let buckets = shard.agent_buckets(now);
            for (gauge, count) in gauges.agents.iter().zip(buckets) {
                gauge.store(count, Relaxed);
            }
        }
    }

    /// This shard's snapshot image, encoded.
    pub fn image(&self) -> Vec<u8> {
        sipbrain_core::event::encode_all(&self.image_events())
    }

    /// This shard's snapshot image, as events (encode with `encode_all`).
    pub fn image_events(&self) -> Vec<Event> {
        self.shard.borrow().image()
    }

    /// True when one of the shard's timers is due.
    pub fn tick_due(&self) -> bool {
        let shard = self.shard.borrow();
        sipbrain_core::api::calls::next_deadline(&shard).is_some_and(|at| at <= self.clock.now())
    }

    /// Sends this shard's calls to every other core's callId index (at
    /// start, after recovery) and waits for their acks.
    pub async fn share_call_index(&self) {
        let events = self.shard.borrow().call_index_image();
        if !events.is_empty() && self.shards > 1 {
            self.broadcast(events).await;
        }
    }

    /// Sends the control shard's documents to every other core (at start,
    /// after recovery) and waits for their acks.
    pub async fn share_directory(&self) {
        let events = self.shard.borrow().directory_image();
        if !events.is_empty() {
            self.broadcast(events).await;
        }
    }

    /// Sends `call` to core `target` and waits for its answer. The call
    /// goes into that core's outbox; the forwarder sends everything queued
    /// for a core as one message (see `spawn_mesh_tasks`). Past
    /// `forward_queue_max` requests in flight towards `target`, or when
    /// its queue is full, the answer is 503 at once: a shard never waits
    /// for room on another.
    async fn forward(&self, target: usize, call: Call) -> Response {
        let outstanding = &self.outstanding[target];
        if outstanding.get() >= self.settings.forward_queue_max {
            return overloaded();
        }
        let _slot = Slot::take(outstanding);
        let (id, done) = self.expect_reply();
        let ring = {
            let mut outbox = self.outbox.borrow_mut();
            outbox[target].push((id, call));
            outbox[target].len() == 1
        };
        if ring {
            // Full means it already rang and the forwarder has not run yet.
            let _ = self.outbox_bell.try_send(());
        }
        match done.await {
            Ok(Done::Reply(response)) => response,
            Ok(Done::Shed) => overloaded(),
            _ => ApiError::new(503, "shard_unavailable", "the owning shard did not answer")
                .to_response(),
        }
    }

    /// Sends every outbox, one message per core. Calls that do not fit in
    /// a full queue are answered 503 (their requests are still counted in
    /// `outstanding`, so this is rare).
    fn flush_outbox(&self) {
        let batches: Vec<(usize, Vec<(u64, Call)>)> = self
            .outbox
            .borrow_mut()
            .iter_mut()
            .enumerate()
            .filter(|(_, calls)| !calls.is_empty())
            .map(|(target, calls)| (target, std::mem::take(calls)))
            .collect();
        for (target, calls) in batches {
            let ids: Vec<u64> = calls.iter().map(|(id, _)| *id).collect();
            if self
                .requests
                .try_send_to(target, ToShard::Calls(calls))
                .is_err()
            {
                for id in ids {
                    self.finish(id, Done::Shed);
                }
            }
        }
    }

    /// Sends directory events to every other core and waits for the acks.
    /// Broadcasts queue in the order they are asked for (the order their
    /// events became durable); the broadcaster sends all that queued while
    /// the previous one was in flight as one message. During shutdown a
    /// peer may be gone: the events are durable on this core, and every
    /// core gets the directory from it at the next start, so nothing is
    /// lost by not waiting.
    async fn broadcast(&self, events: Vec<Event>) {
        if self.shards == 1 {
            return;
        }
        let (done, acked) = oneshot::channel();
        self.broadcasts.borrow_mut().push((events, done));
        let _ = self.broadcast_bell.try_send(());
        let acked = acked.await.is_ok();
        assert!(
            acked || self.stopping(),
            "every shard acks a broadcast while the brain runs"
        );
    }

    /// Sends one broadcast message to every other core and waits for their
    /// acks. False when a peer is gone (only while stopping).
    async fn send_broadcast(&self, events: Vec<Event>) -> bool {
        let mut waits = Vec::new();
        for peer in (0..self.shards).filter(|p| *p != self.id) {
            let (id, done) = self.expect_reply();
            let message = ToShard::Broadcast {
                id,
                events: events.clone(),
            };
            if self.requests.send_to(peer, message).await.is_err() {
                self.pending.borrow_mut().remove(&id);
                assert!(self.stopping(), "shard {peer} is gone while the brain runs");
                return false;
            }
            waits.push(done);
        }
        let mut all = true;
        for done in waits {
            let acked = matches!(done.await, Ok(Done::Ack));
            assert!(
                acked || self.stopping(),
                "every shard acks a broadcast while the brain runs"
            );
            all &= acked;
        }
        all
    }

    pub fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    fn expect_reply(&self) -> (u64, oneshot::Receiver<Done>) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (sender, receiver) = oneshot::channel();
        self.pending.borrow_mut().insert(id, sender);
        (id, receiver)
    }

    /// Serves what core `source` sends on the request mesh. A batch of
    /// calls is decided and applied in order, without a pause, and waits
    /// for one group commit (like pipelined requests); its answers go back
    /// as one message.
    pub async fn serve_requests(&self, source: usize, message: ToShard) {
        let answer = match message {
            ToShard::Calls(calls) => {
                let _serving: Vec<metrics::Held<'_>> = calls
                    .iter()
                    .map(|_| metrics::hold(&self.observe.shard.forwarded))
                    .collect();
                FromShard::Replies(self.execute_batch(calls).await)
            }
            ToShard::Broadcast { id, events } => {
                let mut shard = self.shard.borrow_mut();
                for event in &events {
                    assert!(event.is_broadcast(), "only broadcast events cross cores");
                    shard.apply(event);
                }
                FromShard::Ack { id }
            }
        };
        // A peer that stopped (shutdown) no longer waits for the answer.
        let _ = self.replies.send_to(source, answer).await;
    }

    /// Executes forwarded calls in order: each is decided and applied at
    /// once, then all wait for their group commit together.
    async fn execute_batch(&self, calls: Vec<(u64, Call)>) -> Vec<(u64, Response)> {
        let mut ids = Vec::with_capacity(calls.len());
        let mut answers: Vec<Answer<'_>> = Vec::with_capacity(calls.len());
        for (id, call) in calls {
            ids.push(id);
            let mut answer: Pending<'_> = Box::pin(self.execute(call));
            match futures_lite::future::poll_once(&mut answer).await {
                Some(response) => answers.push(Answer::Done(response)),
                None => answers.push(Answer::Waiting(answer)),
            }
        }
        finish_answers(&mut answers).await;
        ids.into_iter().zip(into_responses(answers)).collect()
    }

    /// Completes the waiting requests a reply batch or an ack belongs to.
    pub fn complete(&self, message: FromShard) {
        match message {
            FromShard::Replies(replies) => {
                for (id, response) in replies {
                    self.finish(id, Done::Reply(response));
                }
            }
            FromShard::Ack { id } => self.finish(id, Done::Ack),
        }
    }

    fn finish(&self, id: u64, done: Done) {
        if let Some(sender) = self.pending.borrow_mut().remove(&id) {
            // The requester may have gone (its connection closed): fine.
            let _ = sender.send(done);
        }
    }
}

/// Starts this core's two senders: the forwarder, which sends each core's
/// outbox as one message whenever it is rung (after the tasks that were
/// ready when it was rung, so calls forwarded by many connections in one
/// turn of the executor travel together), and the broadcaster, which sends
/// the broadcasts that queued while the previous one was in flight as one
/// message and completes their waiters on the acks.
pub fn spawn_mesh_tasks(node: &Rc<Node>) {
    let (outbox_rung, broadcast_rung) = node
        .bells
        .borrow_mut()
        .take()
        .expect("spawn_mesh_tasks runs once per node");
    let forwarder = node.clone();
    glommio::spawn_local(async move {
        while outbox_rung.recv().await.is_some() {
            forwarder.flush_outbox();
        }
    })
    .detach();
    let broadcaster = node.clone();
    glommio::spawn_local(async move {
        while broadcast_rung.recv().await.is_some() {
            let queued = std::mem::take(&mut *broadcaster.broadcasts.borrow_mut());
            if queued.is_empty() {
                continue;
            }
            let mut events = Vec::new();
            let mut waiters = Vec::with_capacity(queued.len());
            for (batch, waiter) in queued {
                events.extend(batch);
                waiters.push(waiter);
            }
            if broadcaster.send_broadcast(events).await {
                for waiter in waiters {
                    let _ = waiter.send(());
                }
            }
        }
    })
    .detach();
}
