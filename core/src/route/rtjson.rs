//! The `rtjson` documents `/route` answers. `proxy` and `outbound` carry
//! Kamailio rtjson module fields (`version`, `routing`, `routes`) so the
//! SIP layer can pass the document to `rtjson_init_routes()` as it is.
//! `routing` is `serial` whenever a branch carries headers or timers
//! (Kamailio keeps those only for the first branch of a parallel fork).
//!
//! A document is typed ([`Rtjson`]) and serialized once, with serde, in the
//! field order of each constructor below: the bytes a `serde_json::Value`
//! built key by key would give, without building one per request.

use crate::account::{Account, RingStrategy, Trunk, User};
use crate::presence::Binding;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// One branch to ring: a device's registered contact.
#[derive(Clone, Debug)]
pub struct Branch<'a> {
    /// The device the contact belongs to.
    pub device_id: &'a str,
    /// The live registration to ring.
    pub binding: &'a Binding,
}

/// An rtjson document, borrowing the account's ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Rtjson<'a> {
    /// `{"action":"reject","code","reason","detail"}`.
    Reject {
        code: u16,
        reason: &'static str,
        detail: Cow<'a, str>,
    },
    /// `{"action":"flow","account_id","flow_id","vars"}`.
    Flow {
        account_id: &'a str,
        flow_id: Cow<'a, str>,
        vars: Map<String, Value>,
    },
    /// See [`proxy`].
    Proxy(Box<Proxy<'a>>),
    /// See [`outbound`].
    Outbound(Box<Outbound<'a>>),
}

/// A `proxy` document's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Proxy<'a> {
    pub account_id: &'a str,
    /// The user rung.
    pub user_id: &'a str,
    /// `sip:{username}@{primary domain}`.
    pub aor: String,
    /// The user's ring timeout (the whole fork's).
    pub timeout_sec: u32,
    /// `serial` or `parallel`.
    pub routing: &'static str,
    /// One per reachable contact, never empty.
    pub routes: Vec<ProxyRoute<'a>>,
    /// Where an unanswered call goes (`fwd_noanswer`, else voicemail).
    pub fallback: Option<Rtjson<'a>>,
}

/// One branch of a `proxy`: `uri`, then `dst_uri`, `path`, `socket` and
/// `fr_inv_timer` when set.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProxyRoute<'a> {
    pub uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fr_inv_timer: Option<u64>,
}

/// An `outbound` document's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbound<'a> {
    pub account_id: &'a str,
    /// `trunk` or `wholesale`.
    pub carrier: &'static str,
    /// The normalized number dialled.
    pub dest: String,
    /// The single route: `sip:{dest}@{host};transport={transport}`.
    pub uri: String,
    /// The branch's From (`display`, `uri`), when there is a caller-ID.
    pub from: Option<FromHeader>,
    /// The trunk carrying the call (None: wholesale).
    pub trunk_id: Option<&'a str>,
    /// The caller-ID number presented (user, else trunk, else account).
    pub cid_number: Option<&'a str>,
}

/// The From header of an outbound branch.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FromHeader {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    pub uri: String,
}

/// `{"uri", "headers": {"from": …}}` of an outbound branch.
#[derive(serde::Serialize)]
struct OutboundRoute<'r> {
    uri: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Headers<'r>>,
}

#[derive(serde::Serialize)]
struct Headers<'r> {
    from: &'r FromHeader,
}

impl Rtjson<'_> {
    /// The `action` field.
    pub fn action(&self) -> &'static str {
        match self {
            Rtjson::Reject { .. } => "reject",
            Rtjson::Flow { .. } => "flow",
            Rtjson::Proxy(_) => "proxy",
            Rtjson::Outbound(_) => "outbound",
        }
    }

    /// True for a reject document.
    pub fn is_reject(&self) -> bool {
        matches!(self, Rtjson::Reject { .. })
    }

    /// A reject's `code`.
    pub fn code(&self) -> Option<u16> {
        match self {
            Rtjson::Reject { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A reject's `detail` (the only document with one).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Rtjson::Reject { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// The document as compact JSON text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("an rtjson document always serializes")
    }
}

impl Serialize for Rtjson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("action", self.action())?;
        match self {
            Rtjson::Reject {
                code,
                reason,
                detail,
            } => {
                map.serialize_entry("code", code)?;
                map.serialize_entry("reason", reason)?;
                map.serialize_entry("detail", detail)?;
            }
            Rtjson::Flow {
                account_id,
                flow_id,
                vars,
            } => {
                map.serialize_entry("account_id", account_id)?;
                map.serialize_entry("flow_id", flow_id)?;
                map.serialize_entry("vars", vars)?;
            }
            Rtjson::Proxy(proxy) => {
                map.serialize_entry("account_id", proxy.account_id)?;
                map.serialize_entry("user_id", proxy.user_id)?;
                map.serialize_entry("aor", &proxy.aor)?;
                map.serialize_entry("timeout_sec", &proxy.timeout_sec)?;
                map.serialize_entry("version", "1.0")?;
                map.serialize_entry("routing", proxy.routing)?;
                map.serialize_entry("routes", &proxy.routes)?;
                if let Some(fallback) = &proxy.fallback {
                    map.serialize_entry("fallback", fallback)?;
                }
            }
            Rtjson::Outbound(outbound) => {
                map.serialize_entry("account_id", outbound.account_id)?;
                map.serialize_entry("carrier", outbound.carrier)?;
                map.serialize_entry("dest", &outbound.dest)?;
                map.serialize_entry("version", "1.0")?;
                map.serialize_entry("routing", "serial")?;
                let route = OutboundRoute {
                    uri: &outbound.uri,
                    headers: outbound.from.as_ref().map(|from| Headers { from }),
                };
                map.serialize_entry("routes", &[route])?;
                if let Some(trunk_id) = outbound.trunk_id {
                    map.serialize_entry("trunk_id", trunk_id)?;
                }
                if let Some(cid) = outbound.cid_number {
                    map.serialize_entry("cid_number", cid)?;
                }
            }
        }
        map.end()
    }
}

/// `{"action":"reject","code","reason","detail"}`.
pub fn reject<'a>(code: u16, reason: &'static str, detail: impl Into<Cow<'a, str>>) -> Rtjson<'a> {
    Rtjson::Reject {
        code,
        reason,
        detail: detail.into(),
    }
}

/// `{"action":"flow","account_id","flow_id","vars"}`.
pub fn flow<'a>(
    account_id: &'a str,
    flow_id: impl Into<Cow<'a, str>>,
    vars: &Map<String, Value>,
) -> Rtjson<'a> {
    Rtjson::Flow {
        account_id,
        flow_id: flow_id.into(),
        vars: vars.clone(),
    }
}

/// `proxy` to a user's reachable contacts; `branches` is never empty.
/// Fields: `action`, `account_id`, `user_id`, `aor`, `timeout_sec`,
/// `version`, `routing`, `routes`, then `fallback` when set.
pub fn proxy<'a>(
    account_id: &'a str,
    user: &'a User,
    aor: String,
    branches: Vec<Branch<'a>>,
    fallback: Option<Rtjson<'a>>,
) -> Rtjson<'a> {
    assert!(!branches.is_empty(), "a proxy decision has a branch");
    let timer_ms = u64::from(user.ring_timeout_sec) * 1000;
    let serial = user.ring_strategy == RingStrategy::Sequential;
    let one = branches.len() == 1;
    let routes = branches
        .iter()
        .map(|branch| {
            let binding = branch.binding;
            ProxyRoute {
                uri: &binding.contact,
                dst_uri: binding.received.as_deref(),
                path: binding.path.as_deref(),
                socket: binding.socket.as_deref(),
                fr_inv_timer: (serial || one).then_some(timer_ms),
            }
        })
        .collect();
    Rtjson::Proxy(Box::new(Proxy {
        account_id,
        user_id: &user.id,
        aor,
        timeout_sec: user.ring_timeout_sec,
        routing: if serial { "serial" } else { "parallel" },
        routes,
        fallback,
    }))
}

/// `outbound` to `dest` through `trunk`, else the wholesale carrier at
/// `wholesale` (`host[:port]`). The caller-ID goes in the branch's From.
/// Fields: `action`, `account_id`, `carrier`, `dest`, `version`,
/// `routing`, `routes`, then `trunk_id` and `cid_number` when set.
pub fn outbound<'a>(
    account: &'a Account,
    trunk: Option<&'a Trunk>,
    wholesale: &str,
    dest: &str,
    cid_number: Option<&'a str>,
    display: Option<&str>,
) -> Rtjson<'a> {
    let (carrier, host, transport) = match trunk {
        Some(trunk) => (
            "trunk",
            trunk.proxy.as_deref().unwrap_or_default(),
            trunk.transport.as_str(),
        ),
        None => ("wholesale", wholesale, "udp"),
    };
    let cid = cid_number
        .or_else(|| trunk.and_then(|t| t.cid_number.as_deref()))
        .or(account.doc().default_cid_number.as_deref());
    let from = cid.map(|cid| FromHeader {
        display: display.map(String::from),
        uri: format!("sip:{cid}@{}", account.primary_domain()),
    });
    Rtjson::Outbound(Box::new(Outbound {
        account_id: &account.id,
        carrier,
        dest: dest.to_string(),
        uri: format!("sip:{dest}@{host};transport={transport}"),
        from,
        trunk_id: trunk.map(|t| t.id.as_str()),
        cid_number: cid,
    }))
}
