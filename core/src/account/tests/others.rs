//! Trunks, call limits, media, voicemail and agent keys.

use super::*;

#[test]
fn trunks_are_checked() {
    let trunk = |fields: Value| {
        let mut row =
            json!({"id": "tr", "direction": "outbound", "proxy": "sip.carrier.example:5060"});
        for (k, v) in fields.as_object().expect("object") {
            row[k] = v.clone();
        }
        with("/trunks", json!([row]))
    };
    let account = parse("acc_t", &trunk(json!({"inbound_cidrs": ["10.1.2.3/8", "192.0.2.7", "2001:db8::1"], "cid_number": "+1 555 000 9999"})))
        .expect("trunk");
    let tr = account.trunk("tr").expect("trunk");
    assert_eq!(
        tr.inbound_cidrs,
        vec!["10.0.0.0/8", "192.0.2.7/32", "2001:db8::1/128"]
    );
    assert_eq!(tr.cid_number.as_deref(), Some("15550009999"));
    assert_eq!(
        (tr.transport, tr.expire_sec, tr.active),
        (TrunkTransport::Udp, 3600, true)
    );
    assert_refused(
        &trunk(json!({"proxy": null})),
        "trunks[0].proxy",
        "required for outbound",
    );
    assert_refused(
        &trunk(json!({"proxy": "sip.carrier.example:99999"})),
        "trunks[0].proxy",
        "host[:port]",
    );
    assert_refused(
        &trunk(json!({"proxy": "sip:carrier"})),
        "trunks[0].proxy",
        "host[:port]",
    );
    parse("acc_t", &trunk(json!({"proxy": "[2001:db8::1]:5060"}))).expect("IPv6 proxy");
    parse(
        "acc_t",
        &trunk(json!({"proxy": null, "direction": "inbound"})),
    )
    .expect("inbound-only");
    assert_refused(
        &trunk(json!({"inbound_cidrs": ["10.0.0.0/33"]})),
        "trunks[0].inbound_cidrs[0]",
        "IP address or CIDR",
    );
    assert_refused(
        &trunk(json!({"direction": "sideways"})),
        "trunks[0].direction",
        "unknown variant",
    );
    assert_refused(
        &trunk(json!({"inbound_auth": "magic"})),
        "trunks[0].inbound_auth",
        "unknown variant",
    );
    assert_refused(
        &trunk(json!({"role": "gateway"})),
        "trunks[0].role",
        "unknown variant",
    );
    assert_refused(
        &trunk(json!({"transport": "sctp"})),
        "trunks[0].transport",
        "unknown variant",
    );
}

#[test]
fn call_limits_are_checked() {
    let limit = |fields: Value| {
        let mut row = json!({"id": "lim", "scope_kind": "account", "direction": "out", "period_sec": 60, "max_count": 10});
        for (k, v) in fields.as_object().expect("object") {
            row[k] = v.clone();
        }
        with("/call_limits", json!([row]))
    };
    let account = parse("acc_t", &limit(json!({}))).expect("limit");
    assert!(account.doc().call_limits[0].hard, "hard by default");
    parse(
        "acc_t",
        &limit(json!({"scope_kind": "user", "scope_id": "us_a"})),
    )
    .expect("user scope");
    parse("acc_t", &limit(json!({"scope_kind": "number"}))).expect("per-number scope");
    assert_refused(
        &limit(json!({"scope_kind": "user", "scope_id": "us_x"})),
        "call_limits[0].scope_id",
        "no user",
    );
    assert_refused(
        &limit(json!({"scope_kind": "did", "scope_id": "did_x"})),
        "call_limits[0].scope_id",
        "no DID",
    );
    assert_refused(
        &limit(json!({"scope_kind": "did"})),
        "call_limits[0].scope_id",
        "required",
    );
    assert_refused(
        &limit(json!({"scope_id": "us_a"})),
        "call_limits[0].scope_id",
        "null for account",
    );
    assert_refused(
        &limit(json!({"period_sec": 0})),
        "call_limits[0].period_sec",
        "at least 1",
    );
    assert_refused(
        &limit(json!({"direction": "sideways"})),
        "call_limits[0].direction",
        "unknown variant",
    );
    assert_refused(&limit(json!({"hard": 5})), "call_limits[0].hard", "0, 1");
}

#[test]
fn media_and_voicemail_are_checked() {
    let media = json!([{"id": "m", "object_key": "acc_t/greeting.wav"}]);
    let mut doc = with("/media_files", media);
    set(
        &mut doc,
        "/voicemail_boxes",
        json!([{"id": "vm", "greeting_media_id": "m", "notify_email": "ops@example.com"}]),
    );
    parse("acc_t", &doc).expect("valid");
    set(
        &mut doc,
        "/voicemail_boxes/0/greeting_media_id",
        json!("m_x"),
    );
    assert_refused(
        &doc,
        "voicemail_boxes[0].greeting_media_id",
        "no media file",
    );
    set(
        &mut doc,
        "/voicemail_boxes/0/greeting_media_id",
        Value::Null,
    );
    set(&mut doc, "/voicemail_boxes/0/notify_email", json!("ops"));
    assert_refused(&doc, "voicemail_boxes[0].notify_email", "e-mail");
    for key in ["../etc/passwd", "/abs.wav", "a b.wav", ""] {
        assert_refused(
            &with("/media_files", json!([{"id": "m", "object_key": key}])),
            "media_files[0].object_key",
            "keys are",
        );
    }
    assert_refused(
        &with(
            "/media_files",
            json!([{"id": "m", "object_key": "a.wav", "kind": "jingle"}]),
        ),
        "media_files[0].kind",
        "unknown variant",
    );
}

#[test]
fn agent_keys_are_checked() {
    let digest = "73F174B5443485577C003BE69EC91CABA7EAF2C5755B1D7961567DEC7EEF771B";
    let account = parse(
        "acc_t",
        &with("/agent_keys", json!([{"id": "k", "sha256": digest}])),
    )
    .expect("key");
    assert!(
        account.agent_key_matches("acme-agent-key"),
        "upper-case digests are accepted"
    );
    assert_eq!(
        account.to_json()["agent_keys"][0]["sha256"],
        digest.to_ascii_lowercase()
    );
    assert_refused(
        &with("/agent_keys", json!([{"id": "k", "sha256": "abc"}])),
        "agent_keys[0].sha256",
        "64 hex",
    );
    let two =
        json!([{"id": "k", "sha256": digest}, {"id": "k2", "sha256": digest.to_ascii_lowercase()}]);
    assert_refused(
        &with("/agent_keys", two),
        "agent_keys[1].sha256",
        "duplicate",
    );
    let many: Vec<Value> = (0..=crate::limits::AGENT_KEYS_PER_ACCOUNT_MAX)
        .map(|i| json!({"id": format!("k{i}"), "sha256": format!("{i:064x}")}))
        .collect();
    assert_refused(&with("/agent_keys", json!(many)), "agent_keys", "at most");
    assert!(!parse("acc_t", &minimal())
        .expect("valid")
        .agent_key_matches("anything"));
}
