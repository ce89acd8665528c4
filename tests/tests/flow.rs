//! POST /flow against the real binary: the demo flow's branches after a
//! /route, flow-only calls, retries, restarts across two cores, webhooks
//! to a real HTTP endpoint, and refused flow documents.

use serde_json::{json, Value};
use sipbrain_tests::calls::trace;
use sipbrain_tests::client_on_each_shard;
use sipbrain_tests::demo::*;
use sipbrain_tests::{Client, Server, ADMIN_TOKEN, EDGE_TOKEN};
use std::io::{Read, Write};

const EDGE: [(&str, &str); 1] = [("x-edge-token", EDGE_TOKEN)];
const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

fn flow(client: &mut Client, body: Value) -> (u16, Value) {
    let reply = client.request("POST", "/flow", &EDGE, Some(&body));
    (reply.status, reply.json())
}

fn ok(client: &mut Client, body: Value) -> Value {
    let (status, answer) = flow(client, body.clone());
    assert_eq!(status, 200, "{body} → {answer}");
    answer
}

fn cmd(answer: &Value) -> &str {
    answer["command"]["cmd"].as_str().unwrap_or("")
}

fn start(client: &mut Client, call_id: &str, flow_id: &str) -> Value {
    ok(
        client,
        json!({"callId": call_id, "accountId": ACME, "flowId": flow_id}),
    )
}

fn step(client: &mut Client, call_id: &str, outcome: &str) -> Value {
    ok(client, json!({"callId": call_id, "outcome": outcome}))
}

/// Puts the demo account back with `change` applied.
fn edit_account(client: &mut Client, change: impl FnOnce(&mut Value)) -> (u16, Value) {
    let reply = client.request("GET", &format!("/admin/accounts/{ACME}"), &ADMIN, None);
    let mut doc = reply.json()["account"].clone();
    change(&mut doc);
    let put = client.request(
        "PUT",
        &format!("/admin/accounts/{ACME}"),
        &ADMIN,
        Some(&doc),
    );
    (put.status, put.json())
}

/// Dan's phone registers and Dan logs in to both demo queues, not ready:
/// they hold callers (someone could take them) instead of deflecting them
/// by `no_agents`, and nobody is offered.
fn staff(client: &mut Client) {
    for body in [
        json!({"type": "register", "event": "registered", "username": "1004", "realm": ACME_REALM,
               "contact": "sip:1004@192.0.2.9:5060", "expires": 3600, "node": "edge-1"}),
        json!({"type": "agent", "accountId": ACME, "userId": "1004", "event": "login",
               "queues": [{"queueId": "q_support", "level": 1}, {"queueId": "q_sales", "level": 2}]}),
    ] {
        let reply = client.request("POST", "/presence/event", &EDGE, Some(&body));
        assert_eq!(reply.status, 200, "{}", reply.json());
    }
}

#[test]
fn a_routed_call_walks_the_demo_menu_to_a_queue_and_ends_with_its_dialog() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    // The main number's schedule is taken off so the test does not depend
    // on the hour: the DID routes to flow_main.
    let (status, _) = edit_account(&mut client, |doc| {
        for field in ["schedule_id", "closed_dest_kind", "closed_dest_id"] {
            doc["dids"][0].as_object_mut().unwrap().remove(field);
        }
    });
    assert_eq!(status, 200);
    let routed = client.request(
        "POST",
        "/route",
        &EDGE,
        Some(
            &json!({"callId": "fl-1", "from": "14155550001", "fromDomain": "pstn.example",
                     "to": "12025550123", "sourceIp": "192.0.2.50", "node": "edge-1"}),
        ),
    );
    let rtjson = routed.json()["rtjson"].clone();
    assert_eq!(rtjson["flow_id"], "flow_main", "{rtjson}");
    staff(&mut client);
    let menu = start(&mut client, "fl-1", "flow_main");
    assert_eq!(
        (menu["node"].as_str(), cmd(&menu), menu["seq"].as_u64()),
        (Some("menu"), "gather", Some(1))
    );
    let sales = ok(
        &mut client,
        json!({"callId": "fl-1", "outcome": "digit:1", "seq": 1, "data": {"digits": "1"}}),
    );
    assert_eq!(
        (cmd(&sales), sales["command"]["queueId"].as_str()),
        ("enqueue", Some("q_sales"))
    );
    let hold = step(&mut client, "fl-1", "poll");
    assert_eq!((cmd(&hold), hold["seq"].as_u64()), ("noop", Some(2)));
    // The caller hangs up: the dialog event ends the call and its session.
    let ended = client.request(
        "POST",
        "/presence/event",
        &EDGE,
        Some(&json!({"type": "dialog", "callId": "fl-1", "state": "terminated", "node": "edge-1"})),
    );
    assert_eq!(ended.status, 200);
    let (status, gone) = flow(&mut client, json!({"callId": "fl-1", "outcome": "poll"}));
    assert_eq!(
        (status, gone["error"]["code"].as_str(), cmd(&gone)),
        (404, Some("unknown_call"), "hangup")
    );
    let trace = trace(&mut client, "fl-1");
    let kinds: Vec<(String, String)> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(kinds[0], ("route".into(), "routed".into()));
    for expected in [
        ("flow", "started"),
        ("flow", "node"),
        ("flow", "outcome"),
        ("flow", "queue"),
        ("flow", "ended"),
    ] {
        assert!(
            kinds.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {kinds:?}"
        );
    }
    let digits: Vec<&Value> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["digits"] == "1")
        .collect();
    assert_eq!(digits.len(), 1, "the digits received are in the trace");
}

#[test]
fn a_flow_only_call_leaves_voicemail_and_a_cdr() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    start(&mut client, "vm-1", "flow_main");
    step(&mut client, "vm-1", "timeout");
    step(&mut client, "vm-1", "timeout");
    let greeting = step(&mut client, "vm-1", "timeout");
    assert_eq!(
        (greeting["node"].as_str(), cmd(&greeting)),
        (Some("vm"), "play")
    );
    let record = step(&mut client, "vm-1", "done");
    assert_eq!(record["command"]["key"], "acc_acme/vm/vm-1.wav");
    let end = ok(
        &mut client,
        json!({"callId": "vm-1", "outcome": "recorded", "data": {"key": "acc_acme/vm/vm-1.wav", "durationMs": 3000}}),
    );
    assert_eq!(cmd(&end), "hangup");
    let trace = trace(&mut client, "vm-1");
    assert_eq!(trace["live"], false);
    assert_eq!(trace["cdr"]["disposition"], "answered");
    assert!(trace["cdr"]["end_ts"].is_u64());
    // Retries of any earlier step now meet an ended flow.
    let (status, _) = flow(
        &mut client,
        json!({"callId": "vm-1", "outcome": "done", "seq": 4}),
    );
    assert_eq!(status, 404);
}

#[test]
fn sessions_survive_a_crash_and_answer_on_either_core() {
    let dir = sipbrain_tests::temp_dir("flow-restart");
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
    let mut clients = client_on_each_shard(&server);
    staff(&mut clients[0]);
    let owner = sipbrain_core::directory::owner_shard(ACME, 2);
    let other = 1 - owner;
    start(&mut clients[other], "crash-1", "flow_main");
    let second = step(&mut clients[owner], "crash-1", "timeout");
    assert_eq!(second["seq"], 2);
    server.kill9();

    let server = Server::start_in(&dir, &args);
    let mut clients = client_on_each_shard(&server);
    for client in clients.iter_mut() {
        // The edge retries its last step (seq 1) after the crash: it gets
        // the current command, not a second advance.
        let again = ok(
            client,
            json!({"callId": "crash-1", "outcome": "timeout", "seq": 1}),
        );
        assert_eq!((again["seq"].as_u64(), cmd(&again)), (Some(2), "gather"));
    }
    let support = ok(
        &mut clients[other],
        json!({"callId": "crash-1", "outcome": "digit:2", "data": {"digits": "2"}}),
    );
    assert_eq!(support["command"]["queueId"], "q_support");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-shot HTTP endpoint: answers `body` to the first request and
/// hands back what it received.
fn one_shot_endpoint(body: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).unwrap();
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(head) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if received.len() >= head + 4 + length {
                    break;
                }
            }
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).unwrap();
        String::from_utf8_lossy(&received).to_string()
    });
    (port, handle)
}

#[test]
fn a_webhook_runs_off_the_shard_and_its_answer_sets_variables() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let (port, endpoint) = one_shot_endpoint(r#"{"vars":{"name":"Ada"}}"#);
    let (status, body) = edit_account(&mut client, |doc| {
        doc["flows"].as_array_mut().unwrap().push(json!({
            "id": "flow_hook", "start": "hook",
            "nodes": [
                {"id": "hook", "data": {"kind": "webhook", "url": format!("http://127.0.0.1:{port}/lookup"), "timeoutSec": 10}},
                {"id": "hello", "data": {"kind": "say", "text": "Hello {{name}}"}},
                {"id": "sorry", "data": {"kind": "say", "text": "Sorry"}}
            ],
            "edges": [
                {"id": "e1", "source": "hook", "target": "hello", "sourceHandle": "ok"},
                {"id": "e2", "source": "hook", "target": "sorry", "sourceHandle": "error"}
            ]
        }));
    });
    assert_eq!(status, 200, "{body}");
    let wait = start(&mut client, "hook-1", "flow_hook");
    assert_eq!(wait["command"], json!({"cmd": "noop", "pollSec": 1}));
    let received = endpoint.join().unwrap();
    assert!(received.starts_with("POST /lookup HTTP/1.1"), "{received}");
    assert!(received.contains(r#""callId":"hook-1""#), "{received}");
    // The endpoint answered; the report reaches the shard through its own
    // logged call. Poll until the session moves (bounded).
    let mut answer = Value::Null;
    for _ in 0..500 {
        answer = ok(
            &mut client,
            json!({"callId": "hook-1", "outcome": "poll", "seq": 1}),
        );
        if cmd(&answer) != "noop" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(answer["command"]["tts"]["text"], "Hello Ada", "{answer}");
}

#[test]
fn flow_documents_are_validated_at_provisioning() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let cases = [
        (
            json!({"id": "e9", "source": "menu", "target": "vm", "sourceHandle": "answered"}),
            None,
            "flows[0].edges[4].sourceHandle",
        ),
        (
            json!({"id": "e9", "source": "menu", "target": "nowhere"}),
            None,
            "flows[0].edges[4].target",
        ),
        (
            Value::Null,
            Some(json!({"kind": "menu", "promptText": "x"})),
            "flows[0].nodes[1].data.maxDigits",
        ),
        (
            Value::Null,
            Some(json!({"kind": "menu", "maxDigits": 1, "colour": "red"})),
            "flows[0].nodes[1].data.colour",
        ),
        (
            Value::Null,
            Some(json!({"kind": "menu", "maxDigits": "one"})),
            "flows[0].nodes[1].data.maxDigits",
        ),
    ];
    for (edge, menu, path) in cases {
        let (status, body) = edit_account(&mut client, |doc| {
            let flow = &mut doc["flows"][0];
            if !edge.is_null() {
                flow["edges"].as_array_mut().unwrap().push(edge.clone());
            }
            if let Some(menu) = &menu {
                flow["nodes"][1]["data"] = menu.clone();
            }
        });
        assert_eq!((status, body["path"].as_str()), (422, Some(path)), "{body}");
    }
    let (status, body) = edit_account(&mut client, |doc| {
        doc["flows"][0]["start"] = json!("nope");
    });
    assert_eq!(
        (status, body["path"].as_str()),
        (422, Some("flows[0].start")),
        "{body}"
    );
}

#[test]
fn invalid_keys_are_reprompted_then_the_menu_hangs_up() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    start(&mut client, "bad-1", "flow_main");
    for (digits, seq) in [("9", 2), ("7", 3)] {
        let again = ok(
            &mut client,
            json!({"callId": "bad-1", "outcome": format!("digit:{digits}"), "data": {"digits": digits}}),
        );
        assert_eq!((cmd(&again), again["seq"].as_u64()), ("gather", Some(seq)));
    }
    // The third invalid key: `invalid` has no edge and the menu no default.
    let end = ok(
        &mut client,
        json!({"callId": "bad-1", "outcome": "digit:5", "data": {"digits": "5"}}),
    );
    assert_eq!(cmd(&end), "hangup");
    let trace = trace(&mut client, "bad-1");
    let invalid = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "invalid")
        .count();
    assert_eq!(invalid, 3);
    assert_eq!(trace["cdr"]["hangup_cause"], "flow:no_edge");
}
