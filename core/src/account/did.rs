//! DIDs (reference §4.3): the account's phone numbers and where their
//! calls go, with optional business hours.

use super::check::{self, Checked, NAME_MAX};
use super::dest;
use super::enums::{DestKind, DidStatus, FaxMode};
use super::flag;
use super::refs::{resolve_opt, Refs};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One phone number of the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Did {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// The number; stored as E.164 digits without `+`, unique platform-wide.
    pub e164: String,
    /// Display label.
    #[serde(default)]
    pub label: Option<String>,
    /// `active` (default), `disabled` or `virtual`.
    #[serde(default)]
    pub status: DidStatus,
    /// Route target; none = the account's `did_default_dest_*`.
    #[serde(default)]
    pub dest_kind: Option<DestKind>,
    /// Target of `dest_kind` (see the `dest` rules).
    #[serde(default)]
    pub dest_id: Option<String>,
    /// `{var: value}` handed to the target as variables.
    #[serde(default)]
    pub dest_xform: Option<Map<String, Value>>,
    /// Per-DID concurrent call cap (null = unlimited).
    #[serde(default)]
    pub max_channels: Option<u32>,
    /// `voice` (default), `t38` or `passthrough`.
    #[serde(default)]
    pub fax_mode: FaxMode,
    /// Accept calls without caller-ID (default 1).
    #[serde(default = "flag::on", with = "flag")]
    pub allow_anonymous: bool,
    /// Business hours; closed/holiday targets apply only with a schedule.
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

/// Checks every DID: ids unique, `e164` normalized and unique within the
/// document, targets and schedule resolved.
pub fn check_dids(dids: &mut [Did], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, did) in dids.iter_mut().enumerate() {
        let base = format!("dids[{i}]");
        check::id(&format!("{base}.id"), &did.id)?;
        check::unique(&mut ids, &did.id, &format!("{base}.id"), "DID id")?;
        super::validate::owner(&base, &mut did.account_id, account_id)?;
        let path = format!("{base}.e164");
        check::number(&path, &mut did.e164)?;
        check::unique(&mut numbers, &did.e164, &path, "DID")?;
        check::opt_text(&format!("{base}.label"), &did.label, NAME_MAX)?;
        dest::check(refs, &base, "dest", did.dest_kind, &mut did.dest_id)?;
        dest::xform(&base, &did.dest_xform)?;
        resolve_opt(
            &format!("{base}.schedule_id"),
            &did.schedule_id,
            &refs.schedules,
            "schedule",
        )?;
        dest::check(
            refs,
            &base,
            "closed_dest",
            did.closed_dest_kind,
            &mut did.closed_dest_id,
        )?;
        dest::check(
            refs,
            &base,
            "holiday_dest",
            did.holiday_dest_kind,
            &mut did.holiday_dest_id,
        )?;
    }
    Ok(())
}
