//! The invariants, checked after every step (and, for the final ones, at
//! the end of the healed phase). A later feature adds its own here: a name
//! and a function of the world's [`View`].
//!
//! Checked elsewhere, as they happen, and reported under these names:
//! - `recovery`: every restart's recovered shard equals its ledger's state
//!   after exactly the durable records, which hold every acknowledged event
//!   and nothing never logged (`ledger.rs`);
//! - `detected-corruption`: damage to synced data is refused at recovery
//!   or harmless (`world/faults.rs`);
//! - `actor-expectations`: every reply agrees with the model (`actors/`),
//!   including the media engine's `flow-retry-once`, `flow-edges` and
//!   `flow-cdr` (`actors/media.rs`);
//! - `http-replies`: the brain's bytes are well-formed HTTP;
//! - `liveness`: the healed phase finishes within its budget;
//! - `determinism` and `shard-count`: across runs (`lib.rs`).

use crate::brain::Brain;
use crate::model::{Model, OpLog};
use sipbrain_core::api::CONTROL_SHARD;

/// What an invariant may look at.
pub struct View<'a> {
    pub brain: &'a Brain,
    pub model: &'a Model,
    pub ops: &'a OpLog,
}

/// A named check.
pub struct Invariant {
    pub name: &'static str,
    pub check: fn(&View) -> Result<(), String>,
}

/// Checked after every step.
pub const REGISTRY: &[Invariant] = &[
    Invariant {
        name: "acked-is-durable",
        check: acked_is_durable,
    },
    Invariant {
        name: "directory-agrees",
        check: directory_agrees,
    },
    Invariant {
        name: "cac-exact",
        check: cac_exact,
    },
    Invariant {
        name: "cac-hard-limits",
        check: cac_hard_limits,
    },
    Invariant {
        name: "released-once",
        check: released_once,
    },
    Invariant {
        name: "allowlisted-never-banned",
        check: allowlisted_never_banned,
    },
    Invariant {
        name: "acd-fence",
        check: acd_fence,
    },
];

/// Checked once at the end of the healed phase.
pub const FINAL_REGISTRY: &[Invariant] = &[
    Invariant {
        name: "converged",
        check: converged,
    },
    Invariant {
        name: "calls-released",
        check: calls_released,
    },
    Invariant {
        name: "queue-left-once",
        check: queue_left_once,
    },
];

/// Every caller that joined an ACD queue left it exactly once: a call's
/// trace has one queue CDR per join, except the join still held (a trace
/// at its bound may have dropped entries: skipped).
fn queue_left_once(view: &View) -> Result<(), String> {
    for shard in view.brain.shards() {
        for record in shard.calls().values() {
            if record.trace.len() >= sipbrain_core::calls::TRACE_EVENTS_PER_CALL_MAX {
                continue;
            }
            let count = |kind: &str| {
                record
                    .trace
                    .iter()
                    .filter(|t| t.source == "acd" && t.kind == kind)
                    .count()
            };
            let (joined, left) = (count("joined"), count("queue_cdr"));
            let held = shard.acd().caller(&record.start.call_id).is_some();
            let expected = if held {
                joined.saturating_sub(1)
            } else {
                joined
            };
            if left != expected {
                return Err(format!(
                    "{}: joined {joined} time(s), left {left} time(s), held now: {held}",
                    record.start.call_id
                ));
            }
        }
    }
    Ok(())
}

/// On every shard, for every account's ACD: agents and callers point at
/// each other (one caller, one agent; at most one live lease each); a
/// connected caller was confirmed with its newest epoch; every held caller
/// still has its flow waiting or talking (it leaves exactly once, when the
/// flow leaves); an agent is auto-paused exactly at `max_no_answer`.
fn acd_fence(view: &View) -> Result<(), String> {
    for shard in view.brain.shards() {
        for (account_id, acd) in shard.acd().accounts() {
            acd.check().map_err(|e| format!("{account_id}: {e}"))?;
            for caller in acd.callers.values() {
                if let Some(connected) = &caller.connected {
                    if connected.epoch != caller.last_epoch {
                        return Err(format!(
                            "{account_id}: {} connected to {} with epoch {} but its newest offer was epoch {}",
                            caller.call_id, connected.agent_id, connected.epoch, caller.last_epoch
                        ));
                    }
                }
                let phase = shard.flow_session(&caller.call_id).map(|s| s.phase);
                use sipbrain_core::flow::Phase;
                if !matches!(phase, Some(Phase::Queued | Phase::Bridged)) {
                    return Err(format!(
                        "{account_id}: {} is still held by the ACD but its flow is {phase:?}",
                        caller.call_id
                    ));
                }
            }
            let Some(account) = shard.account(account_id) else {
                continue;
            };
            let limits: Vec<u32> = account
                .doc()
                .queues
                .iter()
                .map(|q| q.max_no_answer)
                .collect();
            let (Some(&low), Some(&high)) = (limits.iter().min(), limits.iter().max()) else {
                continue;
            };
            for agent in acd.agents.values() {
                let available = agent.status == sipbrain_core::acd::Status::Available;
                if low > 0 && (agent.missed > high || (available && agent.missed >= low)) {
                    return Err(format!(
                        "{account_id}: agent {} missed {} offers (max_no_answer {low}..{high}) and is {:?}",
                        agent.user_id, agent.missed, agent.status
                    ));
                }
            }
        }
    }
    Ok(())
}

/// On every shard, each account's CAC counters equal exactly the sum of
/// what its admitted, unreleased calls took, and its admitted set is
/// exactly those calls.
fn cac_exact(view: &View) -> Result<(), String> {
    use std::collections::{BTreeMap, BTreeSet};
    for shard in view.brain.shards() {
        let mut counts: BTreeMap<&str, BTreeMap<sipbrain_core::calls::Dim, u32>> = BTreeMap::new();
        let mut admitted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for record in shard.calls().values().filter(|r| r.admitted) {
            let account = record.start.account_id.as_str();
            admitted
                .entry(account)
                .or_default()
                .insert(&record.start.call_id);
            let dims = record
                .start
                .admission
                .as_ref()
                .map(|a| a.dims.as_slice())
                .unwrap_or(&[]);
            for dim in dims {
                *counts
                    .entry(account)
                    .or_default()
                    .entry(dim.clone())
                    .or_insert(0) += 1;
            }
        }
        for (account, cac) in shard.cac_all() {
            let expected = counts.remove(account.as_str()).unwrap_or_default();
            if cac.counts != expected {
                return Err(format!(
                    "shard {}: {account}'s counters {:?} differ from its admitted calls' {:?}",
                    shard.config().id,
                    cac.counts,
                    expected
                ));
            }
            let calls = admitted.remove(account.as_str()).unwrap_or_default();
            let held: BTreeSet<&str> = cac.admitted.iter().map(String::as_str).collect();
            if held != calls {
                return Err(format!(
                    "shard {}: {account}'s admitted set {held:?} differs from its admitted calls {calls:?}",
                    shard.config().id
                ));
            }
        }
        if let Some((account, dims)) = counts.into_iter().next() {
            return Err(format!(
                "shard {}: {account} has admitted calls holding {dims:?} but no counters",
                shard.config().id
            ));
        }
    }
    Ok(())
}

/// The callers' accounts never change, so their limits hold at every
/// instant: no concurrency counter above its limit, and no more hard-rate
/// hits inside any window than the limit allows.
fn cac_hard_limits(view: &View) -> Result<(), String> {
    use sipbrain_core::calls::Dim;
    for shard in view.brain.shards() {
        for (account_id, cac) in shard.cac_all() {
            if !account_id.starts_with(crate::actors::caller::ACCOUNT_PREFIX) {
                continue;
            }
            let Some(account) = shard.account(account_id) else {
                continue;
            };
            let doc = account.doc();
            for (dim, count) in &cac.counts {
                let limit = match dim {
                    Dim::AccountIn => doc.max_in,
                    Dim::AccountOut => doc.max_out,
                    Dim::AccountDialer => doc.max_dialer,
                    Dim::User(id) => account.user(id).and_then(|u| u.max_simultaneous),
                    Dim::Did(id) => account.did_by_id(id).and_then(|d| d.max_channels),
                    Dim::Trunk(id) => account.trunk(id).and_then(|t| t.max_channels),
                };
                if limit.is_some_and(|limit| *count > limit) {
                    return Err(format!(
                        "shard {}: {account_id} holds {count} on {} past its limit {limit:?}",
                        shard.config().id,
                        dim.label()
                    ));
                }
            }
            for limit in doc.call_limits.iter().filter(|l| l.hard) {
                let Some(hits) = cac.rates.get(&limit.id) else {
                    continue;
                };
                let hits: Vec<u64> = hits.iter().map(|m| m.0).collect();
                let max = limit.max_count as usize;
                let period = u64::from(limit.period_sec) * 1000;
                for pair in hits.windows(max + 1) {
                    if pair[max] < pair[0] + period {
                        return Err(format!(
                            "shard {}: {account_id} admitted {} calls within {period} ms past rate limit {} ({max})",
                            shard.config().id,
                            max + 1,
                            limit.id
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// No call gives its counters back twice (its trace shows every release).
fn released_once(view: &View) -> Result<(), String> {
    for shard in view.brain.shards() {
        for record in shard.calls().values() {
            let releases = record
                .trace
                .iter()
                .filter(|e| e.source == "cac" && (e.kind == "released" || e.kind == "reset"))
                .count();
            if releases > 1 {
                return Err(format!(
                    "shard {}: call {} was released {releases} times",
                    shard.config().id,
                    record.start.call_id
                ));
            }
            if releases == 1 && record.admitted {
                return Err(format!(
                    "shard {}: call {} was released yet still holds its counters",
                    shard.config().id,
                    record.start.call_id
                ));
            }
        }
    }
    Ok(())
}

/// At the end every caller has ended its calls and sent a sync that lists
/// none: only calls admitted too recently for that sync (late duplicates)
/// may still hold counters, and only until their setup TTL.
fn calls_released(view: &View) -> Result<(), String> {
    for shard in view.brain.shards() {
        let config = shard.config();
        let now = shard.clock_floor();
        for record in shard.calls().values().filter(|r| r.admitted) {
            let start = &record.start;
            if !start
                .account_id
                .starts_with(crate::actors::caller::ACCOUNT_PREFIX)
            {
                continue;
            }
            let recent = now.since(start.at)
                < config.sync_grace_ms.max(config.cac_setup_ttl_ms) + 2_000
                && record.progress != sipbrain_core::calls::Progress::Confirmed;
            if !recent {
                return Err(format!(
                    "shard {}: call {} ({:?}, routed at {} by {} epoch {}, live {}; node epoch now {}; clock {}) still holds its counters after every caller closed",
                    config.id, start.call_id, record.progress, start.at.0, start.node, start.epoch,
                    record.is_live(), shard.node_epoch(&start.node), now.0
                ));
            }
        }
    }
    Ok(())
}

/// A released reply depends only on durable events.
fn acked_is_durable(view: &View) -> Result<(), String> {
    if !view.brain.is_up() {
        return Ok(());
    }
    for (shard, ledger) in view.brain.ledgers.iter().enumerate() {
        let Some(durable) = view.brain.durable(shard) else {
            continue;
        };
        if ledger.acked > durable {
            return Err(format!(
                "shard {shard}: a reply was released depending on {} events but only {durable} are durable",
                ledger.acked
            ));
        }
    }
    Ok(())
}

/// Once quiet, every shard's copy of the directory and of the allowlist
/// equals the control shard's (broadcasts reached everyone).
fn directory_agrees(view: &View) -> Result<(), String> {
    if !view.brain.is_up() || !view.brain.is_idle() {
        return Ok(());
    }
    let shards: Vec<_> = view.brain.shards().collect();
    let control = shards[CONTROL_SHARD].directory();
    let allowlist = shards[CONTROL_SHARD].security().allowlist();
    for shard in &shards {
        if shard.directory() != control {
            return Err(format!(
                "shard {}'s directory ({} accounts) differs from the control shard's ({})",
                shard.config().id,
                shard.directory().len(),
                control.len()
            ));
        }
        if shard.security().allowlist() != allowlist {
            return Err(format!(
                "shard {}'s allowlist ({} entries) differs from the control shard's ({})",
                shard.config().id,
                shard.security().allowlist().len(),
                allowlist.len()
            ));
        }
    }
    Ok(())
}

/// The control shard holds no ban of an IP its allowlist covers: adding an
/// entry ends the bans it covers, and reports never store them.
fn allowlisted_never_banned(view: &View) -> Result<(), String> {
    let Some(control) = view.brain.shards().nth(CONTROL_SHARD) else {
        return Ok(());
    };
    let security = control.security();
    for (node, bans) in security.nodes() {
        for ip in bans.bans.keys() {
            if let Some(net) = security.allowlist().covering(*ip) {
                return Err(format!(
                    "node {node}'s ban of {ip} is held although {net} is on the allowlist"
                ));
            }
        }
    }
    Ok(())
}

/// At the end, each account is exactly what its operator last confirmed,
/// and on the control shard as the model says.
fn converged(view: &View) -> Result<(), String> {
    let control = view.brain.shards().nth(CONTROL_SHARD).expect("running");
    for slot in view.model.accounts.values() {
        let Some(state) = slot.certain(view.ops) else {
            return Err(format!(
                "{}: writes may still land after the healed phase",
                slot.id
            ));
        };
        let held = control.account(&slot.id).map(|a| a.to_json());
        let expected = state.as_ref().and_then(|s| {
            sipbrain_core::account::parse(&slot.id, &s.to_doc())
                .ok()
                .map(|a| a.to_json())
        });
        let owner = sipbrain_core::directory::owner_shard(&slot.id, view.brain.settings().shards);
        let owned = view
            .brain
            .shards()
            .nth(owner)
            .expect("running")
            .account(&slot.id)
            .map(|a| a.to_json());
        if owned != held {
            return Err(format!(
                "{}: the owning shard {owner} holds another copy than the control shard",
                slot.id
            ));
        }
        if held != expected {
            return Err(format!(
                "{}: the brain holds {:?}, the model says {:?}",
                slot.id,
                held.as_ref().and_then(|d| d.get("name").cloned()),
                state.as_ref().map(|s| format!("v{}", s.version))
            ));
        }
    }
    Ok(())
}
