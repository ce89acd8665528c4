//! Users, devices, domains and DIDs.

use super::*;

#[test]
fn devices_are_checked() {
    let second = json!({"id": "dev_b", "user_id": "us_a", "auth_username": "101", "realm": "example.sip.io",
                        "ha1": "0123456789abcdef0123456789abcdef", "ha1b": "0123456789abcdef0123456789abcdef"});
    let two = |field: &str, value: Value| {
        let mut doc = with("/devices/1", second.clone());
        doc["devices"][1][field] = value;
        doc
    };
    parse("acc_t", &two("name", json!("Desk"))).expect("two devices");
    assert_refused(&two("ha1", json!("abc")), "devices[1].ha1", "32 hex");
    assert_refused(
        &two("ha1b", json!("g123456789abcdef0123456789abcdef")),
        "devices[1].ha1b",
        "32 hex",
    );
    assert_refused(
        &two("ha1_sha256", json!("0123456789abcdef0123456789abcdef")),
        "devices[1].ha1_sha256",
        "64 hex",
    );
    assert_refused(
        &two("user_id", json!("us_x")),
        "devices[1].user_id",
        "no user",
    );
    assert_refused(
        &two("realm", json!("other.sip.io")),
        "devices[1].realm",
        "not one of the account's domains",
    );
    assert_refused(
        &two("auth_username", json!("100")),
        "devices[1].auth_username",
        "duplicate",
    );
    assert_refused(
        &two("auth_username", json!("a@b")),
        "devices[1].auth_username",
        "chars",
    );
    assert_refused(
        &two("transport", json!("sctp")),
        "devices[1].transport",
        "one of",
    );
    let mut doc = with("/devices/1", second);
    doc["devices"][1]
        .as_object_mut()
        .expect("object")
        .remove("ha1b");
    assert_refused(&doc, "devices[1].ha1b", "missing field");
    assert_refused(
        &with("/users/0/ring_timeout_sec", json!(0)),
        "users[0].ring_timeout_sec",
        "at least 1",
    );
    assert_refused(
        &with("/users/0/out_cid_number", json!("anonymous")),
        "users[0].out_cid_number",
        "phone number",
    );
}

#[test]
fn domains_and_dids_are_unique() {
    assert_refused(&with("/domains", json!([])), "domains", "at least one");
    let mut doc = minimal();
    doc.as_object_mut().expect("object").remove("domains");
    assert_refused(&doc, "domains", "at least one");
    assert_refused(
        &with("/domains/1", json!({"domain": "EXAMPLE.sip.io"})),
        "domains[1].domain",
        "duplicate",
    );
    assert_refused(
        &with("/domains/1", json!({"domain": "bad domain"})),
        "domains[1].domain",
        "[A-Za-z0-9._@:-]",
    );
    assert_refused(
        &with("/domains/1", json!({"domain": "a".repeat(254)})),
        "domains[1].domain",
        "1..253",
    );
    let mut doc = with("/domains/1", json!({"domain": "b.sip.io", "is_primary": 1}));
    doc["domains"][0]["is_primary"] = json!(true);
    assert_refused(&doc, "domains[1].is_primary", "already primary");
    let dids =
        json!([{"id": "d1", "e164": "+1 202 555 0100"}, {"id": "d2", "e164": "tel:12025550100"}]);
    assert_refused(&with("/dids", dids), "dids[1].e164", "duplicate DID");
    assert_refused(
        &with("/dids", json!([{"id": "d1", "e164": "main"}])),
        "dids[0].e164",
        "phone number",
    );
}
