//! `POST /auth`: SIP digest verification for REGISTER and INVITE.
//!
//! ```text
//! POST /auth  {"method":"REGISTER","username":"1001","realm":"acme.sip.io","nonce":"…",
//!              "uri":"sip:acme.sip.io","response":"<hex>","qop":"auth","nc":"00000001",
//!              "cnonce":"…","algorithm":"MD5","sourceIp":"198.51.100.7"}
//! 200 {"ok":true,"account_id":"acc_acme","user_id":"us_alice","device_id":"dev_alice",…}
//! ```
//! No credentials: 401 with a challenge. Wrong response, unknown user or
//! unknown realm: the same 401 `invalid_credentials`. Disabled device or
//! user, inactive account: 403. Too many failures from one source: 429.

use super::error::{ok, ApiError};
use super::fields::{opt_str, req_str};
use super::gate::canonical;
use crate::auth::digest::{self, Algorithm, DigestFields};
use crate::auth::header::parse_authorization;
use crate::auth::nonce::{self, NonceOrigin};
use crate::event::Event;
use crate::limits::{DIGEST_FIELD_BYTES_MAX, DOMAIN_BYTES_MAX};
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use core::net::IpAddr;
use serde_json::{json, Map, Value};

/// A decoded /auth request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// SIP method the digest covers (REGISTER, INVITE, …).
    pub method: String,
    /// The realm to look up (and to challenge for).
    pub realm: String,
    /// None: no credentials, answer with a challenge.
    pub fields: Option<DigestFields>,
    pub algorithm: Algorithm,
    /// The username when known (with or without credentials): a challenge
    /// offers SHA-256 only to a device that has a SHA-256 HA1.
    pub username: Option<String>,
    /// The SIP client's address (`sourceIp`, else the HTTP peer).
    pub source_ip: IpAddr,
}

impl AuthRequest {
    /// Decodes the body: parsed digest parameters or a raw `authorization`.
    pub fn decode(body: &Map<String, Value>, peer: IpAddr) -> Result<AuthRequest, ApiError> {
        let method = req_str(body, "method", 32)?;
        if !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ApiError::invalid("method", "must be a SIP method name"));
        }
        let source_ip = match opt_str(body, "sourceIp", 64)? {
            Some(text) => text
                .parse::<IpAddr>()
                .map_err(|_| ApiError::invalid("sourceIp", "not an IPv4 or IPv6 address"))?,
            None => peer,
        };
        let fields = decode_fields(body)?;
        let realm = match &fields {
            Some(fields) => fields.realm.clone(),
            None => req_str(body, "realm", DOMAIN_BYTES_MAX)?,
        };
        if realm.len() > DOMAIN_BYTES_MAX
            || !realm
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(ApiError::invalid(
                "realm",
                "must be a SIP domain (printable, no quotes)",
            ));
        }
        let username = match &fields {
            Some(fields) => Some(fields.username.clone()),
            None => opt_str(body, "username", DIGEST_FIELD_BYTES_MAX)?,
        };
        let algorithm_name = match &fields {
            Some(fields) => fields.algorithm.clone(),
            None => opt_str(body, "algorithm", 32)?,
        };
        let algorithm = Algorithm::parse(algorithm_name.as_deref()).ok_or_else(|| {
            ApiError::invalid(
                "algorithm",
                "must be MD5, MD5-sess, SHA-256 or SHA-256-sess",
            )
        })?;
        if let Some(fields) = &fields {
            check_qop(fields)?;
        }
        Ok(AuthRequest {
            method: method.to_ascii_uppercase(),
            realm,
            fields,
            algorithm,
            username,
            source_ip: canonical(source_ip),
        })
    }

    /// The realm the request is for.
    pub fn realm(&self) -> &str {
        &self.realm
    }
}

fn decode_fields(body: &Map<String, Value>) -> Result<Option<DigestFields>, ApiError> {
    if let Some(header) = opt_str(body, "authorization", 8 * DIGEST_FIELD_BYTES_MAX)? {
        let fields = parse_authorization(&header)
            .map_err(|why| ApiError::bad_field("authorization", &why))?;
        return Ok(Some(fields));
    }
    if opt_str(body, "response", DIGEST_FIELD_BYTES_MAX)?.is_none() {
        return Ok(None);
    }
    let get = |name| req_str(body, name, DIGEST_FIELD_BYTES_MAX);
    let opt = |name| opt_str(body, name, DIGEST_FIELD_BYTES_MAX);
    Ok(Some(DigestFields {
        username: get("username")?,
        realm: get("realm")?,
        nonce: get("nonce")?,
        uri: get("uri")?,
        response: get("response")?,
        qop: opt("qop")?,
        nc: opt("nc")?,
        cnonce: opt("cnonce")?,
        algorithm: opt("algorithm")?,
        opaque: opt("opaque")?,
    }))
}

fn check_qop(fields: &DigestFields) -> Result<(), ApiError> {
    match fields.qop.as_deref() {
        None => Ok(()),
        Some(qop) if qop.eq_ignore_ascii_case("auth") => {
            let nc = fields
                .nc
                .as_deref()
                .ok_or_else(|| ApiError::missing("nc"))?;
            if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::invalid("nc", "must be 8 hex digits"));
            }
            if fields.cnonce.is_none() {
                return Err(ApiError::missing("cnonce"));
            }
            Ok(())
        }
        Some(_) => Err(ApiError::invalid(
            "qop",
            "only `auth` (or no qop) is supported",
        )),
    }
}

/// Decides an /auth request on the shard that owns the realm's account
/// (or the accepting shard when the realm is unknown).
///
/// An allowlisted source (`/security/allow`) is never rate-limited and its
/// failures are not counted. A failure that brings a source to the
/// threshold on a shard other than the control shard also broadcasts
/// `AuthFlagged`, for the control shard's ban view.
pub fn decide(shard: &Shard, now: Millis, salt: u64, request: &AuthRequest) -> Decision {
    let config = shard.config();
    let window_ms = config.auth_fail_window_ms;
    let allowlisted = shard.security().allowlist().contains(request.source_ip);
    let failures = shard
        .auth_failures()
        .count(request.source_ip, now, window_ms);
    if !allowlisted && failures >= config.auth_fail_threshold {
        let error = ApiError::new(
            429,
            "rate_limited",
            "too many failed digest checks from this source",
        )
        .with_header("retry-after", (window_ms / 1000).max(1).to_string());
        return Decision::reply(error.to_response());
    }
    let Some(fields) = &request.fields else {
        return Decision::reply(challenge(shard, now, salt, request, false).to_response());
    };
    match verify(shard, now, request, fields) {
        Ok(verified) => verified.into_decision(shard, now, salt, request, fields),
        Err(error) => Decision {
            reply: error.to_response(),
            events: if allowlisted {
                Vec::new()
            } else {
                failure_events(shard, now, request.source_ip)
            },
        },
    }
}

/// A failure from `ip` at `now`, and `AuthFlagged` when it brings `ip` to
/// the threshold on a shard other than the control shard.
fn failure_events(shard: &Shard, now: Millis, ip: IpAddr) -> Vec<Event> {
    let config = shard.config();
    let mut events = vec![Event::AuthFailed {
        ip: ip.into(),
        at: now,
    }];
    if config.id == super::CONTROL_SHARD {
        return events;
    }
    let window_ms = config.auth_fail_window_ms;
    let threshold = config.auth_fail_threshold;
    if shard.auth_failures().count(ip, now, window_ms) + 1 < threshold {
        return events;
    }
    if let Some(over) = shard
        .auth_failures()
        .over(ip, Some(now), window_ms, threshold)
    {
        events.push(Event::AuthFlagged {
            failures: u32::try_from(over.failures).unwrap_or(u32::MAX),
            ip: ip.into(),
            at: now,
            until: over.until,
            first: over.first,
        });
    }
    events
}

/// The outcome of a digest whose response was checked.
enum Verified<'a> {
    Stale,
    Good {
        account: &'a crate::account::Account,
        device: &'a crate::account::Device,
    },
}

impl Verified<'_> {
    fn into_decision(
        self,
        shard: &Shard,
        now: Millis,
        salt: u64,
        request: &AuthRequest,
        fields: &DigestFields,
    ) -> Decision {
        let (account, device) = match self {
            Verified::Stale => {
                return Decision::reply(challenge(shard, now, salt, request, true).to_response())
            }
            Verified::Good { account, device } => (account, device),
        };
        let mut events = Vec::new();
        if let Some(nc) = replay_key(shard, request, fields) {
            let expires_at =
                match nonce::origin(&shard.config().nonce_key, &fields.nonce, &request.realm) {
                    NonceOrigin::Ours { issued_at } => {
                        Millis(issued_at.0.saturating_add(shard.config().nonce_ttl_ms))
                    }
                    NonceOrigin::Foreign => {
                        Millis(now.0.saturating_add(shard.config().nonce_ttl_ms))
                    }
                };
            events.push(Event::NonceUsed {
                nonce: fields.nonce.clone(),
                nc,
                at: now,
                expires_at,
            });
        }
        let user = account
            .user(&device.user_id)
            .expect("validation: every device has a user");
        let reply = if !account.is_active() {
            ApiError::new(403, "forbidden", "the account is not active").to_response()
        } else if !user.active {
            ApiError::new(403, "forbidden", "the user is disabled").to_response()
        } else if !device.active {
            ApiError::new(403, "forbidden", "the device is disabled").to_response()
        } else {
            ok(json!({
                "account_id": account.id,
                "user_id": user.id,
                "device_id": device.id,
                "username": user.username,
                "extension": account.extension_for_user(&user.id),
                "realm": device.realm,
                "is_webrtc": device.is_webrtc,
                "transport": device.transport,
                "is_agent": user.is_agent,
            }))
        };
        Decision { reply, events }
    }
}

fn verify<'a>(
    shard: &'a Shard,
    now: Millis,
    request: &AuthRequest,
    fields: &DigestFields,
) -> Result<Verified<'a>, ApiError> {
    let invalid = || ApiError::new(401, "invalid_credentials", "invalid credentials");
    let account = shard
        .account_for_realm(&request.realm)
        .ok_or_else(invalid)?;
    let (auth_username, use_ha1b) = match fields.username.split_once('@') {
        Some((user, _domain)) => (user, true),
        None => (fields.username.as_str(), false),
    };
    let device = account
        .device_for_auth(auth_username, &request.realm)
        .ok_or_else(invalid)?;
    let ha1 = match (request.algorithm.is_sha256(), use_ha1b) {
        (false, false) => Some(device.ha1.as_str()),
        (false, true) => Some(device.ha1b.as_str()),
        (true, false) => device.ha1_sha256.as_deref(),
        (true, true) => device.ha1b_sha256.as_deref(),
    };
    let ha1 = ha1.ok_or_else(invalid)?;
    if !digest::verify(request.algorithm, ha1, &request.method, fields) {
        return Err(invalid());
    }
    if let NonceOrigin::Ours { issued_at } =
        nonce::origin(&shard.config().nonce_key, &fields.nonce, &request.realm)
    {
        if now.since(issued_at) > shard.config().nonce_ttl_ms {
            return Ok(Verified::Stale);
        }
    }
    if let Some(nc) = replay_key(shard, request, fields) {
        #[cfg(feature = "planted-bugs")]
        let nc = if crate::planted::active(crate::planted::Bug::NonceIgnoresNc) {
            String::new()
        } else {
            nc
        };
        if shard.replays().seen(&fields.nonce, &nc, now) {
            return Err(ApiError::new(
                401,
                "nonce_replay",
                "this nonce and nonce-count were already used",
            ));
        }
    }
    Ok(Verified::Good { account, device })
}

/// The nonce-count a use of this nonce is remembered under: `nc` with qop;
/// without qop (RFC 2069) a brain-issued nonce is single-use (key ""), and
/// a foreign one is the SIP layer's to police.
fn replay_key(shard: &Shard, request: &AuthRequest, fields: &DigestFields) -> Option<String> {
    match &fields.nc {
        Some(nc) => Some(nc.to_ascii_lowercase()),
        None => match nonce::origin(&shard.config().nonce_key, &fields.nonce, &request.realm) {
            NonceOrigin::Ours { .. } => Some(String::new()),
            NonceOrigin::Foreign => None,
        },
    }
}

/// A 401 carrying a fresh challenge for the request's realm.
fn challenge(
    shard: &Shard,
    now: Millis,
    salt: u64,
    request: &AuthRequest,
    stale: bool,
) -> ApiError {
    let nonce = nonce::issue(&shard.config().nonce_key, now, salt, &request.realm);
    let algorithm = if request.algorithm.is_sha256()
        && shard.offers_sha256(&request.realm, request.username.as_deref())
    {
        Algorithm::Sha256
    } else {
        Algorithm::Md5
    };
    let realm = &request.realm;
    let header = format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}{}",
        algorithm.as_str(),
        if stale { ", stale=true" } else { "" }
    );
    let (code, message) = if stale {
        (
            "challenge",
            "the nonce has expired; answer the new challenge",
        )
    } else {
        ("challenge", "credentials required")
    };
    ApiError::new(401, code, message)
        .with_field(
            "challenge",
            json!({"realm": realm, "nonce": nonce, "qop": "auth", "algorithm": algorithm.as_str(), "stale": stale}),
        )
        .with_field("www_authenticate", Value::String(header))
}

#[cfg(all(test, feature = "planted-bugs"))]
mod planted_tests {
    use super::*;
    use crate::auth::nonce::NonceKey;
    use crate::planted::{plant, Bug};
    use crate::shard::ShardConfig;

    /// One shard holding the demo account, where device 1001 already used
    /// (nonce "n1", nc 00000001).
    fn shard_with_a_used_nonce() -> Shard {
        let mut shard = Shard::new(ShardConfig::new(0, 1, NonceKey([7; 32])));
        let doc: Value =
            serde_json::from_str(include_str!("../../../examples/demo/acme.json")).unwrap();
        let account = crate::account::parse("acc_acme", &doc).unwrap();
        shard.apply(&Event::AccountPut {
            account_id: "acc_acme".into(),
            doc: account.to_json().to_string(),
        });
        shard.apply(&Event::NonceUsed {
            nonce: "n1".into(),
            nc: "00000001".into(),
            at: Millis(5),
            expires_at: Millis(900_000),
        });
        shard
    }

    /// A correct digest from device 1001 (password-independent: its HA1
    /// comes from the demo document) for (nonce "n1", nc 00000001).
    fn replayed_request() -> (AuthRequest, DigestFields) {
        let mut fields = DigestFields {
            username: "1001".into(),
            realm: "acme.sip.io".into(),
            nonce: "n1".into(),
            uri: "sip:acme.sip.io".into(),
            response: String::new(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("c1".into()),
            algorithm: None,
            opaque: None,
        };
        fields.response = digest::expected_response(
            Algorithm::Md5,
            "b8965344d1a7dff43ddf58eb99348256",
            "REGISTER",
            &fields,
        );
        let request = AuthRequest {
            method: "REGISTER".into(),
            realm: "acme.sip.io".into(),
            fields: Some(fields.clone()),
            algorithm: Algorithm::Md5,
            username: Some("1001".into()),
            source_ip: IpAddr::from([192, 0, 2, 1]),
        };
        (request, fields)
    }

    fn outcome(shard: &Shard) -> &'static str {
        let (request, fields) = replayed_request();
        match verify(shard, Millis(10), &request, &fields) {
            Ok(Verified::Good { .. }) => "accepted",
            Ok(Verified::Stale) => "stale",
            Err(error) => error.code,
        }
    }

    #[test]
    fn nonce_ignores_nc_accepts_a_replayed_nonce_and_nc() {
        let shard = shard_with_a_used_nonce();
        plant(None);
        assert_eq!(outcome(&shard), "nonce_replay");
        plant(Some(Bug::NonceIgnoresNc));
        let planted = outcome(&shard);
        plant(None);
        assert_eq!(planted, "accepted", "the planted bug lets the replay in");
        assert_eq!(outcome(&shard), "nonce_replay", "cleared again");
    }
}
