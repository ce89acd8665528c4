//! POST /presence/event against the real binary: registrations, dialog
//! reports, node sync and epochs, the CAC leak reaper, and bad inputs.

use serde_json::{json, Value};
use sipbrain_tests::calls::{active_ids, trace};
use sipbrain_tests::client_on_each_shard;
use sipbrain_tests::demo::*;
use sipbrain_tests::{Client, Reply, Server, ADMIN_TOKEN, EDGE_TOKEN};
use std::time::{Duration, Instant};

const EDGE: [(&str, &str); 1] = [("x-edge-token", EDGE_TOKEN)];
const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

fn presence(client: &mut Client, body: Value) -> Reply {
    client.request("POST", "/presence/event", &EDGE, Some(&body))
}

fn routed(client: &mut Client, body: Value) -> Value {
    let reply = client.request("POST", "/route", &EDGE, Some(&body));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["rtjson"].clone()
}

fn cac_of(client: &mut Client, account: &str) -> Value {
    let reply = client.request("GET", &format!("/cac?accountId={account}"), &ADMIN, None);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// An inbound call to Acme's main line from edge `node` at `epoch`.
fn inbound(call_id: &str, node: &str, epoch: u64) -> Value {
    json!({"callId": call_id, "from": "14155550001", "fromDomain": "pstn.example",
           "to": "12025550123", "sourceIp": "192.0.2.50", "node": node, "epoch": epoch})
}

fn sync(client: &mut Client, node: &str, epoch: u64, call_ids: &[&str]) -> Value {
    let reply = presence(
        client,
        json!({"type": "dialog", "state": "sync", "node": node, "epoch": epoch, "callIds": call_ids}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

fn register(username: &str, contact: &str) -> Value {
    json!({"type": "register", "event": "registered", "username": username, "realm": ACME_REALM,
           "aor": format!("sip:{username}@{ACME_REALM}"), "contact": contact, "expires": 300,
           "node": "edge-1"})
}

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

fn post_form(client: &mut Client, path: &str, fields: &[(&str, &str)]) -> Reply {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", form_value(v)))
        .collect();
    let body = body.join("&");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nx-edge-token: {EDGE_TOKEN}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.send_raw(format!("{head}{body}").as_bytes());
    client.read_reply()
}

#[test]
fn register_refresh_and_unregister_move_reachability() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = presence(&mut client, register(ALICE, "sip:1001@10.0.0.1"));
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(
        reply.json(),
        json!({"ok": true, "account_id": ACME, "user_id": "us_alice", "device_id": "dev_alice",
               "reachable": true, "contacts": 1})
    );
    let mut refreshed = register(ALICE, "sip:1001@10.0.0.1");
    refreshed["event"] = "refreshed".into();
    assert_eq!(presence(&mut client, refreshed).json()["contacts"], 1);
    let second = presence(&mut client, register(ALICE, "sip:1001@10.0.0.2"));
    assert_eq!(second.json()["contacts"], 2);
    let call = json!({"callId": "r1", "from": BOB, "fromDomain": ACME_REALM, "to": ALICE,
                      "sourceIp": "198.51.100.8", "authUser": BOB});
    let rtjson = routed(&mut client, call);
    assert_eq!(rtjson["routes"].as_array().unwrap().len(), 2, "{rtjson}");
    let reply = presence(
        &mut client,
        json!({"type": "register", "event": "unregistered", "username": ALICE,
               "realm": ACME_REALM, "contact": "sip:1001@10.0.0.1"}),
    );
    assert_eq!(reply.json()["contacts"], 1);
    assert_eq!(reply.json()["reachable"], true);
    // `expired` without a contact drops every binding of the device.
    let reply = presence(
        &mut client,
        json!({"type": "register", "event": "expired", "username": ALICE, "realm": ACME_REALM}),
    );
    assert_eq!(reply.json()["reachable"], false);
    let call = json!({"callId": "r2", "from": BOB, "fromDomain": ACME_REALM, "to": ALICE,
                      "sourceIp": "198.51.100.8", "authUser": BOB});
    let rtjson = routed(&mut client, call);
    assert_eq!(rtjson["flow_id"], "sys:voicemail:vm_main", "{rtjson}");
    // `expires: 0` on a register is an unregister.
    let mut zero = register(ALICE, "sip:1001@10.0.0.9");
    zero["expires"] = 0.into();
    assert_eq!(presence(&mut client, zero).json()["reachable"], false);
}

#[test]
fn bad_register_events_are_refused() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let mut unknown_realm = register(ALICE, "sip:x@10.0.0.1");
    unknown_realm["realm"] = "nowhere.example".into();
    let reply = presence(&mut client, unknown_realm);
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "unknown_realm");
    let reply = presence(&mut client, register("4242", "sip:x@10.0.0.1"));
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "unknown_device");
    let mut no_contact = register(ALICE, "sip:x@10.0.0.1");
    no_contact.as_object_mut().unwrap().remove("contact");
    let reply = presence(&mut client, no_contact);
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("contact"));
    let mut no_expires = register(ALICE, "sip:x@10.0.0.1");
    no_expires.as_object_mut().unwrap().remove("expires");
    assert_eq!(presence(&mut client, no_expires).status, 400);
    let mut bad_expires = register(ALICE, "sip:x@10.0.0.1");
    bad_expires["expires"] = "-5".into();
    assert_eq!(presence(&mut client, bad_expires).status, 422);
    let mut bad_event = register(ALICE, "sip:x@10.0.0.1");
    bad_event["event"] = "bound".into();
    assert_eq!(presence(&mut client, bad_event).status, 422);
}

#[test]
fn bad_dialog_and_sync_events_are_refused() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = presence(&mut client, json!({"type": "gossip", "callId": "x"}));
    assert_eq!(reply.status, 422);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("type"));
    let reply = presence(&mut client, json!({"callId": "x", "state": "confirmed"}));
    assert_eq!(reply.status, 400, "missing type");
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "callId": "x", "state": "ringing"}),
    );
    assert_eq!(reply.status, 422);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("state"));
    let reply = presence(&mut client, json!({"type": "dialog", "callId": "x"}));
    assert_eq!(reply.status, 400, "missing state");
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "callId": "no-such-call", "state": "terminated"}),
    );
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "unknown_call");
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "callId": "x", "state": "failed", "code": "99"}),
    );
    assert_eq!(reply.status, 422, "not a SIP status code");
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "state": "sync", "node": "e"}),
    );
    assert_eq!(reply.status, 400, "sync without epoch");
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "state": "sync", "node": "e", "epoch": 1, "callIds": "not json"}),
    );
    assert_eq!(reply.status, 400);
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "state": "sync", "node": "e", "epoch": 1, "callIds": [7]}),
    );
    assert_eq!(reply.status, 422);
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "state": "sync", "node": "e", "epoch": -1}),
    );
    assert_eq!(reply.status, 422);
    let reply = presence(&mut client, json!({"type": "agent", "event": "login"}));
    assert_eq!((reply.status, reply.code()), (400, "missing_field".into()));
    let reply = client.request(
        "POST",
        "/presence/event",
        &[],
        Some(&json!({"type": "dialog", "callId": "x", "state": "terminated"})),
    );
    assert_eq!(reply.status, 401);
}

#[test]
fn a_sync_listing_its_calls_keeps_them_and_a_new_epoch_releases_the_older_ones() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    routed(&mut client, inbound("a", "edge-2", 5));
    routed(&mut client, inbound("b", "edge-2", 5));
    routed(&mut client, inbound("c", "edge-3", 5));
    assert_eq!(
        presence(
            &mut client,
            json!({"type": "dialog", "callId": "a", "state": "confirmed", "node": "edge-2"}),
        )
        .json()["applied"],
        true
    );
    let kept = sync(&mut client, "edge-2", 5, &["a", "b"]);
    assert_eq!(kept, json!({"ok": true, "released": 0}));
    assert_eq!(active_ids(&cac_of(&mut client, ACME)), vec!["a", "b", "c"]);
    // Edge-2 rebooted: every call of its earlier epoch is released, even a
    // listed one; edge-3's call is not touched.
    let restarted = sync(&mut client, "edge-2", 6, &["a"]);
    assert_eq!(restarted["released"], 2);
    let state = cac_of(&mut client, ACME);
    assert_eq!(active_ids(&state), vec!["c"]);
    assert_eq!(state["counters"]["in"], 1);
    assert_eq!(state["counters"]["dids"], json!({"did_main": 1}));
    let a = trace(&mut client, "a");
    assert_eq!(a["live"], false);
    assert_eq!(a["cdr"]["hangup_cause"], "node_restarted");
    assert_eq!(a["cdr"]["disposition"], "answered");
    let ended = a["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ended["type"], "ended");
    assert_eq!(ended["data"]["old_epoch"], 5);
    assert_eq!(ended["data"]["new_epoch"], 6);
    assert_eq!(trace(&mut client, "b")["cdr"]["disposition"], "no_answer");
    // The same epoch again, or an older one, releases nothing more.
    routed(&mut client, inbound("d", "edge-2", 6));
    assert_eq!(sync(&mut client, "edge-2", 6, &["d"])["released"], 0);
    assert_eq!(sync(&mut client, "edge-2", 4, &["d"])["released"], 0);
    // A dead call ends once: a late terminated for `a` releases nothing.
    let late = presence(
        &mut client,
        json!({"type": "dialog", "callId": "a", "state": "terminated", "node": "edge-2"}),
    );
    assert_eq!(late.json()["applied"], false);
    assert_eq!(active_ids(&cac_of(&mut client, ACME)), vec!["c", "d"]);
}

#[test]
fn a_dialog_event_with_a_new_epoch_ends_the_nodes_older_calls() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    routed(&mut client, inbound("old-1", "edge-4", 1));
    routed(&mut client, inbound("old-2", "edge-4", 1));
    let reply = presence(
        &mut client,
        json!({"type": "dialog", "callId": "old-1", "state": "confirmed", "node": "edge-4",
               "epoch": 2}),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["applied"],
        false,
        "the call belongs to the node's dead epoch"
    );
    assert_eq!(cac_of(&mut client, ACME)["active"], json!([]));
    assert_eq!(
        trace(&mut client, "old-2")["cdr"]["hangup_cause"],
        "node_restarted"
    );
    // A /route carrying the new epoch does the same for its node.
    routed(&mut client, inbound("old-3", "edge-5", 1));
    routed(&mut client, inbound("new-1", "edge-5", 2));
    assert_eq!(active_ids(&cac_of(&mut client, ACME)), vec!["new-1"]);
}

#[test]
fn a_form_sync_with_call_ids_as_a_json_string_works() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    routed(&mut client, inbound("f1", "edge-6", 1));
    routed(&mut client, inbound("f2", "edge-6", 1));
    let reply = post_form(
        &mut client,
        "/presence/event",
        &[
            ("type", "dialog"),
            ("state", "sync"),
            ("node", "edge-6"),
            ("epoch", "1"),
            ("callIds", r#"["f1","f2"]"#),
        ],
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["released"], 0);
    let reply = post_form(
        &mut client,
        "/presence/event",
        &[
            ("type", "dialog"),
            ("state", "sync"),
            ("node", "edge-6"),
            ("epoch", "2"),
            ("callIds", "[]"),
        ],
    );
    assert_eq!(reply.json()["released"], 2);
    // A form dialog report.
    routed(&mut client, inbound("f3", "edge-6", 2));
    let reply = post_form(
        &mut client,
        "/presence/event",
        &[
            ("type", "dialog"),
            ("callId", "f3"),
            ("state", "terminated"),
            ("code", "200"),
            ("node", "edge-6"),
        ],
    );
    assert_eq!(reply.json()["applied"], true);
    assert_eq!(cac_of(&mut client, ACME)["active"], json!([]));
    // A form register.
    let reply = post_form(
        &mut client,
        "/presence/event",
        &[
            ("type", "register"),
            ("event", "registered"),
            ("username", BOB),
            ("realm", ACME_REALM),
            ("contact", "sip:1002@10.0.0.2;transport=tcp"),
            ("expires", "120"),
        ],
    );
    assert_eq!(reply.json()["device_id"], "dev_bob");
}

#[test]
fn a_sync_releases_the_nodes_calls_on_every_core() {
    let server = Server::demo(&["--shards", "2"]);
    assert_ne!(
        sipbrain_core::directory::owner_shard(ACME, 2),
        sipbrain_core::directory::owner_shard(GLOBEX, 2),
        "the demo accounts live on different cores"
    );
    let mut clients = client_on_each_shard(&server);
    routed(&mut clients[0], inbound("s-acme", "edge-8", 1));
    let globex = routed(
        &mut clients[1],
        json!({"callId": "s-globex", "from": "4930111222", "fromDomain": "carrier-de.example",
               "to": "14155550100", "sourceIp": "198.51.100.5", "node": "edge-8", "epoch": 1}),
    );
    assert_eq!(globex["action"], "outbound", "{globex}");
    assert_eq!(globex["trunk_id"], "tr_globex");
    assert_eq!(
        active_ids(&cac_of(&mut clients[1], GLOBEX)),
        vec!["s-globex"]
    );
    for client in clients.iter_mut() {
        assert_eq!(
            sync(client, "edge-8", 1, &["s-acme", "s-globex"])["released"],
            0
        );
    }
    assert_eq!(sync(&mut clients[1], "edge-8", 2, &[])["released"], 2);
    assert_eq!(cac_of(&mut clients[0], ACME)["active"], json!([]));
    assert_eq!(cac_of(&mut clients[0], GLOBEX)["active"], json!([]));
    for call_id in ["s-acme", "s-globex"] {
        for client in clients.iter_mut() {
            assert_eq!(
                trace(client, call_id)["cdr"]["hangup_cause"],
                "node_restarted"
            );
        }
    }
}

/// Polls `check` until it holds or `limit` passes (the brain's own timer
/// is what is tested: the wait is on its observable effect).
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

#[test]
fn an_unconfirmed_call_is_reaped_after_the_setup_ttl_and_flagged() {
    let server = Server::demo(&["--cac-setup-ttl-sec", "1"]);
    let mut client = server.client();
    routed(&mut client, inbound("leak-1", "edge-1", 0));
    routed(&mut client, inbound("up-1", "edge-1", 0));
    let confirmed = presence(
        &mut client,
        json!({"type": "dialog", "callId": "up-1", "state": "confirmed", "node": "edge-1"}),
    );
    assert_eq!(confirmed.json()["applied"], true);
    let reaped = eventually(Duration::from_secs(20), || {
        active_ids(&cac_of(&mut client, ACME)) == vec!["up-1".to_string()]
    });
    assert!(reaped, "{}", cac_of(&mut client, ACME));
    let body = trace(&mut client, "leak-1");
    assert_eq!(body["cdr"]["hangup_cause"], "setup_ttl");
    let events = body["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["routed", "admitted", "released", "ended"]);
    let ended = events.last().unwrap();
    assert_eq!(ended["source"], "cac");
    assert_eq!(ended["data"]["flag"], "leak");
    // The confirmed call is still up and still counted.
    assert_eq!(trace(&mut client, "up-1")["live"], true);
    assert_eq!(cac_of(&mut client, ACME)["counters"]["in"], 1);
}
