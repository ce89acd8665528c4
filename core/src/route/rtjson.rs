//! The `rtjson` documents `/route` answers. `proxy` and `outbound` carry
//! Kamailio rtjson module fields (`version`, `routing`, `routes`) so the
//! SIP layer can pass the document to `rtjson_init_routes()` as it is.
//! `routing` is `serial` whenever a branch carries headers or timers
//! (Kamailio keeps those only for the first branch of a parallel fork).

use crate::account::{Account, RingStrategy, Trunk, User};
use crate::presence::Binding;
use serde_json::{json, Map, Value};

/// One branch to ring: a device's registered contact.
#[derive(Clone, Debug)]
pub struct Branch {
    pub device_id: String,
    pub binding: Binding,
}

/// `{"action":"reject","code","reason","detail"}`.
pub fn reject(code: u16, reason: &str, detail: &str) -> Value {
    json!({"action": "reject", "code": code, "reason": reason, "detail": detail})
}

/// `{"action":"flow","account_id","flow_id","vars"}`.
pub fn flow(account_id: &str, flow_id: &str, vars: &Map<String, Value>) -> Value {
    json!({"action": "flow", "account_id": account_id, "flow_id": flow_id, "vars": vars})
}

/// True for a reject document.
pub fn is_reject(rtjson: &Value) -> bool {
    rtjson["action"] == "reject"
}

/// `proxy` to a user's reachable contacts; `branches` is never empty.
pub fn proxy(
    account_id: &str,
    user: &User,
    aor: &str,
    branches: Vec<Branch>,
    fallback: Option<Value>,
) -> Value {
    assert!(!branches.is_empty(), "a proxy decision has a branch");
    let timer_ms = u64::from(user.ring_timeout_sec) * 1000;
    let serial = user.ring_strategy == RingStrategy::Sequential;
    let one = branches.len() == 1;
    let routes: Vec<Value> = branches
        .iter()
        .map(|branch| {
            let mut route = Map::new();
            let binding = &branch.binding;
            route.insert("uri".into(), binding.contact.clone().into());
            if let Some(received) = &binding.received {
                route.insert("dst_uri".into(), received.clone().into());
            }
            if let Some(path) = &binding.path {
                route.insert("path".into(), path.clone().into());
            }
            if let Some(socket) = &binding.socket {
                route.insert("socket".into(), socket.clone().into());
            }
            if serial || one {
                route.insert("fr_inv_timer".into(), timer_ms.into());
            }
            Value::Object(route)
        })
        .collect();
    let mut doc = json!({
        "action": "proxy",
        "account_id": account_id,
        "user_id": user.id,
        "aor": aor,
        "timeout_sec": user.ring_timeout_sec,
        "version": "1.0",
        "routing": if serial { "serial" } else { "parallel" },
        "routes": routes,
    });
    if let Some(fallback) = fallback {
        doc["fallback"] = fallback;
    }
    doc
}

/// `outbound` to `dest` through `trunk`, else the wholesale carrier at
/// `wholesale` (`host[:port]`). The caller-ID goes in the branch's From.
pub fn outbound(
    account: &Account,
    trunk: Option<&Trunk>,
    wholesale: &str,
    dest: &str,
    cid_number: Option<&str>,
    display: Option<&str>,
) -> Value {
    let (carrier, host, transport) = match trunk {
        Some(trunk) => (
            "trunk",
            trunk.proxy.clone().unwrap_or_default(),
            trunk.transport.as_str(),
        ),
        None => ("wholesale", wholesale.to_string(), "udp"),
    };
    let cid = cid_number
        .or_else(|| trunk.and_then(|t| t.cid_number.as_deref()))
        .or(account.doc().default_cid_number.as_deref());
    let mut route = json!({"uri": format!("sip:{dest}@{host};transport={transport}")});
    if let Some(cid) = cid {
        let mut from = Map::new();
        if let Some(display) = display {
            from.insert("display".into(), display.into());
        }
        from.insert(
            "uri".into(),
            format!("sip:{cid}@{}", account.primary_domain()).into(),
        );
        route["headers"] = json!({"from": from});
    }
    let mut doc = json!({
        "action": "outbound",
        "account_id": account.id,
        "carrier": carrier,
        "dest": dest,
        "version": "1.0",
        "routing": "serial",
        "routes": [route],
    });
    if let Some(trunk) = trunk {
        doc["trunk_id"] = trunk.id.clone().into();
    }
    if let Some(cid) = cid {
        doc["cid_number"] = cid.into();
    }
    doc
}
