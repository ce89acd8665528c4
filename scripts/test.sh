#!/usr/bin/env bash
# Runs every test of the workspace: unit and property tests of core and
# storage, the black-box tests in tests/ against the real binary (built
# first; espeak-ng installed first for the TTS tests), the Kamailio + sipp
# end-to-end test, the simulator's tests (including the planted-bug test),
# and a batch of simulator seeds derived from the commit (SIM_SECONDS,
# default 150; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use (espeak-ng for tests/tests/tts.rs); a no-op
# when they are installed.
./scripts/deps.sh
cargo build --workspace --bins
cargo test --workspace "$@"
# The simulator must catch each planted bug (core and storage compiled with
# the bugs in; never a shipped build).
cargo test -p sim --features planted-bugs --test planted
cargo test -p sipbrain-storage -p sipbrain-core --lib \
  --features sipbrain-storage/planted-bugs,sipbrain-core/planted-bugs
# Real Kamailio and sipp from Debian in front of the brain (installs the
# packages when missing): register, internal, inbound, outbound, CAC 503.
SIPBRAIN_BIN="$PWD/target/debug/sipbrain" ./scripts/kamailio-e2e.sh
# New seeds every commit, each reproducible with `--seed N`.
if [ "${SIM_SECONDS:-150}" != 0 ]; then
  commit="$(git rev-parse HEAD 2>/dev/null || echo uncommitted)"
  cargo run -q -p sim --release -- --commit "$commit" --seconds "${SIM_SECONDS:-150}"
fi
