//! `/security/*` against the real binary: ban snapshots per node, the
//! merged view and its filters, stale nodes, the flagged rules (2+ nodes,
//! again within 24 h, /auth failures on either core), the allowlist
//! (IPv4/IPv6 addresses and CIDRs, unbanning fleet-wide, exempting /auth),
//! every error naming its field, and a restart (and re-partition) keeping
//! it all.

use serde_json::{json, Value};
use sipbrain_tests::{
    client_on_each_shard, temp_dir, Client, Reply, Server, ADMIN_TOKEN, EDGE_TOKEN,
};

const EDGE: [(&str, &str); 1] = [("x-edge-token", EDGE_TOKEN)];
const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

fn report(client: &mut Client, node: &str, bans: Value) -> Value {
    let reply = client.request(
        "POST",
        "/security/report",
        &EDGE,
        Some(&json!({"node": node, "ts": 1, "bans": bans})),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    reply.json()
}

fn bans(client: &mut Client, query: &str) -> Value {
    let reply = client.request("GET", &format!("/security/bans{query}"), &ADMIN, None);
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    reply.json()
}

fn ips(view: &Value) -> Vec<String> {
    view["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ip"].as_str().unwrap().to_string())
        .collect()
}

fn entry(view: &Value, ip: &str) -> Value {
    view["bans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["ip"] == ip)
        .unwrap_or_else(|| panic!("{ip} not in {view}"))
        .clone()
}

fn allow(client: &mut Client, ip: &str) -> Reply {
    client.request(
        "POST",
        "/security/allow",
        &ADMIN,
        Some(&json!({"ip": ip, "note": "test"})),
    )
}

/// A form post, as Kamailio's http_client sends it.
fn form(client: &mut Client, path: &str, body: &str) -> Reply {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.send_raw(head.as_bytes());
    client.send_raw(body.as_bytes());
    client.read_reply()
}

fn error(reply: &Reply) -> (u16, String, String) {
    let body = reply.json();
    (
        reply.status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
        body["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_report_replaces_the_nodes_snapshot_and_the_view_merges_nodes() {
    let server = Server::demo(&["--shards", "2"]);
    let mut clients = client_on_each_shard(&server);
    let answer = report(
        &mut clients[0],
        "edge-1",
        json!([{"ip": "203.0.113.9", "reason": "auth_fail", "hits": 12},
               {"ip": "203.0.113.10", "reason": "scanner", "expiresAt": 4102444800000u64}]),
    );
    assert_eq!(
        answer,
        json!({"ok": true, "unban": [], "allow": [], "accepted": 2})
    );
    // The other node posts a form (`bans` as a JSON string) on the other core.
    let reply = form(
        &mut clients[1],
        "/security/report",
        "node=edge-2&bans=%5B%7B%22ip%22%3A%22203.0.113.9%22%2C%22reason%22%3A%22flood%22%7D%5D",
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let view = bans(&mut clients[1], "");
    assert_eq!(view["total"], 2);
    let merged = entry(&view, "203.0.113.9");
    assert_eq!(merged["nodes"], json!(["edge-1", "edge-2"]));
    assert_eq!(merged["reasons"], json!(["auth_fail", "flood"]));
    assert_eq!(
        (merged["hits"].as_u64(), &merged["status"]),
        (Some(12), &json!("active"))
    );
    assert_eq!(
        (&merged["flagged"], &merged["flags"]),
        (&json!(true), &json!(["multi_node"]))
    );
    let single = entry(&view, "203.0.113.10");
    assert_eq!(single["expiresAt"], 4102444800000u64);
    assert_eq!(single["flagged"], false);
    // edge-1's new snapshot lacks .10: that ban ends; .9 keeps its first sighting.
    let first_seen = merged["firstSeen"].clone();
    report(
        &mut clients[0],
        "edge-1",
        json!([{"ip": "203.0.113.9", "reason": "auth_fail", "hits": 20}]),
    );
    let view = bans(&mut clients[0], "");
    assert_eq!(ips(&view), ["203.0.113.9"]);
    assert_eq!(entry(&view, "203.0.113.9")["firstSeen"], first_seen);
    assert_eq!(entry(&view, "203.0.113.9")["hits"], 20);
    let expired = bans(&mut clients[0], "?status=expired");
    assert_eq!(ips(&expired), ["203.0.113.10"]);
    assert_eq!(entry(&expired, "203.0.113.10")["status"], "expired");
    assert!(entry(&expired, "203.0.113.10")["endedAt"].is_u64());
    assert_eq!(bans(&mut clients[0], "?status=all")["total"], 2);
    // An already expired ban is listed as expired.
    report(
        &mut clients[0],
        "edge-3",
        json!([{"ip": "2001:db8::9", "reason": "flood", "expiresAt": 1000}]),
    );
    assert_eq!(
        entry(&bans(&mut clients[0], "?status=expired"), "2001:db8::9")["endedAt"],
        1000
    );
}

#[test]
fn the_view_filters_limits_and_counts() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let many: Vec<Value> = (1..=30)
        .map(|n| json!({"ip": format!("198.51.100.{n}"), "reason": if n % 3 == 0 { "Flood" } else { "scanner" }}))
        .collect();
    report(&mut client, "edge-1", json!(many));
    report(
        &mut client,
        "edge-2",
        json!([{"ip": "2001:db8::1", "reason": "scanner"}, {"ip": "198.51.100.1", "reason": "scanner"}]),
    );
    let page = bans(&mut client, "?limit=5");
    assert_eq!((page["total"].as_u64(), ips(&page).len()), (Some(31), 5));
    assert_eq!(
        ips(&page)[0],
        "198.51.100.1",
        "edge-2 reported last: most recent first"
    );
    assert_eq!(
        bans(&mut client, "")["bans"].as_array().unwrap().len(),
        31,
        "default limit 100"
    );
    let flood = bans(&mut client, "?q=flood");
    assert_eq!(flood["total"], 10, "a reason substring, any case");
    assert_eq!(
        bans(&mut client, "?q=2001%3Adb8")["total"],
        1,
        "an address prefix"
    );
    assert_eq!(bans(&mut client, "?q=198.51.100.2")["total"], 11);
    let flagged = bans(&mut client, "?flagged=1");
    assert_eq!(ips(&flagged), ["198.51.100.1"]);
    assert_eq!(bans(&mut client, "?flagged=0")["total"], 30);
    assert_eq!(bans(&mut client, "?status=stale")["total"], 0);
    assert_eq!(bans(&mut client, "?status=expired&q=198")["total"], 0);
}

#[test]
fn a_node_silent_for_three_periods_goes_stale() {
    let server = Server::demo(&["--security-report-period-sec", "1"]);
    let mut client = server.client();
    report(
        &mut client,
        "quiet",
        json!([{"ip": "192.0.2.1", "reason": "scanner"}]),
    );
    report(
        &mut client,
        "busy",
        json!([{"ip": "192.0.2.2", "reason": "scanner"}]),
    );
    assert_eq!(bans(&mut client, "")["total"], 2);
    std::thread::sleep(std::time::Duration::from_millis(3_200));
    report(
        &mut client,
        "busy",
        json!([{"ip": "192.0.2.2", "reason": "scanner"}]),
    );
    assert_eq!(ips(&bans(&mut client, "")), ["192.0.2.2"]);
    let stale = bans(&mut client, "?status=stale");
    assert_eq!(ips(&stale), ["192.0.2.1"]);
    assert_eq!(entry(&stale, "192.0.2.1")["status"], "stale");
    assert_eq!(bans(&mut client, "?status=all")["total"], 2);
    report(
        &mut client,
        "quiet",
        json!([{"ip": "192.0.2.1", "reason": "scanner"}]),
    );
    assert_eq!(
        bans(&mut client, "")["total"],
        2,
        "it reported again: active"
    );
}

#[test]
fn a_ban_again_within_a_day_is_flagged() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    report(
        &mut client,
        "edge-1",
        json!([{"ip": "192.0.2.5", "reason": "flood"}]),
    );
    assert_eq!(entry(&bans(&mut client, ""), "192.0.2.5")["flagged"], false);
    report(&mut client, "edge-1", json!([]));
    assert_eq!(bans(&mut client, "")["total"], 0);
    report(
        &mut client,
        "edge-1",
        json!([{"ip": "192.0.2.5", "reason": "flood"}]),
    );
    let again = entry(&bans(&mut client, ""), "192.0.2.5");
    assert_eq!(
        (&again["flagged"], &again["flags"]),
        (&json!(true), &json!(["repeat"]))
    );
}

/// A digest that fails (unknown realm), from `source`.
fn failed_auth(client: &mut Client, source: &str) -> u16 {
    let body = json!({"method": "REGISTER", "username": "1001", "realm": "nowhere.example",
        "nonce": "abc", "uri": "sip:nowhere.example", "response": "0".repeat(32), "sourceIp": source});
    client.request("POST", "/auth", &EDGE, Some(&body)).status
}

#[test]
fn sources_over_the_auth_failure_threshold_are_flagged_from_either_core() {
    let server = Server::demo(&["--shards", "2", "--auth-fail-threshold", "3"]);
    let mut clients = client_on_each_shard(&server);
    // An unknown realm is decided by the accepting core: one source fails
    // on the control core, another on the other core.
    for (core, source) in [(0, "192.0.2.30"), (1, "2001:db8::30")] {
        for _ in 0..3 {
            assert_eq!(failed_auth(&mut clients[core], source), 401);
        }
        assert_eq!(failed_auth(&mut clients[core], source), 429);
    }
    assert_eq!(
        failed_auth(&mut clients[0], "192.0.2.31"),
        401,
        "two sources, not one"
    );
    let view = bans(&mut clients[1], "?flagged=1");
    assert_eq!(view["total"], 2, "{view}");
    for source in ["192.0.2.30", "2001:db8::30"] {
        let flagged = entry(&view, source);
        assert_eq!(flagged["reasons"], json!(["auth_fail"]));
        assert_eq!(flagged["flags"], json!(["auth_fail"]));
        assert_eq!(
            (&flagged["status"], &flagged["hits"]),
            (&json!("active"), &json!(3))
        );
        assert_eq!(flagged["nodes"], json!([]));
        assert!(flagged["expiresAt"].as_u64().unwrap() > flagged["lastSeen"].as_u64().unwrap());
    }
    // A node's ban of the same source merges into that entry.
    report(
        &mut clients[0],
        "edge-1",
        json!([{"ip": "2001:db8::30", "reason": "scanner", "hits": 2}]),
    );
    let merged = entry(&bans(&mut clients[0], "?q=2001"), "2001:db8::30");
    assert_eq!(
        (&merged["reasons"], &merged["hits"]),
        (&json!(["auth_fail", "scanner"]), &json!(5))
    );
}

#[test]
fn the_allowlist_unbans_fleet_wide_and_tells_every_node() {
    let server = Server::demo(&["--shards", "2"]);
    let mut clients = client_on_each_shard(&server);
    report(
        &mut clients[0],
        "edge-1",
        json!([{"ip": "203.0.113.7", "reason": "scanner"}, {"ip": "198.51.100.7", "reason": "flood"}]),
    );
    report(
        &mut clients[1],
        "edge-2",
        json!([{"ip": "203.0.113.7", "reason": "scanner"}, {"ip": "2001:db8:1::7", "reason": "flood"}]),
    );
    let added = allow(&mut clients[1], "203.0.113.0/24");
    assert_eq!(added.status, 201, "{:?}", added.json());
    let body = added.json();
    assert_eq!(body["unbanned"], json!(["203.0.113.7"]));
    assert_eq!(body["entry"]["ip"], "203.0.113.0/24");
    assert_eq!(body["entry"]["cidr"], "203.0.113.0/24");
    assert_eq!(body["entry"]["note"], "test");
    assert_eq!(
        allow(&mut clients[0], "203.0.113.0/24").status,
        200,
        "already there"
    );
    let v6 = allow(&mut clients[0], "2001:DB8:1::/48");
    assert_eq!(v6.json()["unbanned"], json!(["2001:db8:1::7"]));
    let host = allow(&mut clients[0], "::ffff:192.0.2.44");
    assert_eq!(
        (
            host.json()["entry"]["ip"].clone(),
            host.json()["entry"]["cidr"].clone()
        ),
        (json!("192.0.2.44"), json!("192.0.2.44/32"))
    );
    let view = bans(&mut clients[0], "?status=all");
    assert_eq!(ips(&bans(&mut clients[0], "")), ["198.51.100.7"]);
    let ended = entry(&view, "203.0.113.7");
    assert_eq!(
        (&ended["status"], &ended["allowlisted"]),
        (&json!("expired"), &json!(true))
    );
    // Every node still banning it is told so in its next answer, and its
    // ban is not stored again.
    for (core, node) in [(0, "edge-1"), (1, "edge-2")] {
        let answer = report(
            &mut clients[core],
            node,
            json!([{"ip": "203.0.113.7", "reason": "scanner"}, {"ip": "198.51.100.7", "reason": "flood"}]),
        );
        assert_eq!(answer["unban"], json!(["203.0.113.7"]));
        assert_eq!(
            answer["allow"],
            json!(["192.0.2.44/32", "203.0.113.0/24", "2001:db8:1::/48"])
        );
        assert_eq!(answer["accepted"], 1);
    }
    assert!(!ips(&bans(&mut clients[1], "")).contains(&"203.0.113.7".to_string()));
    let list = clients[1]
        .request("GET", "/security/allow", &ADMIN, None)
        .json();
    assert_eq!(list["total"], 3);
    assert_eq!(
        list["allow"][1],
        json!({"ip": "203.0.113.0/24", "cidr": "203.0.113.0/24", "note": "test", "createdAt": body["entry"]["createdAt"]})
    );
    // Removed (percent-encoded, or not): bans of it count again.
    let removed = clients[0].request("DELETE", "/security/allow/203.0.113.0%2F24", &ADMIN, None);
    assert_eq!(removed.status, 200, "{:?}", removed.json());
    assert_eq!(removed.json()["removed"]["cidr"], "203.0.113.0/24");
    let removed = clients[1].request("DELETE", "/security/allow/2001:db8:1::/48", &ADMIN, None);
    assert_eq!(removed.status, 200);
    let removed = clients[1].request("DELETE", "/security/allow/192.0.2.44", &ADMIN, None);
    assert_eq!(removed.status, 200);
    let answer = report(
        &mut clients[0],
        "edge-1",
        json!([{"ip": "203.0.113.7", "reason": "scanner"}]),
    );
    assert_eq!(
        (&answer["unban"], &answer["allow"]),
        (&json!([]), &json!([]))
    );
    let again = entry(&bans(&mut clients[0], ""), "203.0.113.7");
    assert_eq!(
        again["flags"],
        json!(["repeat"]),
        "banned again within 24 h of the unban"
    );
}

#[test]
fn allowlisted_sources_are_not_rate_limited_on_auth() {
    let server = Server::demo(&["--shards", "2", "--auth-fail-threshold", "2"]);
    let mut clients = client_on_each_shard(&server);
    assert_eq!(allow(&mut clients[0], "192.0.2.0/28").status, 201);
    for client in clients.iter_mut() {
        for _ in 0..4 {
            assert_eq!(
                failed_auth(client, "192.0.2.9"),
                401,
                "allowlisted: never 429"
            );
        }
    }
    assert_eq!(bans(&mut clients[0], "?flagged=1")["total"], 0);
    for _ in 0..2 {
        failed_auth(&mut clients[1], "192.0.2.99");
    }
    assert_eq!(
        failed_auth(&mut clients[1], "192.0.2.99"),
        429,
        "outside the network"
    );
}

#[test]
fn bad_input_gets_a_4xx_naming_the_field() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let post = |client: &mut Client, path: &str, headers: &[(&str, &str)], body: Value| {
        client.request("POST", path, headers, Some(&body))
    };
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            post(&mut client, "/security/report", &EDGE, json!({"bans": []})),
            400,
            "`node`",
        ),
        (
            post(&mut client, "/security/report", &EDGE, json!({"node": "e"})),
            400,
            "`bans`",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": {}}),
            ),
            400,
            "`bans`",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": [{"reason": "x"}]}),
            ),
            400,
            "`bans[0].ip`",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": [{"ip": "192.0.2.1"}]}),
            ),
            400,
            "`bans[0].reason`",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": [{"ip": "192.0.2.1", "reason": "x"}, {"ip": "300.1.1.1", "reason": "x"}]}),
            ),
            422,
            "bans[1].ip",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": [{"ip": "192.0.2.0/24", "reason": "x"}]}),
            ),
            422,
            "bans[0].ip",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": [{"ip": "192.0.2.1", "reason": "x", "hits": "many"}]}),
            ),
            422,
            "bans[0].hits",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "bans": [{"ip": "192.0.2.1", "reason": "r".repeat(65)}]}),
            ),
            422,
            "bans[0].reason",
        ),
        (
            post(
                &mut client,
                "/security/report",
                &EDGE,
                json!({"node": "e", "ts": -5, "bans": []}),
            ),
            422,
            "ts",
        ),
        (
            post(&mut client, "/security/allow", &ADMIN, json!({})),
            400,
            "`ip`",
        ),
        (
            post(
                &mut client,
                "/security/allow",
                &ADMIN,
                json!({"ip": "10.0.0.1/8"}),
            ),
            422,
            "ip: host bits are set; the network is 10.0.0.0/8",
        ),
        (
            post(
                &mut client,
                "/security/allow",
                &ADMIN,
                json!({"ip": "10.0.0.0/33"}),
            ),
            422,
            "ip:",
        ),
        (
            post(
                &mut client,
                "/security/allow",
                &ADMIN,
                json!({"ip": "2001:db8::/129"}),
            ),
            422,
            "ip:",
        ),
        (
            post(
                &mut client,
                "/security/allow",
                &ADMIN,
                json!({"ip": "not-an-ip"}),
            ),
            422,
            "ip:",
        ),
        (
            post(
                &mut client,
                "/security/allow",
                &ADMIN,
                json!({"ip": "10.0.0.1", "note": "n".repeat(257)}),
            ),
            422,
            "note",
        ),
        (
            client.request("GET", "/security/bans?status=gone", &ADMIN, None),
            422,
            "status",
        ),
        (
            client.request("GET", "/security/bans?limit=0", &ADMIN, None),
            422,
            "limit",
        ),
        (
            client.request("GET", "/security/bans?limit=1001", &ADMIN, None),
            422,
            "limit",
        ),
        (
            client.request("GET", "/security/bans?limit=many", &ADMIN, None),
            400,
            "limit",
        ),
        (
            client.request("GET", "/security/bans?flagged=perhaps", &ADMIN, None),
            400,
            "flagged",
        ),
        (
            client.request("DELETE", "/security/allow/10.0.0.300", &ADMIN, None),
            422,
            "ip:",
        ),
        (
            client.request("DELETE", "/security/allow/10.9.9.9", &ADMIN, None),
            404,
            "10.9.9.9 is not on the allowlist",
        ),
    ];
    for (reply, status, named) in cases {
        let (got, code, message) = error(&reply);
        assert_eq!(got, status, "{message} (wanted {named})");
        assert!(
            message.contains(named),
            "{code}: {message:?} should name {named:?}"
        );
        if status == 422 {
            assert!(
                reply.json()["path"].is_string(),
                "a 422 has a path: {:?}",
                reply.json()
            );
        }
    }
    // Over the cap of bans per report.
    let many: Vec<Value> = (0..10_001)
        .map(|n| json!({"ip": format!("10.{}.{}.1", n / 256, n % 256), "reason": "x"}))
        .collect();
    let (status, _, message) = error(&post(
        &mut client,
        "/security/report",
        &EDGE,
        json!({"node": "e", "bans": many}),
    ));
    assert_eq!((status, message.contains("bans")), (422, true), "{message}");
    // Wrong method, wrong content type, no token.
    let wrong = client.request("GET", "/security/report", &EDGE, None);
    assert_eq!((wrong.status, wrong.header("allow")), (405, Some("POST")));
    let wrong = client.request("PUT", "/security/allow", &ADMIN, Some(&json!({})));
    assert_eq!(
        (wrong.status, wrong.header("allow")),
        (405, Some("GET, POST"))
    );
    let head = format!(
        "POST /security/report HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi"
    );
    client.send_raw(head.as_bytes());
    assert_eq!(client.read_reply().status, 415);
    assert_eq!(
        client.request("GET", "/security/bans", &EDGE, None).status,
        401
    );
    assert_eq!(
        client
            .request("POST", "/security/report", &ADMIN, Some(&json!({})))
            .status,
        401
    );
}

#[test]
fn bans_history_and_allowlist_survive_a_restart_and_a_repartition() {
    let dir = temp_dir("security-restart");
    let args = |shards: &'static str| -> Vec<&'static str> {
        vec![
            "--demo",
            "--admin-token",
            ADMIN_TOKEN,
            "--edge-token",
            EDGE_TOKEN,
            "--shards",
            shards,
        ]
    };
    let server = Server::start_in(&dir, &args("2"));
    let mut client = server.client();
    report(
        &mut client,
        "edge-1",
        json!([{"ip": "192.0.2.1", "reason": "scanner"}, {"ip": "192.0.2.2", "reason": "flood"}]),
    );
    report(
        &mut client,
        "edge-2",
        json!([{"ip": "192.0.2.1", "reason": "scanner"}]),
    );
    report(
        &mut client,
        "edge-1",
        json!([{"ip": "192.0.2.1", "reason": "scanner"}]),
    );
    assert_eq!(allow(&mut client, "2001:db8::/32").status, 201);
    let all = bans(&mut client, "?status=all");
    let listed = client
        .request("GET", "/security/allow", &ADMIN, None)
        .json();
    server.kill9();
    for shards in ["2", "1"] {
        let server = Server::start_in(&dir, &args(shards));
        let mut client = server.client();
        assert_eq!(
            bans(&mut client, "?status=all"),
            all,
            "after a restart with {shards} shard(s)"
        );
        assert_eq!(
            client
                .request("GET", "/security/allow", &ADMIN, None)
                .json(),
            listed
        );
        // The allowlist reached every core again: /auth never rate-limits it.
        let answer = report(
            &mut client,
            "edge-3",
            json!([{"ip": "2001:db8::5", "reason": "x"}]),
        );
        assert_eq!(answer["unban"], json!(["2001:db8::5"]));
        report(&mut client, "edge-3", json!([]));
        server.terminate();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
