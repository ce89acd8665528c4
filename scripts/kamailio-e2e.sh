#!/usr/bin/env bash
# End-to-end test: sipbrain + Debian's Kamailio 5.6 (examples/kamailio/kamailio.cfg)
# + sipp, all on loopback. Exits non-zero on the first failed step.
#   scripts/kamailio-e2e.sh            (root or sudo-less apt needed only if packages are missing)
# Env: SIPBRAIN_BIN (default target/release/sipbrain), KEEP_LOGS=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
T="$ROOT/tests/kamailio"
CFG="$ROOT/examples/kamailio/kamailio.cfg"
BIN=${SIPBRAIN_BIN:-$ROOT/target/release/sipbrain}
ADMIN=e2e-admin-token-0000001
EDGE=e2e-edge-token-00000001
KAM_PORT=5060
DOMAIN=e2e.sip.test
WORK=$(mktemp -d /tmp/kamailio-e2e.XXXXXX)
PIDS=()

log() { printf '[kamailio-e2e] %s\n' "$*"; }
fail() {
	log "FAIL: $*"
	for f in "$WORK"/*_errors.log "$WORK"/*.out; do
		[ -s "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }
	done
	echo "---- kamailio log"; tail -n 80 "$WORK/kamailio.log" 2>/dev/null || true
	echo "---- sipbrain log"; tail -n 30 "$WORK/sipbrain.log" 2>/dev/null || true
	exit 1
}
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -f "$WORK/kamailio.pid" ]; then kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true; fi
	if [ "${KEEP_LOGS:-0}" = 1 ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- packages -------------------------------------------------------------
need=()
for p in kamailio kamailio-extra-modules kamailio-json-modules kamailio-utils-modules sip-tester; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v sipp >/dev/null || fail "sipp not found"

# --- sipbrain -------------------------------------------------------------
if [ ! -x "$BIN" ]; then
	log "building sipbrain (release)"
	(cd "$ROOT" && cargo build --release -p sipbrain)
fi
free_tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BRAIN_PORT=$(free_tcp_port)
BRAIN="http://127.0.0.1:$BRAIN_PORT"
"$BIN" serve --listen "127.0.0.1:$BRAIN_PORT" --data-dir "$WORK/data" --shards 2 \
	--admin-token "$ADMIN" --edge-token "$EDGE" >"$WORK/sipbrain.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 30))
until curl -sf "$BRAIN/readyz" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "sipbrain not ready on $BRAIN"
	sleep 0.2
done
log "sipbrain ready on $BRAIN"
code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT "$BRAIN/admin/accounts/acc_e2e" \
	-H "x-admin-token: $ADMIN" -H 'content-type: application/json' --data-binary @"$T/account.json")
[ "$code" = 200 ] || fail "account load: $code $(cat "$WORK/put.out")"
log "account acc_e2e loaded"

# --- kamailio -------------------------------------------------------------
kamailio -c -f "$CFG" >"$WORK/kamailio-check.log" 2>&1 || { cat "$WORK/kamailio-check.log"; fail "kamailio -c"; }
kamailio -f "$CFG" -DD -E -n 2 -m 64 -M 8 -Y "$WORK" -P "$WORK/kamailio.pid" \
	-A "BRAIN_CON=\"brain=>http://edge:$EDGE@${BRAIN#http://}\"" -A 'MEDIA_ENGINE="sip:127.0.0.1:5080"' \
	-A 'NODE="e2e-edge"' -A "LISTEN=udp:127.0.0.1:$KAM_PORT" -A "SIP_DOMAIN=$DOMAIN" \
	>"$WORK/kamailio.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 20))
until grep -q "startup sync\|epoch" "$WORK/kamailio.log" && ss -lun | grep -q "127.0.0.1:$KAM_PORT "; do
	[ $SECONDS -lt $deadline ] || fail "kamailio not listening on $KAM_PORT"
	kill -0 "${PIDS[-1]}" 2>/dev/null || fail "kamailio exited"
	sleep 0.2
done
log "kamailio listening on 127.0.0.1:$KAM_PORT"

# --- sipp helpers ---------------------------------------------------------
# run NAME sipp-args...: one call, 20 s timeout, errors traced in $WORK.
run() {
	local name=$1; shift
	(cd "$WORK" && sipp -i 127.0.0.1 -m 1 -timeout 20s -timeout_error -nostdin -trace_err \
		-error_file "$WORK/${name}_errors.log" "$@" >"$WORK/$name.out" 2>&1)
}
# uas NAME PORT SCENARIO: start a sipp UAS in the background, wait until it listens.
uas() {
	local name=$1 port=$2 sf=$3
	(cd "$WORK" && exec sipp -i 127.0.0.1 -p "$port" -m 1 -timeout 30s -timeout_error -nostdin -trace_err \
		-error_file "$WORK/${name}_errors.log" -sf "$T/$sf" >"$WORK/$name.out" 2>&1) &
	PIDS+=($!)
	UAS_PID=$!
	local deadline=$((SECONDS + 10))
	until ss -lun | grep -q "127.0.0.1:$port "; do
		[ $SECONDS -lt $deadline ] || fail "$name not listening on $port"
		sleep 0.1
	done
}
wait_uas() { wait "$1" || fail "$2 (sipp UAS exit $?)"; }
KAM=127.0.0.1:$KAM_PORT
cac() { curl -s "$BRAIN/cac?accountId=acc_e2e" -H "x-admin-token: $ADMIN"; }

# (a) REGISTER 1002: right password 200; wrong password 401/403.
run reg-wrong -sf "$T/register-fail.xml" -inf "$T/bob.csv" -au 1002 -ap not-bobs-password -p 5072 "$KAM" || fail "(a) REGISTER with a wrong password was not refused"
log "(a) REGISTER 1002 with a wrong password: refused"
run reg-bob -sf "$T/register.xml" -inf "$T/bob.csv" -au 1002 -ap bob-e2e-1002 -p 5070 "$KAM" || fail "(a) REGISTER 1002"
log "(a) REGISTER 1002 (digest via /auth): 200"

# (b) internal call 1001 -> 1002 (407 digest), answered, BYE.
uas bob 5070 uas.xml; BOB=$UAS_PID
run call-internal -sf "$T/uac-auth.xml" -inf "$T/alice.csv" -au 1001 -ap alice-e2e-1001 -p 5071 -s 1002 -d 500 "$KAM" || fail "(b) call 1001 -> 1002"
wait_uas "$BOB" "(b) 1002 did not get the whole call"
log "(b) 1001 -> 1002: 407, authenticated INVITE, 200, BYE"

# (c) carrier -> DID 15550001000 (flow) -> media engine on 5080.
uas media 5080 media-uas.xml; MEDIA=$UAS_PID
run call-inbound -sf "$T/carrier-uac.xml" -p 5073 -s 15550001000 -d 500 "$KAM" || fail "(c) inbound call to the flow DID"
wait_uas "$MEDIA" "(c) the media engine did not get the whole call"
log "(c) carrier -> DID 15550001000: relayed to the media engine with X-Account-Id/X-Flow-Id"

# (d) outbound 1001 -> 12025550199 via the trunk (carrier on 5090), held
# while (e) a second outbound call gets 503 (max_out 1).
uas carrier 5090 carrier-uas.xml; CARRIER=$UAS_PID
run call-outbound -sf "$T/uac-auth.xml" -inf "$T/alice.csv" -au 1001 -ap alice-e2e-1001 -p 5074 -s 12025550199 -d 10000 "$KAM" &
OUT=$!; PIDS+=($OUT)
deadline=$((SECONDS + 15))
until cac | grep -q '"out":1'; do
	[ $SECONDS -lt $deadline ] || fail "(d) the outbound call never counted in /cac: $(cac)"
	kill -0 "$OUT" 2>/dev/null || fail "(d) the outbound call ended early"
	sleep 0.2
done
log "(d) 1001 -> 12025550199 up through the trunk (caller-ID 15550001001); /cac out=1"
run call-503 -sf "$T/uac-auth-503.xml" -inf "$T/alice.csv" -au 1001 -ap alice-e2e-1001 -p 5075 -s 12025550198 "$KAM" || fail "(e) second outbound call not refused with 503"
kill -0 "$OUT" 2>/dev/null || fail "(e) the first outbound call was no longer up when the second was refused"
log "(e) second outbound call while the first is up: 503 (cac:max_out)"
wait "$OUT" || fail "(d) outbound call"
wait_uas "$CARRIER" "(d) the carrier did not get the whole call"
log "(d) outbound call ended with BYE"

# (f) every call over: no counters, nothing active.
deadline=$((SECONDS + 10))
until cac | grep -q '"counters":{"in":0,"out":0,"dialer":0,"users":{},"dids":{},"trunks":{}}' && cac | grep -q '"active":\[\]'; do
	[ $SECONDS -lt $deadline ] || fail "(f) /cac not back to zero: $(cac)"
	sleep 0.2
done
log "(f) /cac: zero counters, no active call"
log "PASS"
