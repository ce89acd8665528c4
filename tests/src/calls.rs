//! Helpers of the call tests (`route.rs`, `presence.rs`).

use crate::{Client, ADMIN_TOKEN};
use serde_json::Value;

/// `GET /calls/{callId}/trace`, answered 200.
pub fn trace(client: &mut Client, call_id: &str) -> Value {
    let reply = client.request(
        "GET",
        &format!("/calls/{call_id}/trace"),
        &[("x-admin-token", ADMIN_TOKEN)],
        None,
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// The callIds of a `/cac` answer's `active` list, sorted.
pub fn active_ids(cac: &Value) -> Vec<String> {
    let mut ids: Vec<String> = cac["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["callId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}
