//! The media object store and the TTS runner (runtime I/O; every rule about
//! keys, ranges, WAV headers and the prompt catalog is in
//! `sipbrain_core::media`).
//!
//! ```text
//! <media-dir>/
//!   .tmp/<pid>-<shard>-<n>.part     uploads and engine output being written;
//!                                   emptied at every start
//!   system/<lang>/<gender>/<id>.wav TTS prompts
//!   <account>/vm/<callId>.wav       voicemail uploads
//!   …                               any other key, as a path
//! ```
//!
//! An object is written to `.tmp`, fsynced, renamed over its key and the
//! directory fsynced: a reader sees the old object or the new one, and a
//! crash mid-upload leaves at most a temp file, removed at the next start.

pub mod store;
pub mod tts;
