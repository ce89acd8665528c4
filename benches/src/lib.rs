//! sipbrain's benchmarks. Each is a binary in `src/bin/`; they print a
//! markdown table and the exact command that produced it.
