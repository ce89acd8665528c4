//! One call as the brain knows it: where it was routed, what CAC it holds,
//! its CDR row and its trace. Logged inside events, so every type here is
//! rkyv-archived (no serde_json values: trace data is kept as JSON text).

use crate::time::Millis;
use serde_json::{json, Value};

/// A call's direction (reference §4.2; `dialer` is counted apart).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum Direction {
    Inbound,
    Internal,
    Outbound,
}

impl Direction {
    /// The CDR spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Internal => "internal",
            Direction::Outbound => "outbound",
        }
    }
}

/// One CAC counter a call can hold (reference §8).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum Dim {
    /// `account.max_in`.
    AccountIn,
    /// `account.max_out`.
    AccountOut,
    /// `account.max_dialer`.
    AccountDialer,
    /// `sip_user.max_simultaneous` of this user.
    User(String),
    /// `did.max_channels` of this DID (by id).
    Did(String),
    /// `sip_trunk.max_channels` of this trunk (by id).
    Trunk(String),
}

impl Dim {
    /// `account_in`, `user:us_alice`, … (the `/cac` and trace spelling).
    pub fn label(&self) -> String {
        match self {
            Dim::AccountIn => "account_in".into(),
            Dim::AccountOut => "account_out".into(),
            Dim::AccountDialer => "account_dialer".into(),
            Dim::User(id) => format!("user:{id}"),
            Dim::Did(id) => format!("did:{id}"),
            Dim::Trunk(id) => format!("trunk:{id}"),
        }
    }
}

/// What one admitted call holds: exactly the counters to give back.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Admission {
    /// Concurrency counters taken (each +1).
    pub dims: Vec<Dim>,
    /// Rate windows this call counts in.
    pub rates: Vec<RateHit>,
}

/// One hit on a sliding-window rate limit. It carries its window and cap
/// so that applying it never needs the account document (documents reach
/// a shard only after its own WAL has been replayed).
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct RateHit {
    /// `limit_id`, or `limit_id:number` for per-number limits.
    pub key: String,
    pub period_ms: u64,
    /// Hits remembered (the limit's `max_count`, bounded).
    pub cap: u32,
}

/// Dialog progress reported by the SIP layer.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum Progress {
    /// Routed; no dialog event yet.
    Routed,
    /// 18x seen.
    Early,
    /// 200 OK: the call is up.
    Confirmed,
}

/// One trace entry (`GET /calls/{callId}/trace`).
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TraceEvent {
    /// Order within the call, from 1.
    pub seq: u32,
    pub ts: Millis,
    /// `route`, `cac`, `presence`, … (contract's sources).
    pub source: String,
    /// What happened (`routed`, `admitted`, `released`, `dialog`, …).
    pub kind: String,
    /// Details as compact JSON text.
    pub data: String,
}

impl TraceEvent {
    /// The contract's JSON shape.
    pub fn to_json(&self) -> Value {
        let data: Value = serde_json::from_str(&self.data).unwrap_or(Value::Null);
        json!({"seq": self.seq, "ts": self.ts.0, "source": self.source, "type": self.kind, "data": data})
    }
}

/// What the routing decision recorded when the call started.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct CallStart {
    pub call_id: String,
    pub account_id: String,
    pub direction: Direction,
    /// Normalized caller (or the raw `from` when it is not a number).
    pub from: String,
    /// Normalized callee (or the raw `to`).
    pub to: String,
    /// The edge node that asked, and its boot epoch.
    pub node: String,
    pub epoch: u64,
    pub at: Millis,
    /// The reply's `rtjson` as compact JSON: a retried `/route` gets it again.
    pub rtjson: String,
    /// `Some` when the call took CAC counters.
    pub admission: Option<Admission>,
    /// The trace entries of the decision (route, cac). Empty in a record
    /// kept since commit 6f418d4 (the record's own trace starts with
    /// them); one restored from an older image still has them, unread.
    pub trace: Vec<TraceEvent>,
    /// True when the decision was a reject: the call ends at once.
    pub rejected: bool,
    /// The reject code, for the CDR's hangup cause.
    pub reject_code: u16,
}

/// A call kept by its owning shard (live, or ended and retained).
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct CallRecord {
    pub start: CallStart,
    pub progress: Progress,
    /// Still holding CAC counters (cleared by release, reset or end).
    pub admitted: bool,
    pub answer_ts: Option<Millis>,
    pub end_ts: Option<Millis>,
    /// `answered`, `no_answer`, `busy`, `failed`, `rejected`, `reaped`, …
    pub disposition: Option<String>,
    pub hangup_cause: Option<String>,
    pub trace: Vec<TraceEvent>,
}

/// Trace entries kept per call; later ones are dropped (and counted).
pub const TRACE_EVENTS_PER_CALL_MAX: usize = 256;

/// How many entries a trace may hold before one of `kind` is dropped:
/// errors and ends get a reserve past `max`, so a full trace still says
/// why the call ended.
pub fn trace_bound(kind: &str, max: usize) -> usize {
    match kind {
        "error" | "ended" => max + 16,
        _ => max,
    }
}

impl CallRecord {
    /// A new record from its start. The start's trace entries open the
    /// record's trace; the kept start has none (one copy per call).
    pub fn new(start: &CallStart) -> CallRecord {
        let admitted = start.admission.is_some();
        let mut start = start.clone();
        let trace = std::mem::take(&mut start.trace);
        let mut record = CallRecord {
            start,
            progress: Progress::Routed,
            admitted,
            answer_ts: None,
            end_ts: None,
            disposition: None,
            hangup_cause: None,
            trace,
        };
        if record.start.rejected {
            record.end_ts = Some(record.start.at);
            record.disposition = Some("rejected".into());
            record.hangup_cause = Some(record.start.reject_code.to_string());
        }
        record
    }

    /// Users whose devices the routing decision rang: the `user` steps
    /// of the `routed` trace entry with a ring strategy and a reachable
    /// contact. Fixed when the call is routed: a user rung there stays
    /// listed until the call ends, and one reached later (a no-answer
    /// fallback, a flow's dial) is not.
    pub fn rung_users(&self) -> Vec<String> {
        let Some(routed) = self
            .trace
            .iter()
            .find(|t| t.source == "route" && t.kind == "routed")
        else {
            return Vec::new();
        };
        if !routed.data.contains("\"ring_strategy\"") {
            return Vec::new();
        }
        let data: Value = serde_json::from_str(&routed.data).unwrap_or_default();
        let steps = data["steps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        steps
            .iter()
            .filter(|step| step["step"] == "user" && step.get("ring_strategy").is_some())
            .filter(|step| step["reachable_contacts"].as_u64().is_some_and(|n| n > 0))
            .filter_map(|step| step["user_id"].as_str().map(str::to_string))
            .collect()
    }

    /// True until the call ended.
    pub fn is_live(&self) -> bool {
        self.end_ts.is_none()
    }

    /// Appends a trace entry (bounded).
    pub fn push_trace(&mut self, ts: Millis, source: &str, kind: &str, data: Value) {
        self.push_trace_text(ts, source, kind, data.to_string());
    }

    /// Appends a trace entry whose details are JSON text already (an
    /// event's note), without parsing it back into a value (bounded).
    pub fn push_trace_text(&mut self, ts: Millis, source: &str, kind: &str, data: String) {
        if self.trace.len() >= trace_bound(kind, TRACE_EVENTS_PER_CALL_MAX) {
            return;
        }
        let seq = self.trace.len() as u32 + 1;
        self.trace.push(TraceEvent {
            seq,
            ts,
            source: source.into(),
            kind: kind.into(),
            data,
        });
    }

    /// The CDR row (reference §10.2).
    pub fn cdr(&self) -> Value {
        let start = &self.start;
        let duration = self.end_ts.map(|end| end.since(start.at) / 1000);
        let billsec = match (self.answer_ts, self.end_ts) {
            (Some(answer), Some(end)) => Some(end.since(answer) / 1000),
            _ => None,
        };
        json!({
            "call_id": start.call_id,
            "account_id": start.account_id,
            "direction": start.direction.as_str(),
            "from_num": start.from,
            "to_num": start.to,
            "start_ts": start.at.0,
            "answer_ts": self.answer_ts.map(|t| t.0),
            "end_ts": self.end_ts.map(|t| t.0),
            "duration_sec": duration,
            "billsec": billsec,
            "answered": u8::from(self.answer_ts.is_some()),
            "disposition": self.disposition,
            "hangup_cause": self.hangup_cause,
            "queue_id": Value::Null,
            "agent_id": Value::Null,
            "cost_micros": Value::Null,
        })
    }
}
