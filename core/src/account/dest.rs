//! Route targets: every `<name>_kind` / `<name>_id` pair of the document
//! (`dest_*`, `closed_dest_*`, `holiday_dest_*`, queue exits, user
//! forwards, `did_default_dest_*`), checked one way everywhere.
//!
//! | kind | `_id` must be |
//! |---|---|
//! | `flow`, `user`, `extension`, `queue`, `voicemail` | the id of a row of that table (extension by id) |
//! | `ring_group`, `conference` | any valid id (no table in the document: they are created on demand) |
//! | `forward` | a phone number; stored normalized (E.164 digits) |
//! | `hangup` | absent, or any valid id |
//!
//! An `_id` without its `_kind` is refused.

use super::check::{self, fail, join, Checked};
use super::enums::DestKind;
use super::refs::{resolve, Refs};

/// Checks one target pair of the entity at `base`: fields `{name}_kind`
/// and `{name}_id` (`name` = "dest", "closed_dest", "fwd_busy", …).
pub fn check(
    refs: &Refs,
    base: &str,
    name: &str,
    kind: Option<DestKind>,
    id: &mut Option<String>,
) -> Checked {
    let kind_field = format!("{name}_kind");
    let path = join(base, &format!("{name}_id"));
    let Some(kind) = kind else {
        return match id {
            Some(_) => fail(path, format!("set without `{kind_field}`")),
            None => Ok(()),
        };
    };
    let Some(value) = id.as_mut() else {
        return match kind {
            DestKind::Hangup => Ok(()),
            _ => fail(
                path,
                format!("required when `{kind_field}` is {}", kind.as_str()),
            ),
        };
    };
    match kind {
        DestKind::Flow => resolve(&path, value, &refs.flows, "flow"),
        DestKind::User => resolve(&path, value, &refs.users, "user"),
        DestKind::Extension => resolve(&path, value, &refs.extensions, "extension"),
        DestKind::Queue => resolve(&path, value, &refs.queues, "queue"),
        DestKind::Voicemail => resolve(&path, value, &refs.voicemail_boxes, "voicemail box"),
        DestKind::RingGroup | DestKind::Conference | DestKind::Hangup => check::id(&path, value),
        DestKind::Forward => check::number(&path, value),
    }
}

/// A `dest_xform` object `{var: value}`: at most 64 entries, keys 1..64
/// chars of `[A-Za-z0-9_]`, values strings (≤ 1024 bytes), numbers,
/// booleans or null — they become flow variables.
pub fn xform(base: &str, value: &Option<serde_json::Map<String, serde_json::Value>>) -> Checked {
    let Some(map) = value else { return Ok(()) };
    let path = join(base, "dest_xform");
    check::count(&path, map.len(), check::XFORM_ENTRIES_MAX)?;
    for (key, value) in map {
        let entry = format!("{path}.{key}");
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            return fail(
                join(&path, &check::shorten(key)),
                "variable names are 1..64 chars of [A-Za-z0-9_]",
            );
        }
        match value {
            serde_json::Value::String(text) => check::text(&entry, text, check::TEXT_MAX)?,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return fail(entry, "values are strings, numbers, booleans or null")
            }
            _ => {}
        }
    }
    Ok(())
}
