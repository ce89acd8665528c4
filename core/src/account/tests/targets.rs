//! Route targets and extension chains.

use super::*;

#[test]
fn route_targets_resolve() {
    let did = |fields: Value| {
        let mut row = json!({"id": "did_1", "e164": "12025550100"});
        for (k, v) in fields.as_object().expect("object") {
            row[k] = v.clone();
        }
        with("/dids", json!([row]))
    };
    assert_refused(
        &did(json!({"dest_kind": "flow", "dest_id": "flow_x"})),
        "dids[0].dest_id",
        "no flow with id flow_x",
    );
    assert_refused(
        &did(json!({"dest_kind": "user", "dest_id": "us_x"})),
        "dids[0].dest_id",
        "no user",
    );
    assert_refused(
        &did(json!({"dest_kind": "queue", "dest_id": "q_x"})),
        "dids[0].dest_id",
        "no queue",
    );
    assert_refused(
        &did(json!({"dest_kind": "voicemail", "dest_id": "vm_x"})),
        "dids[0].dest_id",
        "no voicemail box",
    );
    assert_refused(
        &did(json!({"dest_kind": "extension", "dest_id": "1001"})),
        "dids[0].dest_id",
        "no extension",
    );
    assert_refused(
        &did(json!({"dest_kind": "user"})),
        "dids[0].dest_id",
        "required",
    );
    assert_refused(
        &did(json!({"dest_id": "us_a"})),
        "dids[0].dest_id",
        "without `dest_kind`",
    );
    assert_refused(
        &did(json!({"dest_kind": "forward", "dest_id": "alice"})),
        "dids[0].dest_id",
        "not a phone number",
    );
    assert_refused(
        &did(json!({"dest_kind": "ring_group", "dest_id": "rg 1"})),
        "dids[0].dest_id",
        "ids are",
    );
    parse(
        "acc_t",
        &did(json!({"dest_kind": "user", "dest_id": "us_a"})),
    )
    .expect("user target");
    parse("acc_t", &did(json!({"dest_kind": "hangup"}))).expect("hangup needs no id");
    parse(
        "acc_t",
        &did(json!({"dest_kind": "conference", "dest_id": "room_1"})),
    )
    .expect("any conference id");
    parse(
        "acc_t",
        &did(json!({"dest_kind": "ring_group", "dest_id": "rg_1"})),
    )
    .expect("any ring group id");
    parse("acc_t", &did(json!({}))).expect("no target: the account default");
    assert_refused(
        &did(json!({"schedule_id": "sch_x"})),
        "dids[0].schedule_id",
        "no schedule",
    );
    assert_refused(
        &did(json!({"closed_dest_kind": "flow", "closed_dest_id": "f"})),
        "dids[0].closed_dest_id",
        "no flow",
    );
    assert_refused(
        &did(json!({"holiday_dest_kind": "queue"})),
        "dids[0].holiday_dest_id",
        "required",
    );
    assert_refused(
        &did(json!({"dest_xform": {"a b": 1}})),
        "dids[0].dest_xform.a b",
        "variable names",
    );
    assert_refused(
        &did(json!({"dest_xform": {"v": [1]}})),
        "dids[0].dest_xform.v",
        "values are",
    );

    assert_refused(
        &with("/did_default_dest_kind", json!("flow")),
        "did_default_dest_id",
        "required",
    );
    assert_refused(
        &with("/users/0/fwd_busy_kind", json!("voicemail")),
        "users[0].fwd_busy_id",
        "required",
    );
    assert_refused(
        &with("/users/0/voicemail_id", json!("vm_x")),
        "users[0].voicemail_id",
        "no voicemail box",
    );
    let queue = json!([{"id": "q", "timeout_dest_kind": "flow", "timeout_dest_id": "nope"}]);
    assert_refused(
        &with("/queues", queue),
        "queues[0].timeout_dest_id",
        "no flow",
    );
    let queue = json!([{"id": "q", "ewt_dest_kind": "forward", "ewt_dest_id": "+1 415 555 0100"}]);
    let account = parse("acc_t", &with("/queues", queue)).expect("forward exit");
    assert_eq!(
        account.queue("q").and_then(|q| q.ewt_dest_id.as_deref()),
        Some("14155550100")
    );
}

#[test]
fn extensions_are_unique_and_do_not_loop() {
    let ext = |rows: Value| with("/extensions", rows);
    assert_refused(
        &ext(
            json!([{"id": "e1", "digits": "100", "dest_kind": "user", "dest_id": "us_a"},
                    {"id": "e2", "digits": "100", "dest_kind": "hangup"}]),
        ),
        "extensions[1].digits",
        "duplicate",
    );
    assert_refused(
        &ext(json!([{"id": "e1", "digits": "10a", "dest_kind": "hangup"}])),
        "extensions[0].digits",
        "[0-9*#]",
    );
    assert_refused(
        &ext(
            json!([{"id": "e1", "digits": "1", "dest_kind": "extension", "dest_id": "e2"},
                    {"id": "e2", "digits": "2", "dest_kind": "extension", "dest_id": "e1"}]),
        ),
        "extensions[0].dest_id",
        "loops",
    );
    assert_refused(
        &ext(json!([{"id": "e1", "digits": "1", "dest_kind": "extension", "dest_id": "e1"}])),
        "extensions[0].dest_id",
        "loops",
    );
    let chain = json!([{"id": "e1", "digits": "1", "dest_kind": "extension", "dest_id": "e2"},
                       {"id": "e2", "digits": "*97", "dest_kind": "user", "dest_id": "us_a", "status": "disabled"},
                       {"id": "e3", "digits": "3", "dest_kind": "user", "dest_id": "us_a"}]);
    let account = parse("acc_t", &ext(chain)).expect("chains that end are fine");
    assert_eq!(
        account.extension_for_user("us_a"),
        Some("3"),
        "first *active* extension"
    );
    assert_eq!(account.extension_by_id("e2").map(|e| e.active), Some(false));
}
