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
//! - `actor-expectations`: every reply agrees with the model (`actors/`);
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
];

/// Checked once at the end of the healed phase.
pub const FINAL_REGISTRY: &[Invariant] = &[Invariant {
    name: "converged",
    check: converged,
}];

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

/// Once quiet, every shard's copy of the directory equals the control
/// shard's (broadcasts reached everyone).
fn directory_agrees(view: &View) -> Result<(), String> {
    if !view.brain.is_up() || !view.brain.is_idle() {
        return Ok(());
    }
    let shards: Vec<_> = view.brain.shards().collect();
    let control = shards[CONTROL_SHARD].directory();
    for shard in &shards {
        if shard.directory() != control {
            return Err(format!(
                "shard {}'s directory ({} accounts) differs from the control shard's ({})",
                shard.config().id,
                shard.directory().len(),
                control.len()
            ));
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
