//! A shard: the single-threaded owner of a set of accounts and everything
//! live about them. [`Shard::decide`] reads; [`Shard::apply`] mutates.
//!
//! Run loop (the runtime and the simulator both follow it): for each call,
//! `decide`, then make the events durable, then `apply` them in order (and
//! send what [`Event::for_peers`] gives for them to every other shard,
//! which `apply` it too), then release the reply. Never start the next
//! `decide` before the previous events are applied.

use crate::account::{self, Account};
use crate::acd::Acd;
use crate::api::{self, Call, CONTROL_SHARD};
use crate::auth::failures::FailureCounter;
use crate::auth::nonce::NonceKey;
use crate::auth::replay::ReplayCache;
use crate::cac::AccountCac;
use crate::calls::{CallIndex, CallRecord, Progress};
use crate::directory::{owner_shard, Directory};
use crate::event::Event;
use crate::flow::{Phase, Session};
use crate::http::Response;
use crate::limits::ENDED_CALLS_PER_SHARD_MAX;
use crate::media::voicemail::Voicemails;
use crate::presence::Registrations;
use crate::security::Security;
use crate::time::Millis;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Settings a shard decides with (from the server config).
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// This shard's index.
    pub id: usize,
    /// Number of shards of the brain.
    pub shards: usize,
    pub nonce_key: NonceKey,
    /// How long a brain-issued nonce is valid (contract default 300 s).
    pub nonce_ttl_ms: u64,
    /// Failures per source IP within the window before /auth answers 429.
    pub auth_fail_threshold: usize,
    pub auth_fail_window_ms: u64,
    /// An admitted call not confirmed within this is released by the brain
    /// (`cac_setup_ttl_sec`, default 120 s).
    pub cac_setup_ttl_ms: u64,
    /// An admitted call older than this is released (`cac_max_call_sec`,
    /// default 14,400 s).
    pub cac_max_call_ms: u64,
    /// The wholesale carrier's `host[:port]` for outbound calls no trunk
    /// covers.
    pub wholesale_proxy: String,
    /// Calls routed this recently are spared by a `sync` that does not
    /// list them (the report may have been taken before the INVITE).
    pub sync_grace_ms: u64,
    /// How often edge nodes send `/security/report` (`security_report_period_sec`,
    /// default 30 s): a node silent for 3 periods has stale bans.
    pub security_report_period_ms: u64,
}

impl ShardConfig {
    /// Defaults for everything but the identity and the nonce key (tests,
    /// the simulator and the server's config start from these).
    pub fn new(id: usize, shards: usize, nonce_key: NonceKey) -> ShardConfig {
        ShardConfig {
            id,
            shards,
            nonce_key,
            nonce_ttl_ms: 300_000,
            auth_fail_threshold: 10,
            auth_fail_window_ms: 60_000,
            cac_setup_ttl_ms: 120_000,
            cac_max_call_ms: 14_400_000,
            wholesale_proxy: "wholesale.invalid:5060".into(),
            sync_grace_ms: 10_000,
            security_report_period_ms: 30_000,
        }
    }
}

/// What a decision produced: the reply, and the events to log and apply
/// before the reply may leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub reply: Response,
    pub events: Vec<Event>,
}

impl Decision {
    /// A reply that changes nothing.
    pub fn reply(reply: Response) -> Decision {
        Decision {
            reply,
            events: Vec::new(),
        }
    }
}

/// One shard's state. `Clone` lets the simulator keep a reference copy.
#[derive(Clone, Debug)]
pub struct Shard {
    config: ShardConfig,
    directory: Directory,
    /// Documents of the accounts this shard owns (all of them on the
    /// control shard).
    accounts: BTreeMap<String, Account>,
    /// On the control shard, the JSON each of `accounts` was last put
    /// with: what its snapshot stores, so taking one does not re-serialize
    /// every account on the shard (tens of ms for a few dozen accounts).
    /// A document stays as it was put (current code puts
    /// `Account::to_json`), so `account::parse` must keep reading every
    /// form an older version put.
    account_docs: BTreeMap<String, String>,
    replays: ReplayCache,
    failures: FailureCounter,
    /// The latest time any applied event carries: the floor of this
    /// shard's clock after a restart.
    clock_floor: Millis,
    /// Calls of the accounts this shard owns: live, then retained once
    /// ended (CDR and trace).
    calls: BTreeMap<String, Arc<CallRecord>>,
    /// Ended calls, oldest first (evicted past the bound).
    ended: VecDeque<String>,
    /// `callId → account` of every shard's calls.
    index: CallIndex,
    /// CAC state of owned accounts.
    cac: BTreeMap<String, AccountCac>,
    registrations: Registrations,
    /// Each edge node's latest boot epoch.
    nodes: BTreeMap<String, u64>,
    /// Live flow sessions of owned accounts' calls.
    flows: BTreeMap<String, Session>,
    /// Voicemail messages of owned accounts.
    voicemails: Voicemails,
    /// Bans, their history and the allowlist (the control shard); the
    /// allowlist only (the others).
    security: Security,
    /// Agents, queued callers and offers of owned accounts.
    acd: Acd,
}

impl Shard {
    /// An empty shard.
    pub fn new(config: ShardConfig) -> Shard {
        assert!(
            config.id < config.shards,
            "shard id {} out of {}",
            config.id,
            config.shards
        );
        Shard {
            config,
            directory: Directory::default(),
            accounts: BTreeMap::new(),
            account_docs: BTreeMap::new(),
            replays: ReplayCache::default(),
            failures: FailureCounter::default(),
            clock_floor: Millis(0),
            calls: BTreeMap::new(),
            ended: VecDeque::new(),
            index: CallIndex::default(),
            cac: BTreeMap::new(),
            registrations: Registrations::default(),
            nodes: BTreeMap::new(),
            flows: BTreeMap::new(),
            voicemails: Voicemails::default(),
            security: Security::default(),
            acd: Acd::default(),
        }
    }

    /// Decides `call` at `now`; `salt` is fresh randomness from the caller
    /// (nonces). Reads only: the events say what changes.
    pub fn decide(&self, now: Millis, salt: u64, call: &Call) -> Decision {
        match call {
            Call::Auth(request) => api::auth::decide(self, now, salt, request),
            Call::AccountPut { account_id, doc } => {
                assert_eq!(
                    self.config.id, CONTROL_SHARD,
                    "provisioning runs on the control shard"
                );
                api::admin::decide_put(self, account_id, doc)
            }
            Call::AccountGet { account_id } => api::admin::decide_get(self, account_id),
            Call::AccountDelete { account_id } => api::admin::decide_delete(self, account_id),
            Call::Route(request) => api::route::decide(self, now, request),
            Call::Explain(request) => api::route::explain(self, now, request),
            Call::Presence(event) => api::presence::decide(self, now, salt, event),
            Call::Sync(report) => api::presence::decide_sync(self, now, report),
            Call::CacGet { account_id } => api::cac::decide_get(self, now, account_id),
            Call::CacReset { account_id } => api::cac::decide_reset(self, now, account_id),
            Call::Trace { call_id } => api::calls::decide_trace(self, call_id),
            Call::VoicemailStored(upload) => api::media::decide_voicemail(self, now, upload),
            Call::VoicemailList { account_id } => api::media::decide_list(self, account_id),
            Call::Tick => api::calls::decide_tick(self, now),
            Call::FlowStart(start) => {
                let decision = api::flow::decide_start(self, now, start);
                api::queue::after_flow(self, now, salt, decision)
            }
            Call::FlowStep(step) => {
                let held = self.flow_session(&step.call_id).filter(|s| {
                    s.phase == crate::flow::Phase::Queued && step.seq.is_none_or(|seq| seq == s.seq)
                });
                if let Some(decision) =
                    held.and_then(|s| api::queue::queued_step(self, now, salt, s, step))
                {
                    return decision;
                }
                let decision = api::flow::decide_step(self, now, step);
                api::queue::after_flow(self, now, salt, decision)
            }
            Call::FlowWebhook(report) => {
                let decision = api::flow::decide_webhook(self, now, report);
                api::queue::after_flow(self, now, salt, decision)
            }
            Call::AgentPost(request) => api::agent::decide_post(self, now, salt, request),
            Call::AgentGet { account_id, user } => {
                api::agent::decide_get(self, now, account_id, user)
            }
            Call::PresenceUsers { account_id } => api::agent::decide_users(self, now, account_id),
            Call::AgentConfirm {
                account_id,
                lease_id,
                epoch,
            } => api::agent::decide_confirm(self, now, salt, account_id, lease_id, *epoch),
            Call::AgentClaim {
                account_id,
                agent_id,
                call_id,
            } => api::agent::decide_claim(self, now, salt, account_id, agent_id, call_id),
            Call::SecurityReport(report) => {
                self.assert_control("security reports");
                api::security::decide_report(self, now, report)
            }
            Call::SecurityBans(query) => {
                self.assert_control("the ban view");
                api::security::decide_bans(self, now, query)
            }
            Call::AllowList => {
                self.assert_control("the allowlist");
                api::security::decide_allow_list(self)
            }
            Call::AllowAdd { net, note } => {
                self.assert_control("the allowlist");
                api::security::decide_allow_add(self, now, net, note.as_deref())
            }
            Call::AllowDelete { net } => {
                self.assert_control("the allowlist");
                api::security::decide_allow_delete(self, now, net)
            }
        }
    }

    fn assert_control(&self, what: &str) {
        assert_eq!(
            self.config.id, CONTROL_SHARD,
            "{what} run on the control shard"
        );
    }

    /// Decides `call`, then applies its events: the step the runtime and
    /// the simulator run for every call (logging the events is theirs).
    pub fn execute(&mut self, now: Millis, salt: u64, call: &Call) -> Decision {
        let decision = self.decide(now, salt, call);
        for event in &decision.events {
            self.apply(event);
        }
        decision
    }

    /// Applies one event: the only code that changes a shard.
    pub fn apply(&mut self, event: &Event) {
        self.apply_state(event);
        for trace in self.acd.apply(event) {
            self.clock_floor = self.clock_floor.max(trace.at);
            if let Some(record) = self.calls.get_mut(&trace.call_id).map(Arc::make_mut) {
                record.push_trace(trace.at, "acd", trace.kind, trace.data);
            }
        }
    }

    fn apply_state(&mut self, event: &Event) {
        match event {
            Event::AccountPut { account_id, doc } => {
                let value: serde_json::Value = serde_json::from_str(doc)
                    .expect("AccountPut carries the JSON it was decided with");
                let account = account::parse(account_id, &value)
                    .expect("AccountPut carries a document that passed validation");
                let keys = crate::directory::agent_key_digests(&account);
                self.directory.put(&account, keys);
                if self.keeps(account_id) {
                    self.accounts.insert(account_id.clone(), account);
                    if self.config.id == CONTROL_SHARD {
                        self.account_docs.insert(account_id.clone(), doc.clone());
                    }
                }
            }
            Event::AccountDeleted { account_id } => {
                self.directory.remove(account_id);
                self.accounts.remove(account_id);
                self.account_docs.remove(account_id);
                self.registrations.forget_account(account_id);
                self.voicemails.forget_account(account_id);
            }
            Event::NonceUsed {
                nonce,
                nc,
                at,
                expires_at,
            } => {
                self.replays.record(nonce, nc, *expires_at, *at);
                self.clock_floor = self.clock_floor.max(*at);
            }
            Event::AuthFailed { ip, at } => {
                self.failures
                    .record((*ip).into(), *at, self.config.auth_fail_window_ms);
                self.clock_floor = self.clock_floor.max(*at);
            }
            Event::ClockSeen { at } => {
                self.clock_floor = self.clock_floor.max(*at);
            }
            Event::CallRouted(start) => {
                self.index.insert(&start.call_id, &start.account_id);
                if start.rejected {
                    self.index.ended(&start.call_id);
                }
                // Only the owner logs it: only the owner's clock learns from it.
                if !self.owns(&start.account_id) {
                    return;
                }
                self.clock_floor = self.clock_floor.max(start.at);
                let record = CallRecord::new(start);
                if record.admitted {
                    let admission = start.admission.as_ref().expect("admitted has admission");
                    self.cac.entry(start.account_id.clone()).or_default().admit(
                        &start.call_id,
                        admission,
                        start.at,
                    );
                }
                let ended = !record.is_live();
                self.calls.insert(start.call_id.clone(), Arc::new(record));
                if ended {
                    self.retire(&start.call_id);
                }
            }
            Event::CallProgressed {
                call_id,
                progress,
                at,
                note,
            } => {
                self.clock_floor = self.clock_floor.max(*at);
                let Some(record) = self.calls.get_mut(call_id).map(Arc::make_mut) else {
                    return;
                };
                record.progress = record.progress.max(*progress);
                if *progress == Progress::Confirmed && record.answer_ts.is_none() {
                    record.answer_ts = Some(*at);
                }
                record.push_trace_text(*at, "presence", "dialog", note.clone());
            }
            Event::CallEnded {
                call_id,
                at,
                disposition,
                cause,
                source,
                note,
            } => {
                self.index.ended(call_id);
                let Some(record) = self.calls.get_mut(call_id).map(Arc::make_mut) else {
                    return;
                };
                self.clock_floor = self.clock_floor.max(*at);
                #[cfg(feature = "planted-bugs")]
                let double = crate::planted::active(crate::planted::Bug::CacDoubleRelease);
                #[cfg(not(feature = "planted-bugs"))]
                let double = false;
                let was_live = record.is_live();
                if record.admitted || (double && record.start.admission.is_some()) {
                    record.admitted = false;
                    let admission = record.start.admission.as_ref().expect("admitted");
                    self.cac
                        .entry(record.start.account_id.clone())
                        .or_default()
                        .release(call_id, admission);
                    record.push_trace(*at, "cac", "released", serde_json::json!({"cause": cause}));
                }
                if was_live {
                    record.end_ts = Some(*at);
                    record.disposition = Some(disposition.clone());
                    record.hangup_cause = Some(cause.clone());
                }
                record.push_trace_text(*at, source, "ended", note.clone());
                if let Some(mut session) = self.flows.remove(call_id) {
                    // The call ended under its flow: the buffered trace goes
                    // to the record and the session is evicted.
                    session.trace(*at, "ended", serde_json::json!({"cause": cause}));
                    flush(record, &mut session);
                }
                if was_live {
                    self.retire(call_id);
                }
            }
            Event::CacReleased { call_id, at } => {
                self.clock_floor = self.clock_floor.max(*at);
                let Some(record) = self.calls.get_mut(call_id).map(Arc::make_mut) else {
                    return;
                };
                if record.admitted {
                    record.admitted = false;
                    let admission = record.start.admission.as_ref().expect("admitted");
                    self.cac
                        .entry(record.start.account_id.clone())
                        .or_default()
                        .release(call_id, admission);
                    record.push_trace(
                        *at,
                        "cac",
                        "reset",
                        serde_json::json!({"by": "POST /cac/reset"}),
                    );
                }
            }
            Event::Registered {
                account_id,
                device_id,
                binding,
            } => {
                self.clock_floor = self.clock_floor.max(binding.registered_at);
                if self.owns(account_id) {
                    self.registrations
                        .set(account_id, device_id, binding.clone());
                }
            }
            Event::Unregistered {
                account_id,
                device_id,
                contact,
                at,
            } => {
                self.clock_floor = self.clock_floor.max(*at);
                self.registrations
                    .remove(account_id, device_id, contact.as_deref());
            }
            Event::NodeEpoch { node, epoch } => {
                let known = self.nodes.entry(node.clone()).or_insert(0);
                *known = (*known).max(*epoch);
            }
            Event::CallImage(record) => {
                let call_id = record.start.call_id.clone();
                let account_id = record.start.account_id.clone();
                self.index.insert(&call_id, &account_id);
                if !record.is_live() {
                    self.index.ended(&call_id);
                }
                if !self.owns(&account_id) {
                    return;
                }
                if record.admitted {
                    let admission = record.start.admission.clone().expect("admitted");
                    let without_rates = crate::calls::Admission {
                        dims: admission.dims,
                        rates: Vec::new(),
                    };
                    self.cac.entry(account_id).or_default().admit(
                        &call_id,
                        &without_rates,
                        record.start.at,
                    );
                }
                let live = record.is_live();
                self.calls.insert(call_id.clone(), record.clone());
                if !live {
                    self.retire(&call_id);
                }
            }
            Event::RateImage {
                account_id,
                key,
                hits,
            } => {
                if self.owns(account_id) {
                    self.cac
                        .entry(account_id.clone())
                        .or_default()
                        .rates
                        .insert(key.clone(), hits.iter().copied().collect());
                }
            }
            Event::CallIndexed {
                call_id,
                account_id,
                ended,
            } => {
                self.index.insert(call_id, account_id);
                if *ended {
                    self.index.ended(call_id);
                }
            }
            Event::VoicemailRecorded(message) => {
                self.clock_floor = self.clock_floor.max(message.at);
                if !self.owns(&message.account_id) {
                    return;
                }
                if let Some(record) = self.calls.get_mut(&message.call_id).map(Arc::make_mut) {
                    if record.start.account_id == message.account_id {
                        let data = serde_json::json!({
                            "key": message.key,
                            "durationMs": message.duration_ms,
                            "size": message.size_bytes,
                        });
                        record.push_trace(message.at, "media", "voicemail", data);
                    }
                }
                self.voicemails.record((**message).clone());
            }
            Event::VoicemailImage {
                account_id,
                messages,
            } => {
                if self.owns(account_id) {
                    self.voicemails.restore(account_id, messages);
                }
            }
            Event::FlowStep { session, .. } => self.apply_flow_step(session),
            Event::AgentChanged { at, .. }
            | Event::LeaseOffered { at, .. }
            | Event::LeaseConfirmed { at, .. }
            | Event::LeaseExpired { at, .. }
            | Event::PositionAnnounced { at, .. } => {
                self.clock_floor = self.clock_floor.max(*at);
            }
            Event::QueueJoined(caller) => {
                self.clock_floor = self.clock_floor.max(caller.enqueued_at);
            }
            Event::AcdImage(_) => {}
            Event::FlowImage(session) => {
                if self.owns(&session.account_id) {
                    self.clock_floor = self.clock_floor.max(session.updated_at);
                    self.flows
                        .insert(session.call_id.clone(), (**session).clone());
                }
            }
            Event::BanReport {
                node,
                at,
                upsert,
                ended,
            } => {
                if self.config.id == CONTROL_SHARD {
                    self.clock_floor = self.clock_floor.max(*at);
                    self.security.report(node, *at, upsert, ended);
                }
            }
            Event::BanNodeForgotten { node, at } => {
                if self.config.id == CONTROL_SHARD {
                    self.clock_floor = self.clock_floor.max(*at);
                    self.security.forget(node, *at);
                }
            }
            Event::BanEnded(ended) => {
                if self.config.id == CONTROL_SHARD {
                    self.security.remember((**ended).clone());
                }
            }
            Event::AllowAdded { net, note, at } => {
                // Only the control shard logs it: only its clock learns.
                if self.config.id == CONTROL_SHARD {
                    self.clock_floor = self.clock_floor.max(*at);
                }
                self.security.allow((*net).into(), note, *at);
            }
            Event::AllowRemoved { net, at } => {
                if self.config.id == CONTROL_SHARD {
                    self.clock_floor = self.clock_floor.max(*at);
                }
                self.security.disallow(&(*net).into());
            }
            Event::AuthFlagged {
                failures,
                ip,
                at,
                until,
                first,
            } => {
                // Kept by the control shard for its ban view, not logged
                // there; a no-op where it was decided (it has the failures).
                if self.config.id == CONTROL_SHARD {
                    let over = crate::security::bans::AuthOver {
                        failures: u64::from(*failures),
                        first: *first,
                        last: *at,
                        until: *until,
                    };
                    self.security.auth_flagged((*ip).into(), over);
                }
            }
        }
    }

    /// A session moved: its new state, with the step's trace entries added
    /// to the buffer; at a bridge or the end the buffer goes to the call
    /// record, and an ended session is evicted.
    fn apply_flow_step(&mut self, step: &Session) {
        if !self.owns(&step.account_id) {
            return;
        }
        self.clock_floor = self.clock_floor.max(step.updated_at);
        let mut session = step.clone();
        let mut trace = self
            .flows
            .remove(&step.call_id)
            .map(|old| old.trace)
            .unwrap_or_default();
        for entry in session.trace.drain(..) {
            if trace.len() < crate::calls::trace_bound(&entry.kind, crate::limits::FLOW_TRACE_MAX) {
                trace.push(entry);
            }
        }
        session.trace = trace;
        if matches!(session.phase, Phase::Bridged | Phase::Ended) {
            if let Some(record) = self.calls.get_mut(&step.call_id).map(Arc::make_mut) {
                flush(record, &mut session);
            }
        }
        if !session.is_ended() {
            self.flows.insert(step.call_id.clone(), session);
        }
    }

    /// Moves an ended call to the retained list, evicting the oldest.
    fn retire(&mut self, call_id: &str) {
        self.ended.push_back(call_id.to_string());
        while self.ended.len() > ENDED_CALLS_PER_SHARD_MAX {
            if let Some(old) = self.ended.pop_front() {
                self.calls.remove(&old);
            }
        }
    }

    /// The events that rebuild this shard's durable state from empty: what
    /// a snapshot stores. Account documents are only in the control shard's
    /// image; the other shards get them from the control shard at start.
    pub fn image(&self) -> Vec<Event> {
        // Calls are most of it (every ended one kept): one allocation, not
        // a doubling per power of two, each a copy on the shard's time.
        let mut events = Vec::with_capacity(self.calls.len() + self.accounts.len() + 1024);
        if self.clock_floor > Millis(0) {
            events.push(Event::ClockSeen {
                at: self.clock_floor,
            });
        }
        if self.config.id == CONTROL_SHARD {
            assert_eq!(
                self.account_docs.len(),
                self.accounts.len(),
                "a doc per account"
            );
            for (account_id, doc) in &self.account_docs {
                events.push(Event::AccountPut {
                    account_id: account_id.clone(),
                    doc: doc.clone(),
                });
            }
            self.security_image(&mut events);
        }
        let replays = crate::auth::replay::ReplaySnapshot::from(self.replays.clone());
        for entry in replays.entries {
            let (nonce, nc, expires_at) = (entry.nonce, entry.nc, entry.expires_at);
            events.push(Event::NonceUsed {
                nonce,
                nc,
                at: Millis(0),
                expires_at,
            });
        }
        for (node, epoch) in &self.nodes {
            events.push(Event::NodeEpoch {
                node: node.clone(),
                epoch: *epoch,
            });
        }
        for (account_id, device_id, binding) in self.registrations.all() {
            events.push(Event::Registered {
                account_id: account_id.to_string(),
                device_id: device_id.to_string(),
                binding: binding.clone(),
            });
        }
        for call_id in &self.ended {
            events.push(Event::CallImage(self.calls[call_id].clone()));
        }
        for record in self.calls.values().filter(|r| r.is_live()) {
            events.push(Event::CallImage(record.clone()));
        }
        for (account_id, cac) in &self.cac {
            for (key, hits) in &cac.rates {
                events.push(Event::RateImage {
                    account_id: account_id.clone(),
                    key: key.clone(),
                    hits: hits.iter().copied().collect(),
                });
            }
        }
        for session in self.flows.values() {
            events.push(Event::FlowImage(Box::new(session.clone())));
        }
        for (account_id, messages) in self.voicemails.all() {
            events.push(Event::VoicemailImage {
                account_id: account_id.clone(),
                messages: messages.iter().cloned().collect(),
            });
        }
        events.extend(self.acd.image());
        let failures = crate::auth::failures::FailureSnapshot::from(self.failures.clone());
        for ip in failures.ips {
            for at in ip.failures {
                events.push(Event::AuthFailed {
                    ip: ip.ip.into(),
                    at,
                });
            }
        }
        events
    }

    /// The control shard's security state as events: the allowlist, each
    /// node's bans (in bounded chunks) and the history of ended bans.
    fn security_image(&self, events: &mut Vec<Event>) {
        for (net, entry) in self.security.allowlist().iter() {
            events.push(Event::AllowAdded {
                net: (*net).into(),
                note: entry.note.clone(),
                at: entry.created_at,
            });
        }
        for (node, bans) in self.security.nodes() {
            let rows: Vec<_> = bans.bans.values().cloned().collect();
            let mut chunks = rows.chunks(crate::limits::BAN_ROWS_PER_EVENT).peekable();
            if chunks.peek().is_none() {
                events.push(Event::BanReport {
                    node: node.clone(),
                    at: bans.last_report,
                    upsert: Vec::new(),
                    ended: Vec::new(),
                });
            }
            for chunk in chunks {
                events.push(Event::BanReport {
                    node: node.clone(),
                    at: bans.last_report,
                    upsert: chunk.to_vec(),
                    ended: Vec::new(),
                });
            }
        }
        for ended in self.security.history() {
            events.push(Event::BanEnded(Box::new(ended.clone())));
        }
    }

    /// The broadcast events that give another shard the control shard's
    /// directory and documents (sent at start, after recovery).
    pub fn directory_image(&self) -> Vec<Event> {
        assert_eq!(
            self.config.id, CONTROL_SHARD,
            "the control shard holds every document"
        );
        self.image()
            .into_iter()
            .filter(Event::is_directory)
            .collect()
    }

    /// True when this shard owns `account_id`'s live state (calls, CAC,
    /// registrations).
    pub fn owns(&self, account_id: &str) -> bool {
        owner_shard(account_id, self.config.shards) == self.config.id
    }

    /// A call this shard owns (live or retained).
    pub fn call(&self, call_id: &str) -> Option<&CallRecord> {
        self.calls.get(call_id).map(|record| &**record)
    }

    /// Every call this shard owns, by callId.
    pub fn calls(&self) -> &BTreeMap<String, Arc<CallRecord>> {
        &self.calls
    }

    /// The live flow session of a call.
    pub fn flow_session(&self, call_id: &str) -> Option<&Session> {
        self.flows.get(call_id)
    }

    /// Every live flow session, by callId.
    pub fn flow_sessions(&self) -> &BTreeMap<String, Session> {
        &self.flows
    }

    /// Sessions held in `account_id`'s queue `queue_id` now.
    pub fn queued(&self, account_id: &str, queue_id: &str) -> usize {
        self.flows
            .values()
            .filter(|s| s.phase == Phase::Queued && s.account_id == account_id)
            .filter(|s| s.wait.as_ref().is_some_and(|w| w.queue_id == queue_id))
            .count()
    }

    /// Live calls this shard owns.
    pub fn live_calls(&self) -> usize {
        self.calls.len() - self.ended.len()
    }

    /// The callId index (every shard's calls).
    pub fn call_index(&self) -> &CallIndex {
        &self.index
    }

    /// The CAC state of an owned account (None before its first call).
    pub fn cac(&self, account_id: &str) -> Option<&AccountCac> {
        self.cac.get(account_id)
    }

    /// CAC state of every owned account.
    pub fn cac_all(&self) -> &BTreeMap<String, AccountCac> {
        &self.cac
    }

    /// Registered contacts of owned accounts' devices.
    pub fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    /// The ACD state of owned accounts.
    pub fn acd(&self) -> &Acd {
        &self.acd
    }

    /// True when a device of `user_id` has a live registration at `now`.
    pub fn user_reachable(&self, account: &Account, user_id: &str, now: Millis) -> bool {
        account
            .devices_of(user_id)
            .any(|d| self.registrations.reachable(&account.id, &d.id, now))
    }

    /// Agents of owned accounts per bucket, in [`crate::acd::BUCKETS`]
    /// order, at `now` (the metrics' gauge). One pass over the calls.
    pub fn agent_buckets(&self, now: Millis) -> [u64; 9] {
        let mut counts = [0u64; 9];
        for (account_id, acd) in self.acd.accounts() {
            let Some(account) = self.accounts.get(account_id) else {
                continue;
            };
            if acd.agents.is_empty() {
                continue;
            }
            let busy = self.users_on_external_calls(account);
            for agent in acd.agents.values() {
                let reachable = self.user_reachable(account, &agent.user_id, now);
                let name = crate::acd::bucket(agent, reachable, busy.contains(&agent.user_id));
                let slot = crate::acd::BUCKETS.iter().position(|b| *b == name);
                counts[slot.expect("bucket names come from BUCKETS")] += 1;
            }
        }
        counts
    }

    /// Users of `account` on a live call that is not an ACD caller's:
    /// placed from their extension, or rung by its routing decision
    /// ([`CallRecord::rung_users`]). One pass over the calls: take it once
    /// per decision, not once per agent.
    pub fn users_on_external_calls(&self, account: &Account) -> std::collections::BTreeSet<String> {
        let mut users = std::collections::BTreeSet::new();
        for record in self.calls.values() {
            let start = &record.start;
            if !record.is_live()
                || start.account_id != account.id
                || self.acd.caller(&start.call_id).is_some()
            {
                continue;
            }
            if let Some(user) = account.user_by_username(&start.from) {
                users.insert(user.id.clone());
            }
            users.extend(record.rung_users());
        }
        users
    }

    /// Voicemail messages of owned accounts.
    pub fn voicemails(&self) -> &Voicemails {
        &self.voicemails
    }

    /// The latest boot epoch seen from an edge node (0 = none).
    pub fn node_epoch(&self, node: &str) -> u64 {
        self.nodes.get(node).copied().unwrap_or(0)
    }

    /// The broadcast events that give the other shards this shard's calls
    /// for their callId index, and the control shard this shard's sources
    /// over the /auth failure threshold for its ban view (sent at start,
    /// after recovery).
    pub fn call_index_image(&self) -> Vec<Event> {
        let mut events: Vec<Event> = self
            .calls
            .values()
            .map(|record| Event::CallIndexed {
                call_id: record.start.call_id.clone(),
                account_id: record.start.account_id.clone(),
                ended: !record.is_live(),
            })
            .collect();
        if self.config.id != CONTROL_SHARD {
            let config = &self.config;
            let over = self
                .failures
                .over_all(config.auth_fail_window_ms, config.auth_fail_threshold);
            events.extend(over.into_iter().map(|(ip, over)| Event::AuthFlagged {
                failures: u32::try_from(over.failures).unwrap_or(u32::MAX),
                ip: ip.into(),
                at: over.last,
                until: over.until,
                first: over.first,
            }));
        }
        events
    }

    /// True when this shard keeps the full document of `account_id`.
    fn keeps(&self, account_id: &str) -> bool {
        self.config.id == CONTROL_SHARD
            || owner_shard(account_id, self.config.shards) == self.config.id
    }

    pub fn config(&self) -> &ShardConfig {
        &self.config
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// A document this shard keeps.
    pub fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }

    /// The account whose domain is `realm`, if this shard keeps it.
    pub fn account_for_realm(&self, realm: &str) -> Option<&Account> {
        self.directory
            .account_for_domain(realm)
            .and_then(|id| self.accounts.get(id))
    }

    /// True when a challenge for this realm (and user) may offer SHA-256.
    pub fn offers_sha256(&self, realm: &str, username: Option<&str>) -> bool {
        let (Some(account), Some(username)) = (self.account_for_realm(realm), username) else {
            return false;
        };
        let (user, ha1b) = match username.split_once('@') {
            Some((user, _)) => (user, true),
            None => (username, false),
        };
        account.device_for_auth(user, realm).is_some_and(|device| {
            if ha1b {
                device.ha1b_sha256.is_some()
            } else {
                device.ha1_sha256.is_some()
            }
        })
    }

    /// The latest time this shard's state has seen: a restarted brain's
    /// clock starts no earlier.
    pub fn clock_floor(&self) -> Millis {
        self.clock_floor
    }

    pub fn replays(&self) -> &ReplayCache {
        &self.replays
    }

    pub fn auth_failures(&self) -> &FailureCounter {
        &self.failures
    }

    /// The security state (bans on the control shard; the allowlist on
    /// every shard).
    pub fn security(&self) -> &Security {
        &self.security
    }
}

/// Moves a session's buffered trace into its call record.
fn flush(record: &mut CallRecord, session: &mut Session) {
    for entry in session.trace.drain(..) {
        record.push_trace_text(entry.ts, &entry.source, &entry.kind, entry.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::nonce::NonceKey;
    use crate::event::Ip;

    fn shard(id: usize) -> Shard {
        Shard::new(ShardConfig::new(id, 2, NonceKey([7; 32])))
    }

    fn demo() -> Vec<Event> {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/demo/acme.json")).unwrap();
        let account = account::parse("acc_acme", &doc).unwrap();
        vec![
            Event::AccountPut {
                account_id: "acc_acme".into(),
                doc: account.to_json().to_string(),
            },
            Event::NonceUsed {
                nonce: "n1".into(),
                nc: "00000001".into(),
                at: Millis(5),
                expires_at: Millis(900),
            },
            Event::AuthFailed {
                ip: Ip::from(core::net::IpAddr::from([192, 0, 2, 1])),
                at: Millis(7),
            },
            Event::AuthFailed {
                ip: Ip::from(core::net::IpAddr::from([192, 0, 2, 1])),
                at: Millis(9),
            },
        ]
    }

    #[test]
    fn replaying_a_control_shards_image_rebuilds_the_same_state() {
        let mut original = shard(0);
        for event in demo() {
            original.apply(&event);
        }
        let mut rebuilt = shard(0);
        for event in original.image() {
            rebuilt.apply(&event);
        }
        assert_eq!(rebuilt.accounts, original.accounts);
        assert_eq!(rebuilt.directory, original.directory);
        assert!(rebuilt.replays.seen("n1", "00000001", Millis(10)));
        let ip = core::net::IpAddr::from([192, 0, 2, 1]);
        assert_eq!(rebuilt.failures.count(ip, Millis(10), 60_000), 2);
        assert_eq!(rebuilt.clock_floor(), Millis(9), "time never goes back");
        assert_eq!(
            rebuilt.image(),
            original.image(),
            "an image is a fixed point"
        );
    }

    #[test]
    fn voicemail_messages_survive_an_image_and_go_with_their_account() {
        let owner = owner_shard("acc_acme", 2);
        let mut original = shard(owner);
        for event in demo() {
            original.apply(&event);
        }
        let message = crate::media::voicemail::VoicemailMessage {
            account_id: "acc_acme".into(),
            call_id: "call-1".into(),
            key: "acc_acme/vm/call-1.wav".into(),
            size_bytes: 16_044,
            duration_ms: 1000,
            sha256: "ab".repeat(32),
            at: Millis(20),
            from: None,
        };
        original.apply(&Event::VoicemailRecorded(Box::new(message.clone())));
        assert_eq!(original.clock_floor(), Millis(20));
        let mut rebuilt = shard(owner);
        for event in original.image() {
            rebuilt.apply(&event);
        }
        assert_eq!(rebuilt.voicemails(), original.voicemails());
        assert_eq!(
            rebuilt.image(),
            original.image(),
            "an image is a fixed point"
        );
        let mut other = shard(1 - owner);
        other.apply(&Event::VoicemailRecorded(Box::new(message)));
        assert_eq!(
            other.voicemails().of("acc_acme").count(),
            0,
            "only the owner keeps it"
        );
        rebuilt.apply(&Event::AccountDeleted {
            account_id: "acc_acme".into(),
        });
        assert_eq!(rebuilt.voicemails().of("acc_acme").count(), 0);
    }

    #[test]
    fn only_the_control_shard_image_carries_documents() {
        let mut other = shard(1);
        for event in demo() {
            other.apply(&event);
        }
        assert!(other.image().iter().all(|e| !e.is_directory()));
        assert_eq!(
            other.image().len(),
            4,
            "the clock floor, a nonce, two failures"
        );
        assert_eq!(other.image()[0], Event::ClockSeen { at: Millis(9) });
    }
}
