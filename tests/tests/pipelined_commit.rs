//! Pipelined requests on one connection share group commits: every state
//! change read in one go is decided and applied in order, one fdatasync
//! covers them, and the answers still go out in order.

use serde_json::json;
use sipbrain_tests::demo::*;
use sipbrain_tests::{Client, Server, ADMIN_TOKEN, EDGE_TOKEN};

/// An edge request's bytes.
fn edge_request(path: &str, body: serde_json::Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A call from Alice: its `/route`, then its dialog's end (events each).
fn call_requests(call_id: &str) -> Vec<u8> {
    let mut bytes = edge_request(
        "/route",
        json!({"callId": call_id, "from": ALICE, "fromDomain": ACME_REALM,
            "to": "+1 212 555 0100", "sourceIp": "198.51.100.7", "authUser": ALICE}),
    );
    bytes.extend(edge_request(
        "/presence/event",
        json!({"type": "dialog", "callId": call_id, "state": "terminated"}),
    ));
    bytes
}

/// Shard 0's WAL counters from `/metrics`: (group commits, events).
fn commits_and_events(client: &mut Client) -> (u64, u64) {
    let reply = client.request("GET", "/metrics", &[("x-admin-token", ADMIN_TOKEN)], None);
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.body).expect("utf-8 metrics");
    let value = |name: &str| -> u64 {
        let prefix = format!("{name}{{shard=\"0\"}} ");
        let line = text
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{prefix} in {text}"));
        line[prefix.len()..].parse::<f64>().expect("a number") as u64
    };
    (
        value("sipbrain_wal_commit_duration_seconds_count"),
        value("sipbrain_wal_batch_events_sum"),
    )
}

#[test]
fn pipelined_state_changes_share_a_group_commit_and_answer_in_order() {
    let server = Server::demo(&["--shards", "1"]);
    let mut client = server.client();
    let (commits_before, events_before) = commits_and_events(&mut client);
    // Within the demo account's calls-per-second limit.
    let calls = 8;
    let mut bytes = Vec::new();
    for call in 0..calls {
        bytes.extend(call_requests(&format!("pipe-{call}")));
    }
    client.send_raw(&bytes);
    for call in 0..calls {
        let routed = client.read_reply();
        assert_eq!(routed.status, 200, "pipe-{call}: {:?}", routed.json());
        assert_eq!(routed.json()["rtjson"]["action"], "outbound", "pipe-{call}");
        let ended = client.read_reply();
        assert_eq!(ended.status, 200, "pipe-{call} end: {:?}", ended.json());
        assert!(ended.json().get("rtjson").is_none(), "pipe-{call} end");
    }
    let (commits_after, events_after) = commits_and_events(&mut client);
    let requests = 2 * calls;
    assert!(
        events_after - events_before >= requests,
        "every call's start and end is in the WAL: {events_before} → {events_after}"
    );
    // One commit per request was the old behaviour; requests read in one
    // go now share commits (a split read may make it more than one).
    assert!(
        commits_after - commits_before < requests,
        "{requests} pipelined state changes took {} group commits",
        commits_after - commits_before
    );
}
