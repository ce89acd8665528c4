//! The exact text `/route` and `/admin/route/explain` produce for a set of
//! representative calls: the reply body, the recorded rtjson and trace
//! entries of the `CallRouted` event (archived as text in the WAL and
//! snapshots), and the explain body. The routing code may change how it
//! builds these; the bytes must not change (`golden.txt`).

use super::*;
use crate::api::route as api;

/// One scenario: a name, the shard, the instant and the request.
type Scenario = (&'static str, Shard, Millis, RouteRequest);

fn scenarios() -> Vec<Scenario> {
    let mut out: Vec<Scenario> = Vec::new();
    // Inbound DID to a flow, caller data and dest_xform, schedule open.
    let pstn = request(
        json!({"to": "+1 (202) 555-0123", "from": "sip:+14155550001@pstn.example",
               "fromName": "Pat", "fromDomain": "pstn.example", "sourceIp": "192.0.2.50"}),
    );
    out.push(("inbound_did_flow", demo(), T0, pstn.clone()));
    // The same DID after hours (21:00 New York): closed → voicemail.
    out.push((
        "inbound_did_closed",
        demo(),
        Millis(T0.0 + 10 * 3_600_000),
        pstn.clone(),
    ));
    // On a holiday date rule (2025-12-25 10:00 New York).
    out.push((
        "inbound_did_holiday",
        demo(),
        Millis(1_766_674_800_000),
        pstn,
    ));
    // Inbound DID to a registered user: proxy with a voicemail fallback.
    let mut shard = demo();
    register(&mut shard, "1001", "sip:1001@198.51.100.7:5060", json!({}));
    out.push((
        "inbound_did_user_proxy",
        shard,
        T0,
        from_pstn("12025550124", "14155550001"),
    ));
    // Internal to a registered extension with received/path/socket.
    let mut shard = demo();
    register(
        &mut shard,
        "1001",
        "sip:1001@10.0.0.7:5062;ob",
        json!({"received": "sip:198.51.100.7:40123", "path": "<sip:edge-1.example;lr>",
               "socket": "udp:203.0.113.1:5060"}),
    );
    out.push(("internal_extension_proxy", shard, T0, from_bob("1001")));
    // Internal by username, unregistered: fwd_noanswer → voicemail.
    out.push((
        "internal_user_voicemail",
        demo(),
        T0,
        from_alice("sip:1002@acme.sip.io;user=phone"),
    ));
    // Internal to the support queue with a numeric dest_xform.
    let mut doc = demo_doc();
    doc["extensions"][4]["dest_xform"] = json!({"queue_hint": "vip", "priority": 5});
    out.push((
        "internal_queue_xform",
        shard_with(&doc),
        T0,
        from_alice("2000"),
    ));
    // Sequential ringing over three devices (timers on each branch).
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["ring_strategy"] = "sequential".into();
    alice["ring_timeout_sec"] = 12.into();
    for (id, login, order) in [
        ("dev_alice_cell", "1001c", 1),
        ("dev_alice_soft", "1001s", 3),
    ] {
        doc["devices"].as_array_mut().unwrap().push(device(
            id,
            "us_alice",
            login,
            json!({"ring_order": order}),
        ));
    }
    let mut shard = shard_with(&doc);
    register(&mut shard, "1001", "sip:desk@10.0.0.1", json!({}));
    register(&mut shard, "1001s", "sip:soft@10.0.0.3", json!({}));
    register(&mut shard, "1001c", "sip:cell@10.0.0.2", json!({}));
    out.push(("internal_sequential", shard, T0, from_bob("1001")));
    // Parallel fork over two devices.
    out.push((
        "internal_parallel",
        two_devices(json!({})),
        T0,
        from_bob("1001"),
    ));
    // Outbound through the trunk with the user's caller-ID and name.
    out.push((
        "outbound_trunk",
        demo(),
        T0,
        from_alice("+1 (212) 555-0100"),
    ));
    // Outbound with the caller's display name and the trunk's caller-ID.
    out.push((
        "outbound_trunk_from_name",
        demo(),
        T0,
        request(
            json!({"to": "12125550100", "from": "1002", "authUser": "1002",
                       "fromName": "Bob \"B\" \u{e9}"}),
        ),
    ));
    // Outbound through the wholesale carrier.
    let mut doc = demo_doc();
    doc["trunks"][0]["direction"] = "inbound".into();
    out.push((
        "outbound_wholesale",
        shard_with(&doc),
        T0,
        from_bob("12125550100"),
    ));
    // Outbound without any caller-ID.
    let mut doc = demo_doc();
    doc["trunks"][0]
        .as_object_mut()
        .unwrap()
        .remove("cid_number");
    doc.as_object_mut().unwrap().remove("default_cid_number");
    out.push((
        "outbound_no_cid",
        shard_with(&doc),
        T0,
        from_bob("12125550100"),
    ));
    // An IP-authenticated trunk caller going outbound.
    out.push((
        "outbound_ip_trunk",
        demo(),
        T0,
        request(json!({"to": "12125550100", "from": "15551230000",
                       "fromDomain": "carrier.example", "sourceIp": "203.0.113.10"})),
    ));
    // CAC: the account's max_out full → 503.
    let mut doc = demo_doc();
    doc["max_out"] = 1.into();
    let mut shard = shard_with(&doc);
    let first = Call::Route(Box::new(from_bob("12125550100")));
    assert_eq!(shard.execute(T0, 0, &first).reply.status, 200);
    out.push(("cac_reject", shard, T0, from_alice("12125550101")));
    // fwd_always to a PSTN number (forward → outbound rtjson).
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["fwd_always_kind"] = "forward".into();
    alice["fwd_always_id"] = "+1 415 555 0000".into();
    out.push(("fwd_always_forward", shard_with(&doc), T0, from_bob("1001")));
    // A forward loop → 482.
    let mut doc = demo_doc();
    let alice = user_mut(&mut doc, "us_alice");
    alice["fwd_always_kind"] = "user".into();
    alice["fwd_always_id"] = "us_bob".into();
    let bob = user_mut(&mut doc, "us_bob");
    bob["fwd_always_kind"] = "extension".into();
    bob["fwd_always_id"] = "ext_1001".into();
    out.push((
        "forward_loop",
        shard_with(&doc),
        T0,
        from_pstn("12025550124", "14155550001"),
    ));
    // dnd with fwd_busy to a queue; dnd without anything → 486.
    let mut doc = demo_doc();
    let bob = user_mut(&mut doc, "us_bob");
    bob["dnd"] = 1.into();
    bob["fwd_busy_kind"] = "queue".into();
    bob["fwd_busy_id"] = "q_sales".into();
    out.push(("dnd_fwd_busy", shard_with(&doc), T0, from_alice("1002")));
    let bob = user_mut(&mut doc, "us_bob");
    for key in ["fwd_busy_kind", "fwd_busy_id", "voicemail_id"] {
        bob.as_object_mut().unwrap().remove(key);
    }
    out.push(("dnd_486", shard_with(&doc), T0, from_alice("1002")));
    // Rejects.
    out.push(("disabled_user_480", demo(), T0, from_alice("1009")));
    out.push(("unreachable_480", demo(), T0, from_alice("1004")));
    out.push((
        "unknown_caller_403",
        demo(),
        T0,
        request(json!({"to": "1001", "fromDomain": "elsewhere.example",
                       "sourceIp": "192.0.2.99"})),
    ));
    out.push((
        "not_authenticated_403",
        demo(),
        T0,
        request(json!({"to": "1002"})),
    ));
    out.push((
        "unknown_device_403",
        demo(),
        T0,
        request(json!({"to": "1002", "authUser": "4242"})),
    ));
    out.push(("short_destination_404", demo(), T0, from_alice("5555")));
    out.push((
        "anonymous_433",
        demo(),
        T0,
        from_pstn("12025550124", "anonymous"),
    ));
    let mut doc = demo_doc();
    doc["dids"][1]["status"] = "disabled".into();
    out.push((
        "did_disabled_404",
        shard_with(&doc),
        T0,
        from_pstn("12025550124", "14155550001"),
    ));
    out
}

/// Everything a scenario writes, as text.
fn render(name: &str, shard: &Shard, now: Millis, request: &RouteRequest) -> String {
    let mut text = format!("== {name}\n");
    let decision = api::decide(shard, now, request);
    text += &format!(
        "reply {} {}\n",
        decision.reply.status,
        String::from_utf8(decision.reply.body.clone()).unwrap()
    );
    for event in &decision.events {
        if let Event::CallRouted(start) = event {
            text += &format!(
                "rtjson {}\nrejected {} {}\n",
                start.rtjson, start.rejected, start.reject_code
            );
            for entry in &start.trace {
                text += &format!(
                    "trace {} {} {}.{} {}\n",
                    entry.seq, entry.ts.0, entry.source, entry.kind, entry.data
                );
            }
        }
    }
    let explained = api::explain(shard, now, request);
    text += &format!(
        "explain {} {}\n",
        explained.reply.status,
        String::from_utf8(explained.reply.body).unwrap()
    );
    text
}

#[test]
fn route_and_explain_text_is_byte_for_byte_the_recorded_text() {
    let mut text = String::new();
    for (name, shard, now, request) in scenarios() {
        text += &render(name, &shard, now, &request);
    }
    let expected = include_str!("golden.txt");
    if text != expected {
        let line = text
            .lines()
            .zip(expected.lines())
            .position(|(got, want)| got != want)
            .map_or(text.lines().count().min(expected.lines().count()), |i| i);
        panic!(
            "golden.txt differs from line {}:\n  got  {:?}\n  want {:?}\n\
             ---- the text produced ----\n{text}---- end ----",
            line + 1,
            text.lines().nth(line),
            expected.lines().nth(line)
        );
    }
}
