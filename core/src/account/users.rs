//! Users (`sip_user`, reference §5) and their devices (`sip_device`):
//! who may register, with which digest credentials, and how they ring.

use super::check::{self, fail, Checked, NAME_MAX, TEXT_MAX};
use super::dest;
use super::enums::{DestKind, RingStrategy};
use super::flag;
use super::refs::{resolve, resolve_opt, Refs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A person or agent. `username` is the SIP user part, unique per account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// SIP user part (extension), unique per account.
    pub username: String,
    /// Caller name shown on internal calls.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Agents take ACD calls (default 0).
    #[serde(default, with = "flag")]
    pub is_agent: bool,
    /// `status`: `active` (true, default) or `disabled` (false; /auth 403).
    #[serde(rename = "status", default = "flag::on", with = "flag::status")]
    pub active: bool,
    /// Outbound caller-ID, first choice (normalized E.164 digits).
    #[serde(default)]
    pub out_cid_number: Option<String>,
    /// Outbound caller-ID name.
    #[serde(default)]
    pub out_cid_name: Option<String>,
    /// Per-user concurrent call ceiling (null = unlimited).
    #[serde(default)]
    pub max_simultaneous: Option<u32>,
    /// Seconds devices ring before no-answer (default 25, at least 1).
    #[serde(default = "ring_timeout")]
    pub ring_timeout_sec: u32,
    /// Default voicemail box.
    #[serde(default)]
    pub voicemail_id: Option<String>,
    /// How the user's devices ring (default simultaneous).
    #[serde(default)]
    pub ring_strategy: RingStrategy,
    /// Do not disturb (default 0).
    #[serde(default, with = "flag")]
    pub dnd: bool,
    /// Forward every call here, no ringing (route target kind).
    #[serde(default)]
    pub fwd_always_kind: Option<DestKind>,
    /// Target of `fwd_always_kind`.
    #[serde(default)]
    pub fwd_always_id: Option<String>,
    /// Where calls go under DND / busy.
    #[serde(default)]
    pub fwd_busy_kind: Option<DestKind>,
    /// Target of `fwd_busy_kind`.
    #[serde(default)]
    pub fwd_busy_id: Option<String>,
    /// Where unanswered calls go (before voicemail).
    #[serde(default)]
    pub fwd_noanswer_kind: Option<DestKind>,
    /// Target of `fwd_noanswer_kind`.
    #[serde(default)]
    pub fwd_noanswer_id: Option<String>,
    /// Login makes the agent available at once (default 0).
    #[serde(default, with = "flag")]
    pub auto_ready_on_login: bool,
    /// Login activates static and mandatory queue memberships (default 0).
    #[serde(default, with = "flag")]
    pub auto_queue_login: bool,
    /// May blind-transfer to a PSTN number (default 0: anti-fraud).
    #[serde(default, with = "flag")]
    pub allow_pstn_blind_transfer: bool,
}

fn ring_timeout() -> u32 {
    25
}

/// A SIP device of a user: its digest credentials (HA1 only, never a
/// password) and ringing preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// The owning user (a user of the account).
    pub user_id: String,
    /// Optional label ("desk phone").
    #[serde(default)]
    pub name: Option<String>,
    /// Digest user name; (auth_username, realm) is unique per account.
    pub auth_username: String,
    /// One of the account's domains; stored lower-case.
    pub realm: String,
    /// MD5(auth_username:realm:password), 32 hex, stored lower-case.
    pub ha1: String,
    /// MD5(auth_username@realm:realm:password), 32 hex.
    pub ha1b: String,
    /// SHA-256 variant of `ha1`, 64 hex (optional: no SHA-256 without it).
    #[serde(default)]
    pub ha1_sha256: Option<String>,
    /// SHA-256 variant of `ha1b`, 64 hex.
    #[serde(default)]
    pub ha1b_sha256: Option<String>,
    /// `udp` (default), `tcp`, `tls`, `ws` or `wss`; stored lower-case.
    #[serde(default = "udp")]
    pub transport: String,
    /// A browser (WebRTC) client (default 0).
    #[serde(default, with = "flag")]
    pub is_webrtc: bool,
    /// `status`: `active` (true, default) or `disabled` (false; /auth 403).
    #[serde(rename = "status", default = "flag::on", with = "flag::status")]
    pub active: bool,
    /// Lower rings first under `sequential` (default 0).
    #[serde(default)]
    pub ring_order: u32,
    /// 0 = left out of forks, still directly dialable (default 1).
    #[serde(default = "flag::on", with = "flag")]
    pub ring_on_fork: bool,
}

fn udp() -> String {
    "udp".to_string()
}

/// Device transports accepted.
pub const DEVICE_TRANSPORTS: [&str; 5] = ["udp", "tcp", "tls", "ws", "wss"];

/// Checks every user: ids and usernames unique, texts bounded, references
/// (voicemail box, forwards) resolved.
pub fn check_users(users: &mut [User], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    let mut usernames = BTreeSet::new();
    for (i, user) in users.iter_mut().enumerate() {
        let base = format!("users[{i}]");
        check::id(&format!("{base}.id"), &user.id)?;
        check::unique(&mut ids, &user.id, &format!("{base}.id"), "user id")?;
        super::validate::owner(&base, &mut user.account_id, account_id)?;
        let path = format!("{base}.username");
        check::sip_user(&path, &user.username)?;
        check::unique(&mut usernames, &user.username, &path, "username")?;
        check::opt_text(
            &format!("{base}.display_name"),
            &user.display_name,
            NAME_MAX,
        )?;
        check::opt_number(&format!("{base}.out_cid_number"), &mut user.out_cid_number)?;
        check::opt_text(
            &format!("{base}.out_cid_name"),
            &user.out_cid_name,
            NAME_MAX,
        )?;
        if user.ring_timeout_sec == 0 {
            return fail(format!("{base}.ring_timeout_sec"), "must be at least 1");
        }
        resolve_opt(
            &format!("{base}.voicemail_id"),
            &user.voicemail_id,
            &refs.voicemail_boxes,
            "voicemail box",
        )?;
        dest::check(
            refs,
            &base,
            "fwd_always",
            user.fwd_always_kind,
            &mut user.fwd_always_id,
        )?;
        dest::check(
            refs,
            &base,
            "fwd_busy",
            user.fwd_busy_kind,
            &mut user.fwd_busy_id,
        )?;
        dest::check(
            refs,
            &base,
            "fwd_noanswer",
            user.fwd_noanswer_kind,
            &mut user.fwd_noanswer_id,
        )?;
    }
    Ok(())
}

/// Checks every device: its user exists, its realm is an account domain,
/// (auth_username, realm) unique, HA1s well-formed (stored lower-case).
pub fn check_devices(
    devices: &mut [Device],
    refs: &Refs,
    domains: &BTreeSet<String>,
    account_id: &str,
) -> Checked {
    let mut ids = BTreeSet::new();
    let mut logins = BTreeSet::new();
    for (i, device) in devices.iter_mut().enumerate() {
        let base = format!("devices[{i}]");
        check::id(&format!("{base}.id"), &device.id)?;
        check::unique(&mut ids, &device.id, &format!("{base}.id"), "device id")?;
        super::validate::owner(&base, &mut device.account_id, account_id)?;
        resolve(
            &format!("{base}.user_id"),
            &device.user_id,
            &refs.users,
            "user",
        )?;
        check::opt_text(&format!("{base}.name"), &device.name, NAME_MAX)?;
        check::sip_user(&format!("{base}.auth_username"), &device.auth_username)?;
        let path = format!("{base}.realm");
        check::domain(&path, &mut device.realm)?;
        if !domains.contains(&device.realm) {
            return fail(
                path,
                format!("{} is not one of the account's domains", device.realm),
            );
        }
        let login = format!("{}@{}", device.auth_username, device.realm);
        check::unique(
            &mut logins,
            &login,
            &format!("{base}.auth_username"),
            "auth_username@realm",
        )?;
        check::hex_digest(&format!("{base}.ha1"), &mut device.ha1, 32)?;
        check::hex_digest(&format!("{base}.ha1b"), &mut device.ha1b, 32)?;
        check::opt_hex_digest(&format!("{base}.ha1_sha256"), &mut device.ha1_sha256, 64)?;
        check::opt_hex_digest(&format!("{base}.ha1b_sha256"), &mut device.ha1b_sha256, 64)?;
        let path = format!("{base}.transport");
        check::text(&path, &device.transport, TEXT_MAX)?;
        device.transport.make_ascii_lowercase();
        if !DEVICE_TRANSPORTS.contains(&device.transport.as_str()) {
            return fail(
                path,
                format!("must be one of {}", DEVICE_TRANSPORTS.join(", ")),
            );
        }
    }
    Ok(())
}
