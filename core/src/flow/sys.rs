//! System flows: the one-node flows `/route` and queue exits point at
//! (`sys:queue:<id>`, `sys:voicemail:<id>`, `sys:conference:<id>`,
//! `sys:ring_group:<id>`) plus the ones a destination becomes inside a
//! flow (`sys:user:`, `sys:extension:`, `sys:forward:`, `sys:hangup`).

use crate::account::{Account, DestKind, Flow, FlowNode};
use serde_json::{json, Value};

/// The flow id a route target becomes.
pub fn dest_flow_id(kind: DestKind, id: Option<&str>) -> String {
    let id = id.unwrap_or("");
    match kind {
        DestKind::Flow => id.to_string(),
        DestKind::Hangup => "sys:hangup".into(),
        other => format!("sys:{}:{id}", other.as_str()),
    }
}

/// The system flow `flow_id` names on `account`, when what it names exists.
pub fn flow(account: &Account, flow_id: &str) -> Option<Flow> {
    let rest = flow_id.strip_prefix("sys:")?;
    if rest == "hangup" {
        return Some(one_node(flow_id, json!({"kind": "hangup"})));
    }
    let (kind, id) = rest.split_once(':')?;
    if id.is_empty() {
        return None;
    }
    let data = match kind {
        "queue" => {
            account.queue(id)?;
            json!({"kind": "enqueue", "queueId": id})
        }
        "voicemail" => {
            account.voicemail_box(id)?;
            json!({"kind": "voicemail", "mailboxId": id})
        }
        "conference" => json!({"kind": "conference", "conferenceId": id}),
        "ring_group" => json!({"kind": "ringGroup", "groupId": id}),
        "user" => {
            account.user(id)?;
            json!({"kind": "dial", "userId": id})
        }
        "extension" => {
            let extension = account.extension_by_id(id)?;
            json!({"kind": "dial", "extension": extension.digits})
        }
        "forward" => json!({"kind": "dial", "number": id}),
        _ => return None,
    };
    Some(one_node(flow_id, data))
}

fn one_node(flow_id: &str, data: Value) -> Flow {
    let Value::Object(data) = data else {
        unreachable!("system node data is an object")
    };
    Flow {
        id: flow_id.to_string(),
        account_id: None,
        name: flow_id.to_string(),
        version: 1,
        start: "sys".into(),
        nodes: vec![FlowNode {
            id: "sys".into(),
            node_type: None,
            position: None,
            data,
        }],
        edges: Vec::new(),
    }
}
