//! The account document as `PUT /admin/accounts/{id}` takes it and `GET`
//! returns it: the account's own fields at the top level beside its lists
//! (reference §14, field names exactly as there). Unknown fields are refused
//! everywhere but inside flow nodes' `data` and `position`.

use super::enums::{AccountStatus, DestKind, VoiceGender};
use super::flag;
use super::{
    CallLimit, Device, Did, Extension, Flow, MediaFile, Queue, QueueMember, Schedule, Trunk, User,
    VoicemailBox,
};
use serde::{Deserialize, Serialize};

/// A whole account document. Defaults are filled in by parsing, so the
/// normalized document names every field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The account id; when present it must equal the id in the path.
    /// Always present in the normalized document.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// The reseller account above this one (null = platform-direct).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Only `active` accounts place or take calls (default active).
    #[serde(default)]
    pub status: AccountStatus,
    /// A reseller owns, brands and bills child accounts (default 0).
    #[serde(default, with = "flag")]
    pub is_reseller: bool,
    /// IANA time zone for schedules that inherit it (default "UTC").
    #[serde(default = "utc")]
    pub timezone: String,
    /// Reseller brand name.
    #[serde(default)]
    pub brand_name: Option<String>,
    /// A SIP-domain-shaped brand host name.
    #[serde(default)]
    pub brand_domain: Option<String>,
    /// Concurrent inbound calls (null = unlimited).
    #[serde(default)]
    pub max_in: Option<u32>,
    /// Concurrent outbound calls (null = unlimited).
    #[serde(default)]
    pub max_out: Option<u32>,
    /// Concurrent dialer calls (null = unlimited).
    #[serde(default)]
    pub max_dialer: Option<u32>,
    /// Last-resort outbound caller-ID (normalized E.164 digits).
    #[serde(default)]
    pub default_cid_number: Option<String>,
    /// Prompt language, one of the 16 TTS languages (default en-US).
    #[serde(default = "en_us")]
    pub language: String,
    /// Narrator gender of system prompts (default male).
    #[serde(default)]
    pub voice_gender: VoiceGender,
    /// Where a DID without its own target goes.
    #[serde(default)]
    pub did_default_dest_kind: Option<DestKind>,
    /// Target of `did_default_dest_kind`.
    #[serde(default)]
    pub did_default_dest_id: Option<String>,
    /// SIP domains (digest realms); at least one.
    #[serde(default)]
    pub domains: Vec<Domain>,
    /// Users (people and agents).
    #[serde(default)]
    pub users: Vec<User>,
    /// SIP devices of the users.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Phone numbers.
    #[serde(default)]
    pub dids: Vec<Did>,
    /// Internal dialable codes.
    #[serde(default)]
    pub extensions: Vec<Extension>,
    /// Call flows.
    #[serde(default)]
    pub flows: Vec<Flow>,
    /// ACD queues.
    #[serde(default)]
    pub queues: Vec<Queue>,
    /// The reference's `agent_queue_assignment` rows.
    #[serde(default)]
    pub queue_members: Vec<QueueMember>,
    /// Business-hours schedules with their rules nested.
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// SIP trunks.
    #[serde(default)]
    pub trunks: Vec<Trunk>,
    /// Sliding-window call rate limits.
    #[serde(default)]
    pub call_limits: Vec<CallLimit>,
    /// Voicemail boxes.
    #[serde(default)]
    pub voicemail_boxes: Vec<VoicemailBox>,
    /// Media objects (prompts, MOH, greetings).
    #[serde(default)]
    pub media_files: Vec<MediaFile>,
    /// The account's agent API keys, stored hashed (our addition).
    #[serde(default)]
    pub agent_keys: Vec<AgentKey>,
}

fn utc() -> String {
    "UTC".to_string()
}

fn en_us() -> String {
    "en-US".to_string()
}

/// `sip_domain`: a SIP domain (digest realm) the account claims, unique
/// platform-wide and stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// Optional row id (the reference shows none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// The domain, lower-case.
    pub domain: String,
    /// At most one domain is primary; none marked = the first is.
    #[serde(default, with = "flag")]
    pub is_primary: bool,
}

/// An agent API key (`x-api-key` on `/agent`), stored as the lower-case hex
/// SHA-256 of the key so the document never holds the secret itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentKey {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Optional label.
    #[serde(default)]
    pub name: Option<String>,
    /// 64 hex chars: SHA-256 of the key.
    pub sha256: String,
}
