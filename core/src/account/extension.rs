//! Extensions (reference §4.4): internal dialable codes of the account,
//! each with a route target and optional business hours.

use super::check::{self, fail, Checked};
use super::dest;
use super::enums::DestKind;
use super::flag;
use super::refs::{resolve_opt, Refs};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One internal code (`1001`, `*97`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// 1..32 chars of `[0-9*#]`, unique per account.
    pub digits: String,
    /// Route target (required).
    pub dest_kind: DestKind,
    /// Target of `dest_kind` (see the `dest` rules).
    #[serde(default)]
    pub dest_id: Option<String>,
    /// `{var: value}` handed to the target as variables.
    #[serde(default)]
    pub dest_xform: Option<Map<String, Value>>,
    /// `status`: `active` (true, default) or `disabled` (false).
    #[serde(rename = "status", default = "flag::on", with = "flag::status")]
    pub active: bool,
    /// Business hours (a schedule of the account).
    #[serde(default)]
    pub schedule_id: Option<String>,
    /// Where calls go while the schedule is closed.
    #[serde(default)]
    pub closed_dest_kind: Option<DestKind>,
    /// Target of `closed_dest_kind`.
    #[serde(default)]
    pub closed_dest_id: Option<String>,
    /// Where calls go on a closing date rule (else the closed target).
    #[serde(default)]
    pub holiday_dest_kind: Option<DestKind>,
    /// Target of `holiday_dest_kind`.
    #[serde(default)]
    pub holiday_dest_id: Option<String>,
}

/// Checks every extension: ids and digits unique, targets resolved, and no
/// chain of extension-to-extension targets that loops.
pub fn check_extensions(extensions: &mut [Extension], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    let mut codes = BTreeSet::new();
    for (i, extension) in extensions.iter_mut().enumerate() {
        let base = format!("extensions[{i}]");
        check::id(&format!("{base}.id"), &extension.id)?;
        check::unique(
            &mut ids,
            &extension.id,
            &format!("{base}.id"),
            "extension id",
        )?;
        super::validate::owner(&base, &mut extension.account_id, account_id)?;
        let path = format!("{base}.digits");
        check::digits(&path, &extension.digits)?;
        check::unique(&mut codes, &extension.digits, &path, "extension digits")?;
        dest::check(
            refs,
            &base,
            "dest",
            Some(extension.dest_kind),
            &mut extension.dest_id,
        )?;
        dest::xform(&base, &extension.dest_xform)?;
        resolve_opt(
            &format!("{base}.schedule_id"),
            &extension.schedule_id,
            &refs.schedules,
            "schedule",
        )?;
        dest::check(
            refs,
            &base,
            "closed_dest",
            extension.closed_dest_kind,
            &mut extension.closed_dest_id,
        )?;
        dest::check(
            refs,
            &base,
            "holiday_dest",
            extension.holiday_dest_kind,
            &mut extension.holiday_dest_id,
        )?;
    }
    check_chains(extensions)
}

/// Refuses an extension whose `dest_kind: extension` chain comes back to
/// an extension already on the chain (routing would never end).
fn check_chains(extensions: &[Extension]) -> Checked {
    let next: BTreeMap<&str, &str> = extensions
        .iter()
        .filter(|e| e.dest_kind == DestKind::Extension)
        .filter_map(|e| Some((e.id.as_str(), e.dest_id.as_deref()?)))
        .collect();
    // Each extension is walked at most once: `done` holds those whose chain
    // is known to end, so the whole check is linear.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for (i, extension) in extensions.iter().enumerate() {
        let mut on_chain = BTreeSet::from([extension.id.as_str()]);
        let mut at = extension.id.as_str();
        while let Some(&target) = next.get(at) {
            if done.contains(target) {
                break;
            }
            if !on_chain.insert(target) {
                return fail(
                    format!("extensions[{i}].dest_id"),
                    format!("extension chain loops at {target}"),
                );
            }
            at = target;
        }
        done.extend(on_chain);
    }
    Ok(())
}
