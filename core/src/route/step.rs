//! The reasons of a routing decision as typed steps. Each serializes to the
//! object the trace and the what-if tool show, `{"step": name, …fields}`,
//! fields in the order below; borrowing the account's ids, so a decision
//! builds no JSON map per request and serializes its trail once.

use crate::cac::Check;
use crate::hours::HoursVerdict;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::borrow::Cow;

/// The reasons of a decision, in order (trace and what-if).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Trail<'a> {
    pub steps: Vec<Step<'a>>,
}

impl<'a> Trail<'a> {
    /// Adds a step.
    pub fn note(&mut self, step: Step<'a>) {
        self.steps.push(step);
    }

    /// The CAC checks of the decision (empty when CAC was not planned).
    pub fn checks(&self) -> &[Check] {
        self.steps
            .iter()
            .find_map(|step| match step {
                Step::Cac { checks } => Some(checks.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The business-hours evaluation, when a schedule applied.
    pub fn schedule(&self) -> Option<&Evaluation<'a>> {
        self.steps.iter().find_map(|step| match step {
            Step::Schedule(evaluation) => Some(evaluation),
            _ => None,
        })
    }

    /// The trunk choice of an outbound call.
    pub fn trunk(&self) -> Option<&Carrier<'a>> {
        self.steps.iter().find_map(|step| match step {
            Step::Outbound(carrier) => Some(carrier),
            _ => None,
        })
    }
}

/// One reason. Variants sharing a `step` name are the shapes that step
/// takes; constant fields (`authenticated`, `rule`, `disabled`, `loop`)
/// are set by the constructors below.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step<'a> {
    /// No account claims the caller: `{"account": null}`.
    #[serde(rename = "caller")]
    CallerUnknown { account: () },
    /// An account's caller without credentials: `{"authenticated": false}`.
    #[serde(rename = "caller")]
    CallerAnonymous { authenticated: bool },
    /// A digest-authenticated device.
    #[serde(rename = "caller")]
    CallerDevice {
        authenticated: &'static str,
        user_id: &'a str,
        device_id: &'a str,
    },
    /// An IP-authenticated trunk.
    #[serde(rename = "caller")]
    CallerTrunk {
        authenticated: &'static str,
        trunk_id: &'a str,
    },
    /// The DID dialled.
    Inbound { did_id: &'a str, e164: &'a str },
    /// Internal to a user by username.
    #[serde(rename = "internal")]
    InternalUser { username: &'a str, user_id: &'a str },
    /// Internal to an extension.
    #[serde(rename = "internal")]
    InternalExtension {
        extension_id: &'a str,
        digits: &'a str,
    },
    /// The carrier of an outbound call.
    Outbound(Carrier<'a>),
    /// Every CAC dimension checked.
    Cac { checks: Vec<Check> },
    /// A business-hours evaluation.
    Schedule(Evaluation<'a>),
    /// Forwards went [`crate::limits::ROUTE_HOPS_MAX`] hops deep.
    #[serde(rename = "target")]
    TargetLoop { r#loop: bool, hops: usize },
    /// A target resolved.
    Target {
        dest_kind: &'static str,
        dest_id: Option<&'a str>,
    },
    /// A disabled user.
    #[serde(rename = "user")]
    UserDisabled { user_id: &'a str, disabled: bool },
    /// A user rule that sends the call elsewhere (`fwd_always`, `dnd`,
    /// `fwd_noanswer`).
    #[serde(rename = "user")]
    UserRule {
        user_id: &'a str,
        rule: &'static str,
    },
    /// A user's devices rung.
    #[serde(rename = "user")]
    UserRings {
        user_id: &'a str,
        ring_strategy: &'static str,
        reachable_contacts: usize,
    },
    /// The reject answered.
    Reject { code: u16, detail: Cow<'a, str> },
}

impl<'a> Step<'a> {
    /// `{"account": null}`.
    pub fn caller_unknown() -> Self {
        Step::CallerUnknown { account: () }
    }

    /// `{"authenticated": false}`.
    pub fn caller_anonymous() -> Self {
        Step::CallerAnonymous {
            authenticated: false,
        }
    }

    /// `{"authenticated": "digest", "user_id", "device_id"}`.
    pub fn caller_device(user_id: &'a str, device_id: &'a str) -> Self {
        Step::CallerDevice {
            authenticated: "digest",
            user_id,
            device_id,
        }
    }

    /// `{"authenticated": "ip", "trunk_id"}`.
    pub fn caller_trunk(trunk_id: &'a str) -> Self {
        Step::CallerTrunk {
            authenticated: "ip",
            trunk_id,
        }
    }

    /// `{"loop": true, "hops"}`.
    pub fn target_loop(hops: usize) -> Self {
        Step::TargetLoop { r#loop: true, hops }
    }

    /// `{"user_id", "disabled": true}`.
    pub fn user_disabled(user_id: &'a str) -> Self {
        Step::UserDisabled {
            user_id,
            disabled: true,
        }
    }
}

/// The carrier of an outbound call: `{"carrier": "trunk", "trunk_id",
/// "proxy"}` or `{"carrier": "wholesale", "proxy"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "carrier", rename_all = "snake_case")]
pub enum Carrier<'a> {
    Trunk {
        trunk_id: &'a str,
        proxy: Option<&'a str>,
    },
    Wholesale {
        proxy: &'a str,
    },
}

/// A schedule's verdict: the fields of [`HoursVerdict::to_json`], then
/// `schedule_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation<'a> {
    pub verdict: HoursVerdict,
    pub schedule_id: &'a str,
}

impl Serialize for Evaluation<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let verdict = &self.verdict;
        let mut out = serializer.serialize_struct("Evaluation", 8)?;
        out.serialize_field("state", verdict.state.as_str())?;
        out.serialize_field("zone", &verdict.zone)?;
        out.serialize_field("local", &verdict.local)?;
        out.serialize_field("rule", &verdict.rule)?;
        out.serialize_field("fail_open", &verdict.fail_open)?;
        out.serialize_field("next_open", &verdict.next_open.map(|m| m.0))?;
        out.serialize_field("next_close", &verdict.next_close.map(|m| m.0))?;
        out.serialize_field("schedule_id", self.schedule_id)?;
        out.end()
    }
}
