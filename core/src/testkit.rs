//! What the shard-level test benches share: the demo account on a fresh
//! shard, and the events that register a device and log an agent in.

use crate::account;
use crate::api::agent::{AgentAction, AgentRequest};
use crate::api::Call;
use crate::auth::nonce::NonceKey;
use crate::event::Event;
use crate::presence::Binding;
use crate::shard::{Shard, ShardConfig};
use crate::time::Millis;
use serde_json::Value;

/// The demo account's id.
pub const ACME: &str = "acc_acme";
/// Wednesday 2025-11-26 15:00 UTC (10:00 in New York: office hours).
pub const T0: Millis = Millis(1_764_169_200_000);

/// The demo account's document (`examples/demo/acme.json`).
pub fn demo_doc() -> Value {
    serde_json::from_str(include_str!("../../examples/demo/acme.json")).unwrap()
}

/// An empty one-shard node (the benches' nonce key).
pub fn blank_shard() -> Shard {
    Shard::new(ShardConfig::new(0, 1, NonceKey([7; 32])))
}

/// A one-shard node holding `doc` as the account `acc_acme`.
pub fn shard_with(doc: &Value) -> Shard {
    let mut shard = blank_shard();
    let account = account::parse(ACME, doc).expect("a valid test document");
    shard.apply(&Event::AccountPut {
        account_id: ACME.into(),
        doc: account.to_json().to_string(),
    });
    shard
}

/// `device` of the demo account registered at `now` for an hour.
pub fn registered(device: &str, now: Millis) -> Event {
    Event::Registered {
        account_id: ACME.into(),
        device_id: device.into(),
        binding: Binding {
            contact: format!("sip:{device}@192.0.2.1"),
            received: None,
            path: None,
            socket: None,
            user_agent: None,
            node: "edge-1".into(),
            registered_at: now,
            expires_at: now.plus_sec(3600),
        },
    }
}

/// `POST /agent` for `user` of the demo account.
pub fn agent_call(user: &str, action: AgentAction, queues: Option<&[(&str, u32)]>) -> Call {
    Call::AgentPost(Box::new(AgentRequest {
        account_id: ACME.into(),
        user: user.into(),
        action,
        reason: None,
        queues: queues.map(|q| q.iter().map(|(id, l)| (id.to_string(), *l)).collect()),
    }))
}
