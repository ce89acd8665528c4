//! The account document: parsing, full validation and the lookups the
//! handlers need.
//!
//! `PUT /admin/accounts/{id}` hands [`parse`] a whole document (the
//! account's own fields at the top level beside its lists; reference §14
//! names). Parsing decodes it into typed rows (unknown fields refused, type
//! errors named by path), validates every value and reference, normalizes
//! (lower-case domains and digests, E.164 numbers, defaults filled in) and
//! indexes it. The first problem comes back as a [`DocError`] naming its
//! path (`dids[2].dest_id`), answered as 422.
//!
//! An [`Account`] is immutable once parsed: its index can never drift from
//! its document. Serde round-trips it through the normalized document (and
//! validates again on the way in), so snapshots stay consistent too.
//!
//! Not checked here: DIDs and domains claimed by *another* account (the
//! directory does that with [`Account::domain_names`] and
//! [`Account::did_numbers`]).

mod call_limit;
mod check;
mod decode;
mod dest;
mod did;
mod document;
mod enums;
mod extension;
mod flag;
mod flow;
mod index;
mod media;
mod queue;
mod refs;
mod schedule;
mod trunk;
mod users;
mod validate;

#[cfg(test)]
mod tests;

pub use call_limit::CallLimit;
pub use check::LANGUAGES;
pub use did::Did;
pub use document::{AgentKey, Document, Domain};
pub use enums::{
    AccountStatus, DestKind, DidStatus, FaxMode, InboundAuth, LimitDirection, MediaKind,
    MemberMode, MohMode, QueueStrategy, RingStrategy, RuleKind, ScopeKind, TrunkDirection,
    TrunkRole, TrunkTransport, VoiceGender,
};
pub use extension::Extension;
pub use flow::{Flow, FlowEdge, FlowNode, NODE_KINDS};
pub use media::{MediaFile, VoicemailBox};
pub use queue::{Queue, QueueMember};
pub use schedule::{Schedule, ScheduleRule};
pub use trunk::Trunk;
pub use users::{Device, User, DEVICE_TRANSPORTS};

use index::Index;
use std::fmt;

/// A document that failed validation: the JSON path of the first bad field
/// (`dids[2].dest_id`; "" for the document itself) and what is wrong with
/// it. Answered as 422.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocError {
    /// Where: `dids[2].dest_id` style ("" = the document itself).
    pub path: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl DocError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> DocError {
        DocError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DocError {}

/// One validated account with everything provisioned on it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Document", try_from = "Document")]
pub struct Account {
    /// The account id (equals the document's `id`).
    pub id: String,
    doc: Document,
    index: Index,
}

/// Parses and validates a whole document for `account_id` (the path's id).
pub fn parse(account_id: &str, doc: &serde_json::Value) -> Result<Account, DocError> {
    Account::from_document(account_id, decode::decode(doc)?)
}

impl From<Account> for Document {
    fn from(account: Account) -> Document {
        account.doc
    }
}

impl TryFrom<Document> for Account {
    type Error = DocError;

    /// Validates a decoded document that carries its own `id`.
    fn try_from(doc: Document) -> Result<Account, DocError> {
        let Some(id) = doc.id.clone() else {
            return Err(DocError::new("id", "required"));
        };
        Account::from_document(&id, doc)
    }
}

impl Account {
    fn from_document(account_id: &str, mut doc: Document) -> Result<Account, DocError> {
        validate::validate(account_id, &mut doc)?;
        let index = Index::build(&doc);
        Ok(Account {
            id: account_id.to_string(),
            doc,
            index,
        })
    }

    /// The normalized document (defaults filled in).
    pub fn doc(&self) -> &Document {
        &self.doc
    }

    /// The document as GET returns it (normalized, defaults filled in,
    /// `id` included). Parsing it again yields an equal account.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.doc)
            .expect("a document of strings, numbers and maps always serializes")
    }

    /// `status == "active"`: only active accounts place or take calls.
    pub fn is_active(&self) -> bool {
        self.doc.status == AccountStatus::Active
    }

    /// The SIP domains (digest realms) this account claims, lower-case, in
    /// document order.
    pub fn domain_names(&self) -> Vec<&str> {
        self.doc.domains.iter().map(|d| d.domain.as_str()).collect()
    }

    /// The primary domain: the one marked `is_primary`, else the first.
    pub fn primary_domain(&self) -> &str {
        let domains = &self.doc.domains;
        let primary = domains.iter().find(|d| d.is_primary).unwrap_or(&domains[0]);
        &primary.domain
    }

    /// The DIDs (normalized E.164) this account claims, in document order.
    pub fn did_numbers(&self) -> Vec<&str> {
        self.doc.dids.iter().map(|d| d.e164.as_str()).collect()
    }

    /// The device whose `auth_username` and `realm` (case-insensitive) match.
    pub fn device_for_auth(&self, auth_username: &str, realm: &str) -> Option<&Device> {
        let key = (auth_username.to_string(), realm.to_ascii_lowercase());
        self.index
            .devices_by_auth
            .get(&key)
            .map(|&i| &self.doc.devices[i])
    }

    /// The devices of a user, in document order.
    pub fn devices_of<'a>(&'a self, user_id: &'a str) -> impl Iterator<Item = &'a Device> + 'a {
        self.doc
            .devices
            .iter()
            .filter(move |d| d.user_id == user_id)
    }

    /// The user with this id.
    pub fn user(&self, user_id: &str) -> Option<&User> {
        self.index.users.get(user_id).map(|&i| &self.doc.users[i])
    }

    /// The user with this `username`.
    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.index
            .users_by_username
            .get(username)
            .map(|&i| &self.doc.users[i])
    }

    /// The digits of the first active extension that targets this user.
    pub fn extension_for_user(&self, user_id: &str) -> Option<&str> {
        self.index
            .extension_for_user
            .get(user_id)
            .map(|&i| self.doc.extensions[i].digits.as_str())
    }

    /// The DID with this normalized number.
    pub fn did(&self, e164: &str) -> Option<&Did> {
        self.index
            .dids_by_e164
            .get(e164)
            .map(|&i| &self.doc.dids[i])
    }

    /// The DID with this id.
    pub fn did_by_id(&self, did_id: &str) -> Option<&Did> {
        self.index.dids.get(did_id).map(|&i| &self.doc.dids[i])
    }

    /// The device with this id.
    pub fn device(&self, device_id: &str) -> Option<&Device> {
        self.index
            .devices
            .get(device_id)
            .map(|&i| &self.doc.devices[i])
    }

    /// The account's trunks, in document order.
    pub fn trunks(&self) -> &[Trunk] {
        &self.doc.trunks
    }

    /// The extension with these digits.
    pub fn extension(&self, digits: &str) -> Option<&Extension> {
        self.index
            .extensions_by_digits
            .get(digits)
            .map(|&i| &self.doc.extensions[i])
    }

    /// The extension with this id (target of `dest_kind: extension`).
    pub fn extension_by_id(&self, extension_id: &str) -> Option<&Extension> {
        self.index
            .extensions
            .get(extension_id)
            .map(|&i| &self.doc.extensions[i])
    }

    /// The flow with this id.
    pub fn flow(&self, flow_id: &str) -> Option<&Flow> {
        self.index.flows.get(flow_id).map(|&i| &self.doc.flows[i])
    }

    /// The queue with this id.
    pub fn queue(&self, queue_id: &str) -> Option<&Queue> {
        self.index
            .queues
            .get(queue_id)
            .map(|&i| &self.doc.queues[i])
    }

    /// The memberships of a queue, in document order.
    pub fn queue_members<'a>(
        &'a self,
        queue_id: &'a str,
    ) -> impl Iterator<Item = &'a QueueMember> + 'a {
        self.doc
            .queue_members
            .iter()
            .filter(move |m| m.queue_id == queue_id)
    }

    /// The schedule with this id.
    pub fn schedule(&self, schedule_id: &str) -> Option<&Schedule> {
        self.index
            .schedules
            .get(schedule_id)
            .map(|&i| &self.doc.schedules[i])
    }

    /// The trunk with this id.
    pub fn trunk(&self, trunk_id: &str) -> Option<&Trunk> {
        self.index
            .trunks
            .get(trunk_id)
            .map(|&i| &self.doc.trunks[i])
    }

    /// The voicemail box with this id.
    pub fn voicemail_box(&self, box_id: &str) -> Option<&VoicemailBox> {
        self.index
            .voicemail_boxes
            .get(box_id)
            .map(|&i| &self.doc.voicemail_boxes[i])
    }

    /// The media file with this id.
    pub fn media_file(&self, media_id: &str) -> Option<&MediaFile> {
        self.index
            .media_files
            .get(media_id)
            .map(|&i| &self.doc.media_files[i])
    }

    /// True when `key` hashes (SHA-256) to one of the account's agent keys
    /// (constant-time comparison against every stored digest).
    pub fn agent_key_matches(&self, key: &str) -> bool {
        self.index.agent_key_matches(key)
    }
}
