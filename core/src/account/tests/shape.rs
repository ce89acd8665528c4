//! Decoding errors (unknown fields, types, missing fields), ids, account fields.

use super::*;

#[test]
fn shape_errors_name_their_path() {
    assert_refused(
        &with("/users/0/usernme", json!("x")),
        "users[0].usernme",
        "unknown field",
    );
    assert_refused(&with("/bogus", json!(1)), "bogus", "unknown field");
    assert_refused(
        &with(
            "/dids",
            json!([{"id": "d", "e164": "1", "max_channels": "ten"}]),
        ),
        "dids[0].max_channels",
        "invalid type",
    );
    assert_refused(&with("/max_in", json!(-1)), "max_in", "expected u32");
    assert_refused(
        &with("/users/0/is_agent", json!(2)),
        "users[0].is_agent",
        "0, 1, false or true",
    );
    assert_refused(
        &with("/users/0/status", json!("gone")),
        "users[0].status",
        "unknown variant",
    );
    assert_refused(
        &with("/status", json!("deleted")),
        "status",
        "unknown variant",
    );
    assert_refused(
        &with(
            "/dids",
            json!([{"id": "d", "e164": "1", "dest_kind": "pizza"}]),
        ),
        "dids[0].dest_kind",
        "unknown variant",
    );
    let mut doc = minimal();
    doc["users"][0]
        .as_object_mut()
        .expect("object")
        .remove("username");
    assert_refused(&doc, "users[0].username", "missing field");
    assert_refused(&json!([]), "", "JSON object");
    // Flow node position is open, data is typed by kind (editor labels
    // allowed); the node itself is closed.
    let flow = json!([{"id": "f", "start": "a", "nodes": [{"id": "a", "type": "x", "position": {"x": 1, "anything": [1]},
        "data": {"kind": "hangup", "label": "Bye"}}]}]);
    parse("acc_t", &with("/flows", flow.clone())).expect("open position, labelled data");
    let mut custom = flow.clone();
    custom[0]["nodes"][0]["data"]["custom"] = json!({"deep": true});
    assert_refused(
        &with("/flows", custom),
        "flows[0].nodes[0].data.custom",
        "unknown field",
    );
    let mut bad = flow;
    bad[0]["nodes"][0]["width"] = json!(10);
    assert_refused(
        &with("/flows", bad),
        "flows[0].nodes[0].width",
        "unknown field",
    );
}

#[test]
fn ids_are_checked_and_unique() {
    assert_refused(&with("/id", json!("acc_other")), "id", "differs");
    parse("acc_t", &with("/id", json!("acc_t"))).expect("matching id");
    assert!(parse("bad id", &minimal()).is_err_and(|e| e.path == "id"));
    assert_refused(
        &with("/users/0/id", json!("us a")),
        "users[0].id",
        "[A-Za-z0-9_.:-]",
    );
    assert_refused(
        &with("/users/0/id", json!("u".repeat(65))),
        "users[0].id",
        "1..64",
    );
    assert_refused(
        &with("/users/1", json!({"id": "us_a", "username": "101"})),
        "users[1].id",
        "duplicate",
    );
    assert_refused(
        &with("/users/1", json!({"id": "us_b", "username": "100"})),
        "users[1].username",
        "duplicate",
    );
    assert_refused(
        &with("/users/0/account_id", json!("acc_x")),
        "users[0].account_id",
        "acc_t",
    );
    assert_refused(
        &with("/parent_id", json!("acc_t")),
        "parent_id",
        "own parent",
    );
}

#[test]
fn account_fields_and_strings_are_checked() {
    assert_refused(
        &with("/name", json!("x".repeat(257))),
        "name",
        "at most 256",
    );
    assert_refused(&with("/name", json!("a\u{7}b")), "name", "control");
    assert_refused(&with("/language", json!("en-GB")), "language", "not one of");
    assert_refused(
        &with("/voice_gender", json!("robot")),
        "voice_gender",
        "unknown variant",
    );
    assert_refused(
        &with("/brand_domain", json!("not a domain")),
        "brand_domain",
        "domains are",
    );
    assert_refused(
        &with("/default_cid_number", json!("x")),
        "default_cid_number",
        "phone number",
    );
    assert_refused(
        &with("/users/0/display_name", json!("y".repeat(300))),
        "users[0].display_name",
        "at most",
    );
    let doc = with("/status", json!("suspended"));
    assert!(!parse("acc_t", &doc).expect("valid").is_active());
    parse("acc_t", &with("/is_reseller", json!(true))).expect("boolean flags accept true");
}
