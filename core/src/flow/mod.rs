//! Call flows (`POST /flow`, reference §6): one session per call on the
//! account's shard, driven by the media engine's poll loop. [`spec`] types
//! and validates node data, [`engine`] interprets, [`session`] is what is
//! logged, [`sys`] builds the system flows route targets point at.

pub mod engine;
pub mod session;
pub mod spec;
pub mod sys;
pub mod template;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use engine::{Ctx, Stepped};
pub use session::{Phase, Session, Wait, WebhookCall};
pub use spec::NodeSpec;
