//! The security state through the shard: reports, the view, the allowlist,
//! /auth sources over the threshold, and snapshots.

use super::bans::{BanRow, EndedBan, Status};
use super::*;
use crate::api::auth::AuthRequest;
use crate::api::security::{Report, ReportedBan};
use crate::api::Call;
use crate::auth::digest::{Algorithm, DigestFields};
use crate::auth::nonce::NonceKey;
use crate::event::Event;
use crate::limits::{BAN_ROWS_PER_EVENT, SECURITY_NODES_MAX};
use crate::shard::{Shard, ShardConfig};
use serde_json::Value;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn net(text: &str) -> IpNet {
    allow::parse_net(text, "ip").unwrap()
}

fn shard(id: usize, shards: usize) -> Shard {
    Shard::new(ShardConfig::new(id, shards, NonceKey([7; 32])))
}

fn ban(addr: &str, reason: &str) -> ReportedBan {
    ReportedBan {
        ip: ip(addr),
        reason: reason.into(),
        hits: 1,
        since: None,
        expires_at: None,
    }
}

/// Runs `call` at `now`; the reply's status and JSON body.
fn run(shard: &mut Shard, now: u64, call: Call) -> (u16, Value) {
    let decision = shard.execute(Millis(now), 0, &call);
    let body = serde_json::from_slice(&decision.reply.body).unwrap();
    (decision.reply.status, body)
}

fn report(shard: &mut Shard, now: u64, node: &str, bans: &[ReportedBan]) -> Value {
    let call = Call::SecurityReport(Box::new(Report {
        node: node.into(),
        ts: None,
        bans: bans.to_vec(),
    }));
    let (status, body) = run(shard, now, call);
    assert_eq!(status, 200, "{body}");
    body
}

fn view(shard: &mut Shard, now: u64, status: &str) -> Vec<Value> {
    let query = bans::BansQuery {
        status: bans::StatusFilter::parse(status).unwrap(),
        limit: 1000,
        ..bans::BansQuery::default()
    };
    let (code, body) = run(shard, now, Call::SecurityBans(Box::new(query)));
    assert_eq!(code, 200);
    body["bans"].as_array().unwrap().clone()
}

fn ips(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["ip"].as_str().unwrap().to_string())
        .collect()
}

fn allow(shard: &mut Shard, now: u64, text: &str) -> (u16, Value) {
    run(
        shard,
        now,
        Call::AllowAdd {
            net: net(text),
            note: Some("test".into()),
        },
    )
}

#[test]
fn a_report_replaces_the_nodes_set() {
    let mut control = shard(0, 1);
    report(
        &mut control,
        1_000,
        "a",
        &[ban("192.0.2.1", "scanner"), ban("192.0.2.2", "flood")],
    );
    let body = report(
        &mut control,
        2_000,
        "a",
        &[ban("192.0.2.2", "flood"), ban("192.0.2.3", "flood")],
    );
    assert_eq!(body["accepted"], 2);
    let active = view(&mut control, 2_000, "active");
    assert_eq!(ips(&active), ["192.0.2.2", "192.0.2.3"]);
    assert_eq!(
        active[0]["firstSeen"], 1_000,
        "a ban still reported keeps its first sighting"
    );
    assert_eq!(active[0]["lastSeen"], 2_000);
    let expired = view(&mut control, 2_000, "expired");
    assert_eq!(
        ips(&expired),
        ["192.0.2.1"],
        "absent from the new snapshot: ended"
    );
    assert_eq!(expired[0]["endedAt"], 2_000);
    // The same snapshot again logs nothing but the report time.
    let decision = control.decide(
        Millis(3_000),
        0,
        &Call::SecurityReport(Box::new(Report {
            node: "a".into(),
            ts: None,
            bans: vec![ban("192.0.2.2", "flood"), ban("192.0.2.3", "flood")],
        })),
    );
    assert_eq!(
        decision.events,
        [Event::BanReport {
            node: "a".into(),
            at: Millis(3_000),
            upsert: Vec::new(),
            ended: Vec::new()
        }]
    );
    // An empty snapshot ends everything.
    report(&mut control, 4_000, "a", &[]);
    assert!(view(&mut control, 4_000, "active").is_empty());
    assert_eq!(view(&mut control, 4_000, "all").len(), 3);
}

#[test]
fn big_reports_are_logged_in_bounded_chunks() {
    let mut control = shard(0, 1);
    let bans: Vec<ReportedBan> = (0..250)
        .map(|n| ban(&format!("10.0.{}.{}", n / 200, n % 200), "flood"))
        .collect();
    let call = Call::SecurityReport(Box::new(Report {
        node: "a".into(),
        ts: Some(5),
        bans,
    }));
    let decision = control.execute(Millis(1), 0, &call);
    assert_eq!(decision.events.len(), 3);
    for event in &decision.events {
        let Event::BanReport { upsert, .. } = event else {
            panic!("{event:?}")
        };
        assert!(upsert.len() <= BAN_ROWS_PER_EVENT);
    }
    assert_eq!(control.security().rows(), 250);
    let decision = control.execute(
        Millis(2),
        0,
        &Call::SecurityReport(Box::new(Report {
            node: "a".into(),
            ts: None,
            bans: Vec::new(),
        })),
    );
    assert_eq!(decision.events.len(), 3, "250 ended IPs: three chunks too");
    assert_eq!(control.security().rows(), 0);
}

#[test]
fn a_node_silent_for_three_periods_has_stale_bans() {
    let mut control = shard(0, 1);
    let period = control.config().security_report_period_ms;
    report(&mut control, 1_000, "quiet", &[ban("192.0.2.1", "scanner")]);
    report(&mut control, 1_000, "busy", &[ban("192.0.2.2", "scanner")]);
    let later = 1_000 + 3 * period;
    report(&mut control, later, "busy", &[ban("192.0.2.2", "scanner")]);
    assert_eq!(
        ips(&view(&mut control, later - 1, "active")),
        ["192.0.2.2", "192.0.2.1"]
    );
    assert_eq!(ips(&view(&mut control, later, "active")), ["192.0.2.2"]);
    let stale = view(&mut control, later, "stale");
    assert_eq!(
        (ips(&stale), &stale[0]["status"]),
        (vec!["192.0.2.1".to_string()], &Value::from("stale"))
    );
    report(
        &mut control,
        later + 1,
        "quiet",
        &[ban("192.0.2.1", "scanner")],
    );
    assert_eq!(
        view(&mut control, later + 1, "active").len(),
        2,
        "a report makes it active again"
    );
}

#[test]
fn the_allowlist_unbans_fleet_wide_and_reports_are_told() {
    let mut control = shard(0, 1);
    report(
        &mut control,
        1_000,
        "a",
        &[ban("203.0.113.9", "scanner"), ban("203.0.113.50", "flood")],
    );
    report(&mut control, 1_000, "b", &[ban("203.0.113.9", "scanner")]);
    let (status, body) = allow(&mut control, 2_000, "203.0.113.0/28");
    assert_eq!(
        (status, &body["unbanned"]),
        (201, &serde_json::json!(["203.0.113.9"]))
    );
    assert_eq!(body["entry"]["cidr"], "203.0.113.0/28");
    assert_eq!(ips(&view(&mut control, 2_000, "active")), ["203.0.113.50"]);
    let expired = view(&mut control, 2_000, "expired");
    assert_eq!(expired[0]["allowlisted"], true);
    assert_eq!(expired[0]["flags"], serde_json::json!(["multi_node"]));
    // The nodes still report it: told to unban, never stored again.
    let body = report(
        &mut control,
        3_000,
        "a",
        &[ban("203.0.113.9", "scanner"), ban("203.0.113.50", "flood")],
    );
    assert_eq!(body["unban"], serde_json::json!(["203.0.113.9"]));
    assert_eq!(body["allow"], serde_json::json!(["203.0.113.0/28"]));
    assert_eq!(body["accepted"], 1);
    assert!(view(&mut control, 3_000, "active")
        .iter()
        .all(|e| e["ip"] != "203.0.113.9"));
    // Again: 200, the note changes, nothing else.
    let (status, body) = run(
        &mut control,
        4_000,
        Call::AllowAdd {
            net: net("203.0.113.0/28"),
            note: None,
        },
    );
    assert_eq!(
        (status, &body["entry"]["note"], &body["entry"]["createdAt"]),
        (200, &"test".into(), &2_000.into())
    );
    // Removed: the next report's ban of it is a ban again, and a repeat.
    let (status, body) = run(
        &mut control,
        5_000,
        Call::AllowDelete {
            net: net("203.0.113.0/28"),
        },
    );
    assert_eq!(
        (status, &body["removed"]["ip"]),
        (200, &"203.0.113.0/28".into())
    );
    let (status, body) = run(
        &mut control,
        5_000,
        Call::AllowDelete {
            net: net("203.0.113.0/28"),
        },
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let body = report(&mut control, 6_000, "a", &[ban("203.0.113.9", "scanner")]);
    assert_eq!(body["unban"], serde_json::json!([]));
    let active = view(&mut control, 6_000, "active");
    assert_eq!(ips(&active), ["203.0.113.9"]);
    assert_eq!(active[0]["flags"], serde_json::json!(["repeat"]));
}

#[test]
fn deleting_an_address_covered_by_a_network_says_so() {
    let mut control = shard(0, 1);
    allow(&mut control, 1, "10.0.0.0/8");
    let (status, body) = run(
        &mut control,
        2,
        Call::AllowDelete {
            net: net("10.1.2.3"),
        },
    );
    assert_eq!(status, 404);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("covered by 10.0.0.0/8"));
    let (_, list) = run(&mut control, 3, Call::AllowList);
    assert_eq!(list["total"], 1);
    assert_eq!(list["allow"][0]["ip"], "10.0.0.0/8");
}

#[test]
fn ipv6_bans_and_networks_work_alike() {
    let mut control = shard(0, 1);
    report(
        &mut control,
        10,
        "a",
        &[ban("2001:db8::5", "flood"), ban("2001:db8:1::5", "flood")],
    );
    let (_, body) = allow(&mut control, 20, "2001:db8::/48");
    assert_eq!(body["unbanned"], serde_json::json!(["2001:db8::5"]));
    assert_eq!(ips(&view(&mut control, 20, "active")), ["2001:db8:1::5"]);
}

#[test]
fn a_new_node_past_the_cap_replaces_the_stalest_stale_one() {
    let mut control = shard(0, 1);
    let period = control.config().security_report_period_ms;
    for n in 0..SECURITY_NODES_MAX {
        report(
            &mut control,
            n as u64,
            &format!("n{n}"),
            &[ban("192.0.2.1", "scanner")],
        );
    }
    let call = |node: &str| {
        Call::SecurityReport(Box::new(Report {
            node: node.into(),
            ts: None,
            bans: Vec::new(),
        }))
    };
    let (status, body) = run(&mut control, 1_000, call("new"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("capacity"))
    );
    let later = 3 * period;
    let (status, _) = run(&mut control, later, call("new"));
    assert_eq!(status, 200);
    assert!(
        !control.security().nodes().contains_key("n0"),
        "the oldest stale node goes"
    );
    assert_eq!(control.security().nodes().len(), SECURITY_NODES_MAX);
}

#[test]
fn snapshots_keep_bans_history_and_allowlist() {
    let mut original = shard(0, 2);
    report(
        &mut original,
        1_000,
        "a",
        &[ban("192.0.2.1", "scanner"), ban("192.0.2.2", "flood")],
    );
    report(&mut original, 1_500, "b", &[]);
    report(&mut original, 2_000, "a", &[ban("192.0.2.2", "flood")]);
    allow(&mut original, 3_000, "198.51.100.0/24");
    allow(&mut original, 3_000, "2001:db8::1");
    let rows: Vec<ReportedBan> = (0..150)
        .map(|n| ban(&format!("10.9.0.{n}"), "flood"))
        .collect();
    report(&mut original, 4_000, "c", &rows);
    let mut rebuilt = shard(0, 2);
    for event in original.image() {
        rebuilt.apply(&event);
    }
    assert_eq!(
        rebuilt.image(),
        original.image(),
        "an image is a fixed point"
    );
    assert_eq!(rebuilt.security(), original.security());
    assert_eq!(
        view(&mut rebuilt, 5_000, "all"),
        view(&mut original, 5_000, "all")
    );
    assert_eq!(rebuilt.clock_floor(), Millis(4_000));
    // Another shard gets the allowlist (and only that) from the directory.
    let mut other = shard(1, 2);
    for event in original.directory_image() {
        other.apply(&event);
    }
    assert_eq!(
        other.security().allowlist(),
        original.security().allowlist()
    );
    assert!(other.security().nodes().is_empty());
    assert!(other
        .image()
        .iter()
        .all(|e| !e.is_directory() && !e.is_control_state()));
    assert_eq!(
        other.clock_floor(),
        Millis(0),
        "broadcast events do not move its clock"
    );
}

/// A failed digest from `source` for an unknown realm.
fn bad_auth(source: &str) -> Call {
    let fields = DigestFields {
        username: "1001".into(),
        realm: "nowhere.test".into(),
        nonce: "n".into(),
        uri: "sip:nowhere.test".into(),
        response: "0".repeat(32),
        qop: None,
        nc: None,
        cnonce: None,
        algorithm: None,
        opaque: None,
    };
    Call::Auth(Box::new(AuthRequest {
        method: "REGISTER".into(),
        realm: "nowhere.test".into(),
        fields: Some(fields),
        algorithm: Algorithm::Md5,
        username: Some("1001".into()),
        source_ip: ip(source),
    }))
}

#[test]
fn sources_over_the_auth_threshold_on_any_shard_are_flagged() {
    let mut config = ShardConfig::new(0, 2, NonceKey([7; 32]));
    config.auth_fail_threshold = 3;
    let mut control = Shard::new(config.clone());
    let mut other = Shard::new(ShardConfig { id: 1, ..config });
    // On the control shard: its own counters.
    for t in 0..3 {
        let decision = control.execute(Millis(1_000 + t), 0, &bad_auth("192.0.2.7"));
        assert!(decision.events.iter().all(|e| !e.is_broadcast()));
    }
    assert_eq!(run(&mut control, 1_010, bad_auth("192.0.2.7")).0, 429);
    // On another shard: the failure that reaches the threshold is broadcast.
    for t in 0..3 {
        let decision = other.execute(Millis(2_000 + t), 0, &bad_auth("2001:db8::7"));
        let flagged: Vec<_> = decision
            .events
            .iter()
            .filter(|e| e.is_broadcast())
            .collect();
        assert_eq!(flagged.len(), usize::from(t == 2), "{:?}", decision.events);
        for event in flagged {
            control.apply(event);
        }
    }
    let active = view(&mut control, 2_010, "active");
    assert_eq!(ips(&active), ["2001:db8::7", "192.0.2.7"]);
    assert_eq!(active[0]["reasons"], serde_json::json!(["auth_fail"]));
    assert_eq!(active[0]["flags"], serde_json::json!(["auth_fail"]));
    assert_eq!(
        (&active[0]["hits"], &active[0]["expiresAt"]),
        (&3.into(), &62_000.into())
    );
    assert_eq!(active[1]["nodes"], serde_json::json!([]));
    // A node ban of a flagged source: one entry, flagged for both.
    report(
        &mut control,
        2_020,
        "edge",
        &[ban("2001:db8::7", "scanner")],
    );
    let active = view(&mut control, 2_020, "active");
    assert_eq!(
        active[0]["reasons"],
        serde_json::json!(["auth_fail", "scanner"])
    );
    assert_eq!(active[0]["hits"], 4);
    // Once the window has passed, no longer.
    assert_eq!(ips(&view(&mut control, 62_000, "active")), ["2001:db8::7"]);
    assert_eq!(
        view(&mut control, 62_000, "active")[0]["flags"],
        serde_json::json!([])
    );
    // A restarted control shard learns the other shard's sources again.
    let mut restarted = Shard::new(control.config().clone());
    for event in control.image() {
        restarted.apply(&event);
    }
    for event in other.call_index_image() {
        restarted.apply(&event);
    }
    assert_eq!(
        view(&mut restarted, 2_030, "active"),
        view(&mut control, 2_030, "active")
    );
}

#[test]
fn allowlisted_sources_are_never_rate_limited_nor_counted() {
    let mut config = ShardConfig::new(1, 2, NonceKey([7; 32]));
    config.auth_fail_threshold = 2;
    let mut other = Shard::new(config.clone());
    let mut control = Shard::new(ShardConfig { id: 0, ..config });
    let decision = control.execute(
        Millis(1),
        0,
        &Call::AllowAdd {
            net: net("192.0.2.0/24"),
            note: None,
        },
    );
    for event in decision.events.iter().filter(|e| e.is_broadcast()) {
        other.apply(event);
    }
    for t in 0..5 {
        let (status, _) = run(&mut other, 10 + t, bad_auth("192.0.2.9"));
        assert_eq!(status, 401);
    }
    assert!(other.auth_failures().is_empty());
    for t in 0..2 {
        run(&mut other, 20 + t, bad_auth("198.51.100.9"));
    }
    assert_eq!(run(&mut other, 30, bad_auth("198.51.100.9")).0, 429);
}

#[test]
fn ended_bans_go_to_the_history_and_the_index_follows() {
    let mut security = Security::default();
    let row = |addr: &str, first_seen: u64| BanRow {
        ip: ip(addr).into(),
        reason: "scanner".into(),
        hits: 1,
        since: None,
        expires_at: None,
        first_seen: Millis(first_seen),
    };
    security.report(
        "a",
        Millis(10),
        &[row("192.0.2.1", 10), row("192.0.2.2", 10)],
        &[],
    );
    security.report("b", Millis(11), &[row("192.0.2.1", 11)], &[]);
    assert_eq!(security.rows(), 3);
    security.report("a", Millis(20), &[], &[ip("192.0.2.1").into()]);
    assert_eq!(security.rows(), 2);
    assert_eq!(security.history().len(), 1);
    assert_eq!(security.history()[0].ended_at, Millis(20));
    assert_eq!(security.nodes()["a"].last_report, Millis(20));
    let lab = net("192.0.2.0/24");
    assert_eq!(security.covered(&lab).len(), 2);
    security.allow(lab, "lab", Millis(30));
    assert_eq!(security.rows(), 0, "allowlisting ends every ban it covers");
    assert!(security.by_ip.is_empty());
    assert_eq!(security.history().len(), 3);
    security.report("c", Millis(40), &[row("198.51.100.1", 40)], &[]);
    security.forget("c", Millis(50));
    assert!(!security.nodes().contains_key("c"));
    assert_eq!(security.history().back().unwrap().ended_at, Millis(50));
    for n in 0..(crate::limits::BAN_HISTORY_MAX + 5) {
        security.remember(EndedBan {
            node: "a".into(),
            row: row("192.0.2.1", n as u64),
            ended_at: Millis(n as u64),
        });
    }
    assert_eq!(security.history().len(), crate::limits::BAN_HISTORY_MAX);
    assert_eq!(
        security.history().back().unwrap().ended_at.0 as usize,
        crate::limits::BAN_HISTORY_MAX + 4
    );
}

#[test]
fn status_orders_active_before_stale_before_expired() {
    assert!(Status::Active < Status::Stale && Status::Stale < Status::Expired);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn allowlist_ignored_keeps_the_bans_of_allowlisted_ips() {
    use crate::planted::{plant, Bug};
    let outcome = |bug: Option<Bug>| {
        plant(bug);
        let mut control = shard(0, 1);
        allow(&mut control, 1, "192.0.2.0/24");
        let body = report(&mut control, 2, "a", &[ban("192.0.2.1", "scanner")]);
        plant(None);
        (body["unban"].clone(), control.security().rows())
    };
    assert_eq!(outcome(None), (serde_json::json!(["192.0.2.1"]), 0));
    assert_eq!(
        outcome(Some(Bug::AllowlistIgnored)),
        (serde_json::json!(["192.0.2.1"]), 1),
        "the planted bug stores the ban"
    );
}
