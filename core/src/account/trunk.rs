//! SIP trunks (reference §4.7): carriers, BYOC gateways and customer PBXs,
//! in either direction.

use super::check::{self, fail, Checked, CIDRS_MAX, NAME_MAX, TEXT_MAX};
use super::enums::{InboundAuth, TrunkDirection, TrunkRole, TrunkTransport};
use super::flag;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One trunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// `generic` (default, manual SIP settings), `carrier`, … (a token).
    #[serde(default = "generic")]
    pub provider: String,
    /// `carrier` (default) or `pbx`.
    #[serde(default)]
    pub role: TrunkRole,
    /// Which calls it carries (see the type).
    #[serde(default)]
    pub direction: TrunkDirection,
    /// Where outbound calls go: `host[:port]`. Required for `outbound`
    /// trunks and with `do_register: 1`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Transport toward the peer (default udp).
    #[serde(default)]
    pub transport: TrunkTransport,
    /// Register to the peer (default 0).
    #[serde(default, with = "flag")]
    pub do_register: bool,
    /// User name for digest auth toward the peer.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// Reference to the secret in the KV store, never the secret.
    #[serde(default)]
    pub auth_secret_ref: Option<String>,
    /// Digest realm toward the peer.
    #[serde(default)]
    pub realm: Option<String>,
    /// Host of the From URI on calls to the peer.
    #[serde(default)]
    pub from_domain: Option<String>,
    /// User of the From URI on calls to the peer.
    #[serde(default)]
    pub from_user: Option<String>,
    /// Registration lifetime (default 3600, at least 1).
    #[serde(default = "hour")]
    pub expire_sec: u32,
    /// Caller-ID on this trunk (normalized E.164 digits).
    #[serde(default)]
    pub cid_number: Option<String>,
    /// Per-trunk concurrent call cap (null = unlimited).
    #[serde(default)]
    pub max_channels: Option<u32>,
    /// How the peer's calls are trusted (null = the trunk takes none).
    #[serde(default)]
    pub inbound_auth: Option<InboundAuth>,
    /// Source addresses (IP or CIDR) trusted with `inbound_auth: ip`; stored
    /// as canonical CIDRs. Empty = the proxy's address when it is an IP.
    /// (Our addition: the reference does not say where the addresses live.)
    #[serde(default)]
    pub inbound_cidrs: Vec<String>,
    /// `status`: `active` (true, default) or `disabled` (false).
    #[serde(rename = "status", default = "flag::on", with = "flag::status")]
    pub active: bool,
}

fn generic() -> String {
    "generic".to_string()
}

fn hour() -> u32 {
    3600
}

/// Checks every trunk.
pub fn check_trunks(trunks: &mut [Trunk], account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, trunk) in trunks.iter_mut().enumerate() {
        let base = format!("trunks[{i}]");
        let field = |name: &str| format!("{base}.{name}");
        check::id(&field("id"), &trunk.id)?;
        check::unique(&mut ids, &trunk.id, &field("id"), "trunk id")?;
        super::validate::owner(&base, &mut trunk.account_id, account_id)?;
        check::text(&field("name"), &trunk.name, NAME_MAX)?;
        check::token(&field("provider"), &trunk.provider, 64)?;
        match &trunk.proxy {
            Some(proxy) => check::host_port(&field("proxy"), proxy)?,
            None if trunk.direction == TrunkDirection::Outbound => {
                return fail(field("proxy"), "required for outbound trunks")
            }
            None if trunk.do_register => {
                return fail(field("proxy"), "required with do_register: 1")
            }
            None => {}
        }
        if let Some(user) = &trunk.auth_username {
            check::sip_user(&field("auth_username"), user)?;
        }
        check::opt_token(&field("auth_secret_ref"), &trunk.auth_secret_ref, TEXT_MAX)?;
        for (name, value) in [
            ("realm", &mut trunk.realm),
            ("from_domain", &mut trunk.from_domain),
        ] {
            if let Some(value) = value.as_mut() {
                check::domain(&field(name), value)?;
            }
        }
        if let Some(user) = &trunk.from_user {
            check::sip_user(&field("from_user"), user)?;
        }
        if trunk.expire_sec == 0 {
            return fail(field("expire_sec"), "must be at least 1");
        }
        check::opt_number(&field("cid_number"), &mut trunk.cid_number)?;
        check::count(
            &field("inbound_cidrs"),
            trunk.inbound_cidrs.len(),
            CIDRS_MAX,
        )?;
        for (j, cidr) in trunk.inbound_cidrs.iter_mut().enumerate() {
            *cidr = canonical_cidr(cidr).ok_or_else(|| {
                super::DocError::new(
                    format!("{base}.inbound_cidrs[{j}]"),
                    "must be an IP address or CIDR",
                )
            })?;
        }
    }
    Ok(())
}

/// `10.1.2.3/8` → `10.0.0.0/8`, `192.0.2.7` → `192.0.2.7/32`.
fn canonical_cidr(value: &str) -> Option<String> {
    if let Ok(net) = value.parse::<ipnet::IpNet>() {
        return Some(net.trunc().to_string());
    }
    let address = value.parse::<core::net::IpAddr>().ok()?;
    Some(ipnet::IpNet::from(address).to_string())
}
