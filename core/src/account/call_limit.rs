//! Sliding-window call rate limits (`call_limit`, reference §8): at most
//! `max_count` calls per `period_sec` for a scope.
//!
//! Scopes: `account` (no `scope_id`), `user` / `did` (`scope_id` = a user /
//! DID id of the document), `number` (`scope_id` null = each number counted
//! on its own, or one number, stored normalized).

use super::check::{self, fail, Checked};
use super::enums::{LimitDirection, ScopeKind};
use super::flag;
use super::refs::{resolve, Refs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One rate limit. Limits stack (10/60 s plus 200/3600 s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallLimit {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// What one counter is kept for.
    pub scope_kind: ScopeKind,
    /// Which user / DID / number (see the module docs).
    #[serde(default)]
    pub scope_id: Option<String>,
    /// Calls counted: `in`, `out`, `dialer` or `any` (default).
    #[serde(default)]
    pub direction: LimitDirection,
    /// Window length, at least 1.
    pub period_sec: u32,
    /// Calls allowed per window.
    pub max_count: u32,
    /// 1 (default) refuses past the limit; 0 admits and flags.
    #[serde(default = "flag::on", with = "flag")]
    pub hard: bool,
}

/// Checks every limit.
pub fn check_call_limits(limits: &mut [CallLimit], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, limit) in limits.iter_mut().enumerate() {
        let base = format!("call_limits[{i}]");
        check::id(&format!("{base}.id"), &limit.id)?;
        check::unique(&mut ids, &limit.id, &format!("{base}.id"), "call limit id")?;
        super::validate::owner(&base, &mut limit.account_id, account_id)?;
        let path = format!("{base}.scope_id");
        match (limit.scope_kind, limit.scope_id.as_mut()) {
            (ScopeKind::Account, None) | (ScopeKind::Number, None) => {}
            (ScopeKind::Account, Some(_)) => return fail(path, "must be null for account scope"),
            (ScopeKind::User, Some(id)) => resolve(&path, id, &refs.users, "user")?,
            (ScopeKind::Did, Some(id)) => resolve(&path, id, &refs.dids, "DID")?,
            (ScopeKind::Number, Some(number)) => check::number(&path, number)?,
            (kind @ (ScopeKind::User | ScopeKind::Did), None) => {
                return fail(path, format!("required for {} scope", kind.as_str()))
            }
        }
        if limit.period_sec == 0 {
            return fail(format!("{base}.period_sec"), "must be at least 1");
        }
    }
    Ok(())
}
