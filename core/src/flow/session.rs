//! One call's flow session: where it stands in its flow, the command the
//! media engine is executing, the call's variables and the trace buffered
//! until the end or a bridge. Logged inside events, so rkyv-archived.

use crate::calls::TraceEvent;
use crate::limits::FLOW_TRACE_MAX;
use crate::time::Millis;
use serde_json::Value;

/// What the current command waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Phase {
    /// A command that reports one outcome (play, gather, record, dial…).
    Command,
    /// A voicemail node's greeting: the recording comes next.
    Greeting,
    /// A dial was answered: the parties talk until `completed`/`hangup`.
    Bridged,
    /// Held in a queue: polls answer `noop` until an exit.
    Queued,
    /// A webhook the runtime performs: polls answer `noop` until it reports.
    Webhook,
    /// The flow ended (the command is `hangup`).
    Ended,
}

/// A queue hold or webhook wait.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Wait {
    /// The queue (holds) or "" (webhooks).
    pub queue_id: String,
    pub since: Millis,
    /// When the brain ends the wait by itself (`timeout` / `error`).
    pub deadline: Millis,
}

/// An effect the runtime performs after the event is durable.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct WebhookCall {
    pub call_id: String,
    /// The session's `seq` the answer must match.
    pub seq: u64,
    /// `http://host[:port]/path`.
    pub url: String,
    /// JSON body text.
    pub body: String,
    pub timeout_ms: u64,
}

/// A live flow session (one per call, on the account's shard).
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Session {
    pub call_id: String,
    pub account_id: String,
    /// The flow being run (`flow_…` or `sys:<kind>:<id>`).
    pub flow_id: String,
    /// The node whose command is current.
    pub node: String,
    /// Number of the current command (from 1).
    pub seq: u64,
    /// The current command, as compact JSON.
    pub command: String,
    pub phase: Phase,
    /// Variables, sorted by name.
    pub vars: Vec<(String, String)>,
    /// Prompt language.
    pub language: String,
    /// Invalid inputs and silences at the current node (menus, collects).
    pub failures: u32,
    pub timeouts: u32,
    /// Steps taken so far.
    pub steps: u32,
    pub started_at: Millis,
    pub updated_at: Millis,
    pub wait: Option<Wait>,
    /// True when the flow created the call record (no `/route` before): the
    /// flow's end ends the call.
    pub owns_call: bool,
    /// Trace entries not yet written to the call record. In an event: only
    /// the entries that step added.
    pub trace: Vec<TraceEvent>,
    /// Outcome that ended the flow (`hangup`, `completed`, `guard`, …).
    pub end_cause: String,
}

impl Session {
    /// A variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.vars[i].1.as_str())
    }

    /// Sets a variable (callers bound the count).
    pub fn set_var(&mut self, name: &str, value: String) {
        match self.vars.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => self.vars[i].1 = value,
            Err(i) => self.vars.insert(i, (name.to_string(), value)),
        }
    }

    /// Buffers a trace entry (bounded; the record numbers them).
    pub fn trace(&mut self, at: Millis, kind: &str, data: Value) {
        if self.trace.len() >= crate::calls::trace_bound(kind, FLOW_TRACE_MAX) {
            return;
        }
        self.trace.push(TraceEvent {
            seq: 0,
            ts: at,
            source: "flow".into(),
            kind: kind.into(),
            data: data.to_string(),
        });
    }

    /// True once the flow ended.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The current command as JSON.
    pub fn command_json(&self) -> Value {
        serde_json::from_str(&self.command).unwrap_or(Value::Null)
    }

    /// The contract's answer body for the current command.
    pub fn answer(&self) -> Value {
        serde_json::json!({
            "ok": true,
            "callId": self.call_id,
            "seq": self.seq,
            "node": self.node,
            "command": self.command_json(),
        })
    }
}
