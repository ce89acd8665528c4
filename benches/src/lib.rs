//! sipbrain's benchmarks. Each is a binary in `src/bin/`; they print a
//! markdown table and the exact command that produced it.
//!
//! - `load` (`src/bin/load.rs`): the HTTP load generator (modules below)
//!   that drives sipbrain, nginx and the axum peer with the same requests.
//! - `axum_peer`: a minimal axum/hyper/tokio server answering those bytes.
//! - `wal_bench`: WAL group commit through the server's own disk.

pub mod driver;
pub mod http;
pub mod report;
pub mod setup;
pub mod sys;
pub mod workload;
