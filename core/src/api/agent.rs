//! Agents and the ACD's answer-time hooks: `POST /agent` (and
//! `/presence/event` `type: agent`), `GET /agent`, `GET /presence/users`,
//! `GET /agent/confirm/{accountId}/{leaseId}/{epoch}` and
//! `GET /agent/claim/{accountId}/{agentId}/{callId}`.
//!
//! ```text
//! POST /agent {"accountId":"acc_acme","userId":"1003","event":"login",
//!              "queues":[{"queueId":"q_sales","level":1}]}
//! → {"ok":true,"agent":{"userId":"us_carol","status":"available",…}}
//! GET /agent/confirm/acc_acme/ls_1/1 → {"ok":true,"leaseId":"ls_1","epoch":1,…}
//! ```

use super::error::{ok, ApiError};
use super::fields::{opt_str, req_str};
use crate::account::{Account, DestKind, MemberMode};
use crate::acd::plan::Plan;
use crate::acd::{bucket, Agent, Membership, State, Status, BUCKETS};
use crate::event::Event;
use crate::limits::{AGENT_QUEUES_MAX, AGENT_REASON_BYTES_MAX, ID_BYTES_MAX};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// What an agent asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentAction {
    Login,
    Logout,
    Available,
    Pause,
    Unpause,
    /// Ends wrap-up early.
    WrapUpDone,
}

/// `POST /agent` (or a presence event of `type: agent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRequest {
    pub account_id: String,
    /// `us_…`, a username or an extension.
    pub user: String,
    pub action: AgentAction,
    pub reason: Option<String>,
    /// Memberships to set: (queueId, level); None keeps them.
    pub queues: Option<Vec<(String, u32)>>,
}

/// Decodes a `POST /agent` body (in a form, `queues` is a JSON string).
pub fn decode(body: &Map<String, Value>) -> Result<AgentRequest, ApiError> {
    let account_id = req_str(body, "accountId", ID_BYTES_MAX)?;
    super::admin::check_account_id(&account_id)?;
    let user = req_str(body, "userId", ID_BYTES_MAX)?;
    let action = match req_str(body, "event", 16)?.as_str() {
        "login" => AgentAction::Login,
        "logout" => AgentAction::Logout,
        "available" | "ready" => AgentAction::Available,
        "pause" | "on_break" => AgentAction::Pause,
        "unpause" => AgentAction::Unpause,
        "wrapup_done" => AgentAction::WrapUpDone,
        _ => {
            return Err(ApiError::invalid(
                "event",
                "must be login, logout, available, pause, unpause or wrapup_done",
            ))
        }
    };
    let queues = match body.get("queues") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(decode_queues(items)?),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => Some(decode_queues(&items)?),
            _ => return Err(ApiError::bad_field("queues", "must be a JSON array")),
        },
        Some(_) => return Err(ApiError::bad_field("queues", "must be an array")),
    };
    Ok(AgentRequest {
        account_id,
        user,
        action,
        reason: opt_str(body, "reason", AGENT_REASON_BYTES_MAX)?,
        queues,
    })
}

fn decode_queues(items: &[Value]) -> Result<Vec<(String, u32)>, ApiError> {
    if items.len() > AGENT_QUEUES_MAX {
        return Err(ApiError::invalid(
            "queues",
            &format!("at most {AGENT_QUEUES_MAX} queues"),
        ));
    }
    let mut queues: Vec<(String, u32)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            return Err(ApiError::bad_field(
                &format!("queues[{i}]"),
                "must be an object",
            ));
        };
        let queue_id = req_str(entry, "queueId", ID_BYTES_MAX)
            .map_err(|_| ApiError::missing(&format!("queues[{i}].queueId")))?;
        let level = match entry.get("level") {
            None | Some(Value::Null) => 1,
            Some(value) => value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    ApiError::invalid(&format!("queues[{i}].level"), "must be a whole number ≥ 1")
                })?,
        };
        if queues.iter().any(|(q, _)| *q == queue_id) {
            return Err(ApiError::invalid(
                &format!("queues[{i}].queueId"),
                "listed twice",
            ));
        }
        queues.push((queue_id, level));
    }
    Ok(queues)
}

fn unknown_account(account_id: &str) -> Decision {
    let error = ApiError::new(404, "unknown_account", format!("no account {account_id}"))
        .with_field("field", json!("accountId"));
    Decision::reply(error.to_response())
}

/// The agent `user` names: a user id, a username, or an extension that
/// rings a user. Err: the reply (404 unknown, 422 not an agent).
fn resolve<'a>(account: &'a Account, user: &str, field: &str) -> Result<&'a str, Decision> {
    let found = account
        .user(user)
        .or_else(|| account.user_by_username(user))
        .or_else(|| {
            let ext = account.extension(user)?;
            (ext.dest_kind == DestKind::User).then_some(())?;
            account.user(ext.dest_id.as_deref()?)
        });
    let Some(found) = found else {
        let error = ApiError::new(404, "unknown_user", format!("no user {user}"))
            .with_field("field", json!(field));
        return Err(Decision::reply(error.to_response()));
    };
    if !found.is_agent {
        let error = ApiError::invalid(field, &format!("user {} is not an agent", found.id));
        return Err(Decision::reply(error.to_response()));
    }
    Ok(found.id.as_str())
}

/// `POST /agent`.
pub fn decide_post(shard: &Shard, now: Millis, salt: u64, request: &AgentRequest) -> Decision {
    let Some(account) = shard.account(&request.account_id) else {
        return unknown_account(&request.account_id);
    };
    let user_id = match resolve(account, &request.user, "userId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let memberships = match &request.queues {
        None => None,
        Some(list) => match memberships(account, user_id, list) {
            Ok(m) => Some(m),
            Err(error) => return Decision::reply(error.to_response()),
        },
    };
    let mut plan = Plan::new(shard, account, now, salt);
    let mut agent = plan.agent(user_id);
    if let Err(error) = act(&mut agent, account, request, memberships, now) {
        return Decision::reply(error.to_response());
    }
    plan.change_agent(agent, cause(request.action));
    plan.settle();
    let view = view(&plan, user_id);
    Decision {
        reply: ok(json!({"agent": view})),
        events: plan.events,
    }
}

fn cause(action: AgentAction) -> &'static str {
    match action {
        AgentAction::Login => "login",
        AgentAction::Logout => "logout",
        AgentAction::Available => "available",
        AgentAction::Pause => "pause",
        AgentAction::Unpause => "unpause",
        AgentAction::WrapUpDone => "wrapup_done",
    }
}

/// The requested memberships, checked against the account's queues.
fn memberships(
    account: &Account,
    user_id: &str,
    list: &[(String, u32)],
) -> Result<Vec<Membership>, ApiError> {
    let mut out = Vec::new();
    for (i, (queue_id, level)) in list.iter().enumerate() {
        if account.queue(queue_id).is_none() {
            return Err(ApiError::invalid(
                &format!("queues[{i}].queueId"),
                &format!("no queue {queue_id}"),
            ));
        }
        let mode = account
            .queue_members(queue_id)
            .find(|m| m.user_id == user_id)
            .map_or("dynamic", |m| m.mode.as_str());
        out.push(Membership {
            queue_id: queue_id.clone(),
            level: *level,
            mode: mode.to_string(),
        });
    }
    sort(&mut out);
    Ok(out)
}

fn sort(queues: &mut [Membership]) {
    queues.sort_by(|a, b| (a.level, &a.queue_id).cmp(&(b.level, &b.queue_id)));
}

/// The account's static and mandatory memberships of `user_id`
/// (`auto_queue_login`).
fn doc_memberships(account: &Account, user_id: &str) -> Vec<Membership> {
    let mut out: Vec<Membership> = account
        .doc()
        .queue_members
        .iter()
        .filter(|m| m.user_id == user_id && m.mode != MemberMode::Dynamic)
        .map(|m| Membership {
            queue_id: m.queue_id.clone(),
            level: m.tier_level,
            mode: m.mode.as_str().to_string(),
        })
        .collect();
    sort(&mut out);
    out
}

/// Applies the request to the agent; Err: 409 when the agent is not in a
/// state the action applies to.
fn act(
    agent: &mut Agent,
    account: &Account,
    request: &AgentRequest,
    memberships: Option<Vec<Membership>>,
    now: Millis,
) -> Result<(), ApiError> {
    let user = account.user(&agent.user_id).expect("resolved user");
    let logged_in = agent.status != Status::Offline;
    let conflict = |code, why: &str| Err(ApiError::new(409, code, why.to_string()));
    let reason = request.reason.clone();
    let cause = cause(request.action);
    match request.action {
        AgentAction::Login => {
            let queues = memberships.clone().or_else(|| {
                (user.auto_queue_login && !logged_in).then(|| doc_memberships(account, &user.id))
            });
            agent.moved(now, cause, |a| {
                if !logged_in {
                    a.status = if user.auto_ready_on_login {
                        Status::Available
                    } else {
                        Status::NotReady
                    };
                    a.idle_since = now;
                }
                if let Some(queues) = queues {
                    a.queues = queues;
                }
            });
        }
        AgentAction::Logout => agent.moved(now, cause, |a| {
            a.status = Status::Offline;
            a.reason = None;
            a.queues.clear();
        }),
        _ if !logged_in => return conflict("not_logged_in", "the agent is logged out"),
        AgentAction::Available | AgentAction::Unpause => agent.moved(now, cause, |a| {
            if a.status != Status::Available {
                a.idle_since = now;
            }
            a.status = Status::Available;
            a.reason = None;
            a.missed = 0;
        }),
        AgentAction::Pause => agent.moved(now, cause, |a| {
            a.status = Status::OnBreak;
            a.reason = Some(reason.unwrap_or_else(|| "break".into()));
        }),
        AgentAction::WrapUpDone => {
            if agent.state != State::WrapUp {
                return conflict("not_in_wrap_up", "the agent is not in wrap-up");
            }
            agent.moved(now, cause, |a| {
                a.state = State::Waiting;
                a.wrap_until = None;
                a.idle_since = now;
            });
        }
    }
    if request.action != AgentAction::Login {
        if let Some(queues) = memberships {
            agent.queues = queues;
        }
    }
    Ok(())
}

/// The contract's agent view, as planned.
fn view(plan: &Plan, user_id: &str) -> Value {
    agent_json(
        plan.shard,
        plan.account,
        &plan.agent(user_id),
        plan.now,
        plan.busy(),
    )
}

/// The contract's agent view; `busy` is the account's users on a non-ACD
/// call ([`Shard::users_on_external_calls`]).
pub fn agent_json(
    shard: &Shard,
    account: &Account,
    agent: &Agent,
    now: Millis,
    busy: &BTreeSet<String>,
) -> Value {
    let user = account.user(&agent.user_id).expect("agents are users");
    let reachable = shard.user_reachable(account, &user.id, now);
    let extcall = busy.contains(&user.id);
    let queues: Vec<Value> = agent
        .queues
        .iter()
        .map(|m| json!({"queueId": m.queue_id, "level": m.level, "mode": m.mode}))
        .collect();
    let log: Vec<Value> = agent
        .log
        .iter()
        .map(|e| json!({"at": e.at.0, "from": e.from, "to": e.to, "cause": e.cause, "callId": e.call_id}))
        .collect();
    json!({
        "userId": user.id, "username": user.username,
        "status": agent.status.as_str(), "state": agent.state.as_str(),
        "reachable": reachable, "bucket": bucket(agent, reachable, extcall),
        "reason": agent.reason, "queues": queues, "since": agent.since.0,
        "call": agent.call, "missed": agent.missed, "calls": agent.calls,
        "talkMs": agent.talk_ms, "wrapUntil": agent.wrap_until.map(|m| m.0),
        "log": log,
    })
}

/// `GET /agent?accountId=&userId=`.
pub fn decide_get(shard: &Shard, now: Millis, account_id: &str, user: &str) -> Decision {
    let Some(account) = shard.account(account_id) else {
        return unknown_account(account_id);
    };
    let user_id = match resolve(account, user, "userId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let agent = shard
        .acd()
        .account(account_id)
        .map(|a| a.agent_or_new(account_id, user_id, now))
        .unwrap_or_else(|| Agent::new(account_id, user_id, now));
    let busy = shard.users_on_external_calls(account);
    Decision::reply(ok(
        json!({"agent": agent_json(shard, account, &agent, now, &busy)}),
    ))
}

/// `GET /presence/users?accountId=`: every user with its bucket, and the
/// count per bucket (the nine tiles).
pub fn decide_users(shard: &Shard, now: Millis, account_id: &str) -> Decision {
    let Some(account) = shard.account(account_id) else {
        return unknown_account(account_id);
    };
    let acd = shard.acd().account(account_id);
    let mut tiles: Map<String, Value> = BUCKETS.iter().map(|b| (b.to_string(), json!(0))).collect();
    let mut users = Vec::new();
    let busy = shard.users_on_external_calls(account);
    for user in &account.doc().users {
        let agent = acd
            .map(|a| a.agent_or_new(account_id, &user.id, now))
            .unwrap_or_else(|| Agent::new(account_id, &user.id, now));
        let entry = agent_json(shard, account, &agent, now, &busy);
        let name = entry["bucket"].as_str().unwrap_or("offline").to_string();
        if let Some(count) = tiles.get_mut(&name) {
            *count = json!(count.as_u64().unwrap_or(0) + 1);
        }
        let mut entry = entry;
        entry["isAgent"] = json!(user.is_agent);
        if let Value::Object(map) = &mut entry {
            map.shift_remove("log");
        }
        users.push(entry);
    }
    Decision::reply(ok(json!({"users": users, "tiles": Value::Object(tiles)})))
}

fn refuse(code: &'static str, message: String) -> Decision {
    Decision::reply(ApiError::new(409, code, message).to_response())
}

/// `GET /agent/confirm/{accountId}/{leaseId}/{epoch}`: 200 only for the
/// live lease with the current epoch, once.
pub fn decide_confirm(
    shard: &Shard,
    now: Millis,
    salt: u64,
    account_id: &str,
    lease_id: &str,
    epoch: u64,
) -> Decision {
    let Some(account) = shard.account(account_id) else {
        return unknown_account(account_id);
    };
    let mut plan = Plan::new(shard, account, now, salt);
    let Some(call_id) = plan.acd.leases.get(lease_id).cloned() else {
        return refuse("unknown_lease", format!("no lease {lease_id}"));
    };
    let caller = &plan.acd.callers[&call_id];
    let Some(offer) = caller.offer.clone() else {
        return refuse("stale_lease", format!("lease {lease_id} has no live offer"));
    };
    #[cfg(feature = "planted-bugs")]
    let fenced = !crate::planted::active(crate::planted::Bug::ConfirmWithoutEpochCheck);
    #[cfg(not(feature = "planted-bugs"))]
    let fenced = true;
    if fenced && offer.epoch != epoch {
        return refuse(
            "stale_lease",
            format!("epoch {epoch} is not the current one of lease {lease_id}"),
        );
    }
    if offer.ring_all {
        return refuse(
            "claim_required",
            "a ring_all offer is taken by claim".into(),
        );
    }
    if offer.expires_at <= now {
        plan.settle();
        let reply = ApiError::new(409, "expired", format!("lease {lease_id} expired"));
        return Decision {
            reply: reply.to_response(),
            events: plan.events,
        };
    }
    let agent_id = offer.agents[0].clone();
    plan.push(Event::LeaseConfirmed {
        account_id: account_id.to_string(),
        call_id: call_id.clone(),
        agent_id: agent_id.clone(),
        epoch,
        at: now,
    });
    plan.settle();
    Decision {
        reply: ok(
            json!({"leaseId": lease_id, "epoch": epoch, "callId": call_id, "agentId": agent_id}),
        ),
        events: plan.events,
    }
}

/// `GET /agent/claim/{accountId}/{agentId}/{callId}`: the first offered
/// agent to claim the caller gets it; everyone later is refused.
pub fn decide_claim(
    shard: &Shard,
    now: Millis,
    salt: u64,
    account_id: &str,
    agent: &str,
    call_id: &str,
) -> Decision {
    let Some(account) = shard.account(account_id) else {
        return unknown_account(account_id);
    };
    let agent_id = match resolve(account, agent, "agentId") {
        Ok(id) => id.to_string(),
        Err(reply) => return reply,
    };
    let mut plan = Plan::new(shard, account, now, salt);
    let Some(caller) = plan.acd.callers.get(call_id) else {
        return refuse("unknown_call", format!("no queued caller {call_id}"));
    };
    if caller.connected.is_some() {
        return refuse("already_claimed", format!("caller {call_id} has an agent"));
    }
    let Some(offer) = caller.offer.clone() else {
        return refuse("not_offered", format!("caller {call_id} has no live offer"));
    };
    if !offer.agents.contains(&agent_id) {
        return refuse(
            "not_offered",
            format!("{agent_id} was not offered {call_id}"),
        );
    }
    if offer.expires_at <= now {
        plan.settle();
        let reply = ApiError::new(409, "expired", format!("the offer of {call_id} expired"));
        return Decision {
            reply: reply.to_response(),
            events: plan.events,
        };
    }
    plan.push(Event::LeaseConfirmed {
        account_id: account_id.to_string(),
        call_id: call_id.to_string(),
        agent_id: agent_id.clone(),
        epoch: offer.epoch,
        at: now,
    });
    plan.settle();
    Decision {
        reply: ok(json!({"callId": call_id, "agentId": agent_id, "epoch": offer.epoch})),
        events: plan.events,
    }
}
