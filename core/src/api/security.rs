//! `/security/*`: ban snapshots from edge nodes, the merged fleet view and
//! the allowlist. Every call runs on the control shard (see
//! [`crate::security`]).
//!
//! ```text
//! POST /security/report {"node":"edge-1","ts":1764300000000,
//!                        "bans":[{"ip":"203.0.113.9","reason":"auth_fail","hits":12,"expiresAt":1764303600000}]}
//! 200 {"ok":true,"unban":[],"allow":["10.0.0.0/8"],"accepted":1}
//! GET /security/bans?status=active&q=203.0.113.&flagged=1&limit=50
//! 200 {"ok":true,"total":1,"bans":[{"ip":"203.0.113.9","nodes":["edge-1"],…,"status":"active","flagged":false}]}
//! POST /security/allow {"ip":"10.0.0.0/8","note":"office"}     201 (200 when it was there)
//! GET /security/allow                                          200 {"ok":true,"total":1,"allow":[…]}
//! DELETE /security/allow/10.0.0.0%2F8                          200 (404 when absent)
//! ```

use super::error::{ok, ok_with_status, ApiError};
use super::fields::{opt_str, req_str};
use crate::event::{Event, Ip};
use crate::http::Request;
use crate::limits::{
    ALLOW_ENTRIES_MAX, ALLOW_NOTE_BYTES_MAX, BANS_LIMIT_MAX, BANS_PER_REPORT_MAX,
    BANS_QUERY_BYTES_MAX, BAN_REASON_BYTES_MAX, BAN_ROWS_MAX, BAN_ROWS_PER_EVENT, NODE_BYTES_MAX,
    SECURITY_NODES_MAX,
};
use crate::route::request::check_printable;
use crate::security::allow::{self, show, AllowEntry};
use crate::security::bans::{self, BanRow, BansQuery, StatusFilter, ViewInput, STALE_PERIODS};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use core::net::IpAddr;
use ipnet::IpNet;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A decoded `POST /security/report`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub node: String,
    /// The node's clock when it took the snapshot (informational).
    pub ts: Option<u64>,
    pub bans: Vec<ReportedBan>,
}

/// One ban of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedBan {
    pub ip: IpAddr,
    pub reason: String,
    pub hits: u64,
    pub since: Option<Millis>,
    /// None (absent, null or 0): until the node lifts it.
    pub expires_at: Option<Millis>,
}

/// Decodes a report body (in a form, `bans` is a JSON string).
pub fn decode_report(body: &Map<String, Value>) -> Result<Report, ApiError> {
    let node = req_str(body, "node", NODE_BYTES_MAX)?;
    check_printable("node", &node)?;
    let ts = opt_u64(body, "ts", "ts")?;
    let items = match body.get("bans") {
        None | Some(Value::Null) => return Err(ApiError::missing("bans")),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            _ => return Err(ApiError::bad_field("bans", "must be a JSON array of bans")),
        },
        Some(_) => {
            return Err(ApiError::bad_field(
                "bans",
                "must be an array of {ip, reason, hits?, since?, expiresAt?}",
            ))
        }
    };
    if items.len() > BANS_PER_REPORT_MAX {
        return Err(ApiError::invalid(
            "bans",
            &format!(
                "{} bans; a report holds at most {BANS_PER_REPORT_MAX}",
                items.len()
            ),
        ));
    }
    let mut bans = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("bans[{i}]");
        let Value::Object(ban) = item else {
            return Err(ApiError::bad_field(&path, "must be an object"));
        };
        let ip_path = format!("{path}.ip");
        let text = req_str(ban, "ip", 64).map_err(|e| rename(e, "ip", &ip_path))?;
        let ip: IpAddr = text
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(&ip_path, "not an IPv4 or IPv6 address"))?;
        let reason_path = format!("{path}.reason");
        let reason = req_str(ban, "reason", BAN_REASON_BYTES_MAX)
            .map_err(|e| rename(e, "reason", &reason_path))?;
        check_printable(&reason_path, &reason)?;
        bans.push(ReportedBan {
            ip: allow::canonical(ip),
            reason,
            hits: opt_u64(ban, "hits", &format!("{path}.hits"))?.unwrap_or(0),
            since: opt_u64(ban, "since", &format!("{path}.since"))?.map(Millis),
            expires_at: opt_u64(ban, "expiresAt", &format!("{path}.expiresAt"))?
                .filter(|at| *at > 0)
                .map(Millis),
        });
    }
    Ok(Report { node, ts, bans })
}

/// An error about field `name` of a nested object, renamed to its path.
fn rename(error: ApiError, name: &str, path: &str) -> ApiError {
    let message = error
        .message
        .replace(&format!("`{name}`"), &format!("`{path}`"))
        .replacen(&format!("{name}: "), &format!("{path}: "), 1);
    let mut renamed = ApiError::new(error.status, error.code, message);
    if error.status == 422 {
        renamed = renamed.with_field("path", Value::String(path.into()));
    }
    renamed
}

/// An optional non-negative integer (a number, or digits in a string as
/// forms send them); empty and null are absent.
fn opt_u64(body: &Map<String, Value>, name: &str, path: &str) -> Result<Option<u64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(path, "must be a non-negative integer")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(path, "must be a non-negative integer")),
        Some(_) => Err(ApiError::bad_field(path, "must be a number")),
    }
}

/// Decodes the query of `GET /security/bans`.
pub fn decode_bans_query(req: &Request) -> Result<BansQuery, ApiError> {
    let mut query = BansQuery::default();
    if let Some(status) = req.query_param("status").filter(|s| !s.is_empty()) {
        query.status = StatusFilter::parse(&status.to_ascii_lowercase())
            .ok_or_else(|| ApiError::invalid("status", "must be active, stale, expired or all"))?;
    }
    if let Some(q) = req.query_param("q").filter(|q| !q.trim().is_empty()) {
        if q.len() > BANS_QUERY_BYTES_MAX {
            return Err(ApiError::invalid(
                "q",
                &format!("longer than {BANS_QUERY_BYTES_MAX} bytes"),
            ));
        }
        query.q = Some(q.trim().to_string());
    }
    if let Some(flagged) = req.query_param("flagged").filter(|s| !s.is_empty()) {
        query.flagged = Some(match flagged.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            _ => return Err(ApiError::bad_field("flagged", "must be 1 or 0")),
        });
    }
    if let Some(limit) = req.query_param("limit").filter(|s| !s.is_empty()) {
        let limit: usize = limit
            .parse()
            .map_err(|_| ApiError::bad_field("limit", "must be a whole number"))?;
        if !(1..=BANS_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                &format!("must be 1 to {BANS_LIMIT_MAX}"),
            ));
        }
        query.limit = limit;
    }
    Ok(query)
}

/// Decodes `POST /security/allow {ip, note?}`.
pub fn decode_allow(body: &Map<String, Value>) -> Result<(IpNet, Option<String>), ApiError> {
    let text = req_str(body, "ip", 64)?;
    let net = allow::parse_net(&text, "ip")?;
    let note = opt_str(body, "note", ALLOW_NOTE_BYTES_MAX)?;
    if let Some(note) = &note {
        check_printable("note", note)?;
    }
    Ok((net, note))
}

/// How long a node may stay silent before its bans are stale.
fn stale_ms(shard: &Shard) -> u64 {
    shard
        .config()
        .security_report_period_ms
        .saturating_mul(STALE_PERIODS)
}

/// `POST /security/report`: replaces the node's ban set.
pub fn decide_report(shard: &Shard, now: Millis, report: &Report) -> Decision {
    let security = shard.security();
    let allowlist = security.allowlist();
    #[cfg(feature = "planted-bugs")]
    let ignore_allowlist = crate::planted::active(crate::planted::Bug::AllowlistIgnored);
    #[cfg(not(feature = "planted-bugs"))]
    let ignore_allowlist = false;
    let mut unban = BTreeSet::new();
    let mut wanted: BTreeMap<IpAddr, &ReportedBan> = BTreeMap::new();
    for ban in &report.bans {
        if allowlist.contains(ban.ip) {
            unban.insert(ban.ip);
            if !ignore_allowlist {
                continue;
            }
        }
        // A repeated IP: the later entry wins.
        wanted.insert(ban.ip, ban);
    }
    let current = security.nodes().get(&report.node);
    let mut events = Vec::new();
    if current.is_none() && security.nodes().len() >= SECURITY_NODES_MAX {
        let stale = stale_ms(shard);
        let oldest = security
            .nodes()
            .iter()
            .min_by_key(|(name, bans)| (bans.last_report, name.as_str()))
            .filter(|(_, bans)| now.since(bans.last_report) >= stale);
        let Some((forgotten, _)) = oldest else {
            return Decision::reply(
                ApiError::new(
                    503,
                    "capacity",
                    format!(
                        "the brain keeps the bans of {SECURITY_NODES_MAX} nodes and none is stale"
                    ),
                )
                .to_response(),
            );
        };
        events.push(Event::BanNodeForgotten {
            node: forgotten.clone(),
            at: now,
        });
    }
    let held = current.map_or(0, |bans| bans.bans.len());
    if security.rows() - held + wanted.len() > BAN_ROWS_MAX {
        return Decision::reply(
            ApiError::new(
                503,
                "capacity",
                format!("the brain keeps at most {BAN_ROWS_MAX} bans fleet-wide"),
            )
            .to_response(),
        );
    }
    let mut upsert = Vec::new();
    for (ip, ban) in &wanted {
        let known = current.and_then(|bans| bans.bans.get(ip));
        let row = BanRow {
            ip: Ip::from(*ip),
            reason: ban.reason.clone(),
            hits: ban.hits,
            since: ban.since,
            expires_at: ban.expires_at,
            first_seen: known.map_or(now, |row| row.first_seen),
        };
        if known != Some(&row) {
            upsert.push(row);
        }
    }
    let ended: Vec<Ip> = current
        .map(|bans| {
            bans.bans
                .keys()
                .filter(|ip| !wanted.contains_key(ip))
                .map(|ip| Ip::from(*ip))
                .collect()
        })
        .unwrap_or_default();
    let chunks = upsert
        .len()
        .div_ceil(BAN_ROWS_PER_EVENT)
        .max(ended.len().div_ceil(BAN_ROWS_PER_EVENT))
        .max(1);
    let mut upsert = upsert.into_iter();
    let mut ended = ended.into_iter();
    for _ in 0..chunks {
        events.push(Event::BanReport {
            node: report.node.clone(),
            at: now,
            upsert: upsert.by_ref().take(BAN_ROWS_PER_EVENT).collect(),
            ended: ended.by_ref().take(BAN_ROWS_PER_EVENT).collect(),
        });
    }
    let allow: Vec<String> = allowlist.iter().map(|(net, _)| net.to_string()).collect();
    let unban: Vec<String> = unban.iter().map(IpAddr::to_string).collect();
    Decision {
        reply: ok(json!({"unban": unban, "allow": allow, "accepted": wanted.len()})),
        events,
    }
}

/// `GET /security/bans`: the merged fleet view.
pub fn decide_bans(shard: &Shard, now: Millis, query: &BansQuery) -> Decision {
    let security = shard.security();
    let config = shard.config();
    let mut auth: BTreeMap<IpAddr, bans::AuthOver> = BTreeMap::new();
    let own = shard
        .auth_failures()
        .over_all(config.auth_fail_window_ms, config.auth_fail_threshold);
    for (ip, over) in own.into_iter().chain(security.auth_flags(now)) {
        if over.until <= now {
            continue;
        }
        let keep = auth.get(&ip).is_none_or(|known| known.until < over.until);
        if keep {
            auth.insert(ip, over);
        }
    }
    let input = ViewInput {
        nodes: security.nodes(),
        history: security.history(),
        allow: security.allowlist(),
        auth: auth.into_iter().collect(),
        now,
        stale_ms: stale_ms(shard),
    };
    let (total, entries) = bans::view(&input, query);
    let bans: Vec<Value> = entries.iter().map(bans::Entry::to_json).collect();
    Decision::reply(ok(json!({"total": total, "bans": bans})))
}

fn entry_json(net: &IpNet, entry: &AllowEntry) -> Value {
    json!({"ip": show(net), "cidr": net.to_string(), "note": entry.note, "createdAt": entry.created_at.0})
}

/// `GET /security/allow`.
pub fn decide_allow_list(shard: &Shard) -> Decision {
    let allowlist = shard.security().allowlist();
    let entries: Vec<Value> = allowlist
        .iter()
        .map(|(net, entry)| entry_json(net, entry))
        .collect();
    Decision::reply(ok(json!({"total": entries.len(), "allow": entries})))
}

/// `POST /security/allow`: adds an entry (or changes its note) and ends
/// every ban it covers.
pub fn decide_allow_add(shard: &Shard, now: Millis, net: &IpNet, note: Option<&str>) -> Decision {
    let security = shard.security();
    let existing = security.allowlist().get(net);
    if existing.is_none() && security.allowlist().len() >= ALLOW_ENTRIES_MAX {
        return Decision::reply(
            ApiError::new(
                409,
                "allowlist_full",
                format!("the allowlist holds {ALLOW_ENTRIES_MAX} entries, the most it can"),
            )
            .to_response(),
        );
    }
    let note = match (note, existing) {
        (Some(note), _) => note.to_string(),
        (None, Some(entry)) => entry.note.clone(),
        (None, None) => String::new(),
    };
    let unbanned: BTreeSet<IpAddr> = security
        .covered(net)
        .into_iter()
        .map(|(ip, _)| ip)
        .collect();
    let unbanned: Vec<String> = unbanned.iter().map(IpAddr::to_string).collect();
    let entry = AllowEntry {
        note: note.clone(),
        created_at: existing.map_or(now, |e| e.created_at),
    };
    let events = if existing.map(|e| &e.note) == Some(&note) {
        Vec::new()
    } else {
        vec![Event::AllowAdded {
            net: (*net).into(),
            note,
            at: now,
        }]
    };
    let created = existing.is_none();
    Decision {
        reply: ok_with_status(
            if created { 201 } else { 200 },
            json!({"created": created, "entry": entry_json(net, &entry), "unbanned": unbanned}),
        ),
        events,
    }
}

/// `DELETE /security/allow/{ip}`.
pub fn decide_allow_delete(shard: &Shard, now: Millis, net: &IpNet) -> Decision {
    let allowlist = shard.security().allowlist();
    let Some(entry) = allowlist.get(net) else {
        let covered = match net.prefix_len() == net.max_prefix_len() {
            true => allowlist
                .covering(net.addr())
                .map(|by| format!(" (it is covered by {})", show(&by)))
                .unwrap_or_default(),
            false => String::new(),
        };
        return Decision::reply(
            ApiError::new(
                404,
                "not_found",
                format!("{} is not on the allowlist{covered}", show(net)),
            )
            .to_response(),
        );
    };
    Decision {
        reply: ok(json!({"removed": entry_json(net, entry)})),
        events: vec![Event::AllowRemoved {
            net: (*net).into(),
            at: now,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn report_error(value: Value) -> (u16, String) {
        let error = decode_report(&body(value)).unwrap_err();
        (error.status, error.message)
    }

    #[test]
    fn a_report_decodes_with_defaults_and_canonical_addresses() {
        let report = decode_report(&body(json!({
            "node": "edge-1", "ts": 5,
            "bans": [{"ip": "::ffff:192.0.2.1", "reason": "scanner", "hits": "7", "expiresAt": 0},
                     {"ip": "2001:db8::1", "reason": "flood", "since": 3, "expiresAt": 99}]
        })))
        .unwrap();
        assert_eq!(report.ts, Some(5));
        assert_eq!(report.bans[0].ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!((report.bans[0].hits, report.bans[0].expires_at), (7, None));
        assert_eq!(report.bans[1].expires_at, Some(Millis(99)));
        let form = decode_report(&body(json!({
            "node": "edge-1", "bans": "[{\"ip\":\"192.0.2.9\",\"reason\":\"flood\"}]"
        })))
        .unwrap();
        assert_eq!(form.bans.len(), 1);
    }

    #[test]
    fn bad_reports_name_the_field() {
        let cases = [
            (json!({"bans": []}), 400, "`node`"),
            (json!({"node": "a"}), 400, "`bans`"),
            (json!({"node": "a", "bans": 3}), 400, "`bans`"),
            (json!({"node": "a", "bans": "nope"}), 400, "`bans`"),
            (json!({"node": "a", "bans": [1]}), 400, "`bans[0]`"),
            (
                json!({"node": "a", "bans": [{"reason": "x"}]}),
                400,
                "`bans[0].ip`",
            ),
            (
                json!({"node": "a", "bans": [{"ip": "1.2.3.4"}]}),
                400,
                "`bans[0].reason`",
            ),
            (
                json!({"node": "a", "bans": [{"ip": "1.2.3", "reason": "x"}]}),
                422,
                "bans[0].ip:",
            ),
            (
                json!({"node": "a", "bans": [{"ip": "10.0.0.0/8", "reason": "x"}]}),
                422,
                "bans[0].ip:",
            ),
            (
                json!({"node": "a", "bans": [{"ip": "1.2.3.4", "reason": "x".repeat(65)}]}),
                422,
                "bans[0].reason:",
            ),
            (
                json!({"node": "a", "bans": [{"ip": "1.2.3.4", "reason": "x", "hits": -1}]}),
                422,
                "bans[0].hits:",
            ),
            (
                json!({"node": "a", "bans": [{"ip": "1.2.3.4", "reason": "x", "expiresAt": []}]}),
                400,
                "`bans[0].expiresAt`",
            ),
            (json!({"node": "a", "ts": "soon", "bans": []}), 422, "ts:"),
            (json!({"node": "a\u{1}", "bans": []}), 422, "node:"),
        ];
        for (value, status, named) in cases {
            let text = value.to_string();
            let (got, message) = report_error(value);
            assert_eq!(got, status, "{text}: {message}");
            assert!(
                message.contains(named),
                "{text}: {message} should name {named}"
            );
        }
        let many: Vec<Value> = (0..=BANS_PER_REPORT_MAX)
            .map(|_| json!({"ip": "1.2.3.4", "reason": "x"}))
            .collect();
        assert_eq!(report_error(json!({"node": "a", "bans": many})).0, 422);
    }

    fn query(text: &str) -> Result<BansQuery, ApiError> {
        let req = Request {
            method: crate::http::Method::Get,
            path: "/security/bans".into(),
            query: text.into(),
            headers: Default::default(),
            body: Vec::new(),
            keep_alive: true,
        };
        decode_bans_query(&req)
    }

    #[test]
    fn the_bans_query_is_checked() {
        assert_eq!(query("").unwrap(), BansQuery::default());
        let q = query("status=ALL&q=198.51.&flagged=1&limit=1000").unwrap();
        assert_eq!(q.status, StatusFilter::All);
        assert_eq!(
            (q.q.as_deref(), q.flagged, q.limit),
            (Some("198.51."), Some(true), 1000)
        );
        for (bad, status, field) in [
            ("status=gone", 422, "status"),
            ("limit=0", 422, "limit"),
            ("limit=1001", 422, "limit"),
            ("limit=ten", 400, "limit"),
            ("flagged=maybe", 400, "flagged"),
        ] {
            let error = query(bad).unwrap_err();
            assert_eq!(error.status, status, "{bad}");
            assert!(error.message.contains(field), "{bad}: {}", error.message);
        }
        assert_eq!(
            query(&format!("q={}", "x".repeat(65))).unwrap_err().status,
            422
        );
    }

    #[test]
    fn an_allow_body_is_checked() {
        let (net, note) =
            decode_allow(&body(json!({"ip": "10.0.0.0/8", "note": "office"}))).unwrap();
        assert_eq!(
            (net.to_string(), note.as_deref()),
            ("10.0.0.0/8".into(), Some("office"))
        );
        assert_eq!(decode_allow(&body(json!({}))).unwrap_err().status, 400);
        let bad = decode_allow(&body(json!({"ip": "10.0.0.1/8"}))).unwrap_err();
        assert_eq!((bad.status, bad.message.starts_with("ip: ")), (422, true));
        let long = "n".repeat(ALLOW_NOTE_BYTES_MAX + 1);
        assert_eq!(
            decode_allow(&body(json!({"ip": "10.0.0.1", "note": long})))
                .unwrap_err()
                .status,
            422
        );
    }
}
