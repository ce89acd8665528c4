//! The API: from a parsed [`Request`] to a typed [`Call`] for a shard.
//!
//! [`prepare`] routes the path ([`route_table`]), checks the gate
//! ([`gate`]) and decodes the body. What it cannot answer itself becomes a
//! [`Call`], which [`Call::key`] says where to run: the owning shard of an
//! account, the control shard (provisioning), or the shard that accepted it.
//! One module per endpoint family holds its request type and decision.

pub mod admin;
pub mod agent;
pub mod auth;
pub mod cac;
pub mod calls;
pub mod error;
pub mod fields;
pub mod flow;
pub mod gate;
pub mod media;
pub mod presence;
pub mod queue;
pub mod route;
pub mod route_table;
pub mod security;
pub mod tts;

use crate::directory::{owner_shard, Directory};
use crate::http::{decode_body, Request, Response};
use crate::shard::Shard;
use core::net::IpAddr;
pub use error::ApiError;
use gate::{GateConfig, Verdict};
pub use route_table::Endpoint;
use serde_json::{Map, Value};

/// The shard that runs provisioning and holds the authoritative directory.
pub const CONTROL_SHARD: usize = 0;

/// What [`prepare`] made of a request.
#[derive(Debug)]
pub enum Prepared {
    /// Answered already (an error, a 501): no shard involved.
    Reply(Response),
    /// `/healthz` (false) or `/readyz` (true): the runtime knows the answer.
    Health { ready_probe: bool },
    /// A call for a shard to decide.
    Call(Box<Call>),
    /// `GET /metrics` or `GET /debug`, past their gate: the runtime serves
    /// them (they read the process, not a shard).
    Observe(Observe),
    /// `GET/PUT /media/{key}`, gated and checked: the runtime streams the
    /// object from or to its store.
    Media(Box<media::MediaOp>),
    /// `POST /admin/tts/generate`: the runtime runs the engine.
    Tts(Box<crate::media::tts::TtsRequest>),
}

/// The observability endpoints the runtime serves itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observe {
    /// `GET /metrics`.
    Metrics,
    /// `GET /debug`, with its filters (`accountId`, `callId`; both must
    /// hold when both are given).
    Debug {
        account_id: Option<String>,
        call_id: Option<String>,
    },
}

/// A decoded call, owned and `Send` so it can cross to another core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Auth(Box<auth::AuthRequest>),
    AccountPut {
        account_id: String,
        doc: Value,
    },
    AccountGet {
        account_id: String,
    },
    AccountDelete {
        account_id: String,
    },
    /// `POST /route`.
    Route(Box<crate::route::RouteRequest>),
    /// `POST /admin/route/explain`.
    Explain(Box<crate::route::RouteRequest>),
    /// `POST /presence/event` (register, dialog).
    Presence(Box<presence::PresenceEvent>),
    /// `POST /presence/event` with `state: sync`: runs on every shard.
    Sync(Box<presence::SyncReport>),
    CacGet {
        account_id: String,
    },
    CacReset {
        account_id: String,
    },
    Trace {
        call_id: String,
    },
    /// A voicemail upload is durable in the media store: record the
    /// message (sent by the runtime after `PUT /media/<acc>/vm/<call>.wav`).
    VoicemailStored(Box<media::VoicemailUpload>),
    /// `GET /admin/voicemail?accountId=`.
    VoicemailList {
        account_id: String,
    },
    /// The shard's timers (reaping, expiry): sent by the runtime, never
    /// from the network.
    Tick,
    /// `POST /flow` without `outcome`: start a call's flow.
    FlowStart(Box<flow::FlowStart>),
    /// `POST /flow` with `outcome`: step the call's flow.
    FlowStep(Box<flow::FlowStep>),
    /// A webhook the runtime performed for a flow (never from the network).
    FlowWebhook(Box<flow::WebhookReport>),
    /// `POST /security/report`.
    SecurityReport(Box<security::Report>),
    /// `GET /security/bans`.
    SecurityBans(Box<crate::security::bans::BansQuery>),
    /// `GET /security/allow`.
    AllowList,
    /// `POST /security/allow`.
    AllowAdd {
        net: ipnet::IpNet,
        note: Option<String>,
    },
    /// `DELETE /security/allow/{ip}`.
    AllowDelete {
        net: ipnet::IpNet,
    },
    /// `POST /agent` or `/presence/event` `type: agent`.
    AgentPost(Box<agent::AgentRequest>),
    /// `GET /agent?accountId=&userId=`.
    AgentGet {
        account_id: String,
        user: String,
    },
    /// `GET /presence/users?accountId=`.
    PresenceUsers {
        account_id: String,
    },
    /// `GET /agent/confirm/{accountId}/{leaseId}/{epoch}`.
    AgentConfirm {
        account_id: String,
        lease_id: String,
        epoch: u64,
    },
    /// `GET /agent/claim/{accountId}/{agentId}/{callId}`.
    AgentClaim {
        account_id: String,
        agent_id: String,
        call_id: String,
    },
}

/// Where a call runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardKey {
    /// The control shard ([`CONTROL_SHARD`]).
    Control,
    /// The shard that owns this account.
    Account(String),
    /// Whichever shard accepted the request (no account involved).
    Local,
    /// Every shard, one after the other; the replies are merged
    /// ([`merge_every`]).
    Every,
}

impl Call {
    /// Where this call must run, found through the directory and the
    /// callId index of the accepting shard.
    pub fn key(&self, shard: &Shard) -> ShardKey {
        let directory = shard.directory();
        let account = |id: Option<&str>| match id {
            Some(account_id) => ShardKey::Account(account_id.to_string()),
            None => ShardKey::Local,
        };
        match self {
            Call::Auth(request) => account(directory.account_for_domain(request.realm())),
            Call::AccountPut { .. } | Call::AccountGet { .. } | Call::AccountDelete { .. } => {
                ShardKey::Control
            }
            Call::Route(request) | Call::Explain(request) => {
                match shard.call_index().account(&request.call_id) {
                    Some(id) => ShardKey::Account(id.to_string()),
                    None => account(crate::route::account_of(directory, request)),
                }
            }
            Call::Presence(event) => match &**event {
                presence::PresenceEvent::Register(e) => {
                    account(directory.account_for_domain(&e.realm))
                }
                presence::PresenceEvent::Dialog(e) => {
                    account(shard.call_index().account(&e.call_id))
                }
                presence::PresenceEvent::Agent(request) => {
                    ShardKey::Account(request.account_id.clone())
                }
            },
            Call::Sync(_) => ShardKey::Every,
            Call::CacGet { account_id } | Call::CacReset { account_id } => {
                ShardKey::Account(account_id.clone())
            }
            Call::Trace { call_id } => account(shard.call_index().account(call_id)),
            Call::VoicemailStored(upload) => ShardKey::Account(upload.account_id.clone()),
            Call::VoicemailList { account_id } => ShardKey::Account(account_id.clone()),
            Call::Tick => ShardKey::Local,
            Call::FlowStart(start) => ShardKey::Account(start.account_id.clone()),
            Call::FlowStep(step) => account(shard.call_index().account(&step.call_id)),
            Call::FlowWebhook(report) => account(shard.call_index().account(&report.call_id)),
            Call::SecurityReport(_)
            | Call::SecurityBans(_)
            | Call::AllowList
            | Call::AllowAdd { .. }
            | Call::AllowDelete { .. } => ShardKey::Control,
            Call::AgentPost(request) => ShardKey::Account(request.account_id.clone()),
            Call::AgentGet { account_id, .. }
            | Call::PresenceUsers { account_id }
            | Call::AgentConfirm { account_id, .. }
            | Call::AgentClaim { account_id, .. } => ShardKey::Account(account_id.clone()),
        }
    }
}

impl ShardKey {
    /// The shard index among `shards` for this key; `local` is the shard
    /// that accepted the request.
    pub fn shard(&self, shards: usize, local: usize) -> usize {
        match self {
            ShardKey::Control => CONTROL_SHARD,
            ShardKey::Account(account_id) => owner_shard(account_id, shards),
            ShardKey::Local => local,
            ShardKey::Every => panic!("an Every call runs on each shard, not on one"),
        }
    }
}

/// The one reply of a call that ran on every shard: the first error, else
/// the `released` counts summed (the only Every call is `sync`).
pub fn merge_every(replies: Vec<crate::http::Response>) -> crate::http::Response {
    let mut released = 0u64;
    for reply in replies {
        if reply.status != 200 {
            return reply;
        }
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        released += body["released"].as_u64().unwrap_or(0);
    }
    error::ok(serde_json::json!({"released": released}))
}

/// Routes, gates and decodes `req` from `peer`.
pub fn prepare(req: &Request, peer: IpAddr, gates: &GateConfig, directory: &Directory) -> Prepared {
    prepare_named(req, peer, gates, directory).1
}

/// [`prepare`], also giving the [`Endpoint::index`] the request routed to
/// (None when no endpoint matched: 404, 405, a bad path): what request
/// metrics count by.
pub fn prepare_named(
    req: &Request,
    peer: IpAddr,
    gates: &GateConfig,
    directory: &Directory,
) -> (Option<usize>, Prepared) {
    let endpoint = match route_table::route(&req.method, &req.path) {
        Ok(endpoint) => endpoint,
        Err(error) => return (None, Prepared::Reply(error.to_response())),
    };
    let index = endpoint.index();
    match prepare_call(endpoint, req, peer, gates, directory) {
        Ok(prepared) => (Some(index), prepared),
        Err(error) => (Some(index), Prepared::Reply(error.to_response())),
    }
}

fn prepare_call(
    endpoint: Endpoint,
    req: &Request,
    peer: IpAddr,
    gates: &GateConfig,
    directory: &Directory,
) -> Result<Prepared, ApiError> {
    let verdict = gate::check(endpoint.class(), gates, peer, req)?;
    if let Verdict::AgentKey(key) = verdict {
        let account_id = agent_account_id(req)?;
        gate::check_agent_key(directory, &account_id, &key)?;
    }
    let call = match endpoint {
        Endpoint::Healthz => return Ok(Prepared::Health { ready_probe: false }),
        Endpoint::Readyz => return Ok(Prepared::Health { ready_probe: true }),
        Endpoint::Roadmap => return Err(ApiError::not_implemented("this roadmap endpoint")),
        Endpoint::Auth => Call::Auth(Box::new(auth::AuthRequest::decode(&body(req)?, peer)?)),
        Endpoint::AccountPut { account_id } => {
            admin::check_account_id(&account_id)?;
            Call::AccountPut {
                account_id,
                doc: Value::Object(body(req)?),
            }
        }
        Endpoint::AccountGet { account_id } => Call::AccountGet { account_id },
        Endpoint::AccountDelete { account_id } => Call::AccountDelete { account_id },
        Endpoint::Route => Call::Route(Box::new(crate::route::RouteRequest::decode(
            &body(req)?,
            peer,
        )?)),
        Endpoint::RouteExplain => Call::Explain(Box::new(crate::route::RouteRequest::decode(
            &body(req)?,
            peer,
        )?)),
        Endpoint::PresenceEvent => match presence::decode(&body(req)?)? {
            presence::Decoded::Event(event) => Call::Presence(Box::new(event)),
            presence::Decoded::Sync(report) => Call::Sync(Box::new(report)),
        },
        Endpoint::CacGet => Call::CacGet {
            account_id: account_id_param(req)?,
        },
        Endpoint::CacReset => Call::CacReset {
            account_id: account_id_param(req)?,
        },
        Endpoint::CallTrace { call_id } => Call::Trace { call_id },
        Endpoint::Flow => match flow::decode(&body(req)?)? {
            flow::Decoded::Start(start) => Call::FlowStart(Box::new(start)),
            flow::Decoded::Step(step) => Call::FlowStep(Box::new(step)),
        },
        Endpoint::Metrics => return Ok(Prepared::Observe(Observe::Metrics)),
        Endpoint::Debug => {
            let filter = |name| req.query_param(name).filter(|v| !v.is_empty());
            return Ok(Prepared::Observe(Observe::Debug {
                account_id: filter("accountId"),
                call_id: filter("callId"),
            }));
        }
        Endpoint::MediaGet { key } => {
            return Ok(Prepared::Media(Box::new(media::decode_get(req, key)?)))
        }
        Endpoint::MediaPut { key } => {
            let op = media::decode_put(req, key, directory)?;
            return Ok(Prepared::Media(Box::new(op)));
        }
        Endpoint::TtsGenerate => return Ok(Prepared::Tts(Box::new(tts::decode(req)?))),
        Endpoint::VoicemailList => Call::VoicemailList {
            account_id: account_id_param(req)?,
        },
        Endpoint::SecurityReport => {
            Call::SecurityReport(Box::new(security::decode_report(&body(req)?)?))
        }
        Endpoint::SecurityBans => Call::SecurityBans(Box::new(security::decode_bans_query(req)?)),
        Endpoint::SecurityAllowList => Call::AllowList,
        Endpoint::SecurityAllowAdd => {
            let (net, note) = security::decode_allow(&body(req)?)?;
            Call::AllowAdd { net, note }
        }
        Endpoint::SecurityAllowDelete { ip } => Call::AllowDelete {
            net: crate::security::allow::parse_net(&ip, "ip")?,
        },
        Endpoint::AgentPost => Call::AgentPost(Box::new(agent::decode(&body(req)?)?)),
        Endpoint::AgentGet => Call::AgentGet {
            account_id: account_id_param(req)?,
            user: req
                .query_param("userId")
                .filter(|u| !u.is_empty())
                .ok_or_else(|| ApiError::missing("userId"))?,
        },
        Endpoint::PresenceUsers => Call::PresenceUsers {
            account_id: account_id_param(req)?,
        },
        Endpoint::AgentConfirm {
            account_id,
            lease_id,
            epoch,
        } => Call::AgentConfirm {
            account_id,
            lease_id,
            epoch: epoch
                .parse()
                .map_err(|_| ApiError::bad_field("epoch", "must be a whole number"))?,
        },
        Endpoint::AgentClaim {
            account_id,
            agent_id,
            call_id,
        } => Call::AgentClaim {
            account_id,
            agent_id,
            call_id,
        },
    };
    Ok(Prepared::Call(Box::new(call)))
}

fn body(req: &Request) -> Result<Map<String, Value>, ApiError> {
    decode_body(req).map_err(|e| ApiError::new(e.status, e.code, e.message))
}

/// The `accountId` of a request (query, else body), checked as an id.
fn account_id_param(req: &Request) -> Result<String, ApiError> {
    let id = agent_account_id(req)?;
    admin::check_account_id(&id)?;
    Ok(id)
}

/// The `accountId` an agent-class request names (query, else body).
fn agent_account_id(req: &Request) -> Result<String, ApiError> {
    if let Some(id) = req.query_param("accountId") {
        return Ok(id);
    }
    match body(req)?.get("accountId") {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(_) => Err(ApiError::bad_field("accountId", "must be a string")),
        None => Err(ApiError::missing("accountId")),
    }
}
