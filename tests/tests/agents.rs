//! Agents and the ACD against the real binary: `POST /agent` (JSON, form
//! and `/presence/event` `type: agent`), `GET /agent`, `GET
//! /presence/users`, a queued caller's offer on its `/flow` poll, the
//! confirm and claim fences, expiry driven by the server's ticker, abandon
//! by a dialog event, and agents surviving a crash.

use serde_json::{json, Value};
use sipbrain_tests::calls::trace;
use sipbrain_tests::demo::*;
use sipbrain_tests::{temp_dir, Client, Server, ADMIN_TOKEN, EDGE_TOKEN};

const EDGE: [(&str, &str); 1] = [("x-edge-token", EDGE_TOKEN)];
const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];
const KEY: [(&str, &str); 1] = [("x-api-key", ACME_AGENT_KEY)];

fn agent(client: &mut Client, body: Value) -> (u16, Value) {
    let reply = client.request("POST", "/agent", &KEY, Some(&body));
    (reply.status, reply.json())
}

fn act(client: &mut Client, user: &str, event: &str, queues: Option<Value>) -> Value {
    let mut body = json!({"accountId": ACME, "userId": user, "event": event});
    if let Some(queues) = queues {
        body["queues"] = queues;
    }
    let (status, answer) = agent(client, body);
    assert_eq!(status, 200, "{answer}");
    answer["agent"].clone()
}

/// POSTs a form body with the agent key.
fn post_form(client: &mut Client, path: &str, form: &str) -> sipbrain_tests::client::Reply {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nx-api-key: {ACME_AGENT_KEY}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        form.len()
    );
    client.send_raw(format!("{head}{form}").as_bytes());
    client.read_reply()
}

fn view(client: &mut Client, user: &str) -> Value {
    let path = format!("/agent?accountId={ACME}&userId={user}");
    let reply = client.request("GET", &path, &KEY, None);
    assert_eq!(reply.status, 200);
    reply.json()["agent"].clone()
}

fn register(client: &mut Client, username: &str) {
    let body = json!({"type": "register", "event": "registered", "username": username,
        "realm": ACME_REALM, "contact": format!("sip:{username}@192.0.2.9:5060"),
        "expires": 3600, "node": "edge-1"});
    let reply = client.request("POST", "/presence/event", &EDGE, Some(&body));
    assert_eq!(reply.status, 200, "{}", reply.json());
}

/// Registers `username`'s phone, logs it in to `queues` and makes it
/// available.
fn ready(client: &mut Client, username: &str, queues: Value) {
    register(client, username);
    act(client, username, "login", Some(queues));
    act(client, username, "available", None);
}

/// Registers `username`'s phone and logs it in to `queues`, not ready:
/// the queues are staffed (callers wait) but it is offered nothing.
fn standby(client: &mut Client, username: &str, queues: Value) {
    register(client, username);
    let agent = act(client, username, "login", Some(queues));
    assert_eq!(agent["status"], "not_ready", "{agent}");
}

fn flow(client: &mut Client, body: Value) -> (u16, Value) {
    let reply = client.request("POST", "/flow", &EDGE, Some(&body));
    (reply.status, reply.json())
}

fn enqueue(client: &mut Client, call_id: &str, queue: &str) -> Value {
    let body =
        json!({"callId": call_id, "accountId": ACME, "flowId": format!("sys:queue:{queue}")});
    let (status, answer) = flow(client, body);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn poll(client: &mut Client, call_id: &str) -> Value {
    let (status, answer) = flow(client, json!({"callId": call_id, "outcome": "poll"}));
    assert_eq!(status, 200, "{answer}");
    answer
}

fn get(client: &mut Client, path: &str) -> (u16, Value) {
    let reply = client.request("GET", path, &EDGE, None);
    (reply.status, reply.json())
}

fn cmd(answer: &Value) -> &str {
    answer["command"]["cmd"].as_str().unwrap_or("")
}

/// Puts the demo account back with `change` applied.
fn edit_account(client: &mut Client, change: impl FnOnce(&mut Value)) {
    let reply = client.request("GET", &format!("/admin/accounts/{ACME}"), &ADMIN, None);
    let mut doc = reply.json()["account"].clone();
    change(&mut doc);
    let path = format!("/admin/accounts/{ACME}");
    let put = client.request("PUT", &path, &ADMIN, Some(&doc));
    assert_eq!(put.status, 200, "{}", put.json());
}

#[test]
fn agents_log_in_pause_and_log_out_with_status_state_and_reachability_apart() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let bob = act(&mut client, BOB, "login", None);
    assert_eq!(
        (
            bob["userId"].as_str(),
            bob["status"].as_str(),
            bob["state"].as_str()
        ),
        (Some("us_bob"), Some("not_ready"), Some("waiting"))
    );
    assert_eq!(
        (bob["reachable"].as_bool(), bob["bucket"].as_str()),
        (Some(false), Some("unreachable"))
    );
    register(&mut client, BOB);
    assert_eq!(
        view(&mut client, "us_bob")["bucket"],
        "idle",
        "reachable, not ready"
    );
    // A form body, queues as a JSON string.
    let form = format!(
        "accountId={ACME}&userId=1002&event=available&queues=%5B%7B%22queueId%22%3A%22q_sales%22%2C%22level%22%3A2%7D%5D"
    );
    let reply = post_form(&mut client, "/agent", &form);
    assert_eq!(reply.status, 200, "{}", reply.json());
    let bob = reply.json()["agent"].clone();
    assert_eq!(
        (bob["status"].as_str(), bob["bucket"].as_str()),
        (Some("available"), Some("ready"))
    );
    assert_eq!(
        bob["queues"],
        json!([{"queueId": "q_sales", "level": 2, "mode": "dynamic"}])
    );
    // The same body as a presence event of type agent.
    let body = json!({"type": "agent", "accountId": ACME, "userId": "us_bob", "event": "pause", "reason": "lunch"});
    let reply = client.request("POST", "/presence/event", &EDGE, Some(&body));
    assert_eq!(reply.status, 200);
    let bob = view(&mut client, "1002");
    assert_eq!(
        (
            bob["status"].as_str(),
            bob["reason"].as_str(),
            bob["bucket"].as_str()
        ),
        (Some("on_break"), Some("lunch"), Some("paused"))
    );
    let log: Vec<(&str, &str)> = bob["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["to"].as_str().unwrap(), e["cause"].as_str().unwrap()))
        .collect();
    assert_eq!(
        log,
        [
            ("idle", "login"),
            ("idle", "registered"),
            ("ready", "available"),
            ("paused", "pause")
        ],
        "the bucket log"
    );
    let carol = act(&mut client, "us_carol", "login", None);
    assert_eq!(carol["status"], "available", "auto_ready_on_login");
    let (status, users) = get(&mut client, &format!("/presence/users?accountId={ACME}"));
    assert_eq!(status, 200);
    assert_eq!(users["users"].as_array().unwrap().len(), 5);
    let tiles = &users["tiles"];
    assert_eq!(tiles.as_object().unwrap().len(), 9);
    assert_eq!(
        (
            tiles["paused"].as_u64(),
            tiles["unreachable"].as_u64(),
            tiles["offline"].as_u64()
        ),
        (Some(1), Some(1), Some(3))
    );
    let bob = act(&mut client, BOB, "logout", None);
    assert_eq!(
        (
            bob["status"].as_str(),
            bob["queues"].as_array().map(Vec::len)
        ),
        (Some("offline"), Some(0))
    );
}

#[test]
fn bad_agent_requests_are_refused_by_field() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let cases = [
        (
            json!({"accountId": ACME, "event": "login"}),
            400,
            "missing_field",
        ),
        (
            json!({"accountId": ACME, "userId": "1002", "event": "dance"}),
            422,
            "invalid",
        ),
        (
            json!({"accountId": ACME, "userId": "1001", "event": "login"}),
            422,
            "invalid",
        ),
        (
            json!({"accountId": ACME, "userId": "9999", "event": "login"}),
            404,
            "unknown_user",
        ),
        (
            json!({"accountId": ACME, "userId": "1002", "event": "login", "queues": [{"queueId": "q_nope"}]}),
            422,
            "invalid",
        ),
        (
            json!({"accountId": ACME, "userId": "1002", "event": "login", "queues": [{"queueId": "q_sales", "level": 0}]}),
            422,
            "invalid",
        ),
        (
            json!({"accountId": ACME, "userId": "1002", "event": "login", "queues": "nope"}),
            400,
            "bad_field",
        ),
        (
            json!({"accountId": ACME, "userId": "1002", "event": "pause"}),
            409,
            "not_logged_in",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = agent(&mut client, body.clone());
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} → {answer}"
        );
    }
    let (_, answer) = agent(
        &mut client,
        json!({"accountId": ACME, "userId": "1002", "event": "login", "queues": [{"queueId": "q_sales", "level": 0}]}),
    );
    assert_eq!(answer["path"], "queues[0].level");
    let (status, _) = get(&mut client, &format!("/agent/confirm/{ACME}/ls_1/x"));
    assert_eq!(status, 400, "the epoch is a number");
}

#[test]
fn a_queued_caller_gets_the_dial_on_its_poll_and_the_fence_confirms_once() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    // Dan, logged in but not ready, staffs q_sales: the caller waits.
    standby(
        &mut client,
        "1004",
        json!([{"queueId": "q_sales", "level": 2}]),
    );
    let held = enqueue(&mut client, "acd-1", "q_sales");
    assert_eq!(cmd(&held), "enqueue");
    assert_eq!(cmd(&poll(&mut client, "acd-1")), "noop");
    ready(
        &mut client,
        "1003",
        json!([{"queueId": "q_sales", "level": 1}]),
    );
    let dial = poll(&mut client, "acd-1");
    assert_eq!(cmd(&dial), "dial", "{dial}");
    assert_eq!(dial["command"]["targets"][0]["kind"], "agent");
    assert_eq!(dial["command"]["targets"][0]["uri"], "sip:1003@acme.sip.io");
    assert_eq!(view(&mut client, "1003")["bucket"], "ring");
    let lease = &dial["command"]["lease"];
    let url = lease["confirmUrl"].as_str().unwrap().to_string();
    let epoch = lease["epoch"].as_u64().unwrap();
    let stale = format!(
        "/agent/confirm/{ACME}/{}/{}",
        lease["leaseId"].as_str().unwrap(),
        epoch + 7
    );
    let (status, answer) = get(&mut client, &stale);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("stale_lease"))
    );
    let (status, answer) = get(&mut client, &format!("/agent/confirm/{ACME}/ls_nope/1"));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("unknown_lease"))
    );
    let (status, answer) = get(&mut client, &url);
    assert_eq!(
        (status, answer["agentId"].as_str()),
        (200, Some("us_carol")),
        "{answer}"
    );
    let (status, _) = get(&mut client, &url);
    assert_eq!(status, 409, "a lease is confirmed once");
    let carol = view(&mut client, "1003");
    assert_eq!(
        (carol["bucket"].as_str(), carol["call"].as_str()),
        (Some("incall"), Some("acd-1"))
    );
    let (status, bridged) = flow(
        &mut client,
        json!({"callId": "acd-1", "outcome": "answered"}),
    );
    assert_eq!(
        (status, bridged["command"]["bridged"].as_bool()),
        (200, Some(true))
    );
    let (status, _) = flow(
        &mut client,
        json!({"callId": "acd-1", "outcome": "completed"}),
    );
    assert_eq!(status, 200);
    let carol = view(&mut client, "1003");
    assert_eq!(
        (carol["bucket"].as_str(), carol["calls"].as_u64()),
        (Some("wrapup"), Some(1))
    );
    act(&mut client, "1003", "wrapup_done", None);
    assert_eq!(view(&mut client, "1003")["bucket"], "ready");
    let trace = trace(&mut client, "acd-1");
    let entries = trace["events"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .filter(|e| e["source"] == "acd")
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| *k != "agent")
        .collect();
    assert_eq!(
        kinds,
        ["joined", "offered", "connected", "queue_cdr"],
        "{trace}"
    );
    let moves: Vec<&str> = entries
        .iter()
        .filter(|e| e["source"] == "acd" && e["type"] == "agent")
        .map(|e| e["data"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        moves,
        ["ring", "incall", "wrapup"],
        "the agent's bucket log in the call trace"
    );
    let cdr = &entries.iter().find(|e| e["type"] == "queue_cdr").unwrap()["data"];
    assert_eq!(
        (cdr["disposition"].as_str(), cdr["agentId"].as_str()),
        (Some("answered"), Some("us_carol"))
    );
}

#[test]
fn ring_all_offers_every_ready_agent_and_only_the_first_claim_wins() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    edit_account(&mut client, |doc| {
        doc["queues"][0]["strategy"] = json!("ring_all")
    });
    ready(&mut client, "1003", json!([{"queueId": "q_sales"}]));
    ready(&mut client, "1004", json!([{"queueId": "q_sales"}]));
    let dial = enqueue(&mut client, "acd-2", "q_sales");
    let targets = dial["command"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{dial}");
    let dan = targets.iter().find(|t| t["userId"] == "us_dan").unwrap();
    let (status, answer) = get(&mut client, dan["claimUrl"].as_str().unwrap());
    assert_eq!((status, answer["agentId"].as_str()), (200, Some("us_dan")));
    let (status, answer) = get(&mut client, &format!("/agent/claim/{ACME}/1003/acd-2"));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("already_claimed"))
    );
    assert_eq!(
        view(&mut client, "1003")["bucket"],
        "ready",
        "the loser is free again"
    );
}

/// Polls `check` on the agent view until it holds (the server's ticker
/// runs each second when a timer is due); panics after 100 tries.
fn wait_for(client: &mut Client, user: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let agent = view(client, user);
        if check(&agent) {
            return agent;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "agent {user} never reached the expected state: {}",
        view(client, user)
    );
}

#[test]
fn an_unanswered_offer_expires_by_the_ticker_and_auto_pauses_at_max_no_answer() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    edit_account(&mut client, |doc| {
        doc["queues"][0]["agent_ring_timeout_sec"] = json!(1);
        doc["queues"][0]["max_no_answer"] = json!(1);
    });
    ready(&mut client, "1003", json!([{"queueId": "q_sales"}]));
    let dial = enqueue(&mut client, "acd-3", "q_sales");
    let url = dial["command"]["lease"]["confirmUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let carol = wait_for(&mut client, "1003", |a| a["status"] == "on_break");
    assert_eq!(
        (
            carol["missed"].as_u64(),
            carol["reason"].as_str(),
            carol["bucket"].as_str()
        ),
        (Some(1), Some("no_answer"), Some("paused"))
    );
    let (status, answer) = get(&mut client, &url);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("stale_lease")),
        "confirm after expiry"
    );
    assert_eq!(cmd(&poll(&mut client, "acd-3")), "noop");
    let trace = trace(&mut client, "acd-3");
    assert!(
        trace["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "no_answer"),
        "{trace}"
    );
}

#[test]
fn a_dialog_hangup_abandons_the_queue_and_the_offered_agent_takes_the_next_caller() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    ready(&mut client, "1004", json!([{"queueId": "q_support"}]));
    assert_eq!(cmd(&enqueue(&mut client, "acd-4", "q_support")), "dial");
    assert_eq!(cmd(&enqueue(&mut client, "acd-5", "q_support")), "enqueue");
    let body = json!({"type": "dialog", "callId": "acd-4", "state": "terminated", "node": "flow"});
    let reply = client.request("POST", "/presence/event", &EDGE, Some(&body));
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(view(&mut client, "1004")["call"], "acd-5");
    assert_eq!(cmd(&poll(&mut client, "acd-5")), "dial");
    let trace = trace(&mut client, "acd-4");
    let cdr = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "queue_cdr")
        .cloned()
        .unwrap();
    assert_eq!(cdr["data"]["disposition"], "abandoned");
}

#[test]
fn agents_and_queued_callers_survive_a_crash() {
    let dir = temp_dir("acd-crash");
    let args = [
        "--demo",
        "--admin-token",
        ADMIN_TOKEN,
        "--edge-token",
        EDGE_TOKEN,
    ];
    let server = Server::start_in(&dir, &args);
    let mut client = server.client();
    ready(&mut client, "1003", json!([{"queueId": "q_sales"}]));
    let dial = enqueue(&mut client, "acd-6", "q_sales");
    server.kill9();
    let server = Server::start_in(&dir, &args);
    let mut client = server.client();
    let carol = view(&mut client, "1003");
    assert_eq!(
        (carol["status"].as_str(), carol["call"].as_str()),
        (Some("available"), Some("acd-6"))
    );
    let (status, _) = get(
        &mut client,
        dial["command"]["lease"]["confirmUrl"].as_str().unwrap(),
    );
    assert_eq!(status, 200, "the lease survived");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_waiting_caller_leaves_by_no_agents_when_the_last_agent_logs_out() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    // Nobody logged in: deflected at join (q_sales: no_agents → voicemail).
    let deflected = enqueue(&mut client, "na-0", "q_sales");
    assert_eq!(cmd(&deflected), "play", "{deflected}");
    standby(
        &mut client,
        "1004",
        json!([{"queueId": "q_sales", "level": 1}]),
    );
    assert_eq!(cmd(&enqueue(&mut client, "na-1", "q_sales")), "enqueue");
    assert_eq!(cmd(&poll(&mut client, "na-1")), "noop");
    act(&mut client, "1004", "logout", None);
    let out = poll(&mut client, "na-1");
    assert_eq!(cmd(&out), "play", "to q_sales' voicemail: {out}");
    let trace = trace(&mut client, "na-1");
    let cdr = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "queue_cdr")
        .map(|e| e["data"].clone())
        .expect("a queue CDR");
    assert_eq!(
        (cdr["disposition"].as_str(), cdr["exit"].as_str()),
        (Some("no_agents"), Some("no_agents")),
        "{trace}"
    );
}

#[test]
fn an_agents_phone_going_away_and_back_is_in_its_log() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    standby(
        &mut client,
        "1004",
        json!([{"queueId": "q_sales", "level": 1}]),
    );
    let phone = |event: &str| {
        json!({"type": "register", "event": event, "username": "1004", "realm": ACME_REALM,
               "contact": "sip:1004@192.0.2.9:5060", "expires": 3600, "node": "edge-1"})
    };
    let last = |client: &mut Client| {
        let dan = view(client, "1004");
        let entry = dan["log"].as_array().unwrap().last().cloned().unwrap();
        (
            dan["bucket"].clone(),
            entry["from"].clone(),
            entry["to"].clone(),
            entry["cause"].clone(),
        )
    };
    let reply = client.request(
        "POST",
        "/presence/event",
        &EDGE,
        Some(&phone("unregistered")),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        last(&mut client),
        (
            json!("unreachable"),
            json!("idle"),
            json!("unreachable"),
            json!("unregistered")
        )
    );
    let reply = client.request("POST", "/presence/event", &EDGE, Some(&phone("registered")));
    assert_eq!(reply.status, 200);
    assert_eq!(
        last(&mut client),
        (
            json!("idle"),
            json!("unreachable"),
            json!("idle"),
            json!("registered")
        )
    );
    // A refresh changes nothing: no entry.
    let before = view(&mut client, "1004")["log"].as_array().unwrap().len();
    client.request("POST", "/presence/event", &EDGE, Some(&phone("registered")));
    assert_eq!(
        view(&mut client, "1004")["log"].as_array().unwrap().len(),
        before
    );
}
