use super::*;
use crate::account;
use crate::api::{presence, Call};
use crate::calls::Dim;
use crate::event::Event;
use serde_json::json;

use crate::testkit::{demo_doc, shard_with, ACME};

const T0: Millis = Millis(1_764_000_000_000);

fn demo() -> Shard {
    shard_with(&demo_doc())
}

/// A `/route` body with defaults (an Acme phone calling).
fn request(fields: Value) -> RouteRequest {
    let mut body = json!({"callId": "c1", "from": "1001", "fromDomain": "acme.sip.io",
                          "sourceIp": "198.51.100.7"});
    for (key, value) in fields.as_object().unwrap() {
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value.clone();
        }
    }
    RouteRequest::decode(body.as_object().unwrap(), [127, 0, 0, 1].into()).unwrap()
}

/// Alice (authUser 1001) dialling `to`.
fn from_alice(to: &str) -> RouteRequest {
    request(json!({"to": to, "authUser": "1001"}))
}

/// Bob (authUser 1002) dialling `to`.
fn from_bob(to: &str) -> RouteRequest {
    request(json!({"to": to, "from": "1002", "authUser": "1002"}))
}

/// A PSTN caller dialling a DID.
fn from_pstn(to: &str, from: &str) -> RouteRequest {
    request(json!({"to": to, "from": from, "fromDomain": "pstn.example",
                   "sourceIp": "192.0.2.50"}))
}

/// A decision with its rtjson as a JSON value (what the tests index).
struct Decided<'a> {
    routed: Routed<'a>,
    rtjson: Value,
}

impl<'a> std::ops::Deref for Decided<'a> {
    type Target = Routed<'a>;

    fn deref(&self) -> &Routed<'a> {
        &self.routed
    }
}

/// Decides, and checks what every decision must satisfy: `routes` never
/// empty, `routing` exactly serial/parallel, no per-branch timers or
/// headers on a parallel fork, counters only on a non-reject.
fn decide_at<'a>(shard: &'a Shard, now: Millis, request: &RouteRequest) -> Decided<'a> {
    let routed = decide(shard, now, request);
    let rtjson = serde_json::to_value(&routed.rtjson).unwrap();
    assert_eq!(rtjson.to_string(), routed.rtjson.to_text());
    assert_eq!(rtjson["action"], routed.rtjson.action());
    let action = rtjson["action"].as_str().expect("an action");
    match action {
        "proxy" | "outbound" => {
            let routes = rtjson["routes"].as_array().expect("routes");
            assert!(!routes.is_empty(), "routes never empty: {rtjson}");
            assert_eq!(rtjson["version"], "1.0");
            let routing = rtjson["routing"].as_str().unwrap();
            assert!(routing == "serial" || routing == "parallel", "{rtjson}");
            if routing == "parallel" && routes.len() > 1 {
                for route in routes {
                    assert!(route.get("fr_inv_timer").is_none(), "{rtjson}");
                    assert!(route.get("headers").is_none(), "{rtjson}");
                }
            }
            for route in routes {
                assert!(route["uri"].as_str().is_some_and(|u| !u.is_empty()));
            }
        }
        "flow" => assert!(rtjson["flow_id"].as_str().is_some(), "{rtjson}"),
        "reject" => {
            assert!(routed.admission.is_none(), "a reject takes nothing");
            assert!(rtjson["code"].as_u64().is_some() && rtjson["detail"].is_string());
        }
        other => panic!("unknown action {other}"),
    }
    Decided { routed, rtjson }
}

fn decide_now<'a>(shard: &'a Shard, request: &RouteRequest) -> Decided<'a> {
    decide_at(shard, T0, request)
}

fn assert_reject(routed: &Decided, code: u64, detail: &str) {
    assert_eq!(routed.rtjson["action"], "reject", "{}", routed.rtjson);
    assert_eq!(routed.rtjson["code"], code, "{}", routed.rtjson);
    assert_eq!(routed.rtjson["detail"], detail, "{}", routed.rtjson);
    assert!(routed.admission.is_none());
}

/// The `step` names of the trail, as serialized.
fn steps(routed: &Routed) -> Vec<String> {
    let Value::Array(steps) = serde_json::to_value(&routed.trail).unwrap() else {
        panic!("a trail serializes to an array");
    };
    steps
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect()
}

/// Registers `username` with `contact` through the presence API.
fn register(shard: &mut Shard, username: &str, contact: &str, extra: Value) {
    let mut body = json!({"type": "register", "event": "registered", "username": username,
        "realm": "acme.sip.io", "aor": format!("sip:{username}@acme.sip.io"),
        "contact": contact, "expires": 300, "node": "edge-1"});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let call = match presence::decode(body.as_object().unwrap()).unwrap() {
        presence::Decoded::Event(event) => Call::Presence(Box::new(event)),
        presence::Decoded::Sync(_) => unreachable!(),
    };
    let decision = shard.execute(T0, 0, &call);
    assert_eq!(decision.reply.status, 200, "{decision:?}");
}

/// A second device for a user (same credentials shape as dev_alice).
fn device(id: &str, user_id: &str, login: &str, extra: Value) -> Value {
    let mut device = json!({"id": id, "user_id": user_id, "auth_username": login,
        "realm": "acme.sip.io", "ha1": "b8965344d1a7dff43ddf58eb99348256",
        "ha1b": "30970d00050887a31a20fceb760ecc09"});
    for (key, value) in extra.as_object().unwrap() {
        device[key] = value.clone();
    }
    device
}

fn user_mut<'a>(doc: &'a mut Value, id: &str) -> &'a mut Value {
    doc["users"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|u| u["id"] == id)
        .unwrap()
}

// ------------------------------------------------------------ rejects

#[test]
fn an_unknown_caller_is_refused_403_and_belongs_to_nobody() {
    let shard = demo();
    let routed = decide_now(
        &shard,
        &request(json!({"to": "1001", "fromDomain": "elsewhere.example",
                        "sourceIp": "192.0.2.99"})),
    );
    assert_reject(&routed, 403, "unknown_caller");
    assert_eq!(routed.account_id, None);
    assert_eq!(routed.direction, None);
}

#[test]
fn an_acme_caller_without_credentials_is_refused_403() {
    let shard = demo();
    for to in ["1002", "12125550100", "2000"] {
        let routed = decide_now(&shard, &request(json!({"to": to})));
        assert_reject(&routed, 403, "not_authenticated");
        assert_eq!(routed.account_id.as_deref(), Some(ACME));
    }
    // `authenticated: false` is the same as absent.
    let routed = decide_now(
        &shard,
        &request(json!({"to": "1002", "authenticated": "false"})),
    );
    assert_reject(&routed, 403, "not_authenticated");
}

#[test]
fn unknown_and_disabled_devices_are_refused_403() {
    let shard = demo();
    let routed = decide_now(&shard, &request(json!({"to": "1002", "authUser": "4242"})));
    assert_reject(&routed, 403, "unknown_device");
    let routed = decide_now(
        &shard,
        &request(json!({"to": "1002", "from": "1009", "authUser": "1009"})),
    );
    assert_reject(&routed, 403, "device_disabled");
    let mut doc = demo_doc();
    doc["devices"][0]["status"] = "disabled".into();
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_alice("1002"));
    assert_reject(&routed, 403, "device_disabled");
}

#[test]
fn authenticated_true_means_from_is_the_digest_user() {
    let shard = demo();
    let routed = decide_now(
        &shard,
        &request(json!({"to": "2000", "from": "1002", "authenticated": true})),
    );
    assert_eq!(routed.rtjson["action"], "flow");
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![Dim::User("us_bob".into())]
    );
}

#[test]
fn a_disabled_or_virtual_did_is_refused_404() {
    for (status, detail) in [("disabled", "did_disabled"), ("virtual", "did_virtual")] {
        let mut doc = demo_doc();
        doc["dids"][1]["status"] = status.into();
        let doc_shard = shard_with(&doc);
        let routed = decide_now(&doc_shard, &from_pstn("12025550124", "14155550001"));
        assert_reject(&routed, 404, detail);
        assert_eq!(routed.direction, Some(Direction::Inbound));
        assert!(routed.trail.checks().is_empty(), "refused before CAC");
    }
}

#[test]
fn an_anonymous_caller_is_refused_433_where_the_did_disallows_it() {
    let shard = demo();
    for (from, domain) in [
        ("anonymous", "pstn.example"),
        ("Anonymous", "pstn.example"),
        ("restricted", "pstn.example"),
        ("14155550001", "anonymous.invalid"),
        ("", "pstn.example"),
    ] {
        let routed = decide_now(
            &shard,
            &request(
                json!({"to": "12025550124", "from": from, "fromDomain": domain,
                            "sourceIp": "192.0.2.50"}),
            ),
        );
        assert_reject(&routed, 433, "anonymous_refused");
    }
    // The main line allows anonymous callers.
    let routed = decide_now(&shard, &from_pstn("12025550123", "anonymous"));
    assert_eq!(routed.rtjson["action"], "flow", "{}", routed.rtjson);
}

#[test]
fn an_inactive_account_refuses_inbound_and_outbound() {
    let mut doc = demo_doc();
    doc["status"] = "suspended".into();
    let shard = shard_with(&doc);
    assert_reject(
        &decide_now(&shard, &from_pstn("12025550123", "14155550001")),
        403,
        "account_inactive",
    );
    assert_reject(
        &decide_now(&shard, &from_alice("12125550100")),
        403,
        "account_inactive",
    );
}

#[test]
fn a_short_unknown_destination_is_404() {
    let shard = demo();
    assert_reject(
        &decide_now(&shard, &from_alice("5555")),
        404,
        "no_such_destination",
    );
    assert_reject(
        &decide_now(&shard, &from_alice("123456")),
        404,
        "no_such_destination",
    );
}

#[test]
fn a_hard_cac_limit_refuses_503_and_names_the_dimension() {
    let mut doc = demo_doc();
    doc["max_out"] = 1.into();
    let mut shard = shard_with(&doc);
    let first = Call::Route(Box::new(from_bob("12125550100")));
    let decision = shard.execute(T0, 0, &first);
    assert_eq!(decision.reply.status, 200);
    let routed = decide_now(&shard, &from_alice("12125550101"));
    assert_reject(&routed, 503, "cac:max_out");
    assert_eq!(routed.rtjson["reason"], "Service Unavailable");
    let out = routed
        .trail
        .checks()
        .iter()
        .find(|c| c.label == "account_out")
        .unwrap();
    assert_eq!((out.count, out.limit), (1, Some(1)));
    // Other directions are not held back by max_out.
    let routed = decide_now(&shard, &from_pstn("12025550123", "14155550001"));
    assert_eq!(routed.rtjson["action"], "flow");
}

// ------------------------------------------------------------ inbound

#[test]
fn an_inbound_did_call_gets_its_flow_with_caller_data_and_dest_xform() {
    let shard = demo();
    let routed = decide_now(
        &shard,
        &request(
            json!({"to": "+1 (202) 555-0123", "from": "sip:+14155550001@pstn.example",
                        "fromName": "Pat", "fromDomain": "pstn.example",
                        "sourceIp": "192.0.2.50"}),
        ),
    );
    assert_eq!(
        routed.rtjson,
        json!({"action": "flow", "account_id": ACME, "flow_id": "flow_main",
               "vars": {"caller_cid": "14155550001", "caller_name": "Pat", "called": "12025550123",
                        "direction": "inbound", "did": "12025550123", "line": "main"}})
    );
    assert_eq!(routed.direction, Some(Direction::Inbound));
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![Dim::AccountIn, Dim::Did("did_main".into())]
    );
    assert_eq!(routed.from, "14155550001");
    assert_eq!(routed.to, "12025550123");
    // The schedule was evaluated (its outcome is the hours module's).
    let schedule = routed.trail.schedule().expect("a schedule evaluation");
    assert_eq!(schedule.schedule_id, "sch_office");
    assert_eq!(
        steps(&routed),
        vec!["inbound", "cac", "schedule", "target"],
        "{:?}",
        routed.trail
    );
}

#[test]
fn an_inbound_did_without_a_target_uses_the_account_default() {
    let mut doc = demo_doc();
    doc["dids"][1].as_object_mut().unwrap().remove("dest_kind");
    doc["dids"][1].as_object_mut().unwrap().remove("dest_id");
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_pstn("12025550124", "14155550001"));
    assert_eq!(routed.rtjson["flow_id"], "flow_main");
    doc.as_object_mut().unwrap().remove("did_default_dest_kind");
    doc.as_object_mut().unwrap().remove("did_default_dest_id");
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_pstn("12025550124", "14155550001"));
    assert_reject(&routed, 404, "did_unrouted");
}

#[test]
fn a_did_to_a_registered_user_proxies_to_the_contact() {
    let mut shard = demo();
    register(&mut shard, "1001", "sip:1001@198.51.100.7:5060", json!({}));
    let routed = decide_now(&shard, &from_pstn("12025550124", "14155550001"));
    assert_eq!(routed.rtjson["action"], "proxy", "{}", routed.rtjson);
    assert_eq!(routed.rtjson["user_id"], "us_alice");
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![Dim::AccountIn, Dim::Did("did_alice".into())]
    );
}

// ----------------------------------------------------------- internal

#[test]
fn an_internal_call_to_a_registered_extension_proxies_to_its_contact() {
    let mut shard = demo();
    register(
        &mut shard,
        "1001",
        "sip:1001@10.0.0.7:5062;ob",
        json!({"received": "sip:198.51.100.7:40123", "path": "<sip:edge-1.example;lr>",
               "socket": "udp:203.0.113.1:5060"}),
    );
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.direction, Some(Direction::Internal));
    assert_eq!(
        routed.rtjson,
        json!({"action": "proxy", "account_id": ACME, "user_id": "us_alice",
               "aor": "sip:1001@acme.sip.io", "timeout_sec": 25, "version": "1.0",
               "routing": "parallel",
               "routes": [{"uri": "sip:1001@10.0.0.7:5062;ob", "dst_uri": "sip:198.51.100.7:40123",
                           "path": "<sip:edge-1.example;lr>", "socket": "udp:203.0.113.1:5060",
                           "fr_inv_timer": 25000}],
               "fallback": {"action": "flow", "account_id": ACME, "flow_id": "sys:voicemail:vm_main",
                            "vars": {"caller_cid": "1002", "called": "1001", "direction": "internal"}}})
    );
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![Dim::User("us_bob".into())],
        "internal calls hold the caller's user only"
    );
    // By username (with a SIP URI) as well as by extension.
    let routed = decide_now(&shard, &from_bob("sip:1001@acme.sip.io;user=phone"));
    assert_eq!(routed.rtjson["user_id"], "us_alice");
}

#[test]
fn an_expired_or_removed_registration_is_not_reachable() {
    let mut shard = demo();
    register(
        &mut shard,
        "1001",
        "sip:1001@10.0.0.7",
        json!({"expires": 60}),
    );
    assert_eq!(
        decide_at(&shard, Millis(T0.0 + 59_999), &from_bob("1001")).rtjson["action"],
        "proxy"
    );
    let later = decide_at(&shard, Millis(T0.0 + 60_000), &from_bob("1001"));
    assert_eq!(later.rtjson["flow_id"], "sys:voicemail:vm_main");
    let body = json!({"type": "register", "event": "unregistered", "username": "1001",
                      "realm": "acme.sip.io", "contact": "sip:1001@10.0.0.7"});
    let call = match presence::decode(body.as_object().unwrap()).unwrap() {
        presence::Decoded::Event(event) => Call::Presence(Box::new(event)),
        presence::Decoded::Sync(_) => unreachable!(),
    };
    shard.execute(T0, 0, &call);
    assert_eq!(
        decide_now(&shard, &from_bob("1001")).rtjson["flow_id"],
        "sys:voicemail:vm_main"
    );
}

#[test]
fn an_internal_call_to_unregistered_bob_falls_back_to_voicemail() {
    let shard = demo();
    let routed = decide_now(&shard, &from_alice("1002"));
    assert_eq!(routed.rtjson["action"], "flow");
    assert_eq!(routed.rtjson["flow_id"], "sys:voicemail:vm_main");
    assert_eq!(routed.rtjson["vars"]["direction"], "internal");
    assert!(routed.admission.is_some(), "a flow target is admitted");
    assert!(routed.trail.steps.iter().any(|s| matches!(
        s,
        Step::UserRule {
            rule: "fwd_noanswer",
            ..
        }
    )));
}

#[test]
fn an_unreachable_user_without_voicemail_is_480_and_takes_nothing() {
    let shard = demo();
    let routed = decide_now(&shard, &from_alice("1004"));
    assert_reject(&routed, 480, "unreachable");
    assert_eq!(routed.direction, Some(Direction::Internal));
    assert!(
        !routed.trail.checks().is_empty(),
        "CAC was planned, then given back"
    );
}

#[test]
fn extension_2000_is_the_support_queues_system_flow() {
    let mut doc = demo_doc();
    doc["extensions"][4]["dest_xform"] = json!({"queue_hint": "vip", "priority": 5});
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_alice("2000"));
    assert_eq!(
        routed.rtjson,
        json!({"action": "flow", "account_id": ACME, "flow_id": "sys:queue:q_support",
               "vars": {"caller_cid": "1001", "called": "2000", "direction": "internal",
                        "queue_hint": "vip", "priority": 5}})
    );
}

#[test]
fn other_system_targets_get_their_flow_ids() {
    for (kind, id, flow) in [
        ("voicemail", "vm_main", "sys:voicemail:vm_main"),
        ("conference", "conf_1", "sys:conference:conf_1"),
        ("ring_group", "rg_sales", "sys:ring_group:rg_sales"),
        ("flow", "flow_main", "flow_main"),
    ] {
        let mut doc = demo_doc();
        doc["extensions"][4]["dest_kind"] = kind.into();
        doc["extensions"][4]["dest_id"] = id.into();
        let doc_shard = shard_with(&doc);
        let routed = decide_now(&doc_shard, &from_alice("2000"));
        assert_eq!(routed.rtjson["action"], "flow", "{kind}");
        assert_eq!(routed.rtjson["flow_id"], flow, "{kind}");
    }
    let mut doc = demo_doc();
    doc["extensions"][4]["dest_kind"] = "hangup".into();
    doc["extensions"][4]
        .as_object_mut()
        .unwrap()
        .remove("dest_id");
    assert_reject(
        &decide_now(&shard_with(&doc), &from_alice("2000")),
        480,
        "hangup",
    );
}

#[test]
fn a_disabled_user_is_480() {
    let shard = demo();
    let routed = decide_now(&shard, &from_alice("1009"));
    assert_reject(&routed, 480, "user_disabled");
}

#[test]
fn dnd_goes_to_fwd_busy_then_voicemail_then_486() {
    let mut doc = demo_doc();
    let bob = user_mut(&mut doc, "us_bob");
    bob["dnd"] = 1.into();
    bob["fwd_busy_kind"] = "queue".into();
    bob["fwd_busy_id"] = "q_sales".into();
    let mut shard = shard_with(&doc);
    register(&mut shard, "1002", "sip:1002@10.0.0.8", json!({}));
    let routed = decide_now(&shard, &from_alice("1002"));
    assert_eq!(
        routed.rtjson["flow_id"], "sys:queue:q_sales",
        "registered, but dnd"
    );
    let bob = user_mut(&mut doc, "us_bob");
    bob.as_object_mut().unwrap().remove("fwd_busy_kind");
    bob.as_object_mut().unwrap().remove("fwd_busy_id");
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_alice("1002"));
    assert_eq!(routed.rtjson["flow_id"], "sys:voicemail:vm_main");
    let bob = user_mut(&mut doc, "us_bob");
    bob.as_object_mut().unwrap().remove("voicemail_id");
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_alice("1002"));
    assert_reject(&routed, 486, "dnd");
}

#[test]
fn fwd_always_wins_over_registered_devices() {
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["fwd_always_kind"] = "forward".into();
    alice["fwd_always_id"] = "+1 415 555 0000".into();
    let mut shard = shard_with(&doc);
    register(&mut shard, "1001", "sip:1001@10.0.0.7", json!({}));
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.rtjson["action"], "outbound", "{}", routed.rtjson);
    assert_eq!(routed.rtjson["dest"], "14155550000");
    assert_eq!(routed.rtjson["carrier"], "trunk");
    assert_eq!(
        routed.rtjson["routes"][0]["uri"],
        "sip:14155550000@sip.carrier.example:5060;transport=udp"
    );
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["fwd_always_kind"] = "user".into();
    alice["fwd_always_id"] = "us_bob".into();
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_pstn("12025550124", "14155550001"));
    assert_eq!(
        routed.rtjson["flow_id"], "sys:voicemail:vm_main",
        "alice → bob (unregistered) → bob's no-answer"
    );
}

#[test]
fn a_forward_loop_is_refused_482() {
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["fwd_always_kind"] = "user".into();
    alice["fwd_always_id"] = "us_bob".into();
    let bob = user_mut(&mut doc, "us_bob");
    bob["fwd_always_kind"] = "extension".into();
    bob["fwd_always_id"] = "ext_1001".into();
    let shard = shard_with(&doc);
    let routed = decide_now(&shard, &from_pstn("12025550124", "14155550001"));
    assert_reject(&routed, 482, "forward_loop");
    assert!(routed
        .trail
        .steps
        .iter()
        .any(|s| matches!(s, Step::TargetLoop { r#loop: true, .. })));
    // An extension pointing at itself never reaches routing: the document
    // is refused.
    let mut doc = demo_doc();
    doc["extensions"][4]["dest_kind"] = "extension".into();
    doc["extensions"][4]["dest_id"] = "ext_2000".into();
    let error = account::parse(ACME, &doc).unwrap_err();
    assert_eq!(error.path, "extensions[4].dest_id");
}

#[test]
fn sequential_ringing_is_serial_in_ring_order_with_timers() {
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["ring_strategy"] = "sequential".into();
    alice["ring_timeout_sec"] = 12.into();
    doc["devices"][0]["ring_order"] = 5.into();
    doc["devices"].as_array_mut().unwrap().push(device(
        "dev_alice_cell",
        "us_alice",
        "1001c",
        json!({"ring_order": 1}),
    ));
    doc["devices"].as_array_mut().unwrap().push(device(
        "dev_alice_soft",
        "us_alice",
        "1001s",
        json!({"ring_order": 3}),
    ));
    let mut shard = shard_with(&doc);
    register(&mut shard, "1001", "sip:desk@10.0.0.1", json!({}));
    register(&mut shard, "1001s", "sip:soft@10.0.0.3", json!({}));
    register(&mut shard, "1001c", "sip:cell@10.0.0.2", json!({}));
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.rtjson["routing"], "serial");
    assert_eq!(routed.rtjson["timeout_sec"], 12);
    let routes = routed.rtjson["routes"].as_array().unwrap();
    let uris: Vec<&str> = routes.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert_eq!(
        uris,
        vec![
            "sip:cell@10.0.0.2",
            "sip:soft@10.0.0.3",
            "sip:desk@10.0.0.1"
        ]
    );
    for route in routes {
        assert_eq!(route["fr_inv_timer"], 12_000);
    }
}

fn two_devices(extra: Value) -> Shard {
    let mut doc = demo_doc();
    doc["devices"].as_array_mut().unwrap().push(device(
        "dev_alice_cell",
        "us_alice",
        "1001c",
        extra,
    ));
    let mut shard = shard_with(&doc);
    register(&mut shard, "1001", "sip:desk@10.0.0.1", json!({}));
    register(&mut shard, "1001c", "sip:cell@10.0.0.2", json!({}));
    shard
}

#[test]
fn several_devices_ring_in_parallel_without_per_branch_timers() {
    let shard = two_devices(json!({}));
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.rtjson["routing"], "parallel");
    let routes = routed.rtjson["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2);
    for route in routes {
        assert!(route.get("fr_inv_timer").is_none(), "{route}");
    }
    assert_eq!(routed.rtjson["timeout_sec"], 25, "the fork's timeout");
}

#[test]
fn several_contacts_of_one_device_fork_in_parallel() {
    let mut shard = demo();
    register(&mut shard, "1001", "sip:a@10.0.0.1", json!({}));
    register(&mut shard, "1001", "sip:b@10.0.0.2", json!({}));
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.rtjson["routing"], "parallel");
    assert_eq!(routed.rtjson["routes"].as_array().unwrap().len(), 2);
}

#[test]
fn a_device_with_ring_on_fork_0_is_left_out_of_forks() {
    let shard = two_devices(json!({"ring_on_fork": 0}));
    let routed = decide_now(&shard, &from_bob("1001"));
    let routes = routed.rtjson["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1, "{}", routed.rtjson);
    assert_eq!(routes[0]["uri"], "sip:desk@10.0.0.1");
    // Alone, it still rings.
    let mut doc = demo_doc();
    doc["devices"][0]["ring_on_fork"] = 0.into();
    let mut shard = shard_with(&doc);
    register(&mut shard, "1001", "sip:desk@10.0.0.1", json!({}));
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.rtjson["routes"][0]["uri"], "sip:desk@10.0.0.1");
}

#[test]
fn a_disabled_device_never_rings() {
    let shard = two_devices(json!({"status": "disabled"}));
    let routed = decide_now(&shard, &from_bob("1001"));
    let routes = routed.rtjson["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0]["uri"], "sip:desk@10.0.0.1");
}

// ----------------------------------------------------------- outbound

fn cid(routed: &Decided) -> (Value, Value) {
    (
        routed.rtjson["cid_number"].clone(),
        routed.rtjson["routes"][0]["headers"]["from"].clone(),
    )
}

#[test]
fn outbound_goes_to_the_trunk_with_the_users_caller_id() {
    let shard = demo();
    let routed = decide_now(&shard, &from_alice("+1 (212) 555-0100"));
    assert_eq!(routed.direction, Some(Direction::Outbound));
    assert_eq!(
        routed.rtjson,
        json!({"action": "outbound", "account_id": ACME, "carrier": "trunk", "trunk_id": "tr_acme",
               "dest": "12125550100", "cid_number": "12025550124", "version": "1.0",
               "routing": "serial",
               "routes": [{"uri": "sip:12125550100@sip.carrier.example:5060;transport=udp",
                           "headers": {"from": {"display": "Alice",
                                                "uri": "sip:12025550124@acme.sip.io"}}}]})
    );
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![
            Dim::AccountOut,
            Dim::User("us_alice".into()),
            Dim::Trunk("tr_acme".into())
        ]
    );
    assert!(matches!(
        routed.trail.trunk(),
        Some(Carrier::Trunk {
            trunk_id: "tr_acme",
            ..
        })
    ));
}

#[test]
fn outbound_caller_id_falls_back_user_then_trunk_then_account() {
    // Bob has no out_cid_number: the trunk's.
    let shard = demo();
    let (number, from) = cid(&decide_now(&shard, &from_bob("12125550100")));
    assert_eq!(number, "15550009999");
    assert_eq!(from, json!({"uri": "sip:15550009999@acme.sip.io"}));
    // With a fromName and no user name: the caller's display name.
    let routed = decide_now(
        &shard,
        &request(
            json!({"to": "12125550100", "from": "1002", "authUser": "1002",
                        "fromName": "Bob B"}),
        ),
    );
    assert_eq!(
        routed.rtjson["routes"][0]["headers"]["from"]["display"],
        "Bob B"
    );
    // No trunk cid: the account default.
    let mut doc = demo_doc();
    doc["trunks"][0]
        .as_object_mut()
        .unwrap()
        .remove("cid_number");
    let (number, _) = cid(&decide_now(&shard_with(&doc), &from_bob("12125550100")));
    assert_eq!(number, "12025550123");
    // The user's still wins over both.
    let (number, _) = cid(&decide_now(&shard_with(&doc), &from_alice("12125550100")));
    assert_eq!(number, "12025550124");
    // None at all: no From header, no cid_number.
    doc.as_object_mut().unwrap().remove("default_cid_number");
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_bob("12125550100"));
    assert!(
        routed.rtjson.get("cid_number").is_none(),
        "{}",
        routed.rtjson
    );
    assert!(routed.rtjson["routes"][0].get("headers").is_none());
}

#[test]
fn outbound_without_an_outbound_trunk_uses_the_wholesale_carrier() {
    let mut doc = demo_doc();
    doc["trunks"][0]["direction"] = "inbound".into();
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_bob("12125550100"));
    assert_eq!(routed.rtjson["carrier"], "wholesale");
    assert!(routed.rtjson.get("trunk_id").is_none());
    assert_eq!(
        routed.rtjson["routes"][0]["uri"],
        "sip:12125550100@wholesale.invalid:5060;transport=udp"
    );
    assert_eq!(
        routed.rtjson["cid_number"], "12025550123",
        "no trunk: the account's"
    );
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![Dim::AccountOut, Dim::User("us_bob".into())],
        "no trunk dimension"
    );
    assert!(matches!(
        routed.trail.trunk(),
        Some(Carrier::Wholesale { .. })
    ));
    doc["trunks"] = json!([]);
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_alice("12125550100"));
    assert_eq!(routed.rtjson["carrier"], "wholesale");
    // A disabled trunk is skipped too.
    let mut doc = demo_doc();
    doc["trunks"][0]["status"] = "disabled".into();
    let doc_shard = shard_with(&doc);
    let routed = decide_now(&doc_shard, &from_alice("12125550100"));
    assert_eq!(routed.rtjson["carrier"], "wholesale");
}

#[test]
fn an_ip_authenticated_trunk_caller_goes_outbound() {
    let shard = demo();
    let trunk_call = |to: &str| {
        request(
            json!({"to": to, "from": "15551230000", "fromDomain": "carrier.example",
                       "sourceIp": "203.0.113.10"}),
        )
    };
    let routed = decide_now(&shard, &trunk_call("12125550100"));
    assert_eq!(routed.account_id.as_deref(), Some(ACME));
    assert_eq!(routed.rtjson["action"], "outbound", "{}", routed.rtjson);
    assert_eq!(routed.rtjson["cid_number"], "15550009999");
    assert_eq!(
        routed.admission.as_ref().unwrap().dims,
        vec![Dim::AccountOut, Dim::Trunk("tr_acme".into())]
    );
    assert_eq!(routed.trail.steps[0], Step::caller_trunk("tr_acme"));
    // A trunk does not dial extensions.
    assert_reject(
        &decide_now(&shard, &trunk_call("1001")),
        404,
        "no_such_destination",
    );
    // Another address is not the trunk.
    let routed = decide_now(
        &shard,
        &request(json!({"to": "12125550100", "fromDomain": "carrier.example",
                        "sourceIp": "203.0.113.11"})),
    );
    assert_reject(&routed, 403, "unknown_caller");
}

#[test]
fn a_did_wins_over_outbound_for_an_authenticated_caller() {
    let shard = demo();
    let routed = decide_now(&shard, &from_alice("12025550123"));
    assert_eq!(routed.direction, Some(Direction::Inbound));
    assert_eq!(routed.rtjson["flow_id"], "flow_main");
}

#[test]
fn decide_reads_only() {
    let shard = demo();
    let before = format!("{:?}", shard.cac_all());
    for _ in 0..3 {
        decide_now(&shard, &from_alice("12125550100"));
    }
    assert_eq!(format!("{:?}", shard.cac_all()), before);
    assert!(shard.calls().is_empty());
}

#[test]
fn a_deleted_accounts_registrations_are_forgotten() {
    let mut shard = demo();
    register(&mut shard, "1001", "sip:1001@10.0.0.7", json!({}));
    assert_eq!(
        decide_now(&shard, &from_bob("1001")).rtjson["action"],
        "proxy"
    );
    let deleted = shard.execute(
        T0,
        0,
        &Call::AccountDelete {
            account_id: ACME.into(),
        },
    );
    assert_eq!(deleted.reply.status, 200);
    let put = shard.execute(
        T0,
        0,
        &Call::AccountPut {
            account_id: ACME.into(),
            doc: demo_doc(),
        },
    );
    assert_eq!(put.reply.status, 200);
    assert_eq!(
        shard.registrations().all().count(),
        0,
        "the deleted account's contacts are gone"
    );
    let routed = decide_now(&shard, &from_bob("1001"));
    assert_eq!(routed.rtjson["flow_id"], "sys:voicemail:vm_main");
}

mod golden;
