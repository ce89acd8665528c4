//! The ids of every table of a document, collected before validation so a
//! reference may point forward (a DID to a flow listed after it).

use super::Document;
use std::collections::{BTreeMap, BTreeSet};

/// Ids per table, plus what reference checks need to know of users.
#[derive(Debug, Default)]
pub struct Refs {
    pub users: BTreeSet<String>,
    /// User id → `is_agent` (queue members must be agents).
    pub agents: BTreeMap<String, bool>,
    pub dids: BTreeSet<String>,
    pub extensions: BTreeSet<String>,
    pub flows: BTreeSet<String>,
    pub queues: BTreeSet<String>,
    pub schedules: BTreeSet<String>,
    pub voicemail_boxes: BTreeSet<String>,
    pub media_files: BTreeSet<String>,
}

impl Refs {
    /// The ids as the document spells them (before any check).
    pub fn collect(doc: &Document) -> Refs {
        fn ids<'a>(items: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
            items.cloned().collect()
        }
        Refs {
            users: ids(doc.users.iter().map(|u| &u.id)),
            agents: doc
                .users
                .iter()
                .map(|u| (u.id.clone(), u.is_agent))
                .collect(),
            dids: ids(doc.dids.iter().map(|d| &d.id)),
            extensions: ids(doc.extensions.iter().map(|e| &e.id)),
            flows: ids(doc.flows.iter().map(|f| &f.id)),
            queues: ids(doc.queues.iter().map(|q| &q.id)),
            schedules: ids(doc.schedules.iter().map(|s| &s.id)),
            voicemail_boxes: ids(doc.voicemail_boxes.iter().map(|v| &v.id)),
            media_files: ids(doc.media_files.iter().map(|m| &m.id)),
        }
    }
}

/// Checks that `id` (at `path`) names a row of `table` (e.g. "queue").
pub fn resolve(path: &str, id: &str, ids: &BTreeSet<String>, table: &str) -> super::check::Checked {
    super::check::id(path, id)?;
    if ids.contains(id) {
        Ok(())
    } else {
        super::check::fail(path, format!("no {table} with id {id}"))
    }
}

/// [`resolve`] for an optional reference.
pub fn resolve_opt(
    path: &str,
    id: &Option<String>,
    ids: &BTreeSet<String>,
    table: &str,
) -> super::check::Checked {
    id.as_deref()
        .map_or(Ok(()), |id| resolve(path, id, ids, table))
}
