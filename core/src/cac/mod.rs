//! Call admission control (reference §8): one atomic decision per call
//! over every dimension, counters that hold exactly what admitted and
//! unreleased calls took, and sliding-window rates.
//!
//! [`plan`] reads; [`AccountCac::admit`] and [`AccountCac::release`] are
//! called only from `Shard::apply`. A release gives back exactly the
//! [`Admission`] recorded with the call, once: the call's `admitted` flag
//! is cleared by the same apply.

use crate::account::{Account, LimitDirection, ScopeKind};
use crate::calls::{Admission, Dim, Direction, RateHit};
use crate::time::Millis;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Rate-window hits remembered per key, whatever a limit's `max_count`.
pub const RATE_HITS_MAX: u32 = 100_000;

/// The live CAC state of one account on its owning shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountCac {
    /// Concurrency counters (only non-zero ones are kept).
    pub counts: BTreeMap<Dim, u32>,
    /// Calls holding counters.
    pub admitted: BTreeSet<String>,
    /// Admission times per rate key, oldest first.
    pub rates: BTreeMap<String, VecDeque<Millis>>,
}

impl AccountCac {
    /// The counter of `dim` (0 when untouched).
    pub fn count(&self, dim: &Dim) -> u32 {
        self.counts.get(dim).copied().unwrap_or(0)
    }

    /// Hits of `key` in the window `(now - period, now]`.
    pub fn rate_count(&self, key: &str, now: Millis, period_ms: u64) -> u32 {
        let Some(hits) = self.rates.get(key) else {
            return 0;
        };
        hits.iter().filter(|at| at.0 + period_ms > now.0).count() as u32
    }

    /// Takes the counters of `admission` for `call_id` at `at`.
    pub fn admit(&mut self, call_id: &str, admission: &Admission, at: Millis) {
        let fresh = self.admitted.insert(call_id.to_string());
        assert!(fresh, "call {call_id} admitted twice");
        for dim in &admission.dims {
            *self.counts.entry(dim.clone()).or_insert(0) += 1;
        }
        for hit in &admission.rates {
            let hits = self.rates.entry(hit.key.clone()).or_default();
            hits.push_back(at);
            while hits.len() > hit.cap.clamp(1, RATE_HITS_MAX) as usize {
                hits.pop_front();
            }
            while hits
                .front()
                .is_some_and(|first| first.0 + hit.period_ms <= at.0)
            {
                hits.pop_front();
            }
        }
    }

    /// Gives back exactly what `admission` took. Called once per call.
    pub fn release(&mut self, call_id: &str, admission: &Admission) {
        #[cfg(feature = "planted-bugs")]
        let planted_double = crate::planted::active(crate::planted::Bug::CacDoubleRelease);
        #[cfg(not(feature = "planted-bugs"))]
        let planted_double = false;
        let was_admitted = self.admitted.remove(call_id);
        assert!(
            was_admitted || planted_double,
            "call {call_id} released without holding counters"
        );
        for dim in &admission.dims {
            match self.counts.get_mut(dim) {
                Some(count) => {
                    *count -= 1;
                    if *count == 0 {
                        self.counts.remove(dim);
                    }
                }
                None => assert!(planted_double, "an admitted dim has a count"),
            }
        }
    }

    /// True when nothing is held (no counters, no calls).
    pub fn is_idle(&self) -> bool {
        self.counts.is_empty() && self.admitted.is_empty()
    }
}

/// The facts of a call that CAC dimensions depend on.
#[derive(Clone, Debug, Default)]
pub struct Subject<'a> {
    /// The account's user on our side (caller outbound/internal).
    pub user_id: Option<&'a str>,
    pub did_id: Option<&'a str>,
    pub trunk_id: Option<&'a str>,
    /// The far party's number (dialled number outbound, caller inbound).
    pub number: Option<&'a str>,
}

/// One dimension checked, for the decision and for the what-if tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// `account_in`, `user:us_x`, `rate:lim_x`, …
    pub label: String,
    /// The count before this call.
    pub count: u32,
    /// None = no limit.
    pub limit: Option<u32>,
    /// Soft rate limits admit past the limit (flagged).
    pub hard: bool,
}

impl Check {
    /// True when this call fits under the limit.
    pub fn fits(&self) -> bool {
        self.limit.is_none_or(|limit| self.count < limit)
    }

    /// The what-if shape.
    pub fn to_json(&self) -> Value {
        json!({"dim": self.label, "count": self.count, "limit": self.limit,
               "hard": self.hard, "ok": self.fits() || !self.hard})
    }
}

/// The bytes of [`Check::to_json`], without building the value (the route
/// trail serializes its checks this way).
impl serde::Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Check", 5)?;
        out.serialize_field("dim", &self.label)?;
        out.serialize_field("count", &self.count)?;
        out.serialize_field("limit", &self.limit)?;
        out.serialize_field("hard", &self.hard)?;
        out.serialize_field("ok", &(self.fits() || !self.hard))?;
        out.end()
    }
}

/// The outcome of planning an admission.
#[derive(Clone, Debug)]
pub struct Plan {
    pub admission: Admission,
    pub checks: Vec<Check>,
}

impl Plan {
    /// The first hard dimension this call does not fit, as the reject
    /// detail (`cac:max_in`, `cac:did:did_x`, `cac:rate:lim_x`, …).
    pub fn refusal(&self) -> Option<String> {
        self.checks
            .iter()
            .find(|c| c.hard && !c.fits())
            .map(|c| format!("cac:{}", detail_name(&c.label)))
    }

    /// Soft limits this call passes (admitted, flagged).
    pub fn soft_flags(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.hard && !c.fits())
            .map(|c| c.label.clone())
            .collect()
    }
}

fn detail_name(label: &str) -> String {
    match label {
        "account_in" => "max_in".into(),
        "account_out" => "max_out".into(),
        "account_dialer" => "max_dialer".into(),
        other => other.to_string(),
    }
}

/// Plans the admission of one call: every dimension, its count and limit.
/// Reads only.
pub fn plan(
    account: &Account,
    cac: Option<&AccountCac>,
    direction: Direction,
    subject: &Subject<'_>,
    now: Millis,
) -> Plan {
    let empty = AccountCac::default();
    let cac = cac.unwrap_or(&empty);
    let doc = account.doc();
    let mut dims: Vec<(Dim, Option<u32>)> = Vec::new();
    match direction {
        Direction::Inbound => dims.push((Dim::AccountIn, doc.max_in)),
        Direction::Outbound => dims.push((Dim::AccountOut, doc.max_out)),
        Direction::Internal => {}
    }
    if let Some(user) = subject.user_id.and_then(|id| account.user(id)) {
        dims.push((Dim::User(user.id.clone()), user.max_simultaneous));
    }
    if let Some(did) = subject.did_id.and_then(|id| account.did_by_id(id)) {
        dims.push((Dim::Did(did.id.clone()), did.max_channels));
    }
    if let Some(trunk) = subject.trunk_id.and_then(|id| account.trunk(id)) {
        dims.push((Dim::Trunk(trunk.id.clone()), trunk.max_channels));
    }
    let mut checks: Vec<Check> = dims
        .iter()
        .map(|(dim, limit)| Check {
            label: dim.label(),
            count: cac.count(dim),
            limit: *limit,
            hard: true,
        })
        .collect();
    let mut rates = Vec::new();
    for limit in &doc.call_limits {
        let direction_matches = match limit.direction {
            LimitDirection::Any => true,
            LimitDirection::In => direction == Direction::Inbound,
            LimitDirection::Out => direction == Direction::Outbound,
            LimitDirection::Dialer => false,
        };
        if !direction_matches {
            continue;
        }
        let scope = limit.scope_id.as_deref();
        let key = match limit.scope_kind {
            ScopeKind::Account => Some(limit.id.clone()),
            ScopeKind::User => (scope == subject.user_id).then(|| limit.id.clone()),
            ScopeKind::Did => (scope == subject.did_id).then(|| limit.id.clone()),
            ScopeKind::Number => match (scope, subject.number) {
                (Some(number), Some(called)) => (number == called).then(|| limit.id.clone()),
                (None, Some(called)) => Some(format!("{}:{called}", limit.id)),
                (_, None) => None,
            },
        };
        let Some(key) = key else { continue };
        let period_ms = u64::from(limit.period_sec) * 1000;
        checks.push(Check {
            label: format!("rate:{key}"),
            count: cac.rate_count(&key, now, period_ms),
            limit: Some(limit.max_count),
            hard: limit.hard,
        });
        rates.push(RateHit {
            key,
            period_ms,
            cap: limit.max_count.clamp(1, RATE_HITS_MAX),
        });
    }
    Plan {
        admission: Admission {
            dims: dims.into_iter().map(|(dim, _)| dim).collect(),
            rates,
        },
        checks,
    }
}

#[cfg(test)]
mod tests;
