//! Business hours: is a schedule open at a given instant, and when does
//! that change (reference §4.6)?
//!
//! Pure and deterministic like the rest of the crate: the instant comes in
//! as [`Millis`], the zone database is the one bundled with `jiff`, and
//! nothing here reads a clock.
//!
//! # Semantics
//! "Now" is turned into local civil time in the schedule's zone (`None`
//! inherits the account's zone). Each local date is *owned* by the rules
//! that apply to it:
//! - the `date` / `date_range` rules covering it, if there are any (date
//!   rules beat weekly ones on their dates); a closing one among them makes
//!   the whole date a [`HoursState::Holiday`], otherwise the opening ones
//!   give its hours (`start_time`..`end_time`, or all day without times);
//! - else the `weekly` rules for its day of week.
//!
//! A rule whose `start_time` is after its `end_time` wraps past midnight:
//! it is open from `start_time` to midnight on its own date and from
//! midnight to `end_time` on the next date (a Saturday 22:00–02:00 rule is
//! open on Sunday at 01:00). That spill-over counts on the next date
//! unless the next date is a holiday. Outside every open interval the
//! state is [`HoursState::Closed`].
//!
//! A schedule that cannot be evaluated (no rules, an unknown zone, a rule
//! the document check would refuse, an instant out of range) *fails open*:
//! the verdict is [`HoursState::Open`] with a reason in
//! [`HoursVerdict::fail_open`], so a broken schedule never sends callers to
//! voicemail by accident.
//!
//! # DST
//! Rules speak local wall-clock time, so 09:00 is 09:00 local on both sides
//! of a DST change. The state at an instant is the state of the local time
//! shown on the wall at that instant; a rule boundary that falls in a
//! spring-forward gap takes effect when the wall clock jumps past it, and
//! one in a fall-back fold takes effect (again) each time the wall clock
//! shows it. Local times are turned into instants with jiff's compatible
//! disambiguation, so no local time panics.

use crate::account::{RuleKind, Schedule, ScheduleRule};
use crate::time::Millis;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How far ahead [`HoursVerdict::next_open`] and
/// [`HoursVerdict::next_close`] look: 14 days, in milliseconds.
pub const HORIZON_MS: u64 = 14 * 86_400_000;

/// Seconds in a local day (DST days still count 24 wall-clock hours).
const DAY_SECS: u32 = 86_400;

/// The state of a schedule at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoursState {
    /// Within business hours (also the fail-open answer).
    Open,
    /// Outside business hours.
    Closed,
    /// The date is closed by a `date` / `date_range` rule with `is_closed`.
    Holiday,
}

impl HoursState {
    /// The name flows branch on: `in_hours`, `out_of_hours` or `holiday`.
    pub fn as_str(&self) -> &'static str {
        match self {
            HoursState::Open => "in_hours",
            HoursState::Closed => "out_of_hours",
            HoursState::Holiday => "holiday",
        }
    }
}

/// The answer of [`evaluate`]: the state at the instant asked about, why,
/// and when it next changes, so an operator's what-if call can show all of
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoursVerdict {
    /// The state at the instant evaluated.
    pub state: HoursState,
    /// The IANA zone the instant was read in (canonical name; `UTC` when
    /// the zone asked for is unknown).
    pub zone: String,
    /// The local civil time evaluated, `YYYY-MM-DDTHH:MM:SS` ("" when the
    /// instant is out of range).
    pub local: String,
    /// The rule that decided, as `rules[i]`: the closing date rule of a
    /// holiday, the rule whose hours are open, or the date rule that owns
    /// the date when its hours are closed. `None` when no rule matched
    /// (weekly closed) or the schedule failed open.
    pub rule: Option<String>,
    /// Why the schedule failed open, if it did.
    pub fail_open: Option<String>,
    /// The earliest instant `t > at` at which the state becomes Open (Open
    /// at `t`, not Open at `t - 1 ms`), within [`HORIZON_MS`] of `at`.
    /// When currently Open this is the re-opening after the next close.
    pub next_open: Option<Millis>,
    /// The earliest instant `t > at` at which the state stops being Open
    /// (not Open at `t`, Open at `t - 1 ms`), within [`HORIZON_MS`] of `at`.
    pub next_close: Option<Millis>,
}

impl HoursVerdict {
    /// The verdict as the JSON the API answers with: `state` (as
    /// [`HoursState::as_str`]), `zone`, `local`, `rule`, `fail_open`,
    /// `next_open`, `next_close` (epoch ms or null).
    pub fn to_json(&self) -> Value {
        json!({
            "state": self.state.as_str(),
            "zone": self.zone,
            "local": self.local,
            "rule": self.rule,
            "fail_open": self.fail_open,
            "next_open": self.next_open.map(|m| m.0),
            "next_close": self.next_close.map(|m| m.0),
        })
    }
}

/// Evaluates `schedule` at instant `at`, reading local time in the
/// schedule's zone or, when it has none, in `account_timezone` (empty
/// means `UTC`). Never panics; anything it cannot evaluate fails open.
pub fn evaluate(schedule: &Schedule, account_timezone: &str, at: Millis) -> HoursVerdict {
    let asked = match schedule.timezone.as_deref() {
        Some(zone) => zone,
        None if account_timezone.is_empty() => "UTC",
        None => account_timezone,
    };
    let (zone, zone_error) = match TimeZone::get(asked) {
        Ok(zone) => (zone, None),
        Err(_) => (
            TimeZone::UTC,
            Some(format!("unknown time zone `{}`", shorten(asked))),
        ),
    };
    let zone_name = match &zone_error {
        Some(_) => "UTC".to_string(),
        None => zone.iana_name().unwrap_or(asked).to_string(),
    };
    let now = i64::try_from(at.0)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok());
    let local = now.map(|ts| format_local(zone.to_datetime(ts)));
    let open = |reason: String| HoursVerdict {
        state: HoursState::Open,
        zone: zone_name.clone(),
        local: local.clone().unwrap_or_default(),
        rule: None,
        fail_open: Some(reason),
        next_open: None,
        next_close: None,
    };
    let Some(now) = now else {
        return open(format!("instant {} ms is out of range", at.0));
    };
    if let Some(reason) = zone_error {
        return open(reason);
    }
    if schedule.rules.is_empty() {
        return open("schedule has no rules".to_string());
    }
    let rules = match compile(&schedule.rules) {
        Ok(rules) => rules,
        Err(reason) => return open(reason),
    };
    let mut eval = Evaluator {
        rules,
        zone,
        plans: BTreeMap::new(),
    };
    let (state, rule) = eval.state_at(now);
    let (next_open, next_close) = eval.next_changes(now, state);
    HoursVerdict {
        state,
        zone: zone_name,
        local: local.unwrap_or_default(),
        rule: rule.map(|i| format!("rules[{i}]")),
        fail_open: None,
        next_open,
        next_close,
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (seconds precision).
fn format_local(dt: DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// A value cut short for a reason string (schedules may hold long junk).
fn shorten(value: &str) -> String {
    value.chars().take(80).collect()
}

/// Open hours as minutes since midnight: `start` 0..1439, `end` 0..=1440,
/// never equal; `start > end` wraps past midnight.
#[derive(Clone, Copy, Debug)]
struct Hours {
    start: u32,
    end: u32,
}

/// A `weekly` rule, parsed.
#[derive(Clone, Copy, Debug)]
struct Weekly {
    index: usize,
    /// 0 = Sunday … 6 = Saturday.
    dow: u8,
    hours: Hours,
}

/// A `date` or `date_range` rule, parsed.
#[derive(Clone, Copy, Debug)]
struct Dated {
    index: usize,
    first: Date,
    last: Date,
    closed: bool,
    /// `None`: all day.
    hours: Option<Hours>,
}

/// A schedule's rules, parsed and split by kind.
#[derive(Debug, Default)]
struct Rules {
    weekly: Vec<Weekly>,
    dated: Vec<Dated>,
}

/// Parses every rule; the first one the document check would refuse
/// becomes the fail-open reason.
fn compile(rules: &[ScheduleRule]) -> Result<Rules, String> {
    let mut out = Rules::default();
    for (index, rule) in rules.iter().enumerate() {
        let at = |field: &str, why: &str| format!("rules[{index}].{field}: {why}");
        match rule.kind {
            RuleKind::Weekly => {
                let dow = match rule.dow {
                    Some(dow) if dow <= 6 => dow,
                    Some(_) => return Err(at("dow", "must be 0 (Sunday) .. 6 (Saturday)")),
                    None => return Err(at("dow", "required by weekly rules")),
                };
                if rule.start_date.is_some() || rule.end_date.is_some() {
                    return Err(at("start_date", "not used by weekly rules"));
                }
                if rule.is_closed {
                    return Err(at("is_closed", "weekly rules only open hours"));
                }
                let hours = match (&rule.start_time, &rule.end_time) {
                    (Some(start), Some(end)) => hours(start, end).map_err(|(f, w)| at(f, w))?,
                    _ => return Err(at("start_time", "weekly rules need start and end times")),
                };
                out.weekly.push(Weekly { index, dow, hours });
            }
            RuleKind::Date | RuleKind::DateRange => {
                if rule.dow.is_some() {
                    return Err(at("dow", "not used by date rules"));
                }
                let Some(first) = rule.start_date.as_deref() else {
                    return Err(at("start_date", "required by date rules"));
                };
                let first = date(first).ok_or_else(|| at("start_date", "not YYYY-MM-DD"))?;
                let last = match (rule.kind, rule.end_date.as_deref()) {
                    (RuleKind::Date, None) => first,
                    (RuleKind::Date, Some(_)) => {
                        return Err(at("end_date", "not used by date rules"))
                    }
                    (_, None) => return Err(at("end_date", "required by date_range rules")),
                    (_, Some(last)) => {
                        let last = date(last).ok_or_else(|| at("end_date", "not YYYY-MM-DD"))?;
                        if last < first {
                            return Err(at("end_date", "before start_date"));
                        }
                        last
                    }
                };
                let hours = match (&rule.start_time, &rule.end_time) {
                    (None, None) => None,
                    _ if rule.is_closed => {
                        return Err(at("start_time", "a closing rule closes whole days"))
                    }
                    (Some(start), Some(end)) => Some(hours(start, end).map_err(|(f, w)| at(f, w))?),
                    _ => return Err(at("start_time", "start and end times go together")),
                };
                out.dated.push(Dated {
                    index,
                    first,
                    last,
                    closed: rule.is_closed,
                    hours,
                });
            }
        }
    }
    Ok(out)
}

/// `start`..`end` as [`Hours`], or the field at fault and why.
fn hours(start: &str, end: &str) -> Result<Hours, (&'static str, &'static str)> {
    let start = clock(start, false).ok_or(("start_time", "not HH:MM (00:00..23:59)"))?;
    let end = clock(end, true).ok_or(("end_time", "not HH:MM (00:00..24:00)"))?;
    if start == end {
        return Err(("end_time", "equals start_time (an empty interval)"));
    }
    Ok(Hours { start, end })
}

/// `HH:MM` as minutes since midnight; `24:00` only when `end`.
fn clock(value: &str, end: bool) -> Option<u32> {
    let [h1, h2, b':', m1, m2] = value.as_bytes() else {
        return None;
    };
    let digits = [h1, h2, m1, m2];
    if !digits.iter().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours = u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0');
    let minutes = u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0');
    match (hours, minutes) {
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        (24, 0) if end => Some(24 * 60),
        _ => None,
    }
}

/// `YYYY-MM-DD` that exists on the calendar.
fn date(value: &str) -> Option<Date> {
    let bytes = value.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    let year: i16 = value[0..4].parse().ok()?;
    let month: i8 = value[5..7].parse().ok()?;
    let day: i8 = value[8..10].parse().ok()?;
    Date::new(year, month, day).ok()
}

/// What owns a local date (module docs).
enum Owner {
    /// A closing date rule (the lowest index among them).
    Holiday(usize),
    /// Opening rules and their hours (`None`: all day). `dated` is the
    /// lowest-index date rule when date rules own the date.
    Open {
        rules: Vec<(usize, Option<Hours>)>,
        dated: Option<usize>,
    },
}

/// One local date, worked out: a holiday, or open intervals.
#[derive(Clone, Debug)]
enum Plan {
    /// Closed all day by the rule at this index.
    Holiday(usize),
    /// Open during `spans`; otherwise closed, decided by `closed_by`.
    Hours {
        /// `(from, to, rule)`: open on `from..to` seconds since midnight.
        spans: Vec<(u32, u32, usize)>,
        /// The date rule owning the date, reported when closed.
        closed_by: Option<usize>,
    },
}

/// One evaluation: the parsed rules, the zone and the plans of the local
/// dates seen so far.
struct Evaluator {
    rules: Rules,
    zone: TimeZone,
    plans: BTreeMap<Date, Plan>,
}

impl Evaluator {
    /// The rules owning local date `day`.
    fn owner(&self, day: Date) -> Owner {
        let covering = self
            .rules
            .dated
            .iter()
            .filter(|rule| rule.first <= day && day <= rule.last);
        let mut dated = None;
        let mut rules = Vec::new();
        for rule in covering {
            if rule.closed {
                // Closing beats opening on the same date; rules are in
                // index order, so the first closing one is the lowest.
                return Owner::Holiday(rule.index);
            }
            dated.get_or_insert(rule.index);
            rules.push((rule.index, rule.hours));
        }
        if dated.is_none() {
            let dow = day.weekday().to_sunday_zero_offset();
            rules.extend(
                self.rules
                    .weekly
                    .iter()
                    .filter(|rule| u8::try_from(dow) == Ok(rule.dow))
                    .map(|rule| (rule.index, Some(rule.hours))),
            );
        }
        Owner::Open { rules, dated }
    }

    /// The plan of local date `day` (memoized).
    fn plan(&mut self, day: Date) -> Plan {
        if let Some(plan) = self.plans.get(&day) {
            return plan.clone();
        }
        let plan = self.make_plan(day);
        self.plans.insert(day, plan.clone());
        plan
    }

    /// Works out `day`: its own hours plus the spill-over of the previous
    /// date's wrapping rules.
    fn make_plan(&self, day: Date) -> Plan {
        let (own, closed_by) = match self.owner(day) {
            Owner::Holiday(index) => return Plan::Holiday(index),
            Owner::Open { rules, dated } => (rules, dated),
        };
        let mut spans = Vec::new();
        for (index, hours) in own {
            match hours {
                None => spans.push((0, DAY_SECS, index)),
                Some(Hours { start, end }) if start < end => {
                    spans.push((start * 60, end * 60, index))
                }
                Some(Hours { start, .. }) => spans.push((start * 60, DAY_SECS, index)),
            }
        }
        if let Ok(previous) = day.yesterday() {
            if let Owner::Open { rules, .. } = self.owner(previous) {
                for (index, hours) in rules {
                    if let Some(Hours { start, end }) = hours {
                        if start > end && end > 0 {
                            spans.push((0, end * 60, index));
                        }
                    }
                }
            }
        }
        spans.sort_by_key(|&(_, _, index)| index);
        Plan::Hours { spans, closed_by }
    }

    /// The state at instant `ts` and the rule that decided it.
    fn state_at(&mut self, ts: Timestamp) -> (HoursState, Option<usize>) {
        let dt = self.zone.to_datetime(ts);
        let secs = u32::try_from(dt.hour()).unwrap_or(0) * 3600
            + u32::try_from(dt.minute()).unwrap_or(0) * 60
            + u32::try_from(dt.second()).unwrap_or(0);
        match self.plan(dt.date()) {
            Plan::Holiday(index) => (HoursState::Holiday, Some(index)),
            Plan::Hours { spans, closed_by } => {
                match spans
                    .iter()
                    .find(|&&(from, to, _)| from <= secs && secs < to)
                {
                    Some(&(_, _, index)) => (HoursState::Open, Some(index)),
                    None => (HoursState::Closed, closed_by),
                }
            }
        }
    }

    /// `next_open` and `next_close` after `now` (whose state is `state`).
    ///
    /// The state can only change at an instant where the wall clock shows
    /// a plan boundary (midnight or a span's end) or where the zone's
    /// offset changes. Those candidates, within the horizon, are walked in
    /// order; the state is constant between two of them, so comparing each
    /// candidate's state with the one before finds every change.
    fn next_changes(
        &mut self,
        now: Timestamp,
        state: HoursState,
    ) -> (Option<Millis>, Option<Millis>) {
        let start = now.as_millisecond();
        let horizon = start.saturating_add(HORIZON_MS as i64);
        let mut candidates = Vec::new();
        let today = self.zone.to_datetime(now).date();
        let mut day = today.yesterday().unwrap_or(today);
        for _ in 0..17 {
            let mut times = vec![0];
            if let Plan::Hours { spans, .. } = self.plan(day) {
                for (from, to, _) in spans {
                    times.push(from);
                    if to < DAY_SECS {
                        times.push(to);
                    }
                }
            }
            times.sort_unstable();
            times.dedup();
            for secs in times {
                self.instants(day, secs, &mut candidates);
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        for transition in self.zone.following(now) {
            let ms = transition.timestamp().as_millisecond();
            if ms > horizon {
                break;
            }
            candidates.push(ms);
        }
        candidates.retain(|&ms| start < ms && ms <= horizon);
        candidates.sort_unstable();
        candidates.dedup();

        let (mut next_open, mut next_close) = (None, None);
        let mut before = state;
        for ms in candidates {
            let Ok(ts) = Timestamp::from_millisecond(ms) else {
                continue;
            };
            let (now_state, _) = self.state_at(ts);
            let millis = Millis(u64::try_from(ms).unwrap_or(0));
            if before != HoursState::Open && now_state == HoursState::Open {
                next_open.get_or_insert(millis);
            } else if before == HoursState::Open && now_state != HoursState::Open {
                next_close.get_or_insert(millis);
            }
            if next_open.is_some() && next_close.is_some() {
                break;
            }
            before = now_state;
        }
        (next_open, next_close)
    }

    /// Every instant at which the wall clock shows `secs` on `day`: one
    /// normally, two in a fold, the compatible one (just after the gap) in
    /// a gap (the gap's own start is a zone transition, found apart).
    fn instants(&self, day: Date, secs: u32, out: &mut Vec<i64>) {
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let (Ok(h), Ok(m), Ok(s)) = (i8::try_from(h), i8::try_from(m), i8::try_from(s)) else {
            return;
        };
        let Ok(dt) = DateTime::new(day.year(), day.month(), day.day(), h, m, s, 0) else {
            return;
        };
        let ambiguous = self.zone.to_ambiguous_timestamp(dt);
        if let AmbiguousOffset::Fold { before, after } = ambiguous.offset() {
            for offset in [before, after] {
                if let Ok(ts) = offset.to_timestamp(dt) {
                    out.push(ts.as_millisecond());
                }
            }
        } else if let Ok(ts) = ambiguous.compatible() {
            out.push(ts.as_millisecond());
        }
    }
}

#[cfg(test)]
mod tests;
