//! Business-hours evaluation: table tests, DST, next changes checked
//! against a minute-by-minute walk, and a no-panic property.

use super::*;
use proptest::prelude::*;
use serde_json::json;

/// A schedule from JSON rules, through the document's own deserializer.
fn schedule(zone: Option<&str>, rules: Value) -> Schedule {
    serde_json::from_value(json!({"id": "sch", "timezone": zone, "rules": rules}))
        .expect("schedule JSON")
}

/// Monday..Friday 09:00–17:00 (rules[0..5]).
fn office() -> Vec<Value> {
    (1..=5)
        .map(
            |dow| json!({"kind": "weekly", "dow": dow, "start_time": "09:00", "end_time": "17:00"}),
        )
        .collect()
}

/// Office hours plus `extra` (starting at rules[5]).
fn office_with(zone: Option<&str>, extra: &[Value]) -> Schedule {
    let mut rules = office();
    rules.extend_from_slice(extra);
    schedule(zone, Value::Array(rules))
}

/// Epoch ms of local `YYYY-MM-DDTHH:MM[:SS]` in `zone` (compatible).
fn at(zone: &str, local: &str) -> Millis {
    let dt: DateTime = local.parse().expect("local datetime");
    let ts = TimeZone::get(zone)
        .expect("zone")
        .to_ambiguous_timestamp(dt)
        .compatible()
        .expect("instant");
    Millis(u64::try_from(ts.as_millisecond()).expect("after 1970"))
}

fn weekly(dow: u8, start: &str, end: &str) -> Value {
    json!({"kind": "weekly", "dow": dow, "start_time": start, "end_time": end})
}

/// `(local time, state, rule)` rows against one schedule in UTC.
fn table(schedule: &Schedule, rows: &[(&str, HoursState, Option<&str>)]) {
    for &(local, state, rule) in rows {
        let verdict = evaluate(schedule, "UTC", at("UTC", local));
        assert_eq!(verdict.state, state, "{local}: {verdict:?}");
        assert_eq!(verdict.rule.as_deref(), rule, "{local}: {verdict:?}");
        assert_eq!(verdict.fail_open, None, "{local}");
        assert!(
            verdict.local.starts_with(local),
            "{local}: {}",
            verdict.local
        );
    }
}

use HoursState::{Closed, Holiday, Open};

#[test]
fn weekly_hours_open_and_close() {
    table(
        &office_with(Some("UTC"), &[]),
        &[
            ("2026-06-01T10:00", Open, Some("rules[0]")),
            ("2026-06-01T09:00", Open, Some("rules[0]")),
            ("2026-06-01T08:59:59", Closed, None),
            ("2026-06-01T16:59:59", Open, Some("rules[0]")),
            ("2026-06-01T17:00", Closed, None),
            ("2026-06-05T12:00", Open, Some("rules[4]")),
            ("2026-06-06T12:00", Closed, None),
            ("2026-06-07T12:00", Closed, None),
        ],
    );
}

#[test]
fn overnight_rules_wrap_past_midnight() {
    let friday_night = schedule(Some("UTC"), json!([weekly(5, "22:00", "06:00")]));
    table(
        &friday_night,
        &[
            ("2026-06-05T21:59", Closed, None),
            ("2026-06-05T22:00", Open, Some("rules[0]")),
            ("2026-06-05T23:30", Open, Some("rules[0]")),
            ("2026-06-06T00:00", Open, Some("rules[0]")),
            ("2026-06-06T05:59:59", Open, Some("rules[0]")),
            ("2026-06-06T06:00", Closed, None),
            ("2026-06-04T23:00", Closed, None),
            ("2026-06-06T23:00", Closed, None),
        ],
    );
    // Saturday night runs into Sunday, across the week's boundary.
    let saturday_night = schedule(Some("UTC"), json!([weekly(6, "22:00", "02:00")]));
    table(
        &saturday_night,
        &[
            ("2026-06-06T23:00", Open, Some("rules[0]")),
            ("2026-06-07T01:00", Open, Some("rules[0]")),
            ("2026-06-07T02:00", Closed, None),
            ("2026-06-06T01:00", Closed, None),
        ],
    );
    // An end of 00:00 stops at midnight; 24:00 runs to it.
    let to_midnight = schedule(
        Some("UTC"),
        json!([weekly(1, "20:00", "00:00"), weekly(2, "20:00", "24:00")]),
    );
    table(
        &to_midnight,
        &[
            ("2026-06-01T23:59:59", Open, Some("rules[0]")),
            ("2026-06-02T00:00", Closed, None),
            ("2026-06-02T23:59:59", Open, Some("rules[1]")),
            ("2026-06-03T00:00", Closed, None),
        ],
    );
}

#[test]
fn closing_date_is_a_holiday_over_weekly_hours() {
    let christmas = office_with(
        Some("UTC"),
        &[json!({"kind": "date", "start_date": "2026-12-25", "is_closed": 1})],
    );
    table(
        &christmas,
        &[
            ("2026-12-24T10:00", Open, Some("rules[3]")),
            ("2026-12-25T10:00", Holiday, Some("rules[5]")),
            ("2026-12-25T00:00", Holiday, Some("rules[5]")),
            ("2026-12-25T23:59:59", Holiday, Some("rules[5]")),
        ],
    );
    // A holiday also cuts off the previous night's spill-over.
    let night_before = schedule(
        Some("UTC"),
        json!([
            weekly(4, "22:00", "02:00"),
            {"kind": "date", "start_date": "2026-12-25", "is_closed": true}
        ]),
    );
    table(
        &night_before,
        &[
            ("2026-12-24T23:00", Open, Some("rules[0]")),
            ("2026-12-25T01:00", Holiday, Some("rules[1]")),
        ],
    );
}

#[test]
fn closing_date_range_is_a_holiday_on_every_day() {
    let shutdown = office_with(
        Some("UTC"),
        &[
            json!({"kind": "date_range", "start_date": "2026-12-24", "end_date": "2026-12-26", "is_closed": 1}),
        ],
    );
    table(
        &shutdown,
        &[
            ("2026-12-23T10:00", Open, Some("rules[2]")),
            ("2026-12-24T10:00", Holiday, Some("rules[5]")),
            ("2026-12-25T03:00", Holiday, Some("rules[5]")),
            ("2026-12-26T23:00", Holiday, Some("rules[5]")),
            ("2026-12-27T10:00", Closed, None),
            ("2026-12-28T10:00", Open, Some("rules[0]")),
        ],
    );
    // Closing beats opening when both cover a date.
    let both = office_with(
        Some("UTC"),
        &[
            json!({"kind": "date", "start_date": "2026-12-24", "start_time": "08:00", "end_time": "20:00"}),
            json!({"kind": "date", "start_date": "2026-12-24", "is_closed": 1}),
        ],
    );
    table(&both, &[("2026-12-24T10:00", Holiday, Some("rules[6]"))]);
}

#[test]
fn opening_date_with_hours_replaces_weekly_hours() {
    let saturday_sale = office_with(
        Some("UTC"),
        &[
            json!({"kind": "date", "start_date": "2026-11-28", "start_time": "10:00", "end_time": "14:00"}),
            json!({"kind": "date", "start_date": "2026-06-01", "start_time": "12:00", "end_time": "13:00"}),
        ],
    );
    table(
        &saturday_sale,
        &[
            ("2026-11-28T09:59", Closed, Some("rules[5]")),
            ("2026-11-28T10:00", Open, Some("rules[5]")),
            ("2026-11-28T13:59:59", Open, Some("rules[5]")),
            ("2026-11-28T16:45", Closed, Some("rules[5]")),
            ("2026-06-01T10:00", Closed, Some("rules[6]")),
            ("2026-06-01T12:30", Open, Some("rules[6]")),
            ("2026-06-02T10:00", Open, Some("rules[1]")),
        ],
    );
    let verdict = evaluate(&saturday_sale, "UTC", at("UTC", "2026-11-28T16:45"));
    assert_eq!(verdict.local, "2026-11-28T16:45:00");
    // A wrapping date rule spills into the next morning.
    let late = schedule(
        Some("UTC"),
        json!([{"kind": "date", "start_date": "2026-12-31", "start_time": "20:00", "end_time": "02:00"}]),
    );
    table(
        &late,
        &[
            ("2026-12-31T19:59", Closed, Some("rules[0]")),
            ("2026-12-31T21:00", Open, Some("rules[0]")),
            ("2027-01-01T01:59", Open, Some("rules[0]")),
            ("2027-01-01T02:00", Closed, None),
        ],
    );
}

#[test]
fn opening_date_without_hours_is_open_all_day() {
    let sunday = office_with(
        Some("UTC"),
        &[
            json!({"kind": "date_range", "start_date": "2026-11-29", "end_date": "2026-11-29", "is_closed": 0}),
        ],
    );
    table(
        &sunday,
        &[
            ("2026-11-28T12:00", Closed, None),
            ("2026-11-29T00:00", Open, Some("rules[5]")),
            ("2026-11-29T23:59:59", Open, Some("rules[5]")),
            ("2026-11-30T00:00", Closed, None),
        ],
    );
}

#[test]
fn no_zone_inherits_the_account_zone() {
    let inherit = office_with(None, &[]);
    let ny_morning = at("America/New_York", "2026-06-01T09:30");
    let verdict = evaluate(&inherit, "America/New_York", ny_morning);
    assert_eq!(verdict.state, Open);
    assert_eq!(verdict.zone, "America/New_York");
    assert_eq!(verdict.local, "2026-06-01T09:30:00");
    // The same instant is 13:30 in UTC, 06:30 in Los Angeles.
    let utc = evaluate(&inherit, "UTC", ny_morning);
    assert_eq!(
        (utc.state, utc.local.as_str()),
        (Open, "2026-06-01T13:30:00")
    );
    let la = evaluate(&inherit, "America/Los_Angeles", ny_morning);
    assert_eq!(
        (la.state, la.local.as_str()),
        (Closed, "2026-06-01T06:30:00")
    );
    // An empty account zone means UTC; the schedule's own zone wins.
    assert_eq!(evaluate(&inherit, "", ny_morning).zone, "UTC");
    let own = office_with(Some("America/Los_Angeles"), &[]);
    assert_eq!(
        evaluate(&own, "America/New_York", ny_morning).zone,
        "America/Los_Angeles"
    );
}

#[test]
fn unknown_zone_fails_open() {
    let saturday = at("UTC", "2026-06-06T12:00");
    for (zone, account) in [(Some("Mars/Olympus"), "UTC"), (None, "Mars/Olympus")] {
        let verdict = evaluate(&office_with(zone, &[]), account, saturday);
        assert_eq!(verdict.state, Open, "{verdict:?}");
        let reason = verdict.fail_open.expect("fails open");
        assert!(reason.contains("Mars/Olympus"), "{reason}");
        assert_eq!(verdict.zone, "UTC");
        assert_eq!(verdict.local, "2026-06-06T12:00:00");
        assert_eq!(verdict.rule, None);
        assert_eq!((verdict.next_open, verdict.next_close), (None, None));
    }
}

#[test]
fn empty_or_broken_schedules_fail_open() {
    let saturday = at("UTC", "2026-06-06T12:00");
    let empty = evaluate(&schedule(Some("UTC"), json!([])), "UTC", saturday);
    assert_eq!(empty.state, Open);
    assert_eq!(empty.fail_open.as_deref(), Some("schedule has no rules"));
    assert_eq!((empty.next_open, empty.next_close), (None, None));
    let broken = [
        (weekly(1, "9:00", "17:00"), "rules[0].start_time"),
        (weekly(1, "09:00", "09:00"), "rules[0].end_time"),
        (weekly(7, "09:00", "17:00"), "rules[0].dow"),
        (weekly(1, "24:00", "17:00"), "rules[0].start_time"),
        (
            json!({"kind": "date", "start_date": "2026-02-30"}),
            "rules[0].start_date",
        ),
        (
            json!({"kind": "date_range", "start_date": "2026-03-02", "end_date": "2026-03-01"}),
            "rules[0].end_date",
        ),
        (
            json!({"kind": "date", "start_date": "2026-03-02", "start_time": "09:00"}),
            "rules[0].start_time",
        ),
    ];
    for (rule, path) in broken {
        let verdict = evaluate(&schedule(Some("UTC"), json!([rule])), "UTC", saturday);
        assert_eq!(verdict.state, Open, "{path}");
        let reason = verdict.fail_open.expect("fails open");
        assert!(reason.starts_with(path), "{reason}");
    }
    // An instant jiff cannot represent fails open too, without panicking.
    let far = evaluate(&office_with(Some("UTC"), &[]), "UTC", Millis(u64::MAX));
    assert_eq!(far.state, Open);
    assert!(far.fail_open.is_some());
}

#[test]
fn nine_to_five_holds_across_dst_changes() {
    let ny = office_with(Some("America/New_York"), &[]);
    // Monday after the spring-forward (2026-03-08), 09:30 EDT = 13:30Z.
    let spring = Millis(1_773_063_000_000);
    assert_eq!(spring, at("America/New_York", "2026-03-09T09:30"));
    let verdict = evaluate(&ny, "UTC", spring);
    assert_eq!(verdict.state, Open);
    assert_eq!(verdict.local, "2026-03-09T09:30:00");
    assert_eq!(verdict.next_close, Some(Millis(1_773_090_000_000))); // 17:00 EDT
                                                                     // Monday after the fall-back (2026-11-01), 09:30 EST = 14:30Z.
    let fall = Millis(1_793_629_800_000);
    assert_eq!(fall, at("America/New_York", "2026-11-02T09:30"));
    let verdict = evaluate(&ny, "UTC", fall);
    assert_eq!(verdict.state, Open);
    assert_eq!(verdict.local, "2026-11-02T09:30:00");
    // 08:59 EDT on the Monday is still closed.
    assert_eq!(
        evaluate(&ny, "UTC", Millis(1_773_061_140_000)).state,
        Closed
    );
}

#[test]
fn friday_evening_next_open_is_monday_morning() {
    let ny = office_with(Some("America/New_York"), &[]);
    // Friday 2026-03-06 18:00 EST; the weekend crosses the spring-forward.
    let verdict = evaluate(&ny, "UTC", Millis(1_772_838_000_000));
    assert_eq!(verdict.state, Closed);
    assert_eq!(verdict.rule, None);
    // Monday 2026-03-09 09:00 EDT = 13:00Z; closes 17:00 EDT = 21:00Z.
    assert_eq!(verdict.next_open, Some(Millis(1_773_061_200_000)));
    assert_eq!(verdict.next_close, Some(Millis(1_773_090_000_000)));
    // While open, next_open is the re-opening after the close.
    let verdict = evaluate(&ny, "UTC", Millis(1_773_063_000_000));
    assert_eq!(verdict.next_close, Some(Millis(1_773_090_000_000)));
    assert_eq!(
        verdict.next_open,
        Some(at("America/New_York", "2026-03-10T09:00"))
    );
    // Nothing opens within 14 days: no next_open, no next_close.
    let shut = schedule(
        Some("UTC"),
        json!([{"kind": "date", "start_date": "2020-01-01", "is_closed": 1}]),
    );
    let verdict = evaluate(&shut, "UTC", at("UTC", "2026-06-01T10:00"));
    assert_eq!((verdict.state, verdict.rule), (Closed, None));
    assert_eq!((verdict.next_open, verdict.next_close), (None, None));
    // Opening in exactly 14 days is within the horizon; a ms later is not.
    let later = schedule(
        Some("UTC"),
        json!([{"kind": "date", "start_date": "2026-06-15"}]),
    );
    let verdict = evaluate(&later, "UTC", at("UTC", "2026-06-01T00:00"));
    assert_eq!(verdict.next_open, Some(at("UTC", "2026-06-15T00:00")));
    assert_eq!(verdict.next_close, None); // 2026-06-16 00:00 is past it
    let verdict = evaluate(&later, "UTC", Millis(at("UTC", "2026-06-01T00:00").0 - 1));
    assert_eq!(verdict.next_open, None);
}

#[test]
fn verdict_as_json() {
    let ny = office_with(Some("America/New_York"), &[]);
    let verdict = evaluate(&ny, "UTC", Millis(1_772_838_000_000));
    assert_eq!(
        verdict.to_json(),
        json!({
            "state": "out_of_hours",
            "zone": "America/New_York",
            "local": "2026-03-06T18:00:00",
            "rule": null,
            "fail_open": null,
            "next_open": 1_773_061_200_000u64,
            "next_close": 1_773_090_000_000u64,
        })
    );
    assert_eq!(Open.as_str(), "in_hours");
    assert_eq!(Holiday.as_str(), "holiday");
    let holiday = office_with(
        Some("UTC"),
        &[json!({"kind": "date", "start_date": "2026-12-25", "is_closed": 1})],
    );
    let json = evaluate(&holiday, "UTC", at("UTC", "2026-12-25T12:00")).to_json();
    assert_eq!(json["state"], "holiday");
    assert_eq!(json["rule"], "rules[5]");
}

/// Checks `next_open` / `next_close` against a walk over every minute:
/// rules and zone offsets change on whole minutes, so the state is
/// constant within each minute.
fn check_against_minutes(zone: &str, rules: Value, from: &str, days: u64) {
    let sched = schedule(Some(zone), rules);
    let mut eval = Evaluator {
        rules: compile(&sched.rules).expect("valid rules"),
        zone: TimeZone::get(zone).expect("zone"),
        plans: BTreeMap::new(),
    };
    let start = at("UTC", from).0;
    let minutes = (days + 15) * 1440;
    let states: Vec<HoursState> = (0..minutes)
        .map(|m| {
            let ms = i64::try_from(start + m * 60_000).expect("ms");
            eval.state_at(Timestamp::from_millisecond(ms).expect("ts"))
                .0
        })
        .collect();
    let mut changes = 0;
    for m in (0..days * 1440).step_by(37) {
        let now = Millis(start + m * 60_000 + 12_345);
        let verdict = evaluate(&sched, "UTC", now);
        assert_eq!(verdict.state, states[m as usize], "at minute {m}");
        let first = |open: bool| {
            (m + 1..m + 1 + 14 * 1440)
                .find(|&k| {
                    let (was, is) = (states[k as usize - 1] == Open, states[k as usize] == Open);
                    was != is && is == open
                })
                .map(|k| Millis(start + k * 60_000))
        };
        assert_eq!(
            verdict.next_open,
            first(true),
            "{zone} next_open at {now:?}"
        );
        assert_eq!(
            verdict.next_close,
            first(false),
            "{zone} next_close at {now:?}"
        );
        changes += usize::from(verdict.next_open.is_some());
    }
    assert!(changes > 0);
}

#[test]
fn next_changes_match_a_minute_walk_across_dst() {
    let rules = json!([
        weekly(0, "01:30", "02:30"),
        weekly(0, "02:45", "03:15"),
        weekly(6, "23:00", "01:45"),
        weekly(1, "09:00", "17:00"),
        weekly(3, "22:00", "24:00"),
        {"kind": "date", "start_date": "2026-03-11", "start_time": "10:00", "end_time": "11:00"},
        {"kind": "date", "start_date": "2026-11-04", "is_closed": 1},
        {"kind": "date_range", "start_date": "2026-11-05", "end_date": "2026-11-06"},
    ]);
    check_against_minutes("America/New_York", rules.clone(), "2026-03-04T00:00", 10);
    check_against_minutes("America/New_York", rules.clone(), "2026-10-28T00:00", 10);
    check_against_minutes("Europe/London", rules.clone(), "2026-03-25T00:00", 10);
    check_against_minutes("Australia/Lord_Howe", rules, "2026-04-01T00:00", 10);
}

#[test]
fn gap_and_fold_times_do_not_panic_and_follow_the_wall_clock() {
    // 02:30 does not exist on 2026-03-08 in New York; the rule opens when
    // the clock jumps from 01:59:59 EST to 03:00 EDT (07:00Z).
    let gap = schedule(
        Some("America/New_York"),
        json!([weekly(0, "02:30", "04:00")]),
    );
    let verdict = evaluate(&gap, "UTC", at("UTC", "2026-03-08T06:00"));
    assert_eq!(verdict.state, Closed);
    assert_eq!(verdict.next_open, Some(at("UTC", "2026-03-08T07:00")));
    assert_eq!(verdict.next_close, Some(at("UTC", "2026-03-08T08:00")));
    // 01:30 happens twice on 2026-11-01: open 01:30..01:45 both times.
    let fold = schedule(
        Some("America/New_York"),
        json!([weekly(0, "01:30", "01:45")]),
    );
    let verdict = evaluate(&fold, "UTC", at("UTC", "2026-11-01T04:00"));
    assert_eq!(verdict.next_open, Some(at("UTC", "2026-11-01T05:30")));
    assert_eq!(verdict.next_close, Some(at("UTC", "2026-11-01T05:45")));
    let verdict = evaluate(&fold, "UTC", at("UTC", "2026-11-01T05:50"));
    assert_eq!(verdict.state, Closed);
    assert_eq!(verdict.local, "2026-11-01T01:50:00");
    assert_eq!(verdict.next_open, Some(at("UTC", "2026-11-01T06:30")));
    assert_eq!(verdict.next_close, Some(at("UTC", "2026-11-01T06:45")));
}

/// A valid weekly rule: `(dow, start, end)` in minutes, never equal.
fn weekly_rule() -> impl Strategy<Value = Value> {
    (0u8..=6, 0u32..1440, 0u32..=1440)
        .prop_filter("not empty", |(_, start, end)| start != end)
        .prop_map(|(dow, start, end)| {
            let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
            weekly(dow, &hhmm(start), &hhmm(end))
        })
}

proptest! {
    #[test]
    fn evaluate_never_panics_and_next_changes_are_changes(
        at in 0u64..=4_102_444_800_000,
        rules in proptest::collection::vec(weekly_rule(), 1..6),
        zone in prop::sample::select(vec![
            "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe",
            "Asia/Kolkata", "Pacific/Chatham", "America/Sao_Paulo",
        ]),
    ) {
        let sched = schedule(Some(zone), Value::Array(rules));
        let verdict = evaluate(&sched, "UTC", Millis(at));
        prop_assert_eq!(verdict.fail_open, None);
        let state = |ms: u64| evaluate(&sched, "UTC", Millis(ms)).state;
        if let Some(close) = verdict.next_close {
            prop_assert!(at < close.0 && close.0 <= at + HORIZON_MS);
            prop_assert_ne!(state(close.0), Open);
            prop_assert_eq!(state(close.0 - 1), Open);
        }
        if let Some(open) = verdict.next_open {
            prop_assert!(at < open.0 && open.0 <= at + HORIZON_MS);
            prop_assert_eq!(state(open.0), Open);
            prop_assert_ne!(state(open.0 - 1), Open);
        }
        if verdict.state == Open {
            prop_assert!(verdict.rule.is_some());
        }
    }
}
