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
    /// `GET /admin/voicemail?accountId=` (not in the contract: reads what
    /// voicemail uploads recorded).
    VoicemailList,
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
            | VoicemailList
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
        ENDPOINT_NAMES[self.index()]
    }

    /// This endpoint's place in [`ENDPOINT_NAMES`] (metrics count by it).
    pub fn index(&self) -> usize {
        use Endpoint::*;
        match self {
            Healthz => 0,
            Readyz => 1,
            Auth => 2,
            Route => 3,
            Flow => 4,
            PresenceEvent => 5,
            SecurityReport => 6,
            AgentConfirm { .. } => 7,
            AgentClaim { .. } => 8,
            MediaGet { .. } => 9,
            MediaPut { .. } => 10,
            AgentPost => 11,
            AgentGet => 12,
            PresenceUsers => 13,
            CacGet => 14,
            CacReset => 15,
            CallTrace { .. } => 16,
            SecurityBans => 17,
            SecurityAllowList => 18,
            SecurityAllowAdd => 19,
            SecurityAllowDelete { .. } => 20,
            TtsGenerate => 21,
            RouteExplain => 22,
            AccountPut { .. } => 23,
            AccountGet { .. } => 24,
            AccountDelete { .. } => 25,
            Metrics => 26,
            Debug => 27,
            Roadmap => 28,
            VoicemailList => 29,
        }
    }
}

/// Every endpoint's short name, by [`Endpoint::index`].
pub const ENDPOINT_NAMES: [&str; 30] = [
    "GET /healthz",
    "GET /readyz",
    "POST /auth",
    "POST /route",
    "POST /flow",
    "POST /presence/event",
    "POST /security/report",
    "GET /agent/confirm",
    "GET /agent/claim",
    "GET /media",
    "PUT /media",
    "POST /agent",
    "GET /agent",
    "GET /presence/users",
    "GET /cac",
    "POST /cac/reset",
    "GET /calls/trace",
    "GET /security/bans",
    "GET /security/allow",
    "POST /security/allow",
    "DELETE /security/allow",
    "POST /admin/tts/generate",
    "POST /admin/route/explain",
    "PUT /admin/accounts",
    "GET /admin/accounts",
    "DELETE /admin/accounts",
    "GET /metrics",
    "GET /debug",
    "roadmap",
    "GET /admin/voicemail",
];

/// Maps a method and raw path to its endpoint: 404 for an unknown path,
/// 405 (with `allow`) for a known path and the wrong method.
pub fn route(method: &Method, raw_path: &str) -> Result<Endpoint, ApiError> {
    match hot(method, raw_path) {
        Some(endpoint) => Ok(endpoint),
        None => matched(method, raw_path),
    }
}

/// The edge's endpoints in their exact spelling, found without splitting
/// the path (what [`matched`] answers for them, without its allocations).
fn hot(method: &Method, raw_path: &str) -> Option<Endpoint> {
    if *method != Method::Post {
        return None;
    }
    match raw_path {
        "/route" => Some(Endpoint::Route),
        "/auth" => Some(Endpoint::Auth),
        "/presence/event" => Some(Endpoint::PresenceEvent),
        "/flow" => Some(Endpoint::Flow),
        _ => None,
    }
}

/// [`route`] for any path: split, percent-decoded, matched.
fn matched(method: &Method, raw_path: &str) -> Result<Endpoint, ApiError> {
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
        ["admin", "voicemail"] => vec![(Get, VoicemailList)],
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
    fn the_hot_paths_route_as_the_general_matcher_does() {
        for path in ["/route", "/auth", "/presence/event", "/flow"] {
            let endpoint = hot(&Method::Post, path).expect("a hot path");
            assert_eq!(Ok(endpoint), matched(&Method::Post, path), "{path}");
            assert_eq!(hot(&Method::Get, path), None, "POST only");
        }
        assert_eq!(hot(&Method::Post, "/route/"), None);
        assert_eq!(route(&Method::Post, "/route/"), Ok(Endpoint::Route));
        assert_eq!(
            route(&Method::Get, "/route").map_err(|e| e.status),
            Err(405)
        );
    }

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
    fn every_endpoint_has_its_own_name() {
        let mut names: Vec<&str> = ENDPOINT_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ENDPOINT_NAMES.len(), "names are distinct");
        let samples = [
            (Method::Get, "/debug", "GET /debug"),
            (Method::Get, "/metrics", "GET /metrics"),
            (Method::Post, "/route", "POST /route"),
            (Method::Get, "/calls/c1/trace", "GET /calls/trace"),
            (
                Method::Delete,
                "/admin/accounts/a",
                "DELETE /admin/accounts",
            ),
            (Method::Get, "/v1/x", "roadmap"),
        ];
        for (method, path, name) in samples {
            assert_eq!(route(&method, path).unwrap().name(), name, "{path}");
        }
    }

    #[test]
    fn unknown_path_is_404() {
        assert_eq!(route(&Method::Get, "/nope").unwrap_err().status, 404);
        assert_eq!(route(&Method::Get, "/").unwrap_err().status, 404);
        assert_eq!(route(&Method::Get, "/media").unwrap_err().status, 404);
        assert_eq!(route(&Method::Get, "*").unwrap_err().status, 400);
    }
}
