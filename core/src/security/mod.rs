//! Fleet security: the bans every edge node reports (snapshot semantics per
//! node), the history of ended bans, the allowlist, and the sources the
//! brain itself rate-limits on /auth.
//!
//! The state lives on the control shard ([`crate::api::CONTROL_SHARD`]),
//! which decides every security call. Each other shard keeps a copy of the
//! allowlist only (its events are broadcast like the directory's): /auth
//! never rate-limits an allowlisted source, on whichever shard it runs.
//!
//! - `POST /security/report {node, ts?, bans}` replaces the node's set: a
//!   ban absent from the new snapshot ends (into the history); the answer
//!   lists the reported IPs the allowlist covers (`unban`) and the
//!   allowlist (`allow`). Allowlisted IPs are never stored as bans.
//! - A node silent for [`bans::STALE_PERIODS`] report periods has `stale`
//!   bans (computed when read, from its last report's time).
//! - Adding an allowlist entry ends every ban it covers, fleet-wide.
//! - /auth failures are counted on the shard that decides the /auth. When
//!   a source reaches the threshold on a shard other than the control
//!   shard, that shard broadcasts [`crate::event::Event::AuthFlagged`]; the
//!   control shard keeps it (not logged there, not in its snapshot: every
//!   shard sends its sources over the threshold again at start). Sources
//!   over the threshold on the control shard come from its own counters.

pub mod allow;
pub mod bans;
#[cfg(test)]
mod tests;

use crate::event::Ip;
use crate::limits::{AUTH_FAILURE_IPS_MAX, BAN_HISTORY_MAX};
use crate::time::Millis;
use allow::Allowlist;
use bans::{AuthOver, BanRow, EndedBan, NodeBans};
use core::net::IpAddr;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The security state of a shard (everything but the allowlist stays
/// empty off the control shard).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    nodes: BTreeMap<String, NodeBans>,
    /// IP → the nodes whose current set holds it.
    by_ip: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Rows over every node.
    rows: usize,
    /// Ended bans, oldest first.
    history: VecDeque<EndedBan>,
    allow: Allowlist,
    /// Sources over the /auth threshold on other shards (not durable here).
    auth_flags: BTreeMap<IpAddr, AuthOver>,
}

impl Security {
    /// A report (or one chunk of it) from `node` at `at`: `upsert` rows
    /// replace the node's rows of the same IP, `ended` IPs end.
    pub fn report(&mut self, node: &str, at: Millis, upsert: &[BanRow], ended: &[Ip]) {
        let bans = self.nodes.entry(node.to_string()).or_default();
        bans.last_report = bans.last_report.max(at);
        for ip in ended {
            let ip = IpAddr::from(*ip);
            self.end(node, ip, at);
        }
        let bans = self.nodes.get_mut(node).expect("just inserted");
        for row in upsert {
            let ip = IpAddr::from(row.ip);
            if bans.bans.insert(ip, row.clone()).is_none() {
                self.rows += 1;
                self.by_ip.entry(ip).or_default().insert(node.to_string());
            }
        }
    }

    /// Ends `node`'s ban of `ip` (if it has one) at `at`.
    fn end(&mut self, node: &str, ip: IpAddr, at: Millis) {
        let Some(row) = self
            .nodes
            .get_mut(node)
            .and_then(|bans| bans.bans.remove(&ip))
        else {
            return;
        };
        self.rows -= 1;
        if let Some(holders) = self.by_ip.get_mut(&ip) {
            holders.remove(node);
            if holders.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
        self.remember(EndedBan {
            node: node.to_string(),
            row,
            ended_at: at,
        });
    }

    /// Keeps an ended ban, forgetting the oldest past the bound.
    pub fn remember(&mut self, ended: EndedBan) {
        self.history.push_back(ended);
        while self.history.len() > BAN_HISTORY_MAX {
            self.history.pop_front();
        }
    }

    /// Forgets `node`: its bans end at `at`.
    pub fn forget(&mut self, node: &str, at: Millis) {
        let ips: Vec<IpAddr> = self
            .nodes
            .get(node)
            .map(|bans| bans.bans.keys().copied().collect())
            .unwrap_or_default();
        for ip in ips {
            self.end(node, ip, at);
        }
        self.nodes.remove(node);
    }

    /// Adds (or renotes) an allowlist entry at `at`; every ban it covers
    /// ends.
    pub fn allow(&mut self, net: IpNet, note: &str, at: Millis) {
        for (ip, node) in self.covered(&net) {
            self.end(&node, ip, at);
        }
        self.allow.insert(net, note.to_string(), at);
    }

    /// Removes an allowlist entry.
    pub fn disallow(&mut self, net: &IpNet) {
        self.allow.remove(net);
    }

    /// (IP, node) of every current ban inside `net`.
    pub fn covered(&self, net: &IpNet) -> Vec<(IpAddr, String)> {
        let (first, last) = (net.network(), net.broadcast());
        self.by_ip
            .range(first..=last)
            .flat_map(|(ip, nodes)| nodes.iter().map(|node| (*ip, node.clone())))
            .collect()
    }

    /// Another shard's source reached the /auth threshold.
    pub fn auth_flagged(&mut self, ip: IpAddr, over: AuthOver) {
        if let Some(known) = self.auth_flags.get(&ip) {
            if known.until >= over.until {
                return;
            }
        }
        if !self.auth_flags.contains_key(&ip) && self.auth_flags.len() >= AUTH_FAILURE_IPS_MAX {
            self.auth_flags.retain(|_, flag| flag.until > over.last);
            if self.auth_flags.len() >= AUTH_FAILURE_IPS_MAX {
                let oldest = self
                    .auth_flags
                    .iter()
                    .min_by_key(|(ip, flag)| (flag.until, **ip))
                    .map(|(ip, _)| *ip)
                    .expect("full");
                self.auth_flags.remove(&oldest);
            }
        }
        self.auth_flags.insert(ip, over);
    }

    /// Sources over the threshold on other shards at `now`.
    pub fn auth_flags(&self, now: Millis) -> impl Iterator<Item = (IpAddr, AuthOver)> + '_ {
        self.auth_flags
            .iter()
            .filter(move |(_, flag)| flag.until > now)
            .map(|(ip, flag)| (*ip, *flag))
    }

    pub fn nodes(&self) -> &BTreeMap<String, NodeBans> {
        &self.nodes
    }

    pub fn history(&self) -> &VecDeque<EndedBan> {
        &self.history
    }

    pub fn allowlist(&self) -> &Allowlist {
        &self.allow
    }

    /// Ban rows over every node.
    pub fn rows(&self) -> usize {
        self.rows
    }
}
