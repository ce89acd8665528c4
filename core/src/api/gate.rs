//! Gating: who may call which class of endpoint (the contract's table).
//!
//! | class | credential |
//! |---|---|
//! | edge | edge token (`authorization: Bearer`, `x-edge-token`, or as the password of `authorization: Basic`) when one is set, and a source inside `edge_cidrs` when that list is set |
//! | media | a source inside `media_cidrs` (loopback when unset), plus the edge token when one is set |
//! | agent | edge token, admin token, or the account's agent key (`x-api-key`) |
//! | admin | `x-admin-token` |
//! | debug | loopback, or a source inside `debug_cidrs`, or `x-admin-token` |
//!
//! 401 when the credential is missing, 403 when it is wrong or the source is
//! outside the list. Tokens are compared as SHA-256 digests in constant time
//! and never echoed.

use super::error::ApiError;
use crate::directory::Directory;
use crate::http::Request;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use core::net::IpAddr;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use subtle::ConstantTimeEq;

/// The endpoint classes of the gating table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Open,
    Edge,
    Media,
    Agent,
    Admin,
    Debug,
}

/// A secret kept only as its SHA-256 digest, so it cannot be logged by
/// accident and compares in constant time whatever its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl Secret {
    /// Digests a token.
    pub fn new(token: &str) -> Secret {
        Secret(sha256(token))
    }

    /// Constant-time check of a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.ct_eq(&sha256(presented)).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// SHA-256 of a string.
pub fn sha256(input: &str) -> [u8; 32] {
    Sha256::digest(input.as_bytes()).into()
}

/// The gating configuration (from the server config).
#[derive(Clone, Debug, Default)]
pub struct GateConfig {
    pub edge_token: Option<Secret>,
    pub admin_token: Option<Secret>,
    /// Empty = any source.
    pub edge_cidrs: Vec<IpNet>,
    /// Empty = loopback only.
    pub media_cidrs: Vec<IpNet>,
    /// Empty = loopback only (besides the admin token).
    pub debug_cidrs: Vec<IpNet>,
}

/// What the gate decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Agent class with only an `x-api-key`: the key must belong to the
    /// request's account, checked once the account is known.
    AgentKey([u8; 32]),
}

/// Checks `req` from `peer` against the gate of `class`.
pub fn check(
    class: Class,
    config: &GateConfig,
    peer: IpAddr,
    req: &Request,
) -> Result<Verdict, ApiError> {
    match class {
        Class::Open => Ok(Verdict::Pass),
        Class::Edge => check_edge(config, peer, req),
        Class::Media => {
            if !inside(&config.media_cidrs, peer, true) {
                return Err(forbidden_source(peer));
            }
            check_edge_token(config, req)
        }
        Class::Agent => check_agent(config, req),
        Class::Admin => check_admin(config, req),
        Class::Debug => {
            // Loopback always; then the list; then the admin token.
            let listed = !config.debug_cidrs.is_empty() && inside(&config.debug_cidrs, peer, false);
            if canonical(peer).is_loopback() || listed {
                return Ok(Verdict::Pass);
            }
            check_admin(config, req)
        }
    }
}

/// The agent-key verdict, once the account is known.
pub fn check_agent_key(
    directory: &Directory,
    account_id: &str,
    key: &[u8; 32],
) -> Result<(), ApiError> {
    if directory.agent_key_matches(account_id, key) {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "forbidden",
            "the agent key is not valid for this account",
        ))
    }
}

fn check_edge(config: &GateConfig, peer: IpAddr, req: &Request) -> Result<Verdict, ApiError> {
    if !config.edge_cidrs.is_empty() && !inside(&config.edge_cidrs, peer, false) {
        return Err(forbidden_source(peer));
    }
    check_edge_token(config, req)
}

fn check_edge_token(config: &GateConfig, req: &Request) -> Result<Verdict, ApiError> {
    let Some(secret) = &config.edge_token else {
        return Ok(Verdict::Pass);
    };
    match edge_token(req) {
        None => Err(ApiError::new(
            401,
            "unauthorized",
            "missing edge token (authorization: Bearer …, or Basic with the token as password)",
        )),
        Some(token) if secret.matches(&token) => Ok(Verdict::Pass),
        Some(_) => Err(ApiError::new(403, "forbidden", "wrong edge token")),
    }
}

fn check_agent(config: &GateConfig, req: &Request) -> Result<Verdict, ApiError> {
    let mut presented = false;
    if let Some(token) = edge_token(req) {
        presented = true;
        if config
            .edge_token
            .as_ref()
            .is_some_and(|s| s.matches(&token))
        {
            return Ok(Verdict::Pass);
        }
    }
    if let Some(token) = req.header("x-admin-token") {
        presented = true;
        if config
            .admin_token
            .as_ref()
            .is_some_and(|s| s.matches(token))
        {
            return Ok(Verdict::Pass);
        }
    }
    if let Some(key) = req.header("x-api-key") {
        return Ok(Verdict::AgentKey(sha256(key)));
    }
    if presented {
        Err(ApiError::new(403, "forbidden", "wrong token"))
    } else {
        Err(ApiError::new(
            401,
            "unauthorized",
            "missing credential (x-api-key, edge token or x-admin-token)",
        ))
    }
}

fn check_admin(config: &GateConfig, req: &Request) -> Result<Verdict, ApiError> {
    let Some(token) = req.header("x-admin-token") else {
        return Err(ApiError::new(401, "unauthorized", "missing x-admin-token"));
    };
    match &config.admin_token {
        Some(secret) if secret.matches(token) => Ok(Verdict::Pass),
        _ => Err(ApiError::new(403, "forbidden", "wrong admin token")),
    }
}

/// The edge token a request presents: `authorization: Bearer X`,
/// `x-edge-token: X`, or `authorization: Basic` with X as the password
/// (any user name). Basic is what Kamailio's `http_client` can send on a
/// kept-alive connection (`httpcon` takes no custom headers).
fn edge_token(req: &Request) -> Option<Cow<'_, str>> {
    if let Some(value) = req.header("authorization") {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Cow::Borrowed(rest.trim()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            return basic_password(rest.trim()).map(Cow::Owned);
        }
    }
    req.header("x-edge-token").map(|t| Cow::Borrowed(t.trim()))
}

/// The password of a Basic credential (`base64(user:password)`); `None`
/// when it does not decode. A credential without `:` is taken whole.
fn basic_password(encoded: &str) -> Option<String> {
    let bytes = BASE64.decode(encoded).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(match text.split_once(':') {
        Some((_, password)) => password.to_string(),
        None => text,
    })
}

/// True when `peer` is inside `cidrs`; an empty list means loopback only
/// when `empty_is_loopback`, else anything.
fn inside(cidrs: &[IpNet], peer: IpAddr, empty_is_loopback: bool) -> bool {
    let peer = canonical(peer);
    if cidrs.is_empty() {
        return !empty_is_loopback || peer.is_loopback();
    }
    cidrs.iter().any(|net| net.contains(&peer))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as plain IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn forbidden_source(peer: IpAddr) -> ApiError {
    ApiError::new(
        403,
        "forbidden",
        format!("source {peer} is not allowed for this endpoint"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: crate::http::Method::Get,
            path: "/debug".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            keep_alive: true,
        }
    }

    fn config() -> GateConfig {
        GateConfig {
            admin_token: Some(Secret::new("admin-token-0123456789")),
            debug_cidrs: vec!["10.9.0.0/16".parse().unwrap()],
            ..GateConfig::default()
        }
    }

    #[test]
    fn debug_takes_loopback_the_list_or_the_admin_token() {
        let config = config();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let check = |peer: &str, headers: &[(&str, &str)]| {
            super::check(
                Class::Debug,
                &config,
                peer.parse().unwrap(),
                &request(headers),
            )
            .map_err(|e| e.status)
        };
        assert_eq!(check("127.0.0.1", &[]), Ok(Verdict::Pass));
        assert_eq!(check("::ffff:127.0.0.1", &[]), Ok(Verdict::Pass));
        assert_eq!(check("10.9.3.4", &[]), Ok(Verdict::Pass));
        assert_eq!(check(&outside.to_string(), &[]), Err(401));
        assert_eq!(
            check(&outside.to_string(), &[("x-admin-token", "nope")]),
            Err(403)
        );
        assert_eq!(
            check(
                &outside.to_string(),
                &[("x-admin-token", "admin-token-0123456789")]
            ),
            Ok(Verdict::Pass)
        );
    }

    #[test]
    fn media_needs_a_listed_source_then_the_edge_token() {
        let config = GateConfig {
            edge_token: Some(Secret::new("edge-token-0123456789")),
            ..GateConfig::default()
        };
        let check = |peer: &str, headers: &[(&str, &str)]| {
            super::check(
                Class::Media,
                &config,
                peer.parse().unwrap(),
                &request(headers),
            )
            .map_err(|e| e.status)
        };
        assert_eq!(
            check("192.0.2.1", &[("x-edge-token", "edge-token-0123456789")]),
            Err(403)
        );
        assert_eq!(check("127.0.0.1", &[]), Err(401));
        assert_eq!(
            check("127.0.0.1", &[("x-edge-token", "edge-token-0123456789")]),
            Ok(Verdict::Pass)
        );
    }

    #[test]
    fn the_edge_token_may_come_as_bearer_header_or_basic_password() {
        let config = GateConfig {
            edge_token: Some(Secret::new("edge-token-0123456789")),
            ..GateConfig::default()
        };
        let check = |headers: &[(&str, &str)]| {
            super::check(
                Class::Edge,
                &config,
                "192.0.2.1".parse().unwrap(),
                &request(headers),
            )
            .map_err(|e| e.status)
        };
        // base64("edge:edge-token-0123456789"), then a wrong password,
        // then no user name, then not base64 at all.
        let basic = "Basic ZWRnZTplZGdlLXRva2VuLTAxMjM0NTY3ODk=";
        assert_eq!(check(&[("authorization", basic)]), Ok(Verdict::Pass));
        assert_eq!(
            check(&[(
                "authorization",
                "basic ZWRnZTplZGdlLXRva2VuLTAxMjM0NTY3ODk="
            )]),
            Ok(Verdict::Pass)
        );
        assert_eq!(
            check(&[(
                "authorization",
                "Basic ZWRnZTpub3BlLXRva2VuLTAxMjM0NTY3ODk="
            )]),
            Err(403)
        );
        assert_eq!(
            check(&[("authorization", "Basic OmVkZ2UtdG9rZW4tMDEyMzQ1Njc4OQ==")]),
            Ok(Verdict::Pass)
        );
        assert_eq!(check(&[("authorization", "Basic !!!")]), Err(401));
        assert_eq!(
            check(&[("authorization", "Bearer edge-token-0123456789")]),
            Ok(Verdict::Pass)
        );
        assert_eq!(
            check(&[("x-edge-token", "edge-token-0123456789")]),
            Ok(Verdict::Pass)
        );
        assert_eq!(check(&[]), Err(401));
    }
}
