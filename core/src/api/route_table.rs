//! Every path of the contract, mapped to an [`Endpoint`] and its gate class.

use super::error::ApiError;
use super::gate::Class;
use crate::http::{form::percent_decode, Method};

/// An endpoint of the contract, with its path parameters decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Readyz,
    Auth,
    Route,
    Flow,
    PresenceEvent,
    SecurityReport,
    AgentConfirm {
        account_id: String,
        lease_id: String,
        epoch: String,
    },
    AgentClaim {
        account_id: String,
        agent_id: String,
        call_id: String,
    },
    MediaGet {
        key: String,
    },
    MediaPut {
        key: String,
    },
    AgentPost,
    AgentGet,
    PresenceUsers,
    CacGet,
    CacReset,
    CallTrace {
        call_id: String,
    },
    SecurityBans,
    SecurityAllowList,
    SecurityAllowAdd,
    SecurityAllowDelete {
        ip: String,
    },
    TtsGenerate,
    RouteExplain,
    AccountPut {
        account_id: String,
    },
    AccountGet {
        account_id: String,
    },
    AccountDelete {
        account_id: String,
    },
    Metrics,
    Debug,
    /// `/v1/*` and `/hooks/carrier`: 501 for good.
    Roadmap,
}

impl Endpoint {
    /// The gate class of the contract's table.
    pub fn class(&self) -> Class {
        use Endpoint::*;
        match self {
            Healthz | Readyz | Roadmap => Class::Open,
            Auth
            | Route
            | Flow
            | PresenceEvent
            | SecurityReport
            | AgentConfirm { .. }
            | AgentClaim { .. } => Class::Edge,
            MediaGet { .. } | MediaPut { .. } => Class::Media,
            AgentPost | AgentGet | PresenceUsers => Class::Agent,
            CacGet
            | CacReset
            | CallTrace { .. }
            | SecurityBans
            | SecurityAllowList
            | SecurityAllowAdd
            | SecurityAllowDelete { .. }
            | TtsGenerate
            | RouteExplain
            | AccountPut { .. }
            | AccountGet { .. }
            | AccountDelete { .. }
            | Metrics => Class::Admin,
            Debug => Class::Debug,
        }
    }

    /// A short name for metrics and messages (`POST /auth`).
    pub fn name(&self) -> &'static str {
        use Endpoint::*;
        match self {
            Healthz => "GET /healthz",
            Readyz => "GET /readyz",
            Auth => "POST /auth",
            Route => "POST /route",
            Flow => "POST /flow",
            PresenceEvent => "POST /presence/event",
            SecurityReport => "POST /security/report",
            AgentConfirm { .. } => "GET /agent/confirm",
            AgentClaim { .. } => "GET /agent/claim",
            MediaGet { .. } => "GET /media",
            MediaPut { .. } => "PUT /media",
            AgentPost => "POST /agent",
            AgentGet => "GET /agent",
            PresenceUsers => "GET /presence/users",
            CacGet => "GET /cac",
            CacReset => "POST /cac/reset",
            CallTrace { .. } => "GET /calls/trace",
            SecurityBans => "GET /security/bans",
            SecurityAllowList => "GET /security/allow",
            SecurityAllowAdd => "POST /security/allow",
            SecurityAllowDelete { .. } => "DELETE /security/allow",
            TtsGenerate => "POST /admin/tts/generate",
            RouteExplain => "POST /admin/route/explain",
            AccountPut { .. } => "PUT /admin/accounts",
            AccountGet { .. } => "GET /admin/accounts",
            AccountDelete { .. } => "DELETE /admin/accounts",
            Metrics => "GET /metrics",
            Debug => "GET /debug",
            Roadmap => "roadmap",
        }
    }
}

/// Maps a method and raw path to its endpoint: 404 for an unknown path,
/// 405 (with `allow`) for a known path and the wrong method.
pub fn route(method: &Method, raw_path: &str) -> Result<Endpoint, ApiError> {
    let segments = split(raw_path)?;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if matches!(segs.first(), Some(&"v1")) || segs == ["hooks", "carrier"] {
        return Ok(Endpoint::Roadmap);
    }
    let methods = match_path(&segs);
    if methods.is_empty() {
        return Err(ApiError::new(
            404,
            "not_found",
            format!("no endpoint at {raw_path}"),
        ));
    }
    for (allowed, endpoint) in &methods {
        if allowed == method {
            return Ok(endpoint.clone());
        }
    }
    let allow: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
    let error = ApiError::new(
        405,
        "method_not_allowed",
        format!(
            "{} is not allowed on {raw_path} (allowed: {})",
            method.as_str(),
            allow.join(", ")
        ),
    );
    Err(error.with_header("allow", allow.join(", ")))
}

/// Every (method, endpoint) served at this path.
fn match_path(segs: &[&str]) -> Vec<(Method, Endpoint)> {
    use Endpoint::*;
    use Method::{Delete, Get, Post, Put};
    let own = |s: &str| s.to_string();
    match segs {
        ["healthz"] => vec![(Get, Healthz)],
        ["readyz"] => vec![(Get, Readyz)],
        ["auth"] => vec![(Post, Auth)],
        ["route"] => vec![(Post, Route)],
        ["flow"] => vec![(Post, Flow)],
        ["presence", "event"] => vec![(Post, PresenceEvent)],
        ["presence", "users"] => vec![(Get, PresenceUsers)],
        ["security", "report"] => vec![(Post, SecurityReport)],
        ["security", "bans"] => vec![(Get, SecurityBans)],
        ["security", "allow"] => vec![(Get, SecurityAllowList), (Post, SecurityAllowAdd)],
        ["security", "allow", ip] => vec![(Delete, SecurityAllowDelete { ip: own(ip) })],
        // A CIDR whose `/` was not percent-encoded.
        ["security", "allow", ip, prefix] => vec![(
            Delete,
            SecurityAllowDelete {
                ip: format!("{ip}/{prefix}"),
            },
        )],
        ["agent"] => vec![(Post, AgentPost), (Get, AgentGet)],
        ["agent", "confirm", account, lease, epoch] => vec![(
            Get,
            AgentConfirm {
                account_id: own(account),
                lease_id: own(lease),
                epoch: own(epoch),
            },
        )],
        ["agent", "claim", account, agent, call] => vec![(
            Get,
            AgentClaim {
                account_id: own(account),
                agent_id: own(agent),
                call_id: own(call),
            },
        )],
        ["media", rest @ ..] if !rest.is_empty() => {
            let key = rest.join("/");
            vec![
                (Get, MediaGet { key: key.clone() }),
                (Put, MediaPut { key }),
            ]
        }
        ["cac"] => vec![(Get, CacGet)],
        ["cac", "reset"] => vec![(Post, CacReset)],
        ["calls", call, "trace"] => vec![(Get, CallTrace { call_id: own(call) })],
        ["admin", "tts", "generate"] => vec![(Post, TtsGenerate)],
        ["admin", "route", "explain"] => vec![(Post, RouteExplain)],
        ["admin", "accounts", id] => vec![
            (
                Put,
                AccountPut {
                    account_id: own(id),
                },
            ),
            (
                Get,
                AccountGet {
                    account_id: own(id),
                },
            ),
            (
                Delete,
                AccountDelete {
                    account_id: own(id),
                },
            ),
        ],
        ["metrics"] => vec![(Get, Metrics)],
        ["debug"] => vec![(Get, Debug)],
        _ => Vec::new(),
    }
}

/// Splits a path into percent-decoded segments (one trailing `/` allowed).
fn split(raw_path: &str) -> Result<Vec<String>, ApiError> {
    let Some(rest) = raw_path.strip_prefix('/') else {
        return Err(ApiError::new(
            400,
            "bad_request",
            "the request target must start with /",
        ));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('/')
        .map(|seg| {
            percent_decode(seg).ok_or_else(|| {
                ApiError::new(
                    400,
                    "bad_request",
                    format!("bad percent-encoding in path segment {seg:?}"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_path_routes_to_its_endpoint() {
        let cases = [
            (Method::Get, "/healthz", Endpoint::Healthz),
            (Method::Post, "/auth", Endpoint::Auth),
            (Method::Post, "/presence/event", Endpoint::PresenceEvent),
            (
                Method::Get,
                "/media/system/en-US/male/welcome.wav",
                Endpoint::MediaGet {
                    key: "system/en-US/male/welcome.wav".into(),
                },
            ),
            (
                Method::Delete,
                "/security/allow/10.0.0.0%2F8",
                Endpoint::SecurityAllowDelete {
                    ip: "10.0.0.0/8".into(),
                },
            ),
            (
                Method::Delete,
                "/security/allow/2001:db8::/32",
                Endpoint::SecurityAllowDelete {
                    ip: "2001:db8::/32".into(),
                },
            ),
            (
                Method::Get,
                "/agent/confirm/acc_a/l1/3",
                Endpoint::AgentConfirm {
                    account_id: "acc_a".into(),
                    lease_id: "l1".into(),
                    epoch: "3".into(),
                },
            ),
            (
                Method::Put,
                "/admin/accounts/acc_a",
                Endpoint::AccountPut {
                    account_id: "acc_a".into(),
                },
            ),
            (Method::Get, "/v1/anything/deep", Endpoint::Roadmap),
            (Method::Post, "/hooks/carrier", Endpoint::Roadmap),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(route(&method, path), Ok(endpoint), "{path}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow_header() {
        let error = route(&Method::Get, "/auth").unwrap_err();
        assert_eq!(error.status, 405);
        assert_eq!(error.headers(), [("allow", "POST".to_string())]);
        let error = route(&Method::Post, "/admin/accounts/acc_x").unwrap_err();
        assert_eq!(error.headers(), [("allow", "PUT, GET, DELETE".to_string())]);
    }

    #[test]
    fn unknown_path_is_404() {
        assert_eq!(route(&Method::Get, "/nope").unwrap_err().status, 404);
        assert_eq!(route(&Method::Get, "/").unwrap_err().status, 404);
        assert_eq!(route(&Method::Get, "/media").unwrap_err().status, 404);
        assert_eq!(route(&Method::Get, "*").unwrap_err().status, 400);
    }
}
