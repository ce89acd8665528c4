//! `GET /cac?accountId=` (live counters, limits, rates, active calls) and
//! `POST /cac/reset {accountId}` (the manual escape hatch: releases every
//! admitted call's counters; the calls go on and their end releases
//! nothing more).

use super::error::{ok, ApiError};
use crate::calls::Dim;
use crate::event::Event;
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Map, Value};

fn unknown(account_id: &str) -> Decision {
    Decision::reply(
        ApiError::new(404, "unknown_account", format!("no account {account_id}")).to_response(),
    )
}

/// The counters of an account as `/cac` shows them.
fn counters(shard: &Shard, account_id: &str) -> Value {
    let (mut users, mut dids, mut trunks) = (Map::new(), Map::new(), Map::new());
    let (mut inbound, mut outbound, mut dialer) = (0, 0, 0);
    if let Some(cac) = shard.cac(account_id) {
        for (dim, count) in &cac.counts {
            match dim {
                Dim::AccountIn => inbound = *count,
                Dim::AccountOut => outbound = *count,
                Dim::AccountDialer => dialer = *count,
                Dim::User(id) => drop(users.insert(id.clone(), (*count).into())),
                Dim::Did(id) => drop(dids.insert(id.clone(), (*count).into())),
                Dim::Trunk(id) => drop(trunks.insert(id.clone(), (*count).into())),
            }
        }
    }
    json!({"in": inbound, "out": outbound, "dialer": dialer, "users": users, "dids": dids, "trunks": trunks})
}

/// `GET /cac?accountId=`.
pub fn decide_get(shard: &Shard, now: Millis, account_id: &str) -> Decision {
    let Some(account) = shard.account(account_id).filter(|_| shard.owns(account_id)) else {
        return unknown(account_id);
    };
    let doc = account.doc();
    let cac = shard.cac(account_id);
    let mut rates = Vec::new();
    for limit in &doc.call_limits {
        let period_ms = u64::from(limit.period_sec) * 1000;
        let keys: Vec<String> = match cac {
            Some(cac) => cac
                .rates
                .keys()
                .filter(|k| *k == &limit.id || k.starts_with(&format!("{}:", limit.id)))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let keys = if keys.is_empty() {
            vec![limit.id.clone()]
        } else {
            keys
        };
        for key in keys {
            let count = cac.map(|c| c.rate_count(&key, now, period_ms)).unwrap_or(0);
            rates.push(json!({
                "id": limit.id, "key": key, "scope_kind": limit.scope_kind.as_str(),
                "scope_id": limit.scope_id, "direction": limit.direction.as_str(),
                "period_sec": limit.period_sec, "max_count": limit.max_count,
                "hard": u8::from(limit.hard), "count": count,
            }));
        }
    }
    let active: Vec<Value> = cac
        .map(|cac| {
            cac.admitted
                .iter()
                .filter_map(|call_id| shard.call(call_id))
                .map(|record| {
                    let dims: Vec<String> = record
                        .start
                        .admission
                        .iter()
                        .flat_map(|a| a.dims.iter().map(Dim::label))
                        .collect();
                    json!({"callId": record.start.call_id, "direction": record.start.direction.as_str(),
                           "since": record.start.at.0, "node": record.start.node, "dims": dims})
                })
                .collect()
        })
        .unwrap_or_default();
    Decision::reply(ok(json!({
        "accountId": account_id,
        "limits": {"max_in": doc.max_in, "max_out": doc.max_out, "max_dialer": doc.max_dialer},
        "counters": counters(shard, account_id),
        "rates": rates,
        "active": active,
    })))
}

/// `POST /cac/reset`: releases every admitted call of the account.
pub fn decide_reset(shard: &Shard, now: Millis, account_id: &str) -> Decision {
    if !shard.directory().contains(account_id) || !shard.owns(account_id) {
        return unknown(account_id);
    }
    let released: Vec<String> = shard
        .cac(account_id)
        .map(|cac| cac.admitted.iter().cloned().collect())
        .unwrap_or_default();
    let events = released
        .iter()
        .map(|call_id| Event::CacReleased {
            call_id: call_id.clone(),
            at: now,
        })
        .collect();
    Decision {
        reply: ok(json!({
            "accountId": account_id,
            "cleared": {"calls": released, "counters": counters(shard, account_id)},
        })),
        events,
    }
}
