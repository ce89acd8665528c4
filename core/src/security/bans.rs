//! Ban rows as nodes report them, ended bans kept for history, and the
//! merged fleet view of `GET /security/bans`.

use super::allow::Allowlist;
use crate::event::Ip;
use crate::time::Millis;
use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};

/// How long after a ban ended a new ban of the same IP counts as "banned
/// again" (flag `repeat`).
pub const REPEAT_WINDOW_MS: u64 = 24 * 3600 * 1000;

/// Report periods a node may stay silent before its bans are `stale`.
pub const STALE_PERIODS: u64 = 3;

/// One ban a node holds, as the brain keeps it.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct BanRow {
    pub ip: Ip,
    pub reason: String,
    pub hits: u64,
    /// When the node says it banned the IP (its clock; informational).
    pub since: Option<Millis>,
    /// When the node's ban runs out (None: until lifted).
    pub expires_at: Option<Millis>,
    /// When the brain first saw this node report it (the brain's clock).
    pub first_seen: Millis,
}

/// A ban that ended: its node stopped reporting it, it was allowlisted, or
/// its node was forgotten.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct EndedBan {
    pub node: String,
    pub row: BanRow,
    pub ended_at: Millis,
}

/// A node's current ban set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeBans {
    /// The brain's time of the node's latest report.
    pub last_report: Millis,
    pub bans: BTreeMap<IpAddr, BanRow>,
}

/// The status of a ban or of a merged entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Active,
    /// Its node has been silent for [`STALE_PERIODS`] report periods.
    Stale,
    /// Past its `expiresAt`, or ended.
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Stale => "stale",
            Status::Expired => "expired",
        }
    }
}

/// Which statuses `GET /security/bans` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Stale,
    Expired,
    All,
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<StatusFilter> {
        match text {
            "active" => Some(StatusFilter::Active),
            "stale" => Some(StatusFilter::Stale),
            "expired" => Some(StatusFilter::Expired),
            "all" => Some(StatusFilter::All),
            _ => None,
        }
    }

    fn admits(self, status: Status) -> bool {
        match self {
            StatusFilter::Active => status == Status::Active,
            StatusFilter::Stale => status == Status::Stale,
            StatusFilter::Expired => status == Status::Expired,
            StatusFilter::All => true,
        }
    }
}

/// The filters of `GET /security/bans`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BansQuery {
    pub status: StatusFilter,
    /// An IP prefix (`198.51.`) or a reason substring (case-insensitive).
    pub q: Option<String>,
    /// Some(true): flagged only; Some(false): unflagged only.
    pub flagged: Option<bool>,
    pub limit: usize,
}

impl Default for BansQuery {
    fn default() -> BansQuery {
        BansQuery {
            status: StatusFilter::Active,
            q: None,
            flagged: None,
            limit: 100,
        }
    }
}

/// A source the brain itself rate-limits on /auth (over the failure
/// threshold): counts as an active ban with reason `auth_fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthOver {
    pub failures: u64,
    pub first: Millis,
    pub last: Millis,
    /// When the count drops below the threshold again.
    pub until: Millis,
}

/// One IP of the merged fleet view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub ip: IpAddr,
    pub nodes: Vec<String>,
    pub reasons: Vec<String>,
    pub hits: u64,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub expires_at: Option<Millis>,
    /// For an expired entry: when it ended.
    pub ended_at: Option<Millis>,
    pub status: Status,
    /// Why it is flagged: `multi_node`, `repeat`, `auth_fail`.
    pub flags: Vec<&'static str>,
    pub allowlisted: bool,
}

impl Entry {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ip": self.ip.to_string(),
            "nodes": self.nodes,
            "reasons": self.reasons,
            "hits": self.hits,
            "firstSeen": self.first_seen.0,
            "lastSeen": self.last_seen.0,
            "expiresAt": self.expires_at.map(|m| m.0),
            "endedAt": self.ended_at.map(|m| m.0),
            "status": self.status.as_str(),
            "flagged": !self.flags.is_empty(),
            "flags": self.flags,
            "allowlisted": self.allowlisted,
        })
    }

    fn matches(&self, query: &BansQuery) -> bool {
        if !query.status.admits(self.status) {
            return false;
        }
        if let Some(flagged) = query.flagged {
            if flagged == self.flags.is_empty() {
                return false;
            }
        }
        match &query.q {
            None => true,
            Some(q) => {
                let q = q.to_ascii_lowercase();
                self.ip.to_string().starts_with(&q)
                    || self
                        .reasons
                        .iter()
                        .any(|r| r.to_ascii_lowercase().contains(&q))
            }
        }
    }
}

/// What the view knows about one IP while it is being merged.
#[derive(Default)]
struct Gathered<'a> {
    /// (node, row, its status, the node's last report).
    rows: Vec<(&'a str, &'a BanRow, Status, Millis)>,
    ended: Vec<&'a EndedBan>,
    auth: Option<AuthOver>,
}

/// Everything the view is computed from.
pub struct ViewInput<'a> {
    pub nodes: &'a BTreeMap<String, NodeBans>,
    pub history: &'a std::collections::VecDeque<EndedBan>,
    pub allow: &'a Allowlist,
    /// Sources over the /auth failure threshold (allowlisted ones are left out).
    pub auth: Vec<(IpAddr, AuthOver)>,
    pub now: Millis,
    /// A node silent this long has stale bans.
    pub stale_ms: u64,
}

/// The merged view: the total matching `query` and the first `limit`
/// entries, most recently seen first (then by address).
pub fn view(input: &ViewInput, query: &BansQuery) -> (usize, Vec<Entry>) {
    let now = input.now;
    let mut by_ip: BTreeMap<IpAddr, Gathered> = BTreeMap::new();
    for (node, bans) in input.nodes {
        let silent = now.since(bans.last_report) >= input.stale_ms;
        for (ip, row) in &bans.bans {
            let status = if row.expires_at.is_some_and(|at| at <= now) {
                Status::Expired
            } else if silent {
                Status::Stale
            } else {
                Status::Active
            };
            by_ip
                .entry(*ip)
                .or_default()
                .rows
                .push((node, row, status, bans.last_report));
        }
    }
    for ended in input.history {
        by_ip
            .entry(ended.row.ip.into())
            .or_default()
            .ended
            .push(ended);
    }
    for (ip, over) in &input.auth {
        if !input.allow.contains(*ip) {
            by_ip.entry(*ip).or_default().auth = Some(*over);
        }
    }
    let mut entries: Vec<Entry> = by_ip
        .into_iter()
        .map(|(ip, gathered)| merge(ip, gathered, input.allow))
        .filter(|entry| entry.matches(query))
        .collect();
    entries.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.ip.cmp(&b.ip)));
    let total = entries.len();
    entries.truncate(query.limit);
    (total, entries)
}

/// One IP's entry from what was gathered about it.
fn merge(ip: IpAddr, gathered: Gathered, allow: &Allowlist) -> Entry {
    let Gathered { rows, ended, auth } = gathered;
    let repeat = banned_again(&rows, &ended);
    let status = if auth.is_some() || rows.iter().any(|r| r.2 == Status::Active) {
        Status::Active
    } else if rows.iter().any(|r| r.2 == Status::Stale) {
        Status::Stale
    } else {
        Status::Expired
    };
    // The entry describes the current rows, or the ended bans when there
    // are none.
    let basis: Vec<(&str, &BanRow, Millis)> = if rows.is_empty() {
        ended
            .iter()
            .map(|e| (e.node.as_str(), &e.row, e.ended_at))
            .collect()
    } else {
        rows.iter().map(|r| (r.0, r.1, r.3)).collect()
    };
    let nodes: BTreeSet<&str> = basis.iter().map(|b| b.0).collect();
    let mut reasons: BTreeSet<String> = basis.iter().map(|b| b.1.reason.clone()).collect();
    let mut hits: u64 = basis.iter().map(|b| b.1.hits).fold(0, u64::saturating_add);
    let mut first_seen = basis
        .iter()
        .map(|b| b.1.since.unwrap_or(b.1.first_seen).min(b.1.first_seen))
        .min();
    let mut last_seen = basis.iter().map(|b| b.2).max();
    let mut expires_at = if basis.iter().any(|b| b.1.expires_at.is_none()) {
        None
    } else {
        basis.iter().filter_map(|b| b.1.expires_at).max()
    };
    let mut ended_at = None;
    if status == Status::Expired {
        ended_at = if rows.is_empty() {
            ended.iter().map(|e| e.ended_at).max()
        } else {
            rows.iter().filter_map(|r| r.1.expires_at).max()
        };
    }
    let mut flags = Vec::new();
    if nodes.len() >= 2 {
        flags.push("multi_node");
    }
    if repeat {
        flags.push("repeat");
    }
    if let Some(over) = auth {
        flags.push("auth_fail");
        reasons.insert("auth_fail".into());
        hits = hits.saturating_add(over.failures);
        first_seen = Some(first_seen.map_or(over.first, |f| f.min(over.first)));
        last_seen = Some(last_seen.map_or(over.last, |l| l.max(over.last)));
        if rows.iter().all(|r| r.2 != Status::Active) {
            expires_at = Some(over.until);
        }
    }
    Entry {
        ip,
        nodes: nodes.into_iter().map(str::to_string).collect(),
        reasons: reasons.into_iter().collect(),
        hits,
        first_seen: first_seen.unwrap_or_default(),
        last_seen: last_seen.unwrap_or_default(),
        expires_at,
        ended_at,
        status,
        flags,
        allowlisted: allow.contains(ip),
    }
}

/// True when a ban of this IP began within [`REPEAT_WINDOW_MS`] after
/// another one ended (any nodes).
fn banned_again(rows: &[(&str, &BanRow, Status, Millis)], ended: &[&EndedBan]) -> bool {
    if ended.is_empty() {
        return false;
    }
    let mut starts: Vec<Millis> = rows.iter().map(|r| r.1.first_seen).collect();
    starts.extend(ended.iter().map(|e| e.row.first_seen));
    starts.sort();
    ended.iter().any(|e| {
        let from = e.ended_at;
        let to = Millis(from.0.saturating_add(REPEAT_WINDOW_MS));
        let lo = starts.partition_point(|s| *s < from);
        let hi = starts.partition_point(|s| *s <= to);
        let inside = hi - lo;
        // Its own start counts only if it started when it ended.
        let own = usize::from(e.row.first_seen >= from && e.row.first_seen <= to);
        inside > own
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn row(addr: &str, reason: &str, first_seen: u64) -> BanRow {
        BanRow {
            ip: ip(addr).into(),
            reason: reason.into(),
            hits: 3,
            since: None,
            expires_at: None,
            first_seen: Millis(first_seen),
        }
    }

    fn node(last_report: u64, rows: &[BanRow]) -> NodeBans {
        NodeBans {
            last_report: Millis(last_report),
            bans: rows.iter().map(|r| (r.ip.into(), r.clone())).collect(),
        }
    }

    fn run(
        nodes: &BTreeMap<String, NodeBans>,
        history: &VecDeque<EndedBan>,
        now: u64,
        query: &BansQuery,
    ) -> (usize, Vec<Entry>) {
        let allow = Allowlist::default();
        let input = ViewInput {
            nodes,
            history,
            allow: &allow,
            auth: Vec::new(),
            now: Millis(now),
            stale_ms: 90_000,
        };
        view(&input, query)
    }

    #[test]
    fn rows_of_several_nodes_merge_into_one_flagged_entry() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "a".to_string(),
            node(1_000, &[row("192.0.2.1", "scanner", 10)]),
        );
        nodes.insert(
            "b".to_string(),
            node(
                2_000,
                &[row("192.0.2.1", "flood", 20), row("192.0.2.2", "flood", 30)],
            ),
        );
        let (total, entries) = run(&nodes, &VecDeque::new(), 3_000, &BansQuery::default());
        assert_eq!(total, 2);
        let first = &entries[0];
        assert_eq!(first.ip, ip("192.0.2.1"));
        assert_eq!(first.nodes, ["a", "b"]);
        assert_eq!(first.reasons, ["flood", "scanner"]);
        assert_eq!(
            (first.hits, first.first_seen, first.last_seen),
            (6, Millis(10), Millis(2_000))
        );
        assert_eq!(first.flags, ["multi_node"]);
        assert_eq!(entries[1].flags, Vec::<&str>::new());
    }

    #[test]
    fn silent_nodes_make_stale_bans_and_expiry_makes_expired_ones() {
        let mut nodes = BTreeMap::new();
        let mut expiring = row("192.0.2.3", "flood", 5);
        expiring.expires_at = Some(Millis(50_000));
        nodes.insert(
            "quiet".to_string(),
            node(0, &[row("192.0.2.1", "scanner", 0)]),
        );
        nodes.insert("fresh".to_string(), node(80_000, &[expiring]));
        let all = BansQuery {
            status: StatusFilter::All,
            ..BansQuery::default()
        };
        let (_, entries) = run(&nodes, &VecDeque::new(), 90_000, &all);
        let status: Vec<_> = entries.iter().map(|e| (e.ip, e.status)).collect();
        assert_eq!(
            status,
            [
                (ip("192.0.2.3"), Status::Expired),
                (ip("192.0.2.1"), Status::Stale)
            ]
        );
        assert_eq!(entries[0].ended_at, Some(Millis(50_000)));
        let (total, _) = run(&nodes, &VecDeque::new(), 89_999, &BansQuery::default());
        assert_eq!(
            total, 1,
            "one period short of stale, and the expired one left out"
        );
    }

    #[test]
    fn a_ban_again_within_a_day_of_one_ending_is_flagged() {
        let base = 10 * REPEAT_WINDOW_MS;
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "a".to_string(),
            node(base + 10, &[row("192.0.2.1", "scanner", base + 5_000)]),
        );
        let ended = |at: u64| -> VecDeque<EndedBan> {
            [EndedBan {
                node: "b".into(),
                row: row("192.0.2.1", "flood", 1_000),
                ended_at: Millis(at),
            }]
            .into()
        };
        let (_, entries) = run(
            &nodes,
            &ended(base + 4_000),
            base + 10,
            &BansQuery::default(),
        );
        assert_eq!(entries[0].flags, ["repeat"]);
        assert_eq!(
            entries[0].nodes,
            ["a"],
            "the entry describes the current bans"
        );
        let (_, entries) = run(
            &nodes,
            &ended(base + 5_000 - REPEAT_WINDOW_MS),
            base + 10,
            &BansQuery::default(),
        );
        assert_eq!(entries[0].flags, ["repeat"], "exactly a day later");
        let (_, entries) = run(
            &nodes,
            &ended(base + 4_999 - REPEAT_WINDOW_MS),
            base + 10,
            &BansQuery::default(),
        );
        assert!(entries[0].flags.is_empty(), "more than a day later");
        let all = BansQuery {
            status: StatusFilter::Expired,
            ..BansQuery::default()
        };
        let (_, entries) = run(&BTreeMap::new(), &ended(base), base + 10, &all);
        assert_eq!(
            (
                entries[0].status,
                entries[0].ended_at,
                entries[0].nodes.clone()
            ),
            (Status::Expired, Some(Millis(base)), vec!["b".to_string()])
        );
        assert!(entries[0].flags.is_empty(), "one ban is no repeat");
    }

    #[test]
    fn filters_apply_before_the_limit_and_total_counts_them_all() {
        let mut nodes = BTreeMap::new();
        let rows: Vec<BanRow> = (1..=5)
            .map(|n| {
                row(
                    &format!("198.51.100.{n}"),
                    if n % 2 == 0 { "Flood" } else { "scanner" },
                    n,
                )
            })
            .collect();
        nodes.insert("a".to_string(), node(100, &rows));
        nodes.insert(
            "b".to_string(),
            node(50, &[row("2001:db8::1", "scanner", 1)]),
        );
        let query = |q: &str, limit| BansQuery {
            q: Some(q.into()),
            limit,
            ..BansQuery::default()
        };
        let (total, entries) = run(&nodes, &VecDeque::new(), 100, &query("flood", 100));
        assert_eq!(total, 2, "reason substring, any case");
        assert!(entries.iter().all(|e| e.reasons == ["Flood"]));
        let (total, entries) = run(&nodes, &VecDeque::new(), 100, &query("198.51.100.", 2));
        assert_eq!((total, entries.len()), (5, 2));
        assert_eq!(
            entries[0].ip,
            ip("198.51.100.1"),
            "same lastSeen: by address"
        );
        let (total, entries) = run(&nodes, &VecDeque::new(), 100, &query("2001:DB8", 10));
        assert_eq!((total, entries[0].ip), (1, ip("2001:db8::1")));
        let flagged = BansQuery {
            flagged: Some(true),
            ..BansQuery::default()
        };
        assert_eq!(run(&nodes, &VecDeque::new(), 100, &flagged).0, 0);
    }
}
