//! The `/route` request body (and `/admin/route/explain`'s, which adds `at`).

use crate::api::error::ApiError;
use crate::api::fields::{opt_str, req_str};
use crate::limits::{CALL_ID_BYTES_MAX, DOMAIN_BYTES_MAX, SIP_FIELD_BYTES_MAX};
use crate::number;
use crate::time::Millis;
use core::net::IpAddr;
use serde_json::{Map, Value};

/// A decoded `/route` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRequest {
    pub call_id: String,
    /// The caller as sent (`From` user part).
    pub from: String,
    pub from_domain: String,
    /// The callee as sent (request-URI user part).
    pub to: String,
    /// `to` normalized to E.164 digits, when it is a number.
    pub to_number: Option<String>,
    /// The SIP client's address (`sourceIp`, else the HTTP peer).
    pub source_ip: IpAddr,
    /// The digest user that passed `/auth` (`authenticated: true` without
    /// it means `from` is that user).
    pub auth_user: Option<String>,
    pub authenticated: bool,
    pub from_name: Option<String>,
    /// The edge node that asks (default `default`) and its boot epoch.
    pub node: String,
    pub epoch: u64,
    /// `/admin/route/explain` only: the instant to decide at.
    pub at: Option<Millis>,
}

impl RouteRequest {
    /// Decodes a body; `peer` stands in for a missing `sourceIp`.
    pub fn decode(body: &Map<String, Value>, peer: IpAddr) -> Result<RouteRequest, ApiError> {
        let call_id = req_str(body, "callId", CALL_ID_BYTES_MAX)?;
        check_printable("callId", &call_id)?;
        let from = opt_str(body, "from", SIP_FIELD_BYTES_MAX)?.unwrap_or_default();
        let from_domain = opt_str(body, "fromDomain", DOMAIN_BYTES_MAX)?
            .unwrap_or_default()
            .to_ascii_lowercase();
        let to = req_str(body, "to", SIP_FIELD_BYTES_MAX)?;
        let to_number = number::normalize(&to);
        let source_ip = match opt_str(body, "sourceIp", 64)? {
            Some(text) => text
                .parse::<IpAddr>()
                .map_err(|_| ApiError::invalid("sourceIp", "not an IPv4 or IPv6 address"))?,
            None => peer,
        };
        let auth_user = opt_str(body, "authUser", SIP_FIELD_BYTES_MAX)?;
        let authenticated = match opt_str(body, "authenticated", 8)?.as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err(ApiError::invalid("authenticated", "must be true or false")),
        };
        let node = opt_str(body, "node", 128)?.unwrap_or_else(|| "default".into());
        check_printable("node", &node)?;
        let epoch = epoch_field(body)?.unwrap_or(0);
        let at = match opt_str(body, "at", 20)? {
            Some(text) => {
                Some(Millis(text.parse::<u64>().map_err(|_| {
                    ApiError::invalid("at", "must be epoch milliseconds")
                })?))
            }
            None => None,
        };
        Ok(RouteRequest {
            call_id,
            from,
            from_domain,
            to,
            to_number,
            source_ip,
            auth_user,
            authenticated,
            from_name: opt_str(body, "fromName", SIP_FIELD_BYTES_MAX)?,
            node,
            epoch,
            at,
        })
    }

    /// The caller as a number when it is one.
    pub fn from_number(&self) -> Option<String> {
        number::normalize(&self.from)
    }

    /// True when the caller hides its identity (`anonymous`, empty, or the
    /// RFC 3323 `anonymous.invalid` domain).
    pub fn is_anonymous(&self) -> bool {
        let from = self.from.trim();
        from.is_empty()
            || from.eq_ignore_ascii_case("anonymous")
            || from.eq_ignore_ascii_case("restricted")
            || self.from_domain == "anonymous.invalid"
    }
}

/// The optional `epoch` field (a node's boot id: an increasing integer).
pub fn epoch_field(body: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    match opt_str(body, "epoch", 20)? {
        Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
            ApiError::invalid(
                "epoch",
                "must be a non-negative integer (the node's boot id)",
            )
        }),
        None => Ok(None),
    }
}

/// Refuses control characters (ids end up in JSON and logs).
pub fn check_printable(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}
