//! PLACEHOLDER until the business-hours evaluator lands (branch `hours`).
use crate::account::Schedule;
use crate::time::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoursState {
    Open,
    Closed,
    Holiday,
}

impl HoursState {
    pub fn as_str(&self) -> &'static str {
        match self {
            HoursState::Open => "in_hours",
            HoursState::Closed => "out_of_hours",
            HoursState::Holiday => "holiday",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HoursVerdict {
    pub state: HoursState,
    pub zone: String,
    pub local: String,
    pub rule: Option<String>,
    pub fail_open: Option<String>,
    pub next_open: Option<Millis>,
    pub next_close: Option<Millis>,
}

impl HoursVerdict {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"state": self.state.as_str()})
    }
}

pub fn evaluate(_schedule: &Schedule, account_timezone: &str, _at: Millis) -> HoursVerdict {
    HoursVerdict {
        state: HoursState::Open,
        zone: account_timezone.into(),
        local: String::new(),
        rule: None,
        fail_open: Some("placeholder".into()),
        next_open: None,
        next_close: None,
    }
}
