//! Business hours (reference §4.6): a schedule (`time_schedule`) with its
//! rules (`time_schedule_rule`) nested as `rules`.
//!
//! Rule shapes accepted:
//! - `weekly`: `dow` (0 = Sunday … 6 = Saturday), `start_time`, `end_time`
//!   (`HH:MM`; `24:00` allowed as end; `start_time > end_time` wraps past
//!   midnight; equal times are refused as empty). Opens hours; `is_closed`
//!   must be 0 and no dates may be given.
//! - `date`: `start_date` (`YYYY-MM-DD`).
//! - `date_range`: `start_date` ≤ `end_date`.
//!
//! Date rules beat weekly ones. With `is_closed: 1` they close the whole
//! day(s) and take no times; with `is_closed: 0` they open the day(s),
//! during `start_time`..`end_time` when both are given, else all day.

use super::check::{self, fail, Checked, NAME_MAX};
use super::enums::RuleKind;
use super::flag;
use crate::limits::RULES_PER_SCHEDULE_MAX;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A named set of rules evaluated in one time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// IANA zone, DST-aware; null inherits the account's `timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The schedule's rules.
    #[serde(default)]
    pub rules: Vec<ScheduleRule>,
}

/// One rule of a schedule (shapes in the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRule {
    /// Optional row id, unique within the schedule when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Accepted on input (must equal the parent schedule's id), never written.
    #[serde(default, skip_serializing)]
    pub schedule_id: Option<String>,
    /// What the row is (closed vocabulary).
    pub kind: RuleKind,
    /// Day of week, 0 = Sunday … 6 = Saturday (weekly only).
    #[serde(default)]
    pub dow: Option<u8>,
    /// `HH:MM` opening time.
    #[serde(default)]
    pub start_time: Option<String>,
    /// `HH:MM` closing time (`24:00` allowed).
    #[serde(default)]
    pub end_time: Option<String>,
    /// `YYYY-MM-DD` first date.
    #[serde(default)]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD` last date (date_range only).
    #[serde(default)]
    pub end_date: Option<String>,
    /// Closes the date(s) whatever the weekly hours say (default 0).
    #[serde(default, with = "flag")]
    pub is_closed: bool,
}

/// Checks every schedule and its rules; zones are stored canonical.
pub fn check_schedules(schedules: &mut [Schedule], account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, schedule) in schedules.iter_mut().enumerate() {
        let base = format!("schedules[{i}]");
        check::id(&format!("{base}.id"), &schedule.id)?;
        check::unique(&mut ids, &schedule.id, &format!("{base}.id"), "schedule id")?;
        super::validate::owner(&base, &mut schedule.account_id, account_id)?;
        check::text(&format!("{base}.name"), &schedule.name, NAME_MAX)?;
        if let Some(zone) = schedule.timezone.as_mut() {
            check::timezone(&format!("{base}.timezone"), zone)?;
        }
        check::count(
            &format!("{base}.rules"),
            schedule.rules.len(),
            RULES_PER_SCHEDULE_MAX,
        )?;
        let mut rule_ids = BTreeSet::new();
        for (j, rule) in schedule.rules.iter_mut().enumerate() {
            let at = format!("{base}.rules[{j}]");
            if let Some(id) = &rule.id {
                check::id(&format!("{at}.id"), id)?;
                check::unique(&mut rule_ids, id, &format!("{at}.id"), "rule id")?;
            }
            if let Some(parent) = rule.schedule_id.take() {
                if parent != schedule.id {
                    return fail(
                        format!("{at}.schedule_id"),
                        format!("must be {} (the enclosing schedule)", schedule.id),
                    );
                }
            }
            check_rule(&at, rule)?;
        }
    }
    Ok(())
}

/// One rule's shape for its kind.
fn check_rule(at: &str, rule: &ScheduleRule) -> Checked {
    let field = |name: &str| format!("{at}.{name}");
    let absent = |name: &str, value: bool| {
        if value {
            fail(
                field(name),
                format!("not used by {} rules", rule.kind.as_str()),
            )
        } else {
            Ok(())
        }
    };
    let required = |name: &str| {
        fail(
            field(name),
            format!("required by {} rules", rule.kind.as_str()),
        )
    };
    match rule.kind {
        RuleKind::Weekly => {
            match rule.dow {
                Some(day) if day <= 6 => {}
                Some(_) => return fail(field("dow"), "0 (Sunday) .. 6 (Saturday)"),
                None => return required("dow"),
            }
            let (Some(start), Some(end)) = (&rule.start_time, &rule.end_time) else {
                return required(if rule.start_time.is_none() {
                    "start_time"
                } else {
                    "end_time"
                });
            };
            check_interval(at, start, end)?;
            absent("start_date", rule.start_date.is_some())?;
            absent("end_date", rule.end_date.is_some())?;
            if rule.is_closed {
                return fail(
                    field("is_closed"),
                    "weekly rules open hours; close dates with date or date_range rules",
                );
            }
        }
        RuleKind::Date | RuleKind::DateRange => {
            absent("dow", rule.dow.is_some())?;
            let Some(start_date) = &rule.start_date else {
                return required("start_date");
            };
            let first = check::date(&field("start_date"), start_date)?;
            if rule.kind == RuleKind::Date {
                absent("end_date", rule.end_date.is_some())?;
            } else {
                let Some(end_date) = &rule.end_date else {
                    return required("end_date");
                };
                let last = check::date(&field("end_date"), end_date)?;
                if last < first {
                    return fail(field("end_date"), "before start_date");
                }
            }
            match (&rule.start_time, &rule.end_time) {
                (None, None) => {}
                (Some(_), _) | (_, Some(_)) if rule.is_closed => {
                    let name = if rule.start_time.is_some() {
                        "start_time"
                    } else {
                        "end_time"
                    };
                    return fail(field(name), "a closing rule closes whole days: no times");
                }
                (Some(start), Some(end)) => check_interval(at, start, end)?,
                (None, Some(_)) => return fail(field("start_time"), "required with end_time"),
                (Some(_), None) => return fail(field("end_time"), "required with start_time"),
            }
        }
    }
    Ok(())
}

/// `start_time`..`end_time`: valid clocks, not empty.
fn check_interval(at: &str, start: &str, end: &str) -> Checked {
    let from = check::clock(&format!("{at}.start_time"), start, false)?;
    let to = check::clock(&format!("{at}.end_time"), end, true)?;
    if from == to {
        return fail(
            format!("{at}.end_time"),
            "equals start_time (an empty interval)",
        );
    }
    Ok(())
}
