//! SIP digest authentication (RFC 2617, RFC 7616), pure functions and the
//! bounded per-shard state /auth keeps (replayed nonces, failures per IP).
//!
//! The request handler lives in [`crate::api::auth`]; this module holds the
//! mathematics and the data structures it stands on.

pub mod digest;
pub mod failures;
pub mod header;
pub mod nonce;
pub mod replay;
