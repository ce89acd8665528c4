//! The routing brain (`POST /route`, contract "POST /route"): direction,
//! checks, CAC plan, business hours and the route target, as one pure
//! decision over a shard's state. [`decide`] admits nothing: the API layer
//! turns an admitting decision into a `CallRouted` event, and the what-if
//! tool (`/admin/route/explain`) shows the same decision with its [`Trail`].
//!
//! Order (contract): a DID → inbound; else an authenticated caller (digest
//! user, or a trunk by source IP) dialling an extension or username of its
//! own account → internal; dialling a number of 7+ digits → outbound;
//! anything else → 403 (unauthenticated) or 404.

pub mod request;
pub mod rtjson;
pub mod step;
pub mod target;

use crate::account::{Account, DestKind, Device, DidStatus, Trunk, TrunkDirection, User};
use crate::cac::{self, Subject};
use crate::calls::{Admission, Direction};
use crate::hours;
use crate::shard::Shard;
use crate::time::Millis;
pub use request::RouteRequest;
use serde_json::{Map, Value};
use std::borrow::Cow;
pub use step::{Carrier, Evaluation, Step, Trail};
use target::Targets;

/// Shortest number treated as PSTN on an outbound call.
pub const PSTN_DIGITS_MIN: usize = 7;

/// A decision with everything that explains it, borrowing the shard's
/// accounts (the trail's ids).
#[derive(Clone, Debug)]
pub struct Routed<'a> {
    /// The account the call belongs to (None: nobody's call).
    pub account_id: Option<String>,
    pub direction: Option<Direction>,
    /// The `rtjson` answered.
    pub rtjson: rtjson::Rtjson<'a>,
    /// Counters to take (None for rejects and calls outside CAC).
    pub admission: Option<Admission>,
    /// Soft limits passed (admitted, flagged).
    pub soft: Vec<String>,
    /// Normalized caller and callee for the CDR.
    pub from: String,
    pub to: String,
    /// The reasons, in order; also where the CAC checks, the schedule
    /// evaluation and the trunk choice are kept ([`Trail::checks`],
    /// [`Trail::schedule`], [`Trail::trunk`]).
    pub trail: Trail<'a>,
}

impl<'a> Routed<'a> {
    fn reject(
        mut self,
        code: u16,
        reason: &'static str,
        detail: impl Into<Cow<'a, str>>,
    ) -> Routed<'a> {
        let detail = detail.into();
        self.rtjson = rtjson::reject(code, reason, detail.clone());
        self.trail.note(Step::Reject { code, detail });
        self.admission = None;
        self
    }
}

/// The account a `/route` request belongs to, from the directory alone
/// (a DID, else the caller's domain, else a trunk's address): where the
/// call must run.
pub fn account_of<'d>(
    directory: &'d crate::directory::Directory,
    request: &RouteRequest,
) -> Option<&'d str> {
    if let Some(account) = request
        .to_number
        .as_deref()
        .and_then(|n| directory.account_for_did(n))
    {
        return Some(account);
    }
    directory
        .account_for_domain(&request.from_domain)
        .or_else(|| directory.account_for_trunk_ip(request.source_ip))
}

/// Decides where the call goes at `now`, reading only.
pub fn decide<'a>(shard: &'a Shard, now: Millis, request: &RouteRequest) -> Routed<'a> {
    let mut routed = Routed {
        from: request
            .from_number()
            .unwrap_or_else(|| request.from.clone()),
        to: request
            .to_number
            .clone()
            .unwrap_or_else(|| request.to.clone()),
        account_id: None,
        direction: None,
        // Replaced on every path below.
        rtjson: rtjson::reject(404, "Not Found", "no_such_destination"),
        admission: None,
        soft: Vec::new(),
        trail: Trail::default(),
    };
    let directory = shard.directory();
    let did_owner = request
        .to_number
        .as_deref()
        .and_then(|n| directory.account_for_did(n));
    if let Some(account) = did_owner.and_then(|id| shard.account(id)) {
        return inbound(shard, now, request, account, routed);
    }
    let Some(account) = account_of(directory, request).and_then(|id| shard.account(id)) else {
        routed.trail.note(Step::caller_unknown());
        return routed.reject(403, "Forbidden", "unknown_caller");
    };
    routed.account_id = Some(account.id.clone());
    let caller = match identify(account, request) {
        Ok(caller) => caller,
        Err(detail) => return routed.reject(403, "Forbidden", detail),
    };
    let Some(caller) = caller else {
        routed.trail.note(Step::caller_anonymous());
        return routed.reject(403, "Forbidden", "not_authenticated");
    };
    if !account.is_active() {
        return routed.reject(403, "Forbidden", "account_inactive");
    }
    routed.trail.note(caller.describe());
    if let Caller::Device { .. } = caller {
        if let Some(target) = internal_target(account, &request.to) {
            return internal(shard, now, request, account, &caller, target, routed);
        }
    }
    match &request.to_number {
        Some(number) if number.len() >= PSTN_DIGITS_MIN => {
            outbound(shard, now, request, account, &caller, number, routed)
        }
        _ => routed.reject(404, "Not Found", "no_such_destination"),
    }
}

/// Who is calling, once authenticated.
enum Caller<'a> {
    Device { user: &'a User, device: &'a Device },
    Trunk(&'a Trunk),
}

impl<'a> Caller<'a> {
    fn describe(&self) -> Step<'a> {
        match self {
            Caller::Device { user, device } => Step::caller_device(&user.id, &device.id),
            Caller::Trunk(trunk) => Step::caller_trunk(&trunk.id),
        }
    }

    fn user(&self) -> Option<&'a User> {
        match self {
            Caller::Device { user, .. } => Some(user),
            Caller::Trunk(_) => None,
        }
    }
}

/// The authenticated caller: the digest user (`authUser`, or `from` with
/// `authenticated: true`), else an IP-authenticated trunk of the account.
fn identify<'a>(
    account: &'a Account,
    request: &RouteRequest,
) -> Result<Option<Caller<'a>>, &'static str> {
    let realm = if request.from_domain.is_empty() {
        account.primary_domain().to_string()
    } else {
        request.from_domain.clone()
    };
    let device = if let Some(auth_user) = &request.auth_user {
        let name = auth_user.split('@').next().unwrap_or(auth_user);
        Some(
            account
                .device_for_auth(name, &realm)
                .ok_or("unknown_device")?,
        )
    } else if request.authenticated {
        let user = account
            .user_by_username(&request.from)
            .ok_or("unknown_device")?;
        Some(
            account
                .devices_of(&user.id)
                .next()
                .ok_or("unknown_device")?,
        )
    } else {
        None
    };
    if let Some(device) = device {
        let user = account.user(&device.user_id).ok_or("unknown_device")?;
        if !device.active || !user.active {
            return Err("device_disabled");
        }
        return Ok(Some(Caller::Device { user, device }));
    }
    Ok(ip_trunk(account, request.source_ip).map(Caller::Trunk))
}

/// The account's active trunk with `inbound_auth: ip` whose addresses hold
/// `ip`.
fn ip_trunk(account: &Account, ip: core::net::IpAddr) -> Option<&Trunk> {
    account.trunks().iter().find(|trunk| {
        trunk.active
            && trunk.inbound_auth == Some(crate::account::InboundAuth::Ip)
            && trunk
                .inbound_cidrs
                .iter()
                .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
                .any(|net| net.contains(&ip))
    })
}

/// The first active trunk that can carry outbound calls.
pub fn outbound_trunk(account: &Account) -> Option<&Trunk> {
    account.trunks().iter().find(|trunk| {
        trunk.active
            && trunk.proxy.is_some()
            && matches!(
                trunk.direction,
                TrunkDirection::Outbound | TrunkDirection::Both
            )
    })
}

fn caller_vars(
    request: &RouteRequest,
    routed: &Routed,
    direction: Direction,
) -> Map<String, Value> {
    let mut vars = Map::new();
    vars.insert("caller_cid".into(), routed.from.clone().into());
    if let Some(name) = &request.from_name {
        vars.insert("caller_name".into(), name.clone().into());
    }
    vars.insert("called".into(), routed.to.clone().into());
    vars.insert("direction".into(), direction.as_str().into());
    vars
}

fn with_xform(
    mut vars: Map<String, Value>,
    xform: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    if let Some(xform) = xform {
        for (key, value) in xform {
            vars.insert(key.clone(), value.clone());
        }
    }
    vars
}

/// A target: its kind and id (borrowed from the account).
type Dest<'a> = (DestKind, Option<&'a str>);

/// Business hours of an entity with a schedule: the target to use instead
/// of the normal one, if closed.
fn hours_override<'a>(
    account: &'a Account,
    schedule_id: Option<&str>,
    closed: (Option<DestKind>, Option<&'a str>),
    holiday: (Option<DestKind>, Option<&'a str>),
    now: Millis,
    routed: &mut Routed<'a>,
) -> Option<Dest<'a>> {
    let schedule = account.schedule(schedule_id?)?;
    let verdict = hours::evaluate(schedule, &account.doc().timezone, now);
    let state = verdict.state;
    routed.trail.note(Step::Schedule(Evaluation {
        verdict,
        schedule_id: &schedule.id,
    }));
    let pick = |pair: (Option<DestKind>, Option<&'a str>)| pair.0.map(|k| (k, pair.1));
    match state {
        hours::HoursState::Open => None,
        hours::HoursState::Closed => pick(closed),
        hours::HoursState::Holiday => pick(holiday).or_else(|| pick(closed)),
    }
}

fn inbound<'a>(
    shard: &'a Shard,
    now: Millis,
    request: &RouteRequest,
    account: &'a Account,
    mut routed: Routed<'a>,
) -> Routed<'a> {
    routed.account_id = Some(account.id.clone());
    routed.direction = Some(Direction::Inbound);
    let number = request
        .to_number
        .as_deref()
        .expect("a DID matched a number");
    let did = account
        .did(number)
        .expect("the directory's DID is in its account");
    routed.trail.note(Step::Inbound {
        did_id: &did.id,
        e164: &did.e164,
    });
    match did.status {
        DidStatus::Active => {}
        DidStatus::Disabled => return routed.reject(404, "Not Found", "did_disabled"),
        DidStatus::Virtual => return routed.reject(404, "Not Found", "did_virtual"),
    }
    if !account.is_active() {
        return routed.reject(403, "Forbidden", "account_inactive");
    }
    if request.is_anonymous() && !did.allow_anonymous {
        return routed.reject(433, "Anonymity Disallowed", "anonymous_refused");
    }
    let from_number = request.from_number();
    let subject = Subject {
        did_id: Some(&did.id),
        number: from_number.as_deref(),
        ..Subject::default()
    };
    if let Some(refusal) = admit(
        shard,
        now,
        account,
        Direction::Inbound,
        &subject,
        &mut routed,
    ) {
        return routed.reject(503, "Service Unavailable", refusal);
    }
    let normal = match (did.dest_kind, did.dest_id.as_deref()) {
        (Some(kind), id) => Some((kind, id)),
        (None, _) => account
            .doc()
            .did_default_dest_kind
            .map(|kind| (kind, account.doc().did_default_dest_id.as_deref())),
    };
    let closed = hours_override(
        account,
        did.schedule_id.as_deref(),
        (did.closed_dest_kind, did.closed_dest_id.as_deref()),
        (did.holiday_dest_kind, did.holiday_dest_id.as_deref()),
        now,
        &mut routed,
    );
    let Some((kind, id)) = closed.or(normal) else {
        return routed.reject(404, "Not Found", "did_unrouted");
    };
    let mut vars = caller_vars(request, &routed, Direction::Inbound);
    vars.insert("did".into(), did.e164.clone().into());
    let vars = with_xform(vars, did.dest_xform.as_ref());
    finish(shard, now, account, kind, id, vars, routed)
}

/// What an internal `to` names: an active extension's target, else a
/// user by `username`.
fn internal_target<'a>(account: &'a Account, to: &str) -> Option<InternalTarget<'a>> {
    let digits = to.split(['@', ';']).next().unwrap_or(to);
    let digits = digits
        .strip_prefix("sip:")
        .or_else(|| digits.strip_prefix("sips:"))
        .unwrap_or(digits);
    if let Some(extension) = account.extension(digits).filter(|e| e.active) {
        return Some(InternalTarget::Extension(extension));
    }
    account.user_by_username(digits).map(InternalTarget::User)
}

enum InternalTarget<'a> {
    Extension(&'a crate::account::Extension),
    User(&'a User),
}

fn internal<'a>(
    shard: &'a Shard,
    now: Millis,
    request: &RouteRequest,
    account: &'a Account,
    caller: &Caller<'a>,
    target: InternalTarget<'a>,
    mut routed: Routed<'a>,
) -> Routed<'a> {
    routed.direction = Some(Direction::Internal);
    let subject = Subject {
        user_id: caller.user().map(|u| u.id.as_str()),
        ..Subject::default()
    };
    if let Some(refusal) = admit(
        shard,
        now,
        account,
        Direction::Internal,
        &subject,
        &mut routed,
    ) {
        return routed.reject(503, "Service Unavailable", refusal);
    }
    let vars = caller_vars(request, &routed, Direction::Internal);
    match target {
        InternalTarget::User(user) => {
            routed.trail.note(Step::InternalUser {
                username: &user.username,
                user_id: &user.id,
            });
            finish(
                shard,
                now,
                account,
                DestKind::User,
                Some(&user.id),
                vars,
                routed,
            )
        }
        InternalTarget::Extension(extension) => {
            routed.trail.note(Step::InternalExtension {
                extension_id: &extension.id,
                digits: &extension.digits,
            });
            let closed = hours_override(
                account,
                extension.schedule_id.as_deref(),
                (
                    extension.closed_dest_kind,
                    extension.closed_dest_id.as_deref(),
                ),
                (
                    extension.holiday_dest_kind,
                    extension.holiday_dest_id.as_deref(),
                ),
                now,
                &mut routed,
            );
            let (kind, id) = closed.unwrap_or((extension.dest_kind, extension.dest_id.as_deref()));
            let vars = with_xform(vars, extension.dest_xform.as_ref());
            finish(shard, now, account, kind, id, vars, routed)
        }
    }
}

fn outbound<'a>(
    shard: &'a Shard,
    now: Millis,
    request: &RouteRequest,
    account: &'a Account,
    caller: &Caller<'a>,
    number: &str,
    mut routed: Routed<'a>,
) -> Routed<'a> {
    routed.direction = Some(Direction::Outbound);
    let trunk = outbound_trunk(account);
    let wholesale = &shard.config().wholesale_proxy;
    routed.trail.note(Step::Outbound(match trunk {
        Some(trunk) => Carrier::Trunk {
            trunk_id: &trunk.id,
            proxy: trunk.proxy.as_deref(),
        },
        None => Carrier::Wholesale { proxy: wholesale },
    }));
    let user = caller.user();
    let subject = Subject {
        user_id: user.map(|u| u.id.as_str()),
        trunk_id: trunk.map(|t| t.id.as_str()),
        number: Some(number),
        ..Subject::default()
    };
    if let Some(refusal) = admit(
        shard,
        now,
        account,
        Direction::Outbound,
        &subject,
        &mut routed,
    ) {
        return routed.reject(503, "Service Unavailable", refusal);
    }
    let display = user
        .and_then(|u| u.out_cid_name.as_deref())
        .or(request.from_name.as_deref());
    let cid = user.and_then(|u| u.out_cid_number.as_deref());
    routed.rtjson = rtjson::outbound(account, trunk, wholesale, number, cid, display);
    routed
}

/// Plans CAC for the call; the refusal detail when a hard limit is full.
fn admit(
    shard: &Shard,
    now: Millis,
    account: &Account,
    direction: Direction,
    subject: &Subject<'_>,
    routed: &mut Routed<'_>,
) -> Option<String> {
    let plan = cac::plan(account, shard.cac(&account.id), direction, subject, now);
    routed.soft = plan.soft_flags();
    let refusal = plan.refusal();
    if refusal.is_none() {
        routed.admission = Some(plan.admission);
    }
    routed.trail.note(Step::Cac {
        checks: plan.checks,
    });
    refusal
}

/// Resolves the target; a reject gives the counters back (never taken).
fn finish<'a>(
    shard: &'a Shard,
    now: Millis,
    account: &'a Account,
    kind: DestKind,
    id: Option<&'a str>,
    vars: Map<String, Value>,
    mut routed: Routed<'a>,
) -> Routed<'a> {
    let targets = Targets {
        account,
        registrations: shard.registrations(),
        now,
        wholesale: &shard.config().wholesale_proxy,
        vars,
    };
    let rtjson = targets.resolve(kind, id, &mut routed.trail, 0);
    if rtjson.is_reject() {
        routed.admission = None;
    }
    routed.rtjson = rtjson;
    routed
}

#[cfg(test)]
mod tests;
