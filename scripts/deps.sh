#!/usr/bin/env bash
# Installs the Debian packages the tests need beyond a Rust toolchain:
# espeak-ng, the default TTS engine (POST /admin/tts/generate and
# tests/tests/tts.rs). Does nothing when they are already there.
#   scripts/deps.sh            (root, or sudo, only when a package is missing)
set -euo pipefail
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ ${#need[@]} -gt 0 ]; then
	echo "[deps] installing ${need[*]}"
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v espeak-ng >/dev/null 2>&1 || { echo "[deps] espeak-ng is still missing" >&2; exit 1; }
