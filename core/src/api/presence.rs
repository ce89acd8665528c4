//! `POST /presence/event`: `register` events give devices their contacts,
//! `dialog` events move calls (CAC release on `terminated`/`failed`, once),
//! and `sync` reports reconcile a node's calls. `agent` events arrive with
//! the ACD.
//!
//! ```text
//! {"type":"register","event":"registered","username":"1001","realm":"acme.sip.io",
//!  "aor":"sip:1001@acme.sip.io","contact":"sip:1001@198.51.100.7:5060","expires":300,"node":"edge-1"}
//! {"type":"dialog","callId":"abc","state":"confirmed","node":"edge-1","epoch":1764300000}
//! {"type":"dialog","state":"sync","node":"edge-1","epoch":1764300000,"callIds":["abc"]}
//! ```

use super::error::{ok, ApiError};
use super::fields::{opt_str, req_str};
use crate::calls::Progress;
use crate::event::Event;
use crate::limits::{CALL_ID_BYTES_MAX, DOMAIN_BYTES_MAX, SIP_FIELD_BYTES_MAX, SYNC_CALL_IDS_MAX};
use crate::presence::Binding;
use crate::route::request::{check_printable, epoch_field};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Longest registration accepted, in seconds (a week).
pub const EXPIRES_SEC_MAX: u32 = 7 * 24 * 3600;

/// A decoded `/presence/event` (other than `sync`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceEvent {
    Register(RegisterEvent),
    Dialog(DialogEvent),
    /// `type: agent`: the body of `POST /agent`.
    Agent(super::agent::AgentRequest),
}

/// `type: register`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterEvent {
    /// `registered`/`refreshed` (true) or `unregistered`/`expired`.
    pub bind: bool,
    pub username: String,
    pub realm: String,
    pub aor: Option<String>,
    pub contact: Option<String>,
    pub received: Option<String>,
    pub path: Option<String>,
    pub socket: Option<String>,
    pub expires: u32,
    pub user_agent: Option<String>,
    pub node: String,
}

/// What a dialog report says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
    Failed,
}

/// `type: dialog` with a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogEvent {
    pub call_id: String,
    pub state: DialogState,
    pub code: Option<u16>,
    pub reason: Option<String>,
    pub node: String,
    pub epoch: Option<u64>,
}

/// `type: dialog, state: sync`: the calls a node still has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    pub node: String,
    pub epoch: u64,
    pub call_ids: BTreeSet<String>,
}

/// What one `/presence/event` body decodes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Event(PresenceEvent),
    Sync(SyncReport),
}

/// Decodes a body (form or JSON; in a form `callIds` is a JSON string).
pub fn decode(body: &Map<String, Value>) -> Result<Decoded, ApiError> {
    let kind = req_str(body, "type", 16)?;
    let node = opt_str(body, "node", 128)?.unwrap_or_else(|| "default".into());
    check_printable("node", &node)?;
    match kind.as_str() {
        "register" => {
            decode_register(body, node).map(|e| Decoded::Event(PresenceEvent::Register(e)))
        }
        "dialog" => {
            let state = req_str(body, "state", 16)?;
            if state == "sync" {
                return decode_sync(body, node).map(Decoded::Sync);
            }
            let state = match state.as_str() {
                "early" => DialogState::Early,
                "confirmed" => DialogState::Confirmed,
                "terminated" => DialogState::Terminated,
                "failed" => DialogState::Failed,
                _ => {
                    return Err(ApiError::invalid(
                        "state",
                        "must be early, confirmed, terminated, failed or sync",
                    ))
                }
            };
            let call_id = req_str(body, "callId", CALL_ID_BYTES_MAX)?;
            check_printable("callId", &call_id)?;
            let code = match opt_str(body, "code", 8)? {
                Some(text) => Some(
                    text.parse::<u16>()
                        .ok()
                        .filter(|c| (100..700).contains(c))
                        .ok_or_else(|| ApiError::invalid("code", "must be a SIP status code"))?,
                ),
                None => None,
            };
            Ok(Decoded::Event(PresenceEvent::Dialog(DialogEvent {
                call_id,
                state,
                code,
                reason: opt_str(body, "reason", SIP_FIELD_BYTES_MAX)?,
                node,
                epoch: epoch_field(body)?,
            })))
        }
        "agent" => super::agent::decode(body).map(|r| Decoded::Event(PresenceEvent::Agent(r))),
        _ => Err(ApiError::invalid(
            "type",
            "must be register, dialog or agent",
        )),
    }
}

fn decode_register(body: &Map<String, Value>, node: String) -> Result<RegisterEvent, ApiError> {
    let bind = match req_str(body, "event", 16)?.as_str() {
        "registered" | "refreshed" => true,
        "unregistered" | "expired" => false,
        _ => {
            return Err(ApiError::invalid(
                "event",
                "must be registered, refreshed, unregistered or expired",
            ))
        }
    };
    let expires = match opt_str(body, "expires", 12)? {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|e| *e <= EXPIRES_SEC_MAX)
            .ok_or_else(|| ApiError::invalid("expires", "must be seconds, at most a week"))?,
        None if bind => return Err(ApiError::missing("expires")),
        None => 0,
    };
    let contact = opt_str(body, "contact", SIP_FIELD_BYTES_MAX)?;
    if bind && contact.is_none() {
        return Err(ApiError::missing("contact"));
    }
    let realm = req_str(body, "realm", DOMAIN_BYTES_MAX)?.to_ascii_lowercase();
    let username = req_str(body, "username", SIP_FIELD_BYTES_MAX)?;
    for (field, value) in [("username", &username), ("realm", &realm)] {
        check_printable(field, value)?;
    }
    Ok(RegisterEvent {
        bind: bind && expires > 0,
        username,
        realm,
        aor: opt_str(body, "aor", SIP_FIELD_BYTES_MAX)?,
        contact,
        received: opt_str(body, "received", SIP_FIELD_BYTES_MAX)?,
        path: opt_str(body, "path", SIP_FIELD_BYTES_MAX)?,
        socket: opt_str(body, "socket", SIP_FIELD_BYTES_MAX)?,
        expires,
        user_agent: opt_str(body, "userAgent", SIP_FIELD_BYTES_MAX)?,
        node,
    })
}

fn decode_sync(body: &Map<String, Value>, node: String) -> Result<SyncReport, ApiError> {
    let epoch = epoch_field(body)?.ok_or_else(|| ApiError::missing("epoch"))?;
    let list = match body.get("callIds") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) if text.is_empty() => Vec::new(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            _ => {
                return Err(ApiError::bad_field(
                    "callIds",
                    "must be a JSON array of strings",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::bad_field(
                "callIds",
                "must be an array of strings",
            ))
        }
    };
    if list.len() > SYNC_CALL_IDS_MAX {
        return Err(ApiError::invalid(
            "callIds",
            &format!("more than {SYNC_CALL_IDS_MAX} calls"),
        ));
    }
    let mut call_ids = BTreeSet::new();
    for (i, item) in list.into_iter().enumerate() {
        match item {
            Value::String(id) if !id.is_empty() && id.len() <= CALL_ID_BYTES_MAX => {
                call_ids.insert(id);
            }
            _ => {
                return Err(ApiError::invalid(
                    &format!("callIds[{i}]"),
                    "must be a call id (1..256 bytes)",
                ))
            }
        }
    }
    Ok(SyncReport {
        node,
        epoch,
        call_ids,
    })
}

/// Ends this shard's calls of `node` from epochs before `epoch`, and
/// records the new epoch, when `epoch` is newer than the one known.
pub fn epoch_events(shard: &Shard, node: &str, epoch: u64, now: Millis) -> Vec<Event> {
    if epoch <= shard.node_epoch(node) {
        return Vec::new();
    }
    let mut events = vec![Event::NodeEpoch {
        node: node.to_string(),
        epoch,
    }];
    for record in shard.calls().values() {
        let start = &record.start;
        if record.is_live() && start.node == node && start.epoch < epoch {
            events.push(ended(
                &start.call_id,
                now,
                disposition_of(record.progress, None, false),
                "node_restarted",
                "presence",
                json!({"node": node, "old_epoch": start.epoch, "new_epoch": epoch}),
            ));
        }
    }
    events
}

/// A `CallEnded` event.
pub fn ended(
    call_id: &str,
    at: Millis,
    disposition: &str,
    cause: &str,
    source: &str,
    note: Value,
) -> Event {
    Event::CallEnded {
        call_id: call_id.to_string(),
        at,
        disposition: disposition.to_string(),
        cause: cause.to_string(),
        source: source.to_string(),
        note: note.to_string(),
    }
}

/// The CDR disposition of a call that ends after reaching `progress`.
pub fn disposition_of(progress: Progress, code: Option<u16>, failed: bool) -> &'static str {
    if progress == Progress::Confirmed {
        return "answered";
    }
    match code {
        Some(486) | Some(600) => "busy",
        Some(487) | Some(408) | Some(480) => "no_answer",
        _ if failed => "failed",
        _ => "no_answer",
    }
}

/// Decides a register or dialog event.
pub fn decide(shard: &Shard, now: Millis, salt: u64, event: &PresenceEvent) -> Decision {
    let decision = match event {
        PresenceEvent::Register(event) => register(shard, now, event),
        PresenceEvent::Dialog(event) => dialog(shard, now, event),
        PresenceEvent::Agent(request) => {
            return super::agent::decide_post(shard, now, salt, request)
        }
    };
    settle_after(shard, now, salt, decision)
}

/// Runs the ACD of the decision's account after a change that can free or
/// reach agents (a call ended, a phone registered): the due timers and
/// every offer now possible.
fn settle_after(shard: &Shard, now: Millis, salt: u64, decision: Decision) -> Decision {
    let account_id = decision.events.iter().find_map(|e| match e {
        Event::Registered { account_id, .. } | Event::Unregistered { account_id, .. } => {
            Some(account_id.clone())
        }
        Event::CallEnded { call_id, .. } => shard.call(call_id).map(|r| r.start.account_id.clone()),
        _ => None,
    });
    let Some(account) = account_id.and_then(|id| shard.account(&id)) else {
        return decision;
    };
    if shard.acd().account(&account.id).is_none() {
        return decision;
    }
    let mut plan = crate::acd::plan::Plan::new(shard, account, now, salt);
    let reply = decision.reply;
    for event in decision.events {
        plan.push(event);
    }
    plan.settle();
    Decision {
        reply,
        events: plan.events,
    }
}

fn register(shard: &Shard, now: Millis, event: &RegisterEvent) -> Decision {
    let Some(account) = shard
        .account_for_realm(&event.realm)
        .filter(|a| shard.owns(&a.id))
    else {
        let error = ApiError::new(
            404,
            "unknown_realm",
            format!("no account has domain {}", event.realm),
        );
        return Decision::reply(error.to_response());
    };
    let name = event.username.split('@').next().unwrap_or(&event.username);
    let Some(device) = account.device_for_auth(name, &event.realm) else {
        let error = ApiError::new(
            404,
            "unknown_device",
            format!("no device {name} in {}", event.realm),
        );
        return Decision::reply(error.to_response());
    };
    let registrations = shard.registrations();
    let others = registrations
        .live(&account.id, &device.id, now)
        .filter(|b| Some(&b.contact) != event.contact.as_ref())
        .count();
    let event_out = if event.bind {
        let contact = event
            .contact
            .clone()
            .expect("decode: a binding has a contact");
        Event::Registered {
            account_id: account.id.clone(),
            device_id: device.id.clone(),
            binding: Binding {
                contact,
                received: event.received.clone(),
                path: event.path.clone(),
                socket: event.socket.clone(),
                user_agent: event.user_agent.clone(),
                node: event.node.clone(),
                registered_at: now,
                expires_at: now.plus_sec(u64::from(event.expires)),
            },
        }
    } else {
        Event::Unregistered {
            account_id: account.id.clone(),
            device_id: device.id.clone(),
            contact: event.contact.clone(),
            at: now,
        }
    };
    let contacts = match (event.bind, &event.contact) {
        (true, _) => others + 1,
        (false, Some(_)) => others,
        (false, None) => 0,
    };
    let reply = ok(json!({
        "account_id": account.id, "user_id": device.user_id, "device_id": device.id,
        "reachable": contacts > 0, "contacts": contacts,
    }));
    let mut events = vec![event_out];
    let user_reachable = contacts > 0
        || account
            .devices_of(&device.user_id)
            .filter(|d| d.id != device.id)
            .any(|d| registrations.reachable(&account.id, &d.id, now));
    events.extend(reachability_logged(
        shard,
        account,
        &device.user_id,
        now,
        user_reachable,
    ));
    Decision { reply, events }
}

fn dialog(shard: &Shard, now: Millis, event: &DialogEvent) -> Decision {
    let Some(record) = shard.call(&event.call_id) else {
        let error = ApiError::new(404, "unknown_call", format!("no call {}", event.call_id));
        return Decision::reply(error.to_response());
    };
    let mut events = match event.epoch {
        Some(epoch) => epoch_events(shard, &event.node, epoch, now),
        None => Vec::new(),
    };
    let restarted = events
        .iter()
        .any(|e| matches!(e, Event::CallEnded { call_id, .. } if *call_id == event.call_id));
    let note = json!({
        "state": match event.state {
            DialogState::Early => "early",
            DialogState::Confirmed => "confirmed",
            DialogState::Terminated => "terminated",
            DialogState::Failed => "failed",
        },
        "code": event.code, "reason": event.reason, "node": event.node,
    });
    let live = record.is_live() && !restarted;
    #[cfg(feature = "planted-bugs")]
    let double = crate::planted::active(crate::planted::Bug::CacDoubleRelease) && !restarted;
    #[cfg(not(feature = "planted-bugs"))]
    let double = false;
    let mut applied = false;
    match event.state {
        DialogState::Early | DialogState::Confirmed => {
            let progress = if event.state == DialogState::Early {
                Progress::Early
            } else {
                Progress::Confirmed
            };
            if live && record.progress < progress {
                applied = true;
                events.push(Event::CallProgressed {
                    call_id: event.call_id.clone(),
                    progress,
                    at: now,
                    note: note.to_string(),
                });
            }
        }
        DialogState::Terminated | DialogState::Failed => {
            if live || double {
                applied = true;
                let failed = event.state == DialogState::Failed;
                let disposition = disposition_of(record.progress, event.code, failed);
                let cause = match event.code {
                    Some(code) => format!("{}:{code}", note["state"].as_str().unwrap_or("")),
                    None => note["state"].as_str().unwrap_or("").to_string(),
                };
                events.push(ended(
                    &event.call_id,
                    now,
                    disposition,
                    &cause,
                    "presence",
                    note,
                ));
            }
        }
    }
    let reply = ok(json!({"callId": event.call_id, "applied": applied}));
    Decision { reply, events }
}

/// A node's sync report, on one shard (every shard gets it): calls of the
/// node this shard owns that the report does not list end (unless routed
/// within the grace period), and a newer epoch ends the older epochs' calls.
pub fn decide_sync(shard: &Shard, now: Millis, report: &SyncReport) -> Decision {
    let mut events = epoch_events(shard, &report.node, report.epoch, now);
    let ending: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::CallEnded { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    let grace = shard.config().sync_grace_ms;
    for record in shard.calls().values() {
        let start = &record.start;
        let spared = now.since(start.at) < grace;
        if record.is_live()
            && start.node == report.node
            && !report.call_ids.contains(&start.call_id)
            && !ending.contains(&start.call_id)
            && !spared
        {
            events.push(ended(
                &start.call_id,
                now,
                disposition_of(record.progress, None, false),
                "sync",
                "presence",
                json!({"node": report.node, "epoch": report.epoch, "listed": false}),
            ));
        }
    }
    let released = events
        .iter()
        .filter(|e| matches!(e, Event::CallEnded { .. }))
        .count();
    Decision {
        reply: ok(json!({"released": released})),
        events,
    }
}

/// A logged-in agent whose phones went reachable or unreachable: its log
/// gets the bucket change (`registered` / `unregistered`).
fn reachability_logged(
    shard: &Shard,
    account: &crate::account::Account,
    user_id: &str,
    now: Millis,
    reachable: bool,
) -> Option<Event> {
    let agent = shard.acd().account(&account.id)?.agents.get(user_id)?;
    let before = shard.user_reachable(account, user_id, now);
    if agent.status == crate::acd::Status::Offline || before == reachable {
        return None;
    }
    let from = crate::acd::bucket(agent, before, false);
    let to = crate::acd::bucket(agent, reachable, false);
    if from == to {
        return None;
    }
    let mut agent = agent.clone();
    let cause = if reachable {
        "registered"
    } else {
        "unregistered"
    };
    agent.log_change(now, from, to, cause);
    Some(Event::AgentChanged {
        agent: Box::new(agent),
        at: now,
        cause: cause.into(),
    })
}
