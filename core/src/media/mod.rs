//! The media store's rules, without the store: object keys, content types,
//! byte ranges, WAV headers, voicemail messages and the TTS prompt catalog.
//!
//! The runtime keeps the objects (files under `--media-dir`, written to a
//! temp file, fsynced and renamed) and runs the TTS engine; every decision
//! about what a key may be, what a `Range` header asks for, how long a WAV
//! lasts or which voice reads which text is a pure function here, tested
//! beside it.

pub mod key;
pub mod mime;
pub mod range;
pub mod tts;
pub mod voicemail;
pub mod wav;
