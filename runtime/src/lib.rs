//! The `sipbrain` server as a library: the binary (`main.rs`) and the
//! benchmarks in `benches/` use it. It is glue: CLI and config, the
//! thread-per-core glommio server, and the durable store over the storage
//! crate. Every decision is in `sipbrain-core`.

pub mod cli;
pub mod config;
pub mod demo;
pub mod import;
pub mod media;
pub mod observe;
pub mod offload;
pub mod secret;
pub mod server;
pub mod store;
pub mod webhook;
