//! The live debug stream (`GET /debug`): what each event a shard decided
//! looks like to an operator watching, as JSON messages.
//!
//! The runtime renders an event once it is durable and applied on the shard
//! that decided it, and sends each message to the subscribers whose filter
//! ([`DebugMessage::matches`]) it passes. Every message has the same shape:
//!
//! ```json
//! {"ts":1700000000000,"source":"route","type":"routed",
//!  "accountId":"acc_acme","callId":"c-1","data":{…}}
//! ```
//!
//! `source` uses the trace's names (`route`, `cac`, `presence`, `auth`,
//! `security`, `admin`, …); `accountId` and `callId` are `null` when the
//! event has none. [`render`] matches every [`Event`] variant by name, so a
//! new variant does not compile until it says what the stream shows of it.

use crate::calls::{CallStart, Progress};
use crate::event::Event;
use crate::time::Millis;
use core::net::IpAddr;
use serde_json::{json, Map, Value};

/// One message of the debug stream, with what its filters look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugMessage {
    pub account_id: Option<String>,
    pub call_id: Option<String>,
    /// The message as compact JSON (one line).
    pub json: String,
}

impl DebugMessage {
    fn new(
        ts: Millis,
        source: &str,
        kind: &str,
        account_id: Option<&str>,
        call_id: Option<&str>,
        data: Value,
    ) -> DebugMessage {
        let value = json!({
            "ts": ts.0,
            "source": source,
            "type": kind,
            "accountId": account_id,
            "callId": call_id,
            "data": data,
        });
        DebugMessage {
            account_id: account_id.map(str::to_string),
            call_id: call_id.map(str::to_string),
            json: value.to_string(),
        }
    }

    /// True when a subscriber filtering on `account_id` and `call_id`
    /// (each optional; both must hold) wants this message. A message
    /// without an account (a failed digest from some IP) passes only a
    /// subscriber that filters on nothing.
    pub fn matches(&self, account_id: Option<&str>, call_id: Option<&str>) -> bool {
        let account = account_id.is_none_or(|want| self.account_id.as_deref() == Some(want));
        let call = call_id.is_none_or(|want| self.call_id.as_deref() == Some(want));
        account && call
    }
}

/// The messages the debug stream shows of `event`, decided at `now` on a
/// shard whose callId index answers `account_of` (events that name only a
/// call get its account from there). Events that are bookkeeping only
/// (clock floor, snapshot images, start-up index sharing) show nothing.
pub fn render(
    event: &Event,
    now: Millis,
    account_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<DebugMessage> {
    match event {
        Event::AccountPut { account_id, doc } => vec![DebugMessage::new(
            now,
            "admin",
            "account_put",
            Some(account_id),
            None,
            json!({"bytes": doc.len()}),
        )],
        Event::AccountDeleted { account_id } => vec![DebugMessage::new(
            now,
            "admin",
            "account_deleted",
            Some(account_id),
            None,
            json!({}),
        )],
        Event::NonceUsed {
            nonce,
            nc,
            at,
            expires_at,
        } => vec![DebugMessage::new(
            *at,
            "auth",
            "nonce_used",
            None,
            None,
            json!({"nonce": nonce, "nc": nc, "replayUntil": expires_at.0}),
        )],
        Event::AuthFailed { ip, at } => {
            vec![DebugMessage::new(
                *at,
                "security",
                "auth_failed",
                None,
                None,
                json!({"ip": ip_text(*ip)}),
            )]
        }
        Event::ClockSeen { .. } => Vec::new(),
        Event::CallRouted(start) => routed(start),
        Event::CallProgressed {
            call_id,
            progress,
            at,
            note,
        } => {
            let mut data = object(note);
            data.insert("progress".into(), progress_name(*progress).into());
            vec![DebugMessage::new(
                *at,
                "presence",
                "dialog",
                account_of(call_id).as_deref(),
                Some(call_id),
                Value::Object(data),
            )]
        }
        Event::CallEnded {
            call_id,
            at,
            disposition,
            cause,
            source,
            note,
        } => vec![DebugMessage::new(
            *at,
            source,
            "ended",
            account_of(call_id).as_deref(),
            Some(call_id),
            json!({"disposition": disposition, "cause": cause, "note": parse(note)}),
        )],
        Event::CacReleased { call_id, at } => vec![DebugMessage::new(
            *at,
            "cac",
            "reset",
            account_of(call_id).as_deref(),
            Some(call_id),
            json!({"by": "POST /cac/reset"}),
        )],
        Event::Registered {
            account_id,
            device_id,
            binding,
        } => vec![DebugMessage::new(
            binding.registered_at,
            "presence",
            "registered",
            Some(account_id),
            None,
            json!({
                "deviceId": device_id,
                "contact": binding.contact,
                "received": binding.received,
                "userAgent": binding.user_agent,
                "node": binding.node,
                "expiresAt": binding.expires_at.0,
            }),
        )],
        Event::Unregistered {
            account_id,
            device_id,
            contact,
            at,
        } => vec![DebugMessage::new(
            *at,
            "presence",
            "unregistered",
            Some(account_id),
            None,
            json!({"deviceId": device_id, "contact": contact}),
        )],
        Event::NodeEpoch { node, epoch } => vec![DebugMessage::new(
            now,
            "presence",
            "node_epoch",
            None,
            None,
            json!({"node": node, "epoch": epoch}),
        )],
        Event::FlowStep { session, webhook } => {
            // The step's own trace entries, then the command it answered.
            let account = Some(session.account_id.as_str());
            let call = Some(session.call_id.as_str());
            let mut messages: Vec<DebugMessage> = session
                .trace
                .iter()
                .map(|entry| {
                    let data = Value::Object(object(&entry.data));
                    DebugMessage::new(entry.ts, "flow", &entry.kind, account, call, data)
                })
                .collect();
            let mut data = json!({"seq": session.seq, "node": session.node,
                                  "flowId": session.flow_id, "command": parse(&session.command)});
            if let Some(webhook) = webhook {
                data["webhook"] = json!(webhook.url);
            }
            messages.push(DebugMessage::new(
                session.updated_at,
                "flow",
                "command",
                account,
                call,
                data,
            ));
            messages
        }
        Event::VoicemailRecorded(message) => vec![DebugMessage::new(
            message.at,
            "media",
            "voicemail",
            Some(&message.account_id),
            Some(&message.call_id),
            json!({"key": message.key, "durationMs": message.duration_ms,
                   "size": message.size_bytes}),
        )],
        Event::BanReport {
            node,
            at,
            upsert,
            ended,
        } => {
            let banned: Vec<Value> = upsert
                .iter()
                .map(|row| json!({"ip": ip_text(row.ip), "reason": row.reason, "hits": row.hits}))
                .collect();
            let ended: Vec<String> = ended.iter().map(|ip| ip_text(*ip)).collect();
            vec![DebugMessage::new(
                *at,
                "security",
                "ban_report",
                None,
                None,
                json!({"node": node, "banned": banned, "ended": ended}),
            )]
        }
        Event::BanNodeForgotten { node, at } => vec![DebugMessage::new(
            *at,
            "security",
            "node_forgotten",
            None,
            None,
            json!({"node": node}),
        )],
        Event::AllowAdded { net, note, at } => vec![DebugMessage::new(
            *at,
            "security",
            "allow_added",
            None,
            None,
            json!({"cidr": ipnet::IpNet::from(*net).to_string(), "note": note}),
        )],
        Event::AllowRemoved { net, at } => vec![DebugMessage::new(
            *at,
            "security",
            "allow_removed",
            None,
            None,
            json!({"cidr": ipnet::IpNet::from(*net).to_string()}),
        )],
        Event::AuthFlagged {
            failures,
            ip,
            at,
            until,
            ..
        } => vec![DebugMessage::new(
            *at,
            "security",
            "auth_flagged",
            None,
            None,
            json!({"ip": ip_text(*ip), "failures": failures, "until": until.0}),
        )],
        Event::CallImage(_)
        | Event::RateImage { .. }
        | Event::CallIndexed { .. }
        | Event::FlowImage(_)
        | Event::VoicemailImage { .. }
        | Event::BanEnded(_)
        | Event::AcdImage(_) => Vec::new(),
        acd @ (Event::AgentChanged { .. }
        | Event::QueueJoined(_)
        | Event::LeaseOffered { .. }
        | Event::LeaseConfirmed { .. }
        | Event::LeaseExpired { .. }
        | Event::PositionAnnounced { .. }) => render_acd(acd),
    }
}

/// An address as an operator writes it.
fn ip_text(ip: crate::event::Ip) -> String {
    IpAddr::from(ip).to_string()
}

/// The ACD's events (`source: acd`).
fn render_acd(event: &Event) -> Vec<DebugMessage> {
    let (at, kind, account, call, data) = match event {
        Event::AgentChanged { agent, at, cause } => (
            *at,
            "agent",
            agent.account_id.as_str(),
            agent.call.as_deref(),
            json!({"userId": agent.user_id, "status": agent.status.as_str(),
                   "state": agent.state.as_str(), "bucket": agent.state_bucket(), "cause": cause}),
        ),
        Event::QueueJoined(caller) => (
            caller.enqueued_at,
            "joined",
            caller.account_id.as_str(),
            Some(caller.call_id.as_str()),
            json!({"queueId": caller.queue_id, "leaseId": caller.lease_id}),
        ),
        Event::LeaseOffered {
            account_id,
            call_id,
            agents,
            epoch,
            expires_at,
            at,
            ..
        } => (
            *at,
            "offered",
            account_id.as_str(),
            Some(call_id.as_str()),
            json!({"agents": agents, "epoch": epoch, "expiresAt": expires_at.0}),
        ),
        Event::LeaseConfirmed {
            account_id,
            call_id,
            agent_id,
            epoch,
            at,
        } => (
            *at,
            "connected",
            account_id.as_str(),
            Some(call_id.as_str()),
            json!({"agentId": agent_id, "epoch": epoch}),
        ),
        Event::LeaseExpired {
            account_id,
            call_id,
            epoch,
            at,
            cause,
        } => (
            *at,
            "no_answer",
            account_id.as_str(),
            Some(call_id.as_str()),
            json!({"epoch": epoch, "cause": cause}),
        ),
        Event::PositionAnnounced {
            account_id,
            call_id,
            position,
            at,
        } => (
            *at,
            "position",
            account_id.as_str(),
            Some(call_id.as_str()),
            json!({"position": position}),
        ),
        other => unreachable!("render handles {other:?}"),
    };
    vec![DebugMessage::new(
        at,
        "acd",
        kind,
        Some(account),
        call,
        data,
    )]
}

/// A routing decision: one message per trace entry it recorded (`route`,
/// then `cac` when it admitted), the route one carrying the reply's rtjson.
fn routed(start: &CallStart) -> Vec<DebugMessage> {
    start
        .trace
        .iter()
        .map(|entry| {
            let mut data = object(&entry.data);
            if entry.source == "route" {
                data.insert("rejected".into(), start.rejected.into());
                data.insert("rtjson".into(), parse(&start.rtjson));
            }
            DebugMessage::new(
                entry.ts,
                &entry.source,
                &entry.kind,
                Some(&start.account_id),
                Some(&start.call_id),
                Value::Object(data),
            )
        })
        .collect()
}

fn progress_name(progress: Progress) -> &'static str {
    match progress {
        Progress::Routed => "routed",
        Progress::Early => "early",
        Progress::Confirmed => "confirmed",
    }
}

/// JSON text carried by an event, back to JSON (`null` if it is not).
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// JSON text as an object (anything else goes under `note`).
fn object(text: &str) -> Map<String, Value> {
    match parse(text) {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("note".to_string(), other)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{Admission, CallRecord, Dim, Direction, TraceEvent};
    use crate::event::Ip;
    use crate::presence::Binding;

    fn voicemail() -> crate::media::voicemail::VoicemailMessage {
        crate::media::voicemail::VoicemailMessage {
            account_id: "acc_acme".into(),
            call_id: "c-1".into(),
            key: "acc_acme/vm/c-1.wav".into(),
            size_bytes: 44,
            duration_ms: 0,
            sha256: "00".into(),
            at: Millis(9_500),
            from: None,
        }
    }

    fn caller() -> crate::acd::Caller {
        crate::acd::Caller {
            account_id: "acc_acme".into(),
            queue_id: "q_sales".into(),
            call_id: "c-1".into(),
            lease_id: "ls_1".into(),
            seq: 1,
            enqueued_at: Millis(1),
            wrap_up_ms: 10_000,
            ring_ms: 20_000,
            offer: None,
            last_epoch: 0,
            connected: None,
            announced: None,
        }
    }

    fn session() -> crate::flow::Session {
        crate::flow::Session {
            call_id: "c-1".into(),
            account_id: "acc_acme".into(),
            flow_id: "flow_main".into(),
            node: "menu".into(),
            seq: 1,
            command: r#"{"cmd":"gather"}"#.into(),
            phase: crate::flow::Phase::Command,
            vars: Vec::new(),
            language: "en-US".into(),
            failures: 0,
            timeouts: 0,
            steps: 0,
            started_at: Millis(1_000),
            updated_at: Millis(1_000),
            wait: None,
            owns_call: false,
            trace: vec![TraceEvent {
                seq: 0,
                ts: Millis(1_000),
                source: "flow".into(),
                kind: "node".into(),
                data: r#"{"node":"menu","kind":"menu"}"#.into(),
            }],
            end_cause: String::new(),
        }
    }

    fn start(rejected: bool) -> CallStart {
        let mut trace = vec![TraceEvent {
            seq: 1,
            ts: Millis(1_000),
            source: "route".into(),
            kind: "routed".into(),
            data: r#"{"action":"route","steps":["did"]}"#.into(),
        }];
        if !rejected {
            trace.push(TraceEvent {
                seq: 2,
                ts: Millis(1_000),
                source: "cac".into(),
                kind: "admitted".into(),
                data: r#"{"dims":["account_in"]}"#.into(),
            });
        }
        CallStart {
            call_id: "c-1".into(),
            account_id: "acc_acme".into(),
            direction: Direction::Inbound,
            from: "+15550001".into(),
            to: "+15550002".into(),
            node: "edge-1".into(),
            epoch: 1,
            at: Millis(1_000),
            rtjson: r#"{"version":"1.0","routing":"serial","routes":[]}"#.into(),
            admission: (!rejected).then(|| Admission {
                dims: vec![Dim::AccountIn],
                rates: Vec::new(),
            }),
            trace,
            rejected,
            reject_code: if rejected { 403 } else { 0 },
        }
    }

    fn binding() -> Binding {
        Binding {
            contact: "sip:1001@198.51.100.7:5060".into(),
            received: Some("sip:198.51.100.7:40000".into()),
            path: None,
            socket: None,
            user_agent: Some("phone/1".into()),
            node: "edge-1".into(),
            registered_at: Millis(2_000),
            expires_at: Millis(3_602_000),
        }
    }

    fn ban_row() -> crate::security::bans::BanRow {
        crate::security::bans::BanRow {
            ip: Ip::from(IpAddr::from([203, 0, 113, 9])),
            reason: "auth_fail".into(),
            hits: 12,
            since: None,
            expires_at: None,
            first_seen: Millis(10),
        }
    }

    /// One event of every variant (the match makes a new variant add one).
    fn every_variant() -> Vec<Event> {
        let sample = |event: &Event| match event {
            Event::AccountPut { .. }
            | Event::AccountDeleted { .. }
            | Event::NonceUsed { .. }
            | Event::AuthFailed { .. }
            | Event::ClockSeen { .. }
            | Event::CallRouted(_)
            | Event::CallProgressed { .. }
            | Event::CallEnded { .. }
            | Event::CacReleased { .. }
            | Event::Registered { .. }
            | Event::Unregistered { .. }
            | Event::NodeEpoch { .. }
            | Event::CallImage(_)
            | Event::RateImage { .. }
            | Event::CallIndexed { .. }
            | Event::FlowStep { .. }
            | Event::FlowImage(_)
            | Event::VoicemailRecorded(_)
            | Event::VoicemailImage { .. }
            | Event::BanReport { .. }
            | Event::BanNodeForgotten { .. }
            | Event::BanEnded(_)
            | Event::AllowAdded { .. }
            | Event::AllowRemoved { .. }
            | Event::AuthFlagged { .. } => (),
            Event::AgentChanged { .. }
            | Event::QueueJoined(_)
            | Event::LeaseOffered { .. }
            | Event::LeaseConfirmed { .. }
            | Event::LeaseExpired { .. }
            | Event::PositionAnnounced { .. }
            | Event::AcdImage(_) => (),
        };
        let events = vec![
            Event::AccountPut {
                account_id: "acc_acme".into(),
                doc: "{}".into(),
            },
            Event::AccountDeleted {
                account_id: "acc_acme".into(),
            },
            Event::NonceUsed {
                nonce: "n1".into(),
                nc: "00000001".into(),
                at: Millis(5),
                expires_at: Millis(300_005),
            },
            Event::AuthFailed {
                ip: Ip::from(IpAddr::from([192, 0, 2, 9])),
                at: Millis(6),
            },
            Event::ClockSeen { at: Millis(7) },
            Event::CallRouted(Box::new(start(false))),
            Event::CallProgressed {
                call_id: "c-1".into(),
                progress: Progress::Confirmed,
                at: Millis(1_500),
                note: r#"{"state":"confirmed"}"#.into(),
            },
            Event::CallEnded {
                call_id: "c-1".into(),
                at: Millis(9_000),
                disposition: "answered".into(),
                cause: "terminated".into(),
                source: "presence".into(),
                note: r#"{"state":"terminated"}"#.into(),
            },
            Event::CacReleased {
                call_id: "c-1".into(),
                at: Millis(8_000),
            },
            Event::Registered {
                account_id: "acc_acme".into(),
                device_id: "dev_1001".into(),
                binding: binding(),
            },
            Event::Unregistered {
                account_id: "acc_acme".into(),
                device_id: "dev_1001".into(),
                contact: None,
                at: Millis(4_000),
            },
            Event::NodeEpoch {
                node: "edge-1".into(),
                epoch: 2,
            },
            Event::CallImage(std::sync::Arc::new(CallRecord::new(&start(false)))),
            Event::RateImage {
                account_id: "acc_acme".into(),
                key: "lim".into(),
                hits: vec![Millis(1)],
            },
            Event::CallIndexed {
                call_id: "c-1".into(),
                account_id: "acc_acme".into(),
                ended: false,
            },
            Event::FlowStep {
                session: Box::new(session()),
                webhook: None,
            },
            Event::FlowImage(Box::new(session())),
            Event::VoicemailRecorded(Box::new(voicemail())),
            Event::VoicemailImage {
                account_id: "acc_acme".into(),
                messages: vec![voicemail()],
            },
            Event::BanReport {
                node: "edge-1".into(),
                at: Millis(10),
                upsert: vec![ban_row()],
                ended: vec![Ip::from(IpAddr::from([192, 0, 2, 8]))],
            },
            Event::BanNodeForgotten {
                node: "edge-2".into(),
                at: Millis(11),
            },
            Event::BanEnded(Box::new(crate::security::bans::EndedBan {
                node: "edge-1".into(),
                row: ban_row(),
                ended_at: Millis(12),
            })),
            Event::AllowAdded {
                net: "203.0.113.0/24".parse::<ipnet::IpNet>().unwrap().into(),
                note: "office".into(),
                at: Millis(13),
            },
            Event::AllowRemoved {
                net: "2001:db8::/32".parse::<ipnet::IpNet>().unwrap().into(),
                at: Millis(14),
            },
            Event::AuthFlagged {
                failures: 10,
                ip: Ip::from(IpAddr::from([192, 0, 2, 9])),
                at: Millis(15),
                until: Millis(60_015),
                first: Millis(5),
            },
            Event::AgentChanged {
                agent: Box::new(crate::acd::Agent::new("acc_acme", "us_bob", Millis(1))),
                at: Millis(1),
                cause: "login".into(),
            },
            Event::QueueJoined(Box::new(caller())),
            Event::LeaseOffered {
                account_id: "acc_acme".into(),
                call_id: "c-1".into(),
                agents: vec!["us_bob".into()],
                epoch: 1,
                expires_at: Millis(20_000),
                max_no_answer: 3,
                ring_all: false,
                at: Millis(2),
            },
            Event::LeaseConfirmed {
                account_id: "acc_acme".into(),
                call_id: "c-1".into(),
                agent_id: "us_bob".into(),
                epoch: 1,
                at: Millis(3),
            },
            Event::LeaseExpired {
                account_id: "acc_acme".into(),
                call_id: "c-1".into(),
                epoch: 1,
                at: Millis(3),
                cause: "timeout".into(),
            },
            Event::PositionAnnounced {
                account_id: "acc_acme".into(),
                call_id: "c-1".into(),
                position: 2,
                at: Millis(4),
            },
            Event::AcdImage(Box::new(crate::acd::AcdImage {
                account_id: "acc_acme".into(),
                agents: Vec::new(),
                callers: vec![caller()],
                cursors: Vec::new(),
                epoch: 1,
                seq: 1,
            })),
        ];
        events.iter().for_each(sample);
        events
    }

    fn account_of(call_id: &str) -> Option<String> {
        (call_id == "c-1").then(|| "acc_acme".to_string())
    }

    fn parsed(message: &DebugMessage) -> Value {
        serde_json::from_str(&message.json).expect("a message is JSON")
    }

    #[test]
    fn every_variant_renders_the_common_shape_or_nothing() {
        let mut shown = Vec::new();
        for event in every_variant() {
            let messages = render(&event, Millis(42), &account_of);
            let bookkeeping = matches!(
                event,
                Event::ClockSeen { .. }
                    | Event::CallImage(_)
                    | Event::RateImage { .. }
                    | Event::CallIndexed { .. }
                    | Event::FlowImage(_)
                    | Event::VoicemailImage { .. }
                    | Event::BanEnded(_)
                    | Event::AcdImage(_)
            );
            assert_eq!(messages.is_empty(), bookkeeping, "{event:?}");
            for message in &messages {
                assert!(!message.json.contains('\n'), "one line: {}", message.json);
                let value = parsed(message);
                let keys: Vec<&str> = value
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(
                    keys,
                    ["ts", "source", "type", "accountId", "callId", "data"],
                    "{event:?}"
                );
                assert_eq!(value["accountId"].as_str(), message.account_id.as_deref());
                assert_eq!(value["callId"].as_str(), message.call_id.as_deref());
                assert!(value["ts"].as_u64().is_some());
                assert!(value["data"].is_object(), "{event:?}");
                shown.push(format!("{}/{}", value["source"], value["type"]));
            }
        }
        assert_eq!(
            shown.join(" ").replace('"', ""),
            "admin/account_put admin/account_deleted auth/nonce_used \
             security/auth_failed route/routed cac/admitted presence/dialog \
             presence/ended cac/reset presence/registered \
             presence/unregistered presence/node_epoch flow/node flow/command media/voicemail \
             security/ban_report security/node_forgotten security/allow_added \
             security/allow_removed security/auth_flagged \
             acd/agent acd/joined acd/offered acd/connected acd/no_answer acd/position"
        );
    }

    #[test]
    fn a_routed_call_shows_its_decision_and_its_admission() {
        let messages = render(
            &Event::CallRouted(Box::new(start(false))),
            Millis(0),
            &|_| None,
        );
        let route = parsed(&messages[0]);
        assert_eq!(route["accountId"], "acc_acme");
        assert_eq!(route["callId"], "c-1");
        assert_eq!(route["ts"], 1_000);
        assert_eq!(route["data"]["action"], "route");
        assert_eq!(route["data"]["rejected"], false);
        assert_eq!(route["data"]["rtjson"]["routing"], "serial");
        let cac = parsed(&messages[1]);
        assert_eq!(cac["data"]["dims"], json!(["account_in"]));
        let rejected = render(
            &Event::CallRouted(Box::new(start(true))),
            Millis(0),
            &|_| None,
        );
        assert_eq!(rejected.len(), 1, "a reject admits nothing");
        assert_eq!(parsed(&rejected[0])["data"]["rejected"], true);
    }

    #[test]
    fn events_naming_only_a_call_take_its_account_from_the_index() {
        let released = Event::CacReleased {
            call_id: "c-1".into(),
            at: Millis(1),
        };
        let message = &render(&released, Millis(2), &account_of)[0];
        assert_eq!(message.account_id.as_deref(), Some("acc_acme"));
        let unknown = Event::CacReleased {
            call_id: "c-2".into(),
            at: Millis(1),
        };
        let message = &render(&unknown, Millis(2), &account_of)[0];
        assert_eq!(message.account_id, None);
        assert_eq!(parsed(message)["accountId"], Value::Null);
    }

    #[test]
    fn filters_are_anded_and_unnamed_messages_pass_only_the_unfiltered() {
        let call = DebugMessage::new(
            Millis(1),
            "route",
            "routed",
            Some("a"),
            Some("c"),
            json!({}),
        );
        assert!(call.matches(None, None));
        assert!(call.matches(Some("a"), None));
        assert!(call.matches(None, Some("c")));
        assert!(call.matches(Some("a"), Some("c")));
        assert!(!call.matches(Some("b"), Some("c")));
        assert!(!call.matches(Some("a"), Some("d")));
        let ip = DebugMessage::new(Millis(1), "security", "auth_failed", None, None, json!({}));
        assert!(ip.matches(None, None));
        assert!(!ip.matches(Some("a"), None));
        assert!(!ip.matches(None, Some("c")));
    }
}
