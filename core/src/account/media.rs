//! Voicemail boxes and media files (reference §12).

use super::check::{self, Checked, NAME_MAX, TEXT_MAX};
use super::enums::MediaKind;
use super::flag;
use super::refs::{resolve_opt, Refs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A voicemail box. No greeting = the system `vm-greeting` prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailBox {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// A media file of the account.
    #[serde(default)]
    pub greeting_media_id: Option<String>,
    /// Skip the "leave a message after the tone" prompt (default 0).
    #[serde(default, with = "flag")]
    pub skip_instructions: bool,
    /// Storage quota in MB (default 200).
    #[serde(default = "quota")]
    pub quota_mb: u32,
    /// Address told about new messages.
    #[serde(default)]
    pub notify_email: Option<String>,
    /// KV reference of the PIN, never the PIN.
    #[serde(default)]
    pub pin_secret_ref: Option<String>,
}

fn quota() -> u32 {
    200
}

/// A media object of the account (prompt, music on hold, greeting, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFile {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// Default prompt.
    #[serde(default)]
    pub kind: MediaKind,
    /// Key in the media store (`/media/{key}` rules).
    pub object_key: String,
    /// File format (`wav`, `mp3`, …), optional.
    #[serde(default)]
    pub format: Option<String>,
    /// Length of the audio.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// Checks every voicemail box.
pub fn check_voicemail_boxes(boxes: &mut [VoicemailBox], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, vm) in boxes.iter_mut().enumerate() {
        let base = format!("voicemail_boxes[{i}]");
        check::id(&format!("{base}.id"), &vm.id)?;
        check::unique(&mut ids, &vm.id, &format!("{base}.id"), "voicemail box id")?;
        super::validate::owner(&base, &mut vm.account_id, account_id)?;
        check::text(&format!("{base}.name"), &vm.name, NAME_MAX)?;
        let greeting = format!("{base}.greeting_media_id");
        resolve_opt(
            &greeting,
            &vm.greeting_media_id,
            &refs.media_files,
            "media file",
        )?;
        if let Some(email) = &vm.notify_email {
            check::email(&format!("{base}.notify_email"), email)?;
        }
        check::opt_token(
            &format!("{base}.pin_secret_ref"),
            &vm.pin_secret_ref,
            TEXT_MAX,
        )?;
    }
    Ok(())
}

/// Checks every media file.
pub fn check_media_files(files: &mut [MediaFile], account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, file) in files.iter_mut().enumerate() {
        let base = format!("media_files[{i}]");
        check::id(&format!("{base}.id"), &file.id)?;
        check::unique(&mut ids, &file.id, &format!("{base}.id"), "media file id")?;
        super::validate::owner(&base, &mut file.account_id, account_id)?;
        check::text(&format!("{base}.name"), &file.name, NAME_MAX)?;
        check::media_key(&format!("{base}.object_key"), &file.object_key)?;
        check::opt_token(&format!("{base}.format"), &file.format, 16)?;
    }
    Ok(())
}
