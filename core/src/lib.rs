//! sipbrain-core: the whole brain as deterministic, sans-IO state machines.
//!
//! # Overview
//! The runtime (glommio, sockets, files, clocks) feeds this crate bytes,
//! time and randomness; this crate answers with replies and events. Nothing
//! here reads a clock, touches a file or socket, spawns a thread or draws
//! entropy of its own, so the simulator can drive the very same code.
//!
//! # Run loop
//! 1. [`http::Parser`] turns bytes from a connection into [`http::Request`]s.
//! 2. [`api::Call::from_request`] routes a request to an endpoint, checks its
//!    gate ([`api::gate`]) and decodes its body into a typed call.
//! 3. The caller finds the owning shard with [`api::Call::key`] and the
//!    directory ([`directory::Directory`]) every shard holds.
//! 4. On that shard, [`shard::Shard::decide`] reads state and returns the
//!    reply plus the events (facts) that make the change; the caller logs
//!    the events, then runs [`shard::Shard::apply`] on each, in order. `apply`
//!    is the only code that mutates a shard.
//!
//! # Time and randomness
//! `now` is epoch milliseconds ([`time::Millis`]) passed in by the caller,
//! never read here. Randomness comes from an RNG the caller seeds.
//!
//! # Errors versus bugs
//! Bad input becomes a typed 4xx reply and never panics. A broken internal
//! invariant panics with a message saying why it should have held.

pub mod account;
pub mod acd;
pub mod api;
pub mod auth;
pub mod cac;
pub mod calls;
pub mod debug;
pub mod directory;
pub mod event;
pub mod flow;
pub mod hours;
pub mod http;
pub mod limits;
pub mod media;
pub mod number;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod presence;
pub mod route;
pub mod security;
pub mod shard;
#[cfg(test)]
mod testkit;
pub mod time;
