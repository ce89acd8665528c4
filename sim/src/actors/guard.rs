//! sipguard: edge nodes reporting their whole ban sets over
//! `/security/report` (bans come and go; a node now and then stays silent
//! for several turns, so its bans go stale), and an operator keeping the
//! allowlist (`POST`/`DELETE /security/allow`, addresses and networks,
//! IPv4 and IPv6, some covering the SIP edges' sources) while reading the
//! fleet view (`GET /security/bans` with random filters) and the list.
//!
//! Checked on every answer: an IP the allowlist surely covers is never an
//! `active` or `stale` ban in the view, and every report's `unban` lists
//! the reported IPs it surely covers (and nothing the node did not report);
//! the view honours its filters, its limit and its order; the allowlist and
//! the reports' `allow` hold every entry surely on it. "Surely": the add was
//! acknowledged and no delete of that entry (by any guard) may have landed
//! since, whatever the retries and duplicates in flight
//! ([`crate::model::AllowModel`]).

use super::{Actor, Ctx, Next, ADMIN_TOKEN, EDGE_TOKEN};
use crate::client::{Op, Reply};
use ipnet::IpNet;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// Addresses the nodes ban: documentation ranges, and the SIP edges'
/// sources (`actors::edge`), so allowlisting them exempts them from /auth
/// rate-limiting too.
const POOL: &[&str] = &[
    "203.0.113.1",
    "203.0.113.2",
    "203.0.113.3",
    "203.0.113.5",
    "203.0.113.7",
    "203.0.113.9",
    "203.0.113.12",
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8::7",
    "198.51.100.1",
    "198.51.100.2",
];

/// What the operator allowlists: single addresses and networks.
const ALLOW: &[&str] = &[
    "203.0.113.1",
    "203.0.113.9",
    "203.0.113.0/29",
    "2001:db8::/126",
    "2001:db8::7",
    "198.51.100.1",
    "198.51.100.0/30",
];

const REASONS: &[&str] = &["auth_fail", "scanner", "flood", "Scanner-UA"];

/// One ban-reporting edge node.
struct Node {
    name: String,
    /// Its current bans: IP → (reason, hits, already expired).
    bans: BTreeMap<IpAddr, (&'static str, u64, bool)>,
    /// Turns it still stays silent.
    silent: u32,
}

/// What an operation in flight was for.
#[derive(Clone, Debug)]
enum Intent {
    Report { reported: Vec<IpAddr> },
    Bans { query: Query },
    Add { net: IpNet },
    Delete { net: IpNet, was_sure: bool },
    List,
}

/// The filters of one `GET /security/bans`.
#[derive(Clone, Debug)]
struct Query {
    status: Option<&'static str>,
    q: Option<&'static str>,
    flagged: Option<bool>,
    limit: Option<usize>,
}

/// The edge nodes and the operator of the allowlist, as one client.
pub struct Guard {
    name: String,
    peer: IpAddr,
    nodes: Vec<Node>,
    intent: Option<(u64, Intent)>,
}

impl Guard {
    pub fn new(index: usize, nodes: usize) -> Guard {
        Guard {
            name: format!("guard-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 4, 0, index as u8 + 1)),
            nodes: (0..nodes)
                .map(|n| Node {
                    name: format!("guard-{index}-edge-{n}"),
                    bans: BTreeMap::new(),
                    silent: 0,
                })
                .collect(),
            intent: None,
        }
    }

    fn send(&mut self, op: u64, intent: Intent, request: Op) -> Next {
        self.intent = Some((op, intent));
        Next::Send(request)
    }

    fn admin(op: u64, kind: &'static str, method: &'static str, path: String) -> Op {
        Op::new(op, kind, method, path).header("x-admin-token", ADMIN_TOKEN)
    }

    fn report(&mut self, n: usize, ctx: &mut Ctx) -> Next {
        let node = &mut self.nodes[n];
        if node.silent > 0 {
            node.silent -= 1;
            return Next::Sleep(ctx.rng.gen_range(1..=ctx.knobs.security_report_period_ms));
        }
        if ctx.rng.gen_bool(0.05) {
            // The node goes quiet for a while: its bans go stale.
            node.silent = ctx.rng.gen_range(3..10);
        }
        if ctx.rng.gen_bool(0.5) && node.bans.len() < 8 {
            let ip: IpAddr = POOL[ctx.rng.gen_range(0..POOL.len())]
                .parse()
                .expect("pool");
            let reason = REASONS[ctx.rng.gen_range(0..REASONS.len())];
            node.bans.insert(
                ip,
                (reason, ctx.rng.gen_range(1..50), ctx.rng.gen_bool(0.1)),
            );
        }
        if ctx.rng.gen_bool(0.3) && !node.bans.is_empty() {
            let k = ctx.rng.gen_range(0..node.bans.len());
            let ip = *node.bans.keys().nth(k).expect("in range");
            node.bans.remove(&ip);
        }
        let bans: Vec<Value> = node
            .bans
            .iter()
            .map(|(ip, (reason, hits, expired))| {
                let mut ban = json!({"ip": ip.to_string(), "reason": reason, "hits": hits});
                if *expired {
                    ban["expiresAt"] = json!(1_000);
                }
                ban
            })
            .collect();
        let reported: Vec<IpAddr> = node.bans.keys().copied().collect();
        let body = json!({"node": node.name, "ts": ctx.now_us / 1000, "bans": bans});
        let op = ctx.model.new_op();
        let request = Op::new(op, "security-report", "POST", "/security/report")
            .header("x-edge-token", EDGE_TOKEN)
            .attempts(ctx.knobs.edge_attempts_max);
        let request = if ctx.rng.gen_bool(0.5) {
            request.json(&body)
        } else {
            let bans = body["bans"].to_string();
            request.form(&[("node", &self.nodes[n].name), ("bans", &bans)])
        };
        self.send(op, Intent::Report { reported }, request)
    }

    fn bans(&mut self, ctx: &mut Ctx) -> Next {
        let query = Query {
            status: [
                None,
                Some("active"),
                Some("stale"),
                Some("expired"),
                Some("all"),
            ][ctx.rng.gen_range(0..5)],
            q: [
                None,
                None,
                Some("203.0.113."),
                Some("2001:db8"),
                Some("scanner"),
            ][ctx.rng.gen_range(0..5)],
            flagged: [None, None, Some(true), Some(false)][ctx.rng.gen_range(0..4)],
            limit: [None, None, Some(1), Some(3), Some(1000)][ctx.rng.gen_range(0..5)],
        };
        let mut params = Vec::new();
        if let Some(status) = query.status {
            params.push(format!("status={status}"));
        }
        if let Some(q) = query.q {
            params.push(format!("q={q}"));
        }
        if let Some(flagged) = query.flagged {
            params.push(format!("flagged={}", u8::from(flagged)));
        }
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        let op = ctx.model.new_op();
        let path = format!("/security/bans?{}", params.join("&"));
        let request = Guard::admin(op, "security-bans", "GET", path);
        self.send(op, Intent::Bans { query }, request)
    }

    fn add(&mut self, ctx: &mut Ctx) -> Next {
        let text = ALLOW[ctx.rng.gen_range(0..ALLOW.len())];
        let net: IpNet = text
            .parse()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .expect("an allowlist entry");
        let op = ctx.model.new_op();
        ctx.model.allow.sent(net, op, true);
        let body = json!({"ip": text, "note": format!("op {op}")});
        let request = Guard::admin(op, "allow-add", "POST", "/security/allow".into());
        let request = if ctx.rng.gen_bool(0.5) {
            request.json(&body)
        } else {
            request.form(&[("ip", text)])
        };
        self.send(op, Intent::Add { net }, request)
    }

    fn delete(&mut self, ctx: &mut Ctx) -> Next {
        let candidates: Vec<IpNet> = ctx.model.allow.writes.keys().copied().collect();
        if candidates.is_empty() {
            return Next::Sleep(1);
        }
        let net = candidates[ctx.rng.gen_range(0..candidates.len())];
        let was_sure = ctx.model.allow.surely(&net, ctx.ops);
        let op = ctx.model.new_op();
        ctx.model.allow.sent(net, op, false);
        // The `/` of a CIDR percent-encoded, or not (both route).
        let path = if ctx.rng.gen_bool(0.5) {
            format!("/security/allow/{}", net.to_string().replace('/', "%2F"))
        } else {
            format!("/security/allow/{net}")
        };
        let request = Guard::admin(op, "allow-delete", "DELETE", path);
        self.send(op, Intent::Delete { net, was_sure }, request)
    }

    fn check_bans(&self, op: u64, query: &Query, reply: &Reply, ctx: &mut Ctx) {
        let name = &self.name;
        let Some(body) = reply.json.as_ref() else {
            return ctx.violation(format!("{name}: GET /security/bans answered no JSON"));
        };
        let entries = body["bans"].as_array().cloned().unwrap_or_default();
        let total = body["total"].as_u64().unwrap_or(0) as usize;
        let limit = query.limit.unwrap_or(100);
        if entries.len() > limit || entries.len() > total {
            ctx.violation(format!(
                "{name}: /security/bans answered {} entries, total {total}, limit {limit}",
                entries.len()
            ));
        }
        let sure = ctx.model.allow.sure(ctx.ops, op);
        let mut previous: Option<(u64, IpAddr)> = None;
        for entry in &entries {
            let Some(ip) = entry["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) else {
                ctx.violation(format!("{name}: a ban entry without an address: {entry}"));
                continue;
            };
            let status = entry["status"].as_str().unwrap_or("");
            let wanted = query.status.unwrap_or("active");
            if wanted != "all" && status != wanted {
                ctx.violation(format!("{name}: status={wanted} listed {ip} as {status}"));
            }
            let flagged = entry["flagged"].as_bool().unwrap_or(false);
            if query.flagged.is_some_and(|f| f != flagged) {
                ctx.violation(format!(
                    "{name}: flagged={:?} listed {ip} with flagged {flagged}",
                    query.flagged
                ));
            }
            if let Some(q) = query.q {
                let q = q.to_ascii_lowercase();
                let reasons = entry["reasons"].as_array().cloned().unwrap_or_default();
                let matches = ip.to_string().starts_with(&q)
                    || reasons.iter().any(|r| {
                        r.as_str()
                            .is_some_and(|r| r.to_ascii_lowercase().contains(&q))
                    });
                if !matches {
                    ctx.violation(format!("{name}: q={q} listed {entry}"));
                }
            }
            let banned = status == "active" || status == "stale";
            if let Some(net) = sure.iter().find(|net| net.contains(&ip)).filter(|_| banned) {
                ctx.violation(format!(
                    "{name}: {ip} is on the allowlist ({net}) yet /security/bans shows it {status}: {entry}"
                ));
            }
            if banned && entry["allowlisted"] == json!(true) {
                ctx.violation(format!(
                    "{name}: {ip} is {status} and allowlisted at once: {entry}"
                ));
            }
            let seen = entry["lastSeen"].as_u64().unwrap_or(0);
            if let Some(before) = previous {
                if (seen, std::cmp::Reverse(ip)) > (before.0, std::cmp::Reverse(before.1)) {
                    ctx.violation(format!(
                        "{name}: /security/bans is not ordered by lastSeen, then address: {ip} after {}",
                        before.1
                    ));
                }
            }
            previous = Some((seen, ip));
        }
    }

    fn check_report(&self, op: u64, reported: &[IpAddr], reply: &Reply, ctx: &mut Ctx) {
        let name = &self.name;
        let body = reply.json.clone().unwrap_or(Value::Null);
        let unban: BTreeSet<IpAddr> = body["unban"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let allow: BTreeSet<String> = body["allow"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| Some(v.as_str()?.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for ip in &unban {
            if !reported.contains(ip) {
                ctx.violation(format!(
                    "{name}: a report's unban lists {ip}, never reported"
                ));
            }
        }
        let sure = ctx.model.allow.sure(ctx.ops, op);
        for ip in reported {
            if let Some(net) = sure.iter().find(|net| net.contains(ip)) {
                if !unban.contains(ip) {
                    ctx.violation(format!(
                        "{name}: a node reported {ip}, which {net} allowlists, but unban is {unban:?}"
                    ));
                }
            }
        }
        for net in &sure {
            if !allow.contains(&net.to_string()) {
                ctx.violation(format!("{name}: a report's allow lacks {net}: {allow:?}"));
            }
        }
    }
}

impl Actor for Guard {
    fn name(&self) -> &str {
        &self.name
    }

    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn next(&mut self, ctx: &mut Ctx) -> Next {
        if ctx.healed {
            return Next::Done;
        }
        let period = ctx.knobs.security_report_period_ms;
        if ctx.rng.gen_bool(0.5) {
            let pause = (period / (2 * self.nodes.len() as u64)).max(2);
            return Next::Sleep(ctx.rng.gen_range(1..pause));
        }
        let roll = ctx.rng.gen_range(0..100);
        if roll < 55 {
            let n = ctx.rng.gen_range(0..self.nodes.len());
            return self.report(n, ctx);
        }
        if roll < 72 {
            return self.bans(ctx);
        }
        if roll < 84 {
            return self.add(ctx);
        }
        if roll < 92 {
            return self.delete(ctx);
        }
        let op = ctx.model.new_op();
        let request = Guard::admin(op, "allow-list", "GET", "/security/allow".into());
        self.send(op, Intent::List, request)
    }

    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx) {
        let Some((_, intent)) = self.intent.take().filter(|(id, _)| *id == op.id) else {
            return;
        };
        let name = self.name.clone();
        let wrong = |ctx: &mut Ctx, what: &str| {
            ctx.violation(format!(
                "{name}: {what} answered {} {:?}",
                reply.status,
                reply.code()
            ))
        };
        match intent {
            Intent::Report { reported } => {
                if reply.status != 200 {
                    return wrong(ctx, "POST /security/report");
                }
                self.check_report(op.id, &reported, reply, ctx);
            }
            Intent::Bans { query } => {
                if reply.status != 200 {
                    return wrong(ctx, "GET /security/bans");
                }
                self.check_bans(op.id, &query, reply, ctx);
            }
            Intent::Add { net } => {
                let cidr = reply
                    .json
                    .as_ref()
                    .and_then(|b| b.pointer("/entry/cidr"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if !(reply.status == 200 || reply.status == 201) || cidr != Some(net.to_string()) {
                    return wrong(ctx, &format!("POST /security/allow {net} (entry {cidr:?})"));
                }
                ctx.model.allow.confirmed(&net, op.id);
            }
            Intent::Delete { net, was_sure } => {
                // Another guard may have written the entry since.
                let alone = ctx.model.allow.writes[&net]
                    .last()
                    .is_some_and(|w| w.op == op.id);
                let fine = match reply.status {
                    200 => true,
                    404 => !was_sure || !alone || reply.copies > 1,
                    _ => false,
                };
                if !fine {
                    wrong(ctx, &format!("DELETE /security/allow/{net} (surely there)"));
                }
            }
            Intent::List => {
                if reply.status != 200 {
                    return wrong(ctx, "GET /security/allow");
                }
                let listed: BTreeSet<String> = reply
                    .json
                    .as_ref()
                    .and_then(|b| b["allow"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|e| Some(e["cidr"].as_str()?.to_string()))
                    .collect();
                for net in ctx.model.allow.sure(ctx.ops, op.id) {
                    if !listed.contains(&net.to_string()) {
                        ctx.violation(format!(
                            "{name}: GET /security/allow lacks {net}, surely on it: {listed:?}"
                        ));
                    }
                }
            }
        }
    }

    fn on_give_up(&mut self, _op: &Op, _copies: u32, _ctx: &mut Ctx) {
        self.intent = None;
    }
}
