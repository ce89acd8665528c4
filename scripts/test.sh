#!/usr/bin/env bash
# Runs every test of the workspace: unit and property tests of core, and the
# black-box tests in tests/ against the real binary (built first).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace "$@"
