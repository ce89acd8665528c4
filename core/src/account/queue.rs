//! ACD queues (reference §7.5, §7.7) and their members (the reference's
//! `agent_queue_assignment`).

use super::check::{self, fail, Checked, NAME_MAX};
use super::dest;
use super::enums::{DestKind, MemberMode, MohMode, QueueStrategy};
use super::flag;
use super::refs::{resolve, resolve_opt, Refs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One call queue: how agents are picked, how long callers wait, and where
/// they go when they leave without an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// Default longest_idle.
    #[serde(default)]
    pub strategy: QueueStrategy,
    /// Agent ring time = the offer lease TTL (default 20, at least 1).
    #[serde(default = "twenty")]
    pub agent_ring_timeout_sec: u32,
    /// Longest hold before the `timeout` exit (default 600; 0 = no limit).
    #[serde(default = "six_hundred")]
    pub max_wait_sec: u32,
    /// Wrap-up after an ACD call (default 10).
    #[serde(default = "ten")]
    pub wrap_up_sec: u32,
    /// Consecutive misses before auto-pause (default 3; 0 = off).
    #[serde(default = "three")]
    pub max_no_answer: u32,
    /// Announce the caller's position (default 0).
    #[serde(default, with = "flag")]
    pub announce_position: bool,
    /// First announcement after (default 15).
    #[serde(default = "fifteen")]
    pub announce_first_sec: u32,
    /// Then every (default 30; 0 = once).
    #[serde(default = "thirty")]
    pub announce_interval_sec: u32,
    /// Default stream; `file` needs `moh_media_id`.
    #[serde(default)]
    pub moh_mode: MohMode,
    /// Music-on-hold file for `moh_mode: file` (a media file of the account).
    #[serde(default)]
    pub moh_media_id: Option<String>,
    /// Announcement language override (null = the account's).
    #[serde(default)]
    pub language: Option<String>,
    /// Callers already waiting at which new ones leave by `queue_full`
    /// (null = unlimited).
    #[serde(default)]
    pub max_queued: Option<u32>,
    /// Estimated wait past which new callers leave by `ewt` (null = off).
    #[serde(default)]
    pub ewt_threshold_sec: Option<u32>,
    /// Handle-time estimate for the EWT (null = no EWT exit).
    #[serde(default)]
    pub ewt_aht_sec: Option<u32>,
    /// Exit after `max_wait_sec`.
    #[serde(default)]
    pub timeout_dest_kind: Option<DestKind>,
    /// Target of `timeout_dest_kind`.
    #[serde(default)]
    pub timeout_dest_id: Option<String>,
    /// Exit when the caller hangs up while waiting.
    #[serde(default)]
    pub abandon_dest_kind: Option<DestKind>,
    /// Target of `abandon_dest_kind`.
    #[serde(default)]
    pub abandon_dest_id: Option<String>,
    /// Exit when no agent is logged in and reachable.
    #[serde(default)]
    pub no_agents_dest_kind: Option<DestKind>,
    /// Target of `no_agents_dest_kind`.
    #[serde(default)]
    pub no_agents_dest_id: Option<String>,
    /// Exit at join when `max_queued` callers wait.
    #[serde(default)]
    pub queue_full_dest_kind: Option<DestKind>,
    /// Target of `queue_full_dest_kind`.
    #[serde(default)]
    pub queue_full_dest_id: Option<String>,
    /// Exit at join when the estimated wait is too long.
    #[serde(default)]
    pub ewt_dest_kind: Option<DestKind>,
    /// Target of `ewt_dest_kind`.
    #[serde(default)]
    pub ewt_dest_id: Option<String>,
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

fn three() -> u32 {
    3
}
fn ten() -> u32 {
    10
}
fn fifteen() -> u32 {
    15
}
fn twenty() -> u32 {
    20
}
fn thirty() -> u32 {
    30
}
fn six_hundred() -> u32 {
    600
}

/// An agent's membership of a queue. Lower `tier_level` is offered first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueMember {
    /// The queue (a queue of the account).
    pub queue_id: String,
    /// An agent (`is_agent: 1`) of the account.
    pub user_id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Default 1; at least 1.
    #[serde(default = "tier")]
    pub tier_level: u32,
    /// Order inside a tier (default 0).
    #[serde(default)]
    pub position: u32,
    /// Membership mode (default static).
    #[serde(default)]
    pub mode: MemberMode,
}

fn tier() -> u32 {
    1
}

/// Checks every queue.
pub fn check_queues(queues: &mut [Queue], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, queue) in queues.iter_mut().enumerate() {
        let base = format!("queues[{i}]");
        check::id(&format!("{base}.id"), &queue.id)?;
        check::unique(&mut ids, &queue.id, &format!("{base}.id"), "queue id")?;
        super::validate::owner(&base, &mut queue.account_id, account_id)?;
        check::text(&format!("{base}.name"), &queue.name, NAME_MAX)?;
        if queue.agent_ring_timeout_sec == 0 {
            return fail(
                format!("{base}.agent_ring_timeout_sec"),
                "must be at least 1",
            );
        }
        let media_path = format!("{base}.moh_media_id");
        resolve_opt(
            &media_path,
            &queue.moh_media_id,
            &refs.media_files,
            "media file",
        )?;
        if queue.moh_mode == MohMode::File && queue.moh_media_id.is_none() {
            return fail(media_path, "required when `moh_mode` is file");
        }
        if let Some(language) = &queue.language {
            check::language(&format!("{base}.language"), language)?;
        }
        resolve_opt(
            &format!("{base}.schedule_id"),
            &queue.schedule_id,
            &refs.schedules,
            "schedule",
        )?;
        let q = queue;
        dest::check(
            refs,
            &base,
            "timeout_dest",
            q.timeout_dest_kind,
            &mut q.timeout_dest_id,
        )?;
        dest::check(
            refs,
            &base,
            "abandon_dest",
            q.abandon_dest_kind,
            &mut q.abandon_dest_id,
        )?;
        dest::check(
            refs,
            &base,
            "no_agents_dest",
            q.no_agents_dest_kind,
            &mut q.no_agents_dest_id,
        )?;
        dest::check(
            refs,
            &base,
            "queue_full_dest",
            q.queue_full_dest_kind,
            &mut q.queue_full_dest_id,
        )?;
        dest::check(refs, &base, "ewt_dest", q.ewt_dest_kind, &mut q.ewt_dest_id)?;
        dest::check(
            refs,
            &base,
            "closed_dest",
            q.closed_dest_kind,
            &mut q.closed_dest_id,
        )?;
        dest::check(
            refs,
            &base,
            "holiday_dest",
            q.holiday_dest_kind,
            &mut q.holiday_dest_id,
        )?;
    }
    Ok(())
}

/// Checks every membership: queue and agent exist, one row per pair.
pub fn check_members(members: &mut [QueueMember], refs: &Refs, account_id: &str) -> Checked {
    let mut pairs = BTreeSet::new();
    for (i, member) in members.iter_mut().enumerate() {
        let base = format!("queue_members[{i}]");
        resolve(
            &format!("{base}.queue_id"),
            &member.queue_id,
            &refs.queues,
            "queue",
        )?;
        let path = format!("{base}.user_id");
        resolve(&path, &member.user_id, &refs.users, "user")?;
        if refs.agents.get(&member.user_id) != Some(&true) {
            return fail(
                path,
                format!("user {} is not an agent (`is_agent: 1`)", member.user_id),
            );
        }
        super::validate::owner(&base, &mut member.account_id, account_id)?;
        let pair = format!("{} {}", member.queue_id, member.user_id);
        check::unique(&mut pairs, &pair, &path, "membership (queue_id, user_id)")?;
        if member.tier_level == 0 {
            return fail(format!("{base}.tier_level"), "must be at least 1");
        }
    }
    Ok(())
}
