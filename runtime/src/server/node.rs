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
use glommio::channels::local_channel::LocalSender;
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
}

/// An answer being computed; it borrows the node.
type Pending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + 'a>>;

/// One pipelined request's answer: ready, or waiting (for its group commit).
enum Answer<'a> {
    Done(Response),
    Waiting(Pending<'a>),
}

/// Awaits every waiting answer, in order.
async fn finish_answers(answers: &mut [Answer<'_>]) {
    for answer in answers.iter_mut() {
        if let Answer::Waiting(pending) = answer {
            *answer = Answer::Done(pending.await);
        }
    }
}

/// Settings a node needs besides its shard.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub gates: GateConfig,
    pub limits: ParseLimits,
    pub connections_max: usize,
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
    /// One broadcast at a time, in order (FIFO waiters).
    broadcast_turn: glommio::sync::Semaphore,
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
            broadcast_turn: glommio::sync::Semaphore::new(1),
            webhooks: RefCell::new(None),
            agents_counted_at: Cell::new(None),
        }
    }

    /// Answers pipelined requests, in order. One whose call runs on this
    /// core is decided and applied at once (after those before it) and
    /// then waits for its group commit together with the others, so one
    /// fdatasync covers the whole run; every answer still waits for its
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
        let responses: Vec<Response> = answers
            .into_iter()
            .map(|answer| match answer {
                Answer::Done(response) => response,
                Answer::Waiting(_) => unreachable!("finish_answers awaited every answer"),
            })
            .collect();
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
        let broadcast: Vec<Event> = decision
            .events
            .iter()
            .filter(|e| e.is_broadcast())
            .cloned()
            .collect();
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

    async fn forward(&self, target: usize, call: Call) -> Response {
        let (id, done) = self.expect_reply();
        if self
            .requests
            .try_send_to(target, ToShard::Call { id, call })
            .is_err()
        {
            self.pending.borrow_mut().remove(&id);
            return ApiError::new(503, "overloaded", "the owning shard's queue is full; retry")
                .to_response();
        }
        match done.await {
            Ok(Done::Reply(response)) => response,
            _ => ApiError::new(503, "shard_unavailable", "the owning shard did not answer")
                .to_response(),
        }
    }

    /// Sends directory events to every other core, one broadcast at a
    /// time (in the order their events became durable), and waits for the
    /// acks. During shutdown a peer may be gone: the events are durable on
    /// this core, and every core gets the directory from it at the next
    /// start, so nothing is lost by not waiting.
    async fn broadcast(&self, events: Vec<Event>) {
        let Ok(_permit) = self.broadcast_turn.acquire_permit(1).await else {
            return;
        };
        let mut waits = Vec::new();
        for peer in (0..self.shards).filter(|p| *p != self.id) {
            let (id, done) = self.expect_reply();
            let message = ToShard::Broadcast {
                id,
                events: events.clone(),
            };
            if self.requests.send_to(peer, message).await.is_err() {
                assert!(self.stopping(), "shard {peer} is gone while the brain runs");
                return;
            }
            waits.push(done);
        }
        for done in waits {
            let acked = matches!(done.await, Ok(Done::Ack));
            assert!(
                acked || self.stopping(),
                "every shard acks a broadcast while the brain runs"
            );
        }
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

    /// Serves what core `source` sends on the request mesh, one at a time.
    pub async fn serve_requests(&self, source: usize, message: ToShard) {
        let answer = match message {
            ToShard::Call { id, call } => {
                let _serving = metrics::hold(&self.observe.shard.forwarded);
                FromShard::Reply {
                    id,
                    response: self.execute(call).await,
                }
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

    /// Completes the waiting request a reply or ack belongs to.
    pub fn complete(&self, message: FromShard) {
        let (id, done) = match message {
            FromShard::Reply { id, response } => (id, Done::Reply(response)),
            FromShard::Ack { id } => (id, Done::Ack),
        };
        if let Some(sender) = self.pending.borrow_mut().remove(&id) {
            // The requester may have gone (its connection closed): fine.
            let _ = sender.send(done);
        }
    }
}
