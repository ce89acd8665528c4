//! The demo documents parse, digest the README passwords, normalize and round-trip.

use super::*;

#[test]
fn demo_documents_parse() {
    let acme = acme();
    assert_eq!(acme.id, "acc_acme");
    assert!(acme.is_active());
    assert_eq!(acme.domain_names(), vec!["acme.sip.io"]);
    assert_eq!(acme.did_numbers(), vec!["12025550123", "12025550124"]);
    assert_eq!(acme.doc().timezone, "America/New_York");
    assert_eq!(
        (acme.doc().max_in, acme.doc().max_out, acme.doc().max_dialer),
        (Some(20), Some(10), Some(5))
    );

    let globex: Value = serde_json::from_str(GLOBEX).expect("globex.json is JSON");
    let globex = parse("acc_globex", &globex).expect("globex.json is valid");
    assert_eq!(globex.domain_names(), vec!["globex.sip.io"]);
    assert_eq!(globex.did_numbers(), vec!["4930555000"]);
    assert_eq!(globex.doc().timezone, "Europe/Berlin");
}

#[test]
fn demo_lookups() {
    let acme = acme();
    let alice = acme
        .device_for_auth("1001", "ACME.sip.io")
        .expect("Alice's device");
    assert_eq!(
        (alice.id.as_str(), alice.user_id.as_str()),
        ("dev_alice", "us_alice")
    );
    assert!(alice.ha1_sha256.is_some() && alice.ha1b_sha256.is_some());
    let bob = acme
        .device_for_auth("1002", "acme.sip.io")
        .expect("Bob's device");
    assert!(bob.ha1_sha256.is_none());
    assert!(acme.device_for_auth("1001", "globex.sip.io").is_none());
    assert!(acme.device_for_auth("9999", "acme.sip.io").is_none());

    let carol = acme.user("us_carol").expect("Carol");
    assert!(carol.is_agent && carol.active);
    assert!(!acme.user("us_alice").expect("Alice").is_agent);
    assert!(
        !acme.user("us_erin").expect("Erin").active,
        "1009 is disabled"
    );
    assert!(
        acme.device_for_auth("1009", "acme.sip.io").is_some(),
        "disabled users keep their device (403 case)"
    );
    assert_eq!(acme.extension_for_user("us_alice"), Some("1001"));
    assert_eq!(acme.extension_for_user("us_dan"), Some("1004"));
    assert_eq!(acme.extension_for_user("us_erin"), None);
    assert_eq!(
        acme.user_by_username("1003").map(|u| u.id.as_str()),
        Some("us_carol")
    );

    assert_eq!(
        acme.did("12025550123").map(|d| d.id.as_str()),
        Some("did_main")
    );
    assert_eq!(
        acme.extension("2000").map(|e| e.dest_kind),
        Some(DestKind::Queue)
    );
    assert_eq!(
        acme.flow("flow_main").map(|f| f.start.as_str()),
        Some("entry")
    );
    assert_eq!(acme.queue_members("q_sales").count(), 2);
    assert!(acme
        .schedule("sch_office")
        .is_some_and(|s| s.rules.len() == 6));
    assert!(acme
        .trunk("tr_acme")
        .is_some_and(|t| t.max_channels == Some(30)));
    assert!(acme.voicemail_box("vm_main").is_some());
    assert!(acme.media_file("media_after_hours").is_some());
    assert_eq!(acme.primary_domain(), "acme.sip.io");

    assert!(acme.agent_key_matches("acme-agent-key"));
    assert!(!acme.agent_key_matches("acme-agent-key "));
    assert!(!acme.agent_key_matches(""));
}

#[test]
fn demo_digests_match_the_readme_passwords() {
    use md5::{Digest as _, Md5};
    let acme = acme();
    let md5 = |text: String| hex::encode(Md5::digest(text.as_bytes()));
    for (user, password) in [
        ("1001", "alice-secret-1001"),
        ("1002", "bob-secret-1002"),
        ("1003", "carol-secret-1003"),
        ("1004", "dan-secret-1004"),
        ("1009", "disabled-secret-1009"),
    ] {
        let device = acme
            .device_for_auth(user, "acme.sip.io")
            .expect("demo device");
        assert_eq!(
            device.ha1,
            md5(format!("{user}:acme.sip.io:{password}")),
            "{user}"
        );
        assert_eq!(
            device.ha1b,
            md5(format!("{user}@acme.sip.io:acme.sip.io:{password}")),
            "{user}"
        );
    }
    let globex: Value = serde_json::from_str(GLOBEX).expect("globex.json is JSON");
    let globex = parse("acc_globex", &globex).expect("globex.json is valid");
    for (user, password) in [
        ("2001", "globex-secret-2001"),
        ("2002", "globex-secret-2002"),
    ] {
        let device = globex
            .device_for_auth(user, "globex.sip.io")
            .expect("demo device");
        assert_eq!(
            device.ha1,
            md5(format!("{user}:globex.sip.io:{password}")),
            "{user}"
        );
        assert_eq!(
            device.ha1b,
            md5(format!("{user}@globex.sip.io:globex.sip.io:{password}")),
            "{user}"
        );
    }
    assert!(globex.agent_key_matches("globex-agent-key"));
    let alice = acme.device_for_auth("1001", "acme.sip.io").expect("Alice");
    let sha = |text: &str| hex::encode(sha2::Sha256::digest(text.as_bytes()));
    assert_eq!(
        alice.ha1_sha256.as_deref(),
        Some(sha("1001:acme.sip.io:alice-secret-1001").as_str())
    );
    assert_eq!(
        alice.ha1b_sha256.as_deref(),
        Some(sha("1001@acme.sip.io:acme.sip.io:alice-secret-1001").as_str())
    );
}

#[test]
fn to_json_round_trips() {
    let acme = acme();
    let json = acme.to_json();
    assert_eq!(json["id"], "acc_acme");
    assert_eq!(
        parse("acc_acme", &json).expect("normalized document parses"),
        acme
    );
    // Serde goes through the same document (and validates on the way in).
    let text = serde_json::to_string(&acme).expect("serializes");
    let back: Account = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(back, acme);
    assert!(
        serde_json::from_str::<Account>(r#"{"domains":[{"domain":"a.b"}]}"#).is_err(),
        "id required"
    );
    assert!(
        serde_json::from_str::<Account>(r#"{"id":"acc_x","domains":[]}"#).is_err(),
        "validated"
    );
}

#[test]
fn normalizes_and_fills_defaults() {
    let mut doc = minimal();
    set(&mut doc, "/domains/0/domain", json!("Example.SIP.io"));
    set(&mut doc, "/devices/0/realm", json!("EXAMPLE.sip.io"));
    set(
        &mut doc,
        "/devices/0/ha1",
        json!("0123456789ABCDEF0123456789ABCDEF"),
    );
    set(&mut doc, "/devices/0/transport", json!("WSS"));
    set(&mut doc, "/devices/0/is_webrtc", json!(true));
    set(&mut doc, "/devices/0/account_id", json!("acc_t"));
    set(&mut doc, "/timezone", json!("america/new_york"));
    set(
        &mut doc,
        "/dids",
        json!([{"id": "did_1", "e164": "+1 (202) 555-0199", "dest_kind": "forward", "dest_id": "tel:+1-415-555-0100"}]),
    );
    let account = parse("acc_t", &doc).expect("valid");
    let out = account.to_json();
    assert_eq!(out["id"], "acc_t");
    assert_eq!(out["domains"][0]["domain"], "example.sip.io");
    assert_eq!(out["domains"][0]["is_primary"], 0);
    assert_eq!(out["devices"][0]["realm"], "example.sip.io");
    assert_eq!(out["devices"][0]["ha1"], "0123456789abcdef0123456789abcdef");
    assert_eq!(out["devices"][0]["transport"], "wss");
    assert_eq!(out["devices"][0]["is_webrtc"], 1);
    assert_eq!(out["devices"][0]["status"], "active");
    assert_eq!(out["devices"][0]["ring_on_fork"], 1);
    assert!(
        out["devices"][0].get("account_id").is_none(),
        "row account_id is dropped"
    );
    assert_eq!(out["timezone"], "America/New_York");
    assert_eq!(out["dids"][0]["e164"], "12025550199");
    assert_eq!(out["dids"][0]["dest_id"], "14155550100");
    assert_eq!(out["dids"][0]["status"], "active");
    assert_eq!(out["dids"][0]["allow_anonymous"], 1);
    assert_eq!(out["status"], "active");
    assert_eq!(out["language"], "en-US");
    assert_eq!(out["voice_gender"], "male");
    assert_eq!(out["max_in"], Value::Null);
    assert_eq!(out["users"][0]["ring_timeout_sec"], 25);
    assert_eq!(out["users"][0]["is_agent"], 0);
    assert_eq!(out["agent_keys"], json!([]));
    assert_eq!(account.did_numbers(), vec!["12025550199"]);
    assert!(account
        .device_for_auth("100", "example.sip.io")
        .is_some_and(|d| d.is_webrtc));
    let utc = parse("acc_t", &minimal()).expect("valid");
    assert_eq!(utc.doc().timezone, "UTC");
}
