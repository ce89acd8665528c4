//! POST /route, GET /cac, POST /cac/reset, POST /admin/route/explain and
//! GET /calls/{callId}/trace against the real binary (demo data).

use serde_json::{json, Value};
use sipbrain_tests::calls::{active_ids, trace};
use sipbrain_tests::client_on_each_shard;
use sipbrain_tests::demo::*;
use sipbrain_tests::{Client, Reply, Server, ADMIN_TOKEN, EDGE_TOKEN};

const EDGE: [(&str, &str); 1] = [("x-edge-token", EDGE_TOKEN)];
const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

fn route(client: &mut Client, body: Value) -> Reply {
    client.request("POST", "/route", &EDGE, Some(&body))
}

/// `/route` answering 200: its `rtjson`.
fn routed(client: &mut Client, body: Value) -> Value {
    let reply = route(client, body);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let json = reply.json();
    assert_eq!(json["ok"], true);
    json["rtjson"].clone()
}

/// The demo's main number follows office hours (America/New_York): take
/// its schedule off so that these tests do not depend on the hour they run.
fn open_all_hours(client: &mut Client) {
    let reply = client.request("GET", &format!("/admin/accounts/{ACME}"), &ADMIN, None);
    let mut doc = reply.json()["account"].clone();
    let did = &mut doc["dids"][0];
    assert_eq!(did["id"], "did_main");
    for field in ["schedule_id", "closed_dest_kind", "closed_dest_id"] {
        did.as_object_mut().unwrap().remove(field);
    }
    let put = client.request(
        "PUT",
        &format!("/admin/accounts/{ACME}"),
        &ADMIN,
        Some(&doc),
    );
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
}

fn presence(client: &mut Client, body: Value) -> Reply {
    client.request("POST", "/presence/event", &EDGE, Some(&body))
}

fn cac(client: &mut Client) -> Value {
    let reply = client.request("GET", &format!("/cac?accountId={ACME}"), &ADMIN, None);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

fn is_idle(cac: &Value) -> bool {
    let c = &cac["counters"];
    c["in"] == 0
        && c["out"] == 0
        && c["users"] == json!({})
        && c["dids"] == json!({})
        && c["trunks"] == json!({})
        && cac["active"] == json!([])
}

fn outbound_from_alice(call_id: &str) -> Value {
    json!({"callId": call_id, "from": ALICE, "fromDomain": ACME_REALM, "to": "+1 212 555 0100",
           "sourceIp": "198.51.100.7", "authUser": ALICE, "node": "edge-1"})
}

fn inbound_main(call_id: &str) -> Value {
    json!({"callId": call_id, "from": "14155550001", "fromDomain": "pstn.example",
           "to": "12025550123", "sourceIp": "192.0.2.50", "fromName": "Pat", "node": "edge-1"})
}

fn dialog(client: &mut Client, call_id: &str, state: &str) -> Reply {
    presence(
        client,
        json!({"type": "dialog", "callId": call_id, "state": state, "node": "edge-1"}),
    )
}

/// Percent-encodes a form value.
fn form_value(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Posts a form body (Kamailio's http_client default).
fn post_form(
    client: &mut Client,
    path: &str,
    token: (&str, &str),
    fields: &[(&str, &str)],
) -> Reply {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", form_value(v)))
        .collect();
    let body = body.join("&");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\n{}: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        token.0,
        token.1,
        body.len()
    );
    client.send_raw(format!("{head}{body}").as_bytes());
    client.read_reply()
}

#[test]
fn a_registered_contact_is_what_an_internal_call_rings() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = presence(
        &mut client,
        json!({"type": "register", "event": "registered", "username": ALICE, "realm": ACME_REALM,
               "aor": "sip:1001@acme.sip.io", "contact": "sip:1001@10.1.2.3:5060;ob",
               "received": "sip:198.51.100.7:40000", "expires": 300, "node": "edge-1"}),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["reachable"], true);
    let rtjson = routed(
        &mut client,
        json!({"callId": "int-1", "from": BOB, "fromDomain": ACME_REALM, "to": ALICE,
               "sourceIp": "198.51.100.8", "authUser": BOB}),
    );
    assert_eq!(rtjson["action"], "proxy", "{rtjson}");
    assert_eq!(rtjson["user_id"], "us_alice");
    assert_eq!(rtjson["aor"], "sip:1001@acme.sip.io");
    assert_eq!(rtjson["routing"], "parallel");
    assert_eq!(
        rtjson["routes"],
        json!([{"uri": "sip:1001@10.1.2.3:5060;ob", "dst_uri": "sip:198.51.100.7:40000",
                "fr_inv_timer": 25000}])
    );
    // Bob (unregistered, fwd_noanswer voicemail) from Alice: his voicemail.
    let rtjson = routed(
        &mut client,
        json!({"callId": "int-2", "from": ALICE, "fromDomain": ACME_REALM, "to": BOB,
               "sourceIp": "198.51.100.7", "authUser": ALICE}),
    );
    assert_eq!(rtjson["action"], "flow");
    assert_eq!(rtjson["flow_id"], "sys:voicemail:vm_main");
}

#[test]
fn a_retried_route_gets_the_same_decision_and_admits_once() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    open_all_hours(&mut client);
    let first = route(&mut client, outbound_from_alice("retry-1"));
    let second = route(&mut client, outbound_from_alice("retry-1"));
    assert_eq!(first.status, 200);
    assert_eq!(first.body, second.body, "the same bytes");
    let rtjson = first.json()["rtjson"].clone();
    assert_eq!(rtjson["action"], "outbound");
    assert_eq!(rtjson["carrier"], "trunk");
    assert_eq!(rtjson["trunk_id"], "tr_acme");
    assert_eq!(rtjson["dest"], "12125550100");
    assert_eq!(rtjson["cid_number"], "12025550124");
    let state = cac(&mut client);
    assert_eq!(state["counters"]["out"], 1);
    assert_eq!(state["counters"]["users"], json!({"us_alice": 1}));
    assert_eq!(state["counters"]["trunks"], json!({"tr_acme": 1}));
    assert_eq!(active_ids(&state), vec!["retry-1"]);
    assert_eq!(
        state["active"][0]["dims"],
        json!(["account_out", "user:us_alice", "trunk:tr_acme"])
    );
    let rate = state["rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "lim_out_minute")
        .unwrap()
        .clone();
    assert_eq!(rate["count"], 1, "one rate hit for two requests");
    // A retry with another body still gets the recorded decision.
    let other = routed(&mut client, inbound_main("retry-1"));
    assert_eq!(other, rtjson);
    assert_eq!(cac(&mut client)["counters"]["out"], 1);
    assert_eq!(cac(&mut client)["counters"]["in"], 0);
}

#[test]
fn an_inbound_did_call_gets_its_flow_with_vars() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    open_all_hours(&mut client);
    let rtjson = routed(&mut client, inbound_main("in-1"));
    assert_eq!(
        rtjson,
        json!({"action": "flow", "account_id": ACME, "flow_id": "flow_main",
               "vars": {"caller_cid": "14155550001", "caller_name": "Pat", "called": "12025550123",
                        "direction": "inbound", "did": "12025550123", "line": "main"}})
    );
    let state = cac(&mut client);
    assert_eq!(state["counters"]["in"], 1);
    assert_eq!(state["counters"]["dids"], json!({"did_main": 1}));
    // Anonymous to Alice's DID: 433, recorded, nothing admitted.
    let rtjson = routed(
        &mut client,
        json!({"callId": "in-anon", "from": "anonymous", "fromDomain": "anonymous.invalid",
               "to": "12025550124", "sourceIp": "192.0.2.50"}),
    );
    assert_eq!(
        rtjson,
        json!({"action": "reject", "code": 433, "reason": "Anonymity Disallowed",
               "detail": "anonymous_refused"})
    );
    assert_eq!(active_ids(&cac(&mut client)), vec!["in-1"]);
    let anon = trace(&mut client, "in-anon");
    assert_eq!(anon["cdr"]["disposition"], "rejected");
    assert_eq!(anon["cdr"]["hangup_cause"], "433");
    assert_eq!(anon["live"], false);
}

#[test]
fn a_call_confirmed_then_terminated_twice_releases_once_and_traces_in_order() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    open_all_hours(&mut client);
    routed(&mut client, inbound_main("life-1"));
    let confirmed = dialog(&mut client, "life-1", "confirmed");
    assert_eq!(confirmed.status, 200);
    assert_eq!(confirmed.json()["applied"], true);
    let again = dialog(&mut client, "life-1", "confirmed");
    assert_eq!(
        again.json()["applied"],
        false,
        "a duplicate changes nothing"
    );
    let live = trace(&mut client, "life-1");
    assert_eq!(live["live"], true);
    assert!(live["cdr"]["answer_ts"].as_u64().is_some());
    let first = dialog(&mut client, "life-1", "terminated");
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["applied"], true);
    let second = dialog(&mut client, "life-1", "terminated");
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["applied"], false);
    assert!(is_idle(&cac(&mut client)), "{}", cac(&mut client));
    let body = trace(&mut client, "life-1");
    assert_eq!(body["callId"], "life-1");
    assert_eq!(body["accountId"], ACME);
    assert_eq!(body["live"], false);
    let events = body["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["source"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("route", "routed"),
            ("cac", "admitted"),
            ("presence", "dialog"),
            ("cac", "released"),
            ("presence", "ended"),
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let ts: Vec<u64> = events.iter().map(|e| e["ts"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
    assert_eq!(
        events[1]["data"]["dims"],
        json!(["account_in", "did:did_main"])
    );
    assert_eq!(events[1]["data"]["rates"], json!(["lim_in_hour"]));
    let cdr = &body["cdr"];
    assert_eq!(cdr["disposition"], "answered");
    assert_eq!(cdr["answered"], 1);
    assert_eq!(cdr["direction"], "inbound");
    assert_eq!(cdr["from_num"], "14155550001");
    assert_eq!(cdr["to_num"], "12025550123");
    assert_eq!(cdr["hangup_cause"], "terminated");
    assert!(cdr["end_ts"].as_u64().unwrap() >= cdr["answer_ts"].as_u64().unwrap());
    // A retried /route of an ended call still gets its decision, admits nothing.
    assert_eq!(
        routed(&mut client, inbound_main("life-1"))["flow_id"],
        "flow_main"
    );
    assert!(is_idle(&cac(&mut client)));
}

#[test]
fn a_failed_call_releases_with_its_disposition() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    routed(&mut client, outbound_from_alice("busy-1"));
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "callId": "busy-1", "state": "failed", "code": "486",
               "reason": "Busy Here", "node": "edge-1"}),
    );
    assert_eq!(reply.json()["applied"], true);
    assert!(is_idle(&cac(&mut client)));
    let cdr = trace(&mut client, "busy-1")["cdr"].clone();
    assert_eq!(cdr["disposition"], "busy");
    assert_eq!(cdr["hangup_cause"], "failed:486");
    assert_eq!(cdr["answered"], 0);
}

#[test]
fn cac_reset_clears_and_a_later_end_releases_nothing_more() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    open_all_hours(&mut client);
    routed(&mut client, inbound_main("reset-in"));
    routed(&mut client, outbound_from_alice("reset-out"));
    assert_eq!(active_ids(&cac(&mut client)), vec!["reset-in", "reset-out"]);
    let reply = client.request(
        "POST",
        "/cac/reset",
        &ADMIN,
        Some(&json!({"accountId": ACME})),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let body = reply.json();
    let mut cleared: Vec<String> = body["cleared"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    cleared.sort();
    assert_eq!(cleared, vec!["reset-in", "reset-out"]);
    assert_eq!(body["cleared"]["counters"]["in"], 1);
    assert_eq!(body["cleared"]["counters"]["out"], 1);
    assert!(is_idle(&cac(&mut client)));
    // A second reset has nothing to clear.
    let again = client.request(
        "POST",
        "/cac/reset",
        &ADMIN,
        Some(&json!({"accountId": ACME})),
    );
    assert_eq!(again.json()["cleared"]["calls"], json!([]));
    // A new call is counted from zero; the old ones' end gives nothing back.
    routed(&mut client, outbound_from_alice("reset-new"));
    let terminated = dialog(&mut client, "reset-out", "terminated");
    assert_eq!(terminated.json()["applied"], true, "the call itself ends");
    let state = cac(&mut client);
    assert_eq!(state["counters"]["out"], 1, "{state}");
    assert_eq!(state["counters"]["users"], json!({"us_alice": 1}));
    assert_eq!(active_ids(&state), vec!["reset-new"]);
    let kinds: Vec<String> = trace(&mut client, "reset-out")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["routed", "admitted", "reset", "ended"]);
}

#[test]
fn explain_answers_the_decision_with_reasons_and_admits_nothing() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    routed(&mut client, outbound_from_alice("held-1"));
    let before = cac(&mut client);
    let reply = client.request(
        "POST",
        "/admin/route/explain",
        &ADMIN,
        Some(&outbound_from_alice("what-if-1")),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let body = reply.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["account_id"], ACME);
    assert_eq!(body["direction"], "outbound");
    assert_eq!(body["decision"]["action"], "outbound");
    assert!(body["at"].as_u64().is_some());
    let reasons = body["reasons"].as_array().unwrap();
    assert!(reasons.iter().any(|r| r["step"] == "caller"), "{body}");
    assert!(reasons.iter().any(|r| r["step"] == "outbound"), "{body}");
    assert_eq!(body["trunk"]["trunk_id"], "tr_acme");
    let out = body["cac"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dim"] == "account_out")
        .unwrap()
        .clone();
    assert_eq!(
        out,
        json!({"dim": "account_out", "count": 1, "limit": 10, "hard": true, "ok": true})
    );
    assert_eq!(
        body["would_admit"],
        json!(["account_out", "user:us_alice", "trunk:tr_acme"])
    );
    assert_eq!(cac(&mut client), before, "explain admits nothing");
    let missing = client.request("GET", "/calls/what-if-1/trace", &ADMIN, None);
    assert_eq!(missing.status, 404, "explain records no call");
    // An inbound what-if at a given instant shows the schedule evaluation.
    let mut body = inbound_main("what-if-2");
    body["at"] = json!(1_767_000_000_000u64);
    let reply = client.request("POST", "/admin/route/explain", &ADMIN, Some(&body));
    let body = reply.json();
    assert_eq!(body["at"], 1_767_000_000_000u64);
    assert_eq!(body["schedule"]["schedule_id"], "sch_office");
    assert!(body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["step"] == "schedule"));
    assert_eq!(cac(&mut client), before);
    // A refused what-if: would_admit null.
    let reply = client.request(
        "POST",
        "/admin/route/explain",
        &ADMIN,
        Some(
            &json!({"callId": "w3", "from": "x", "fromDomain": "nowhere.example", "to": "1001",
                     "sourceIp": "192.0.2.1"}),
        ),
    );
    let body = reply.json();
    assert_eq!(body["decision"]["detail"], "unknown_caller");
    assert_eq!(body["would_admit"], Value::Null);
    // Explain is an admin endpoint.
    let edge = client.request(
        "POST",
        "/admin/route/explain",
        &EDGE,
        Some(&outbound_from_alice("w4")),
    );
    assert_eq!(edge.status, 401);
}

#[test]
fn bad_route_and_cac_inputs_are_refused_with_the_right_status() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = route(&mut client, json!({"callId": "bad-1", "from": ALICE}));
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("to"),
        "{:?}",
        reply.json()
    );
    let reply = route(&mut client, json!({"to": "1001", "from": ALICE}));
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("callId"));
    let mut body = outbound_from_alice("bad-2");
    body["sourceIp"] = "300.1.2.3".into();
    let reply = route(&mut client, body);
    assert_eq!(reply.status, 422);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sourceIp"));
    let mut body = outbound_from_alice("bad-3");
    body["epoch"] = "soon".into();
    assert_eq!(route(&mut client, body).status, 422);
    // Nothing of those was recorded.
    assert!(is_idle(&cac(&mut client)));
    // Without the edge token.
    let reply = client.request("POST", "/route", &[], Some(&outbound_from_alice("bad-4")));
    assert_eq!(reply.status, 401);
    // /cac
    let reply = client.request("GET", "/cac", &ADMIN, None);
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("accountId"));
    let reply = client.request("GET", "/cac?accountId=acc_nobody", &ADMIN, None);
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "unknown_account");
    let reply = client.request(
        "POST",
        "/cac/reset",
        &ADMIN,
        Some(&json!({"accountId": "acc_nobody"})),
    );
    assert_eq!(reply.status, 404);
    let reply = client.request("GET", &format!("/cac?accountId={ACME}"), &EDGE, None);
    assert_eq!(reply.status, 401, "/cac is an admin endpoint");
    let reply = client.request("GET", "/calls/no-such-call/trace", &ADMIN, None);
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "unknown_call");
}

#[test]
fn form_bodies_route_like_json() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    open_all_hours(&mut client);
    let reply = post_form(
        &mut client,
        "/route",
        ("x-edge-token", EDGE_TOKEN),
        &[
            ("callId", "form-1"),
            ("from", "+1 (415) 555-0001"),
            ("fromDomain", "pstn.example"),
            ("to", "sip:+12025550123@acme.sip.io"),
            ("sourceIp", "192.0.2.50"),
            ("epoch", "3"),
            ("node", "edge-7"),
        ],
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["rtjson"]["flow_id"], "flow_main");
    assert_eq!(body["rtjson"]["vars"]["caller_cid"], "14155550001");
    // The reply is one line (Kamailio keeps the first line only).
    assert!(!reply.body.contains(&b'\n'));
    assert_eq!(cac(&mut client)["active"][0]["node"], "edge-7");
}

#[test]
fn calls_and_registrations_survive_a_restart_across_two_cores() {
    let dir = sipbrain_tests::temp_dir("route-restart");
    let args = [
        "--demo",
        "--admin-token",
        ADMIN_TOKEN,
        "--edge-token",
        EDGE_TOKEN,
        "--shards",
        "2",
    ];
    let server = Server::start_in(&dir, &args);
    let owner = sipbrain_core::directory::owner_shard(ACME, 2);
    let other = 1 - owner;
    let mut clients = client_on_each_shard(&server);
    // Through the core that does not own Acme: forwarded.
    let reply = presence(
        &mut clients[other],
        json!({"type": "register", "event": "registered", "username": ALICE, "realm": ACME_REALM,
               "contact": "sip:1001@10.9.9.9:5060", "expires": 3600, "node": "edge-1"}),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    routed(&mut clients[other], inbound_main("keep-in"));
    routed(&mut clients[owner], outbound_from_alice("keep-out"));
    assert_eq!(
        dialog(&mut clients[other], "keep-in", "confirmed").json()["applied"],
        true
    );
    let before = cac(&mut clients[other]);
    assert_eq!(active_ids(&before), vec!["keep-in", "keep-out"]);
    server.kill9();

    let server = Server::start_in(&dir, &args);
    let mut clients = client_on_each_shard(&server);
    for client in clients.iter_mut() {
        let after = cac(client);
        assert_eq!(after["counters"], before["counters"]);
        assert_eq!(after["active"], before["active"]);
        // The callId index is rebuilt on both cores: the trace is found.
        assert_eq!(trace(client, "keep-in")["live"], true);
    }
    let rtjson = routed(
        &mut clients[other],
        json!({"callId": "keep-int", "from": BOB, "fromDomain": ACME_REALM, "to": ALICE,
               "sourceIp": "198.51.100.8", "authUser": BOB}),
    );
    assert_eq!(
        rtjson["routes"][0]["uri"], "sip:1001@10.9.9.9:5060",
        "the registration survived"
    );
    assert_eq!(
        routed(&mut clients[other], outbound_from_alice("keep-out"))["cid_number"],
        "12025550124",
        "a retry after the restart gets the recorded decision"
    );
    // Ending them through the non-owner core releases them.
    for call_id in ["keep-in", "keep-out", "keep-int"] {
        let reply = dialog(&mut clients[other], call_id, "terminated");
        assert_eq!(reply.status, 200, "{call_id}: {:?}", reply.json());
        assert_eq!(reply.json()["applied"], true);
    }
    assert!(is_idle(&cac(&mut clients[owner])));
    let cdr = trace(&mut clients[other], "keep-in")["cdr"].clone();
    assert_eq!(cdr["disposition"], "answered");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// Routes calls and registers with `--shards 2`, kills the brain, restarts
/// it with each of `restarts` in turn (checking the CAC state each time),
/// then ends the calls on the last one.
fn survive_reshards(restarts: &[&'static str]) {
    let dir = sipbrain_tests::temp_dir("route-reshard");
    let args = |shards: &'static str| {
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
    let mut clients = client_on_each_shard(&server);
    let reply = presence(
        &mut clients[0],
        json!({"type": "register", "event": "registered", "username": ALICE, "realm": ACME_REALM,
               "contact": "sip:1001@10.8.8.8:5060", "expires": 3600, "node": "edge-1"}),
    );
    assert_eq!(reply.status, 200);
    routed(&mut clients[0], inbound_main("rs-in"));
    routed(&mut clients[1], outbound_from_alice("rs-out"));
    let globex = routed(
        &mut clients[0],
        json!({"callId": "rs-globex", "from": "4930111222", "fromDomain": "carrier-de.example",
               "to": "14155550100", "sourceIp": "198.51.100.5", "node": "edge-1"}),
    );
    assert_eq!(globex["action"], "outbound");
    let acme_before = cac(&mut clients[0]);
    let globex_cac = |client: &mut Client| {
        client
            .request("GET", &format!("/cac?accountId={GLOBEX}"), &ADMIN, None)
            .json()
    };
    let globex_before = globex_cac(&mut clients[1]);
    assert_eq!(active_ids(&acme_before), vec!["rs-in", "rs-out"]);
    assert_eq!(active_ids(&globex_before), vec!["rs-globex"]);
    server.kill9();

    let (last, middle) = restarts.split_last().expect("at least one restart");
    for shards in middle {
        let shards: &'static str = shards;
        let server = Server::start_in(&dir, &args(shards));
        let mut client = server.client();
        open_all_hours(&mut client);
        let acme = cac(&mut client);
        assert_eq!(
            acme["counters"], acme_before["counters"],
            "--shards {shards}"
        );
        assert_eq!(acme["active"], acme_before["active"], "--shards {shards}");
        let globex = globex_cac(&mut client);
        assert_eq!(
            globex["counters"], globex_before["counters"],
            "--shards {shards}"
        );
        assert_eq!(
            acme["rates"], acme_before["rates"],
            "rate windows move with the calls"
        );
        assert_eq!(trace(&mut client, "rs-globex")["live"], true);
        server.terminate();
    }

    let server = Server::start_in(&dir, &args(last));
    let mut client = server.client();
    assert_eq!(cac(&mut client)["counters"], acme_before["counters"]);
    let rtjson = routed(
        &mut client,
        json!({"callId": "rs-int", "from": BOB, "fromDomain": ACME_REALM, "to": ALICE,
               "sourceIp": "198.51.100.8", "authUser": BOB}),
    );
    assert_eq!(
        rtjson["routes"][0]["uri"], "sip:1001@10.8.8.8:5060",
        "the registration moved with its account"
    );
    for call_id in ["rs-in", "rs-out", "rs-globex", "rs-int"] {
        let reply = dialog(&mut client, call_id, "terminated");
        assert_eq!(reply.status, 200, "{call_id}: {:?}", reply.json());
        assert_eq!(reply.json()["applied"], true, "{call_id}");
    }
    assert!(is_idle(&cac(&mut client)));
    assert_eq!(globex_cac(&mut client)["active"], json!([]));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn calls_and_registrations_survive_a_change_of_shard_count() {
    survive_reshards(&["1", "2"]);
}

#[test]
fn calls_survive_two_changes_of_shard_count() {
    survive_reshards(&["3", "2"]);
}
