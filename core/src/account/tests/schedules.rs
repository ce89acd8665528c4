//! Business-hours schedules and rules.

use super::*;

#[test]
fn schedule_rules_are_checked() {
    let rule = |rule: Value| with("/schedules", json!([{"id": "sch", "rules": [rule]}]));
    let weekly = |dow: Value, start: &str, end: &str| {
        rule(json!({"kind": "weekly", "dow": dow, "start_time": start, "end_time": end}))
    };
    parse("acc_t", &weekly(json!(1), "09:00", "17:00")).expect("office hours");
    parse("acc_t", &weekly(json!(0), "00:00", "24:00")).expect("all day");
    parse("acc_t", &weekly(json!(5), "22:00", "06:00")).expect("overnight");
    assert_refused(
        &weekly(json!(7), "09:00", "17:00"),
        "schedules[0].rules[0].dow",
        "0 (Sunday)",
    );
    assert_refused(
        &weekly(json!(1), "9:00", "17:00"),
        "schedules[0].rules[0].start_time",
        "HH:MM",
    );
    assert_refused(
        &weekly(json!(1), "24:00", "17:00"),
        "schedules[0].rules[0].start_time",
        "23:59",
    );
    assert_refused(
        &weekly(json!(1), "09:00", "17:60"),
        "schedules[0].rules[0].end_time",
        "HH:MM",
    );
    assert_refused(
        &weekly(json!(1), "09:00", "09:00"),
        "schedules[0].rules[0].end_time",
        "empty",
    );
    assert_refused(
        &rule(json!({"kind": "weekly", "dow": 1, "start_time": "09:00"})),
        "schedules[0].rules[0].end_time",
        "required",
    );
    assert_refused(
        &rule(json!({"kind": "monthly"})),
        "schedules[0].rules[0].kind",
        "unknown variant",
    );
    parse(
        "acc_t",
        &rule(json!({"kind": "date", "start_date": "2024-02-29", "is_closed": 1})),
    )
    .expect("leap day");
    assert_refused(
        &rule(json!({"kind": "date", "start_date": "2025-02-29"})),
        "schedules[0].rules[0].start_date",
        "YYYY-MM-DD",
    );
    assert_refused(
        &rule(json!({"kind": "date", "start_date": "25-12-25"})),
        "schedules[0].rules[0].start_date",
        "YYYY-MM-DD",
    );
    assert_refused(
        &rule(json!({"kind": "date"})),
        "schedules[0].rules[0].start_date",
        "required",
    );
    assert_refused(
        &rule(json!({"kind": "date", "start_date": "2025-12-25", "dow": 1})),
        "schedules[0].rules[0].dow",
        "not used",
    );
    assert_refused(
        &rule(json!({"kind": "date_range", "start_date": "2025-12-31", "end_date": "2025-12-24"})),
        "schedules[0].rules[0].end_date",
        "before start_date",
    );
    parse(
        "acc_t",
        &rule(json!({"kind": "date_range", "start_date": "2025-12-24", "end_date": "2025-12-24"})),
    )
    .expect("one-day range");
    assert_refused(
        &rule(
            json!({"kind": "date", "start_date": "2025-12-24", "is_closed": 1, "start_time": "09:00", "end_time": "12:00"}),
        ),
        "schedules[0].rules[0].start_time",
        "whole days",
    );
    parse("acc_t", &rule(json!({"kind": "date", "start_date": "2025-12-24", "start_time": "09:00", "end_time": "12:00"}))).expect("short day");
    let zone = |tz: Value| with("/schedules", json!([{"id": "sch", "timezone": tz}]));
    assert_refused(
        &zone(json!("Mars/Olympus")),
        "schedules[0].timezone",
        "IANA",
    );
    let account = parse("acc_t", &zone(json!("europe/berlin"))).expect("zone");
    assert_eq!(
        account.schedule("sch").and_then(|s| s.timezone.as_deref()),
        Some("Europe/Berlin")
    );
    parse("acc_t", &zone(Value::Null)).expect("null inherits");
    assert_refused(
        &with("/timezone", json!("Nowhere/Land")),
        "timezone",
        "IANA",
    );
}
