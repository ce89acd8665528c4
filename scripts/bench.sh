#!/usr/bin/env bash
# Benchmarks (BENCHMARKS.md): sipbrain's /route, /auth, /presence/event and
# /flow against nginx (the ceiling) and a minimal axum server, with the same
# load generator, the same requests and the same core budget; then SIP calls
# through Kamailio with static routing (a) and with sipbrain (b).
#
#   scripts/bench.sh             full run (~20 min), writes BENCHMARKS.md
#   scripts/bench.sh --quick     a few seconds per point (smoke run, ~5 min)
#   scripts/bench.sh --http-only | --sip-only
#   scripts/bench.sh --out FILE  write the report elsewhere
#   BENCH_SECONDS=10 BENCH_WARMUP=2 BENCH_SIP_SECONDS=15 scripts/bench.sh   shorter points
#   BENCH_NICE=0 scripts/bench.sh  no priority boost
#
# From a clean Debian 12 machine: installs nginx, kamailio and sipp from
# Debian (root, or sudo), builds the release binaries, runs everything on
# loopback, and stops every process it started. Raw results (JSON, logs)
# stay in target/bench/<time>/. Not part of scripts/test.sh or CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
DO_HTTP=1
DO_SIP=1
OUT="$ROOT/BENCHMARKS.md"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--http-only) DO_SIP=0 ;;
	--sip-only) DO_HTTP=0 ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick] [--http-only|--sip-only] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	WARMUP=1; MEASURE=3; SIP_STEP_S=6; SIP_RATES="100 200 400"
else
	WARMUP=3; MEASURE=15; SIP_STEP_S=20; SIP_RATES="100 200 300 400 600 800 1000 1200"
fi
# Overrides: BENCH_WARMUP / BENCH_SECONDS (per HTTP run), BENCH_SIP_SECONDS (per rate).
WARMUP=${BENCH_WARMUP:-$WARMUP}
MEASURE=${BENCH_SECONDS:-$MEASURE}
SIP_STEP_S=${BENCH_SIP_SECONDS:-$SIP_STEP_S}
CONNS=64          # connections of every HTTP run
DEPTH=16          # pipelining depth of the peak run
OPEN_DEPTH=4      # open loop: in flight per connection when all are busy
MIXED="route=4,auth=2,presence=1"
ADMIN=bench-admin-token-0001
EDGE=bench-edge-token-00001
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$ROOT/target/bench/$STAMP"
mkdir -p "$RESULTS"
CORES=$(nproc)
SERVER_CPU=0
CLIENT_CPU=$((CORES - 1))
PIDS=()
# Measured processes run at a higher priority than background work (other
# builds on a shared machine take less from them); root only.
NICE=()
[ "$(id -u)" = 0 ] && NICE=(nice -n "${BENCH_NICE:--10}")

log() { printf '[bench] %s\n' "$*" >&2; }
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	[ -f "$RESULTS/kamailio.pid" ] && kill "$(cat "$RESULTS/kamailio.pid")" 2>/dev/null || true
	rm -rf "$RESULTS/data-"* /dev/shm/sipbrain-bench-"$STAMP" 2>/dev/null || true
}
trap cleanup EXIT
stop() { # stop PID: TERM, wait, forget
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() pid
	for pid in "${PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
	PIDS=("${keep[@]}")
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT PID
	local deadline=$((SECONDS + 30))
	until ss -ltn | grep -q "127.0.0.1:$1 "; do
		kill -0 "$2" 2>/dev/null || { log "process $2 exited before listening on $1"; return 1; }
		[ $SECONDS -lt $deadline ] || { log "nothing listens on $1"; return 1; }
		sleep 0.1
	done
}

# --- packages and binaries -----------------------------------------------
need=()
pkgs=()
[ "$DO_HTTP" = 1 ] && pkgs+=(nginx)
[ "$DO_SIP" = 1 ] && pkgs+=(kamailio kamailio-extra-modules kamailio-json-modules kamailio-utils-modules sip-tester)
for p in "${pkgs[@]}" curl python3; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
log "building release binaries"
(cd "$ROOT" && cargo build --release -q -p sipbrain -p sipbrain-benches --bin sipbrain --bin load --bin axum_peer)
BIN="$ROOT/target/release/sipbrain"
LOAD="$ROOT/target/release/load"
AXUM="$ROOT/target/release/axum_peer"
REPLY="$ROOT/benches/peers/reply.json"

# --- the machine ------------------------------------------------------------
{
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD || echo ' (with local changes)')"
	echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $CORES cores; memory $(free -g | awk '/Mem:/{print $2}') GiB; kernel $(uname -r)"
	echo "- WAL disk: $(df -T "$ROOT/target" | awk 'NR==2{print $2" on "$1}'); tmpfs data dir: /dev/shm"
	echo "- load before the run: $(uptime | sed 's/.*load average/load average/')"
	echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(kamailio -v 2>/dev/null | head -1 | cut -d' ' -f1-3 || echo 'kamailio: not installed'), sipp $(sipp -v 2>/dev/null | grep -o 'v[0-9.]*' | head -1 || true), $(rustc --version | cut -d' ' -f1-2)"
	echo "- pinning: servers on CPU $SERVER_CPU (sipbrain --shards 2 on CPUs 0 and 1), load generator on CPU $CLIENT_CPU; measured processes at nice ${NICE[2]:-0}"
} >"$RESULTS/machine.md"

# --- HTTP peers -------------------------------------------------------------
# sweep PEER MIX PORT NOTE [extra load args…]: peak (closed loop, pipelined),
# no pipelining, then open loop at 50% and 90% of the peak.
sweep() {
	local peer=$1 mix=$2 port=$3 note=$4; shift 4
	log "$peer, mix $mix"
	"${NICE[@]}" taskset -c "$CLIENT_CPU" "$LOAD" sweep --peer "$peer" --mix "$mix" --note="$note" \
		--target "127.0.0.1:$port" --cpu "$CLIENT_CPU" --warmup "$WARMUP" --seconds "$MEASURE" \
		--connections "$CONNS" --depth "$DEPTH" --open-depth "$OPEN_DEPTH" \
		--admin-token "$ADMIN" --edge-token "$EDGE" \
		--json-out "$RESULTS/$peer-${mix//[=,]/_}.json" "$@" 2>>"$RESULTS/load.log"
	tail -n 4 "$RESULTS/load.log" >&2
}

run_nginx() {
	local port dir cpumask pid worker
	port=$(free_port)
	dir="$RESULTS/nginx"
	mkdir -p "$dir"
	cpumask=$(python3 -c "print(format(1 << $SERVER_CPU, 'b'))")
	sed -e "s|@CPUMASK@|$cpumask|" -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|" \
		-e "s|@BODY@|$(tr -d '\n' <"$REPLY")|" "$ROOT/benches/peers/nginx.conf.in" >"$dir/nginx.conf"
	"${NICE[@]}" nginx -p "$dir" -c "$dir/nginx.conf" 2>"$dir/stderr.log" &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" "$pid"
	worker=$(pgrep -P "$pid" | head -1)
	sweep nginx route "$port" "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), 1 worker pinned, \`return 200\` of the same bytes" \
		--server-pid "$pid" --server-pid "$worker"
	stop "$pid"
}

run_axum() {
	local port pid
	port=$(free_port)
	"${NICE[@]}" "$AXUM" --listen "127.0.0.1:$port" --cpu "$SERVER_CPU" --body "$REPLY" >"$RESULTS/axum.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" "$pid"
	sweep axum route "$port" "axum 0.8 on hyper 1 and a tokio current-thread runtime, pinned" --server-pid "$pid"
	stop "$pid"
}

# brain NAME SHARDS DATA_DIR MIXES NOTE: start sipbrain --demo, sweep each mix.
brain() {
	local name=$1 shards=$2 data=$3 mixes=$4 note=$5 port pid mix
	port=$(free_port)
	rm -rf "$data"
	"${NICE[@]}" "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" --shards "$shards" --demo \
		--admin-token "$ADMIN" --edge-token "$EDGE" >"$RESULTS/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" "$pid"
	for mix in $mixes; do
		sweep "$name" "$mix" "$port" "$note" --server-pid "$pid" --setup
	done
	stop "$pid"
	rm -rf "$data"
}

if [ "$DO_HTTP" = 1 ]; then
	run_nginx
	run_axum
	brain sipbrain-wal 1 "$RESULTS/data-wal" "route auth presence flow $MIXED" \
		"--shards 1, WAL on $(df -T "$ROOT/target" | awk 'NR==2{print $2}') (write + fdatasync per group commit)"
	brain sipbrain-tmpfs 1 "/dev/shm/sipbrain-bench-$STAMP" route "--shards 1, data dir on tmpfs (fdatasync is free)"
	brain sipbrain-shards2 2 "$RESULTS/data-wal2" route \
		"--shards 2 (both cores: shares CPU $CLIENT_CPU with the load generator on a 2-core machine), WAL on disk"
	"$LOAD" report "$RESULTS"/*.json >"$RESULTS/http.md"
fi

# --- SIP: Kamailio + sipp -----------------------------------------------------
T="$ROOT/tests/kamailio"
K="$ROOT/benches/kamailio"
KAM_PORT=5060
KAM_WORKERS=${BENCH_KAMAILIO_WORKERS:-4}
DOMAIN=e2e.sip.test

# kamailio_start CFG ARGS…: Kamailio pinned to the server CPU, KAM_WORKERS
# UDP workers (BENCH_KAMAILIO_WORKERS, 4 by default: the example config's).
kamailio_start() {
	local cfg=$1; shift
	rm -f "$RESULTS/kamailio.pid"
	"${NICE[@]}" taskset -c "$SERVER_CPU" kamailio -f "$cfg" -DD -E -n "$KAM_WORKERS" -m 256 -M 16 -Y "$RESULTS" -P "$RESULTS/kamailio.pid" \
		-A "LISTEN=udp:127.0.0.1:$KAM_PORT" -A "SIP_DOMAIN=$DOMAIN" "$@" >"$RESULTS/kamailio-$VARIANT.log" 2>&1 &
	KAM_PID=$!
	PIDS+=("$KAM_PID")
	local deadline=$((SECONDS + 20))
	until ss -lun | grep -q "127.0.0.1:$KAM_PORT "; do
		[ $SECONDS -lt $deadline ] || { log "kamailio not listening"; return 1; }
		sleep 0.2
	done
	sleep 1
}

# cpu_ticks PID…: the CPU time (user + system, in clock ticks) the given
# processes have used so far.
cpu_ticks() {
	local pid total=0 t
	for pid in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
		total=$((total + t))
	done
	echo "$total"
}

# sip_ladder: sipp calls 1001 -> 1002 at each rate of SIP_RATES for
# SIP_STEP_S seconds; one row per rate in $RESULTS/sip-$VARIANT.tsv, with
# the server CPU's time per call: Kamailio's processes and the brain's
# ($BRAIN_PID, when set).
sip_ladder() {
	local uas rate calls dir start end ok failed p50 p99 achieved kam0 kam1 brain0 brain1 hz kam_ms brain_ms
	hz=$(getconf CLK_TCK)
	(cd "$RESULTS" && exec "${NICE[@]}" taskset -c "$CLIENT_CPU" sipp -i 127.0.0.1 -p 5070 -sf "$T/uas.xml" -nostdin \
		>"$RESULTS/uas-$VARIANT.out" 2>&1) &
	uas=$!
	PIDS+=("$uas")
	sleep 0.5
	printf 'rate\tcalls\tok\tfailed\tachieved\tp50_ms\tp99_ms\tkamailio_cpu_ms_per_call\tbrain_cpu_ms_per_call\n' >"$RESULTS/sip-$VARIANT.tsv"
	for rate in $SIP_RATES; do
		calls=$((rate * SIP_STEP_S))
		dir="$RESULTS/sipp-$VARIANT-$rate"
		mkdir -p "$dir"
		start=$(date +%s.%N)
		kam0=$(cpu_ticks $(pgrep -x kamailio)); brain0=$(cpu_ticks ${BRAIN_PID:-})
		(cd "$dir" && "${NICE[@]}" taskset -c "$CLIENT_CPU" sipp -i 127.0.0.1 -p 5071 -sf "$K/uac-call.xml" -inf "$T/alice.csv" \
			-au 1001 -ap alice-e2e-1001 -s 1002 -r "$rate" -m "$calls" -l $((rate * 2 + 50)) \
			-timeout $((SIP_STEP_S + 60))s -nostdin -trace_rtt -rtt_freq 100 -trace_stat -fd 1 \
			"127.0.0.1:$KAM_PORT" >sipp.out 2>&1) || true
		end=$(date +%s.%N)
		kam1=$(cpu_ticks $(pgrep -x kamailio)); brain1=$(cpu_ticks ${BRAIN_PID:-})
		read -r ok failed < <(awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print $s+0, $f+0}' "$dir"/uac-call_*_.csv 2>/dev/null || echo "0 0")
		read -r p50 p99 < <(cat "$dir"/uac-call_*_rtt.csv 2>/dev/null | awk -F';' 'NR>1 && $2+0>0 {print $2}' | sort -g |
			awk '{v[NR]=$1} END{if(NR==0){print "- -"}else{i50=int(NR*0.5);i99=int(NR*0.99);if(i50<1)i50=1;if(i99<1)i99=1;printf "%.2f %.2f\n", v[i50], v[i99]}}')
		achieved=$(python3 -c "print(f'{$ok / ($end - $start):.0f}')")
		kam_ms=$(python3 -c "print(f'{($kam1 - $kam0) * 1000 / $hz / max($ok, 1):.2f}')")
		brain_ms=$(python3 -c "print(f'{($brain1 - $brain0) * 1000 / $hz / max($ok, 1):.2f}' if ${BRAIN_PID:-0} else '-')")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$calls" "$ok" "$failed" "$achieved" "$p50" "$p99" "$kam_ms" "$brain_ms" >>"$RESULTS/sip-$VARIANT.tsv"
		log "SIP $VARIANT @$rate cps: $ok ok, $failed failed, $achieved calls/s achieved, set-up p50 $p50 ms p99 $p99 ms, CPU per call: kamailio $kam_ms ms, brain $brain_ms ms"
		if [ "$failed" -gt $((calls / 100)) ]; then break; fi
	done
	stop "$uas"
}

if [ "$DO_SIP" = 1 ]; then
	# (a) static local routing.
	VARIANT=static
	kamailio_start "$K/static.cfg" -A 'PASSWORD="alice-e2e-1001"' -A 'CALLEE="sip:127.0.0.1:5070"'
	sip_ladder
	stop "$KAM_PID"; kill "$(cat "$RESULTS/kamailio.pid" 2>/dev/null)" 2>/dev/null || true; sleep 1

	# (b) /auth + /route (+ /presence/event) against sipbrain (WAL on, --shards 1).
	VARIANT=brain
	BRAIN_PORT=$(free_port)
	"${NICE[@]}" taskset -c "$SERVER_CPU" "$BIN" serve --listen "127.0.0.1:$BRAIN_PORT" --data-dir "$RESULTS/data-sip" --shards 1 \
		--admin-token "$ADMIN" --edge-token "$EDGE" >"$RESULTS/sipbrain-sip.log" 2>&1 &
	BRAIN_PID=$!
	PIDS+=("$BRAIN_PID")
	wait_port "$BRAIN_PORT" "$BRAIN_PID"
	until curl -sf "http://127.0.0.1:$BRAIN_PORT/readyz" >/dev/null; do sleep 0.2; done
	curl -sf -o /dev/null -X PUT "http://127.0.0.1:$BRAIN_PORT/admin/accounts/acc_e2e" -H "x-admin-token: $ADMIN" \
		-H 'content-type: application/json' --data-binary @"$T/account.json"
	kamailio_start "$ROOT/examples/kamailio/kamailio.cfg" -A "BRAIN_CON=\"brain=>http://edge:$EDGE@127.0.0.1:$BRAIN_PORT\"" \
		-A 'MEDIA_ENGINE="sip:127.0.0.1:5080"' -A 'NODE="bench-edge"'
	# 1002 registers from the UAS's port, so the brain proxies calls there.
	(cd "$RESULTS" && sipp -i 127.0.0.1 -p 5070 -m 1 -timeout 10s -timeout_error -nostdin -sf "$T/register.xml" \
		-inf "$T/bob.csv" -au 1002 -ap bob-e2e-1002 "127.0.0.1:$KAM_PORT" >"$RESULTS/register.out" 2>&1)
	sip_ladder
	stop "$KAM_PID"; kill "$(cat "$RESULTS/kamailio.pid" 2>/dev/null)" 2>/dev/null || true
	stop "$BRAIN_PID"
	python3 - "$RESULTS" >"$RESULTS/sip.md" <<'EOF'
import csv, sys
d = sys.argv[1]
def rows(v):
    with open(f"{d}/sip-{v}.tsv") as f:
        return list(csv.DictReader(f, delimiter="\t"))
best = {}
print("| variant | offered calls/s | calls | ok | failed | achieved calls/s | set-up p50 ms | set-up p99 ms | Kamailio CPU ms/call | brain CPU ms/call |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for v, name in (("static", "(a) static routing"), ("brain", "(b) sipbrain /auth + /route")):
    for r in rows(v):
        print(f"| {name} | {r['rate']} | {r['calls']} | {r['ok']} | {r['failed']} | {r['achieved']} | {r['p50_ms']} | {r['p99_ms']} | {r['kamailio_cpu_ms_per_call']} | {r['brain_cpu_ms_per_call']} |")
        calls, ok, failed = int(r["calls"]), int(r["ok"]), int(r["failed"])
        if failed <= calls // 100 and ok >= calls * 0.99:
            best[v] = max(best.get(v, 0), int(r["achieved"]))
a, b = best.get("static", 0), best.get("brain", 0)
print()
print(f"Highest rate sustained (≤ 1% failed calls): (a) {a} calls/s, (b) {b} calls/s"
      + (f"; (b)/(a) = {b / a:.2f}" if a else "") + ".")
EOF
fi

# --- the report ---------------------------------------------------------------
{
	cat <<EOF
# Benchmarks

Written by \`$(env | grep -o '^BENCH_[A-Z_]*=[^ ]*' | tr '\n' ' ')scripts/bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')\` (raw JSON and logs: \`target/bench/$STAMP/\`).
Re-run it on a quiet machine before trusting a number: every point below is
one run, and $([ "$QUICK" = 1 ] && echo "a quick run measures only $MEASURE s per point." || echo "each point is $MEASURE s after $WARMUP s of warm-up.")

## The machine

$(cat "$RESULTS/machine.md")
- load after the run: $(uptime | sed 's/.*load average/load average/')

EOF
	if [ -f "$RESULTS/http.md" ]; then
		cat <<EOF
## HTTP: sipbrain against nginx and axum

Same load generator (\`benches/src/bin/load.rs\`), same requests, same
connections ($CONNS), server on CPU $SERVER_CPU and client on CPU $CLIENT_CPU. The
\`route\` mix is a call: \`/route\` (inbound to a DID, internal, outbound; 50
accounts × 20 users, a fresh callId each) then its \`dialog terminated\`
report; nginx and axum get exactly these requests and answer each with the
bytes of \`benches/peers/reply.json\`. Per peer: the **peak** is a closed
loop with $DEPTH requests pipelined per connection (one client core cannot
saturate nginx without pipelining); **no pipelining** is a closed loop with
one request in flight per connection; **at 50% / 90%** are open loops at
that share of the peak, latency measured from each request's intended send
time (up to $OPEN_DEPTH pipelined per connection once all are busy). CPU is
in cores (1.00 = one core busy). A non-2xx is never counted as a success:
the second table gives every status per request kind.

$(cat "$RESULTS/http.md")

Mixes: \`route\`; \`auth\` = REGISTER with a valid MD5 digest (brain nonce,
fresh nc); \`presence\` = registration refresh; \`flow\` = \`/flow\` start on
the demo account's \`flow_main\` and three steps (digit:1, poll, hangup);
\`$MIXED\` = those units by weight.

EOF
	fi
	if [ -f "$RESULTS/sip.md" ]; then
		cat <<EOF
## SIP: Kamailio with static routing (a) and with sipbrain (b)

sipp (\`benches/kamailio/uac-call.xml\`) places calls 1001 → 1002 through
Kamailio 5.6 ($SIP_STEP_S s per rate, rates up to the first with > 1%
failed calls; a failed call is mostly sipp seeing a retransmission it did
not expect once the machine is saturated): INVITE, 407, INVITE with digest, 180, 200, ACK, BYE. The
callee is a sipp UAS (\`tests/kamailio/uas.xml\`). (a)
\`benches/kamailio/static.cfg\`: digest checked in Kamailio against a static
password, static destination. (b) \`examples/kamailio/kamailio.cfg\`: the
challenge and digest through \`/auth\`, \`/route\`, and the early, confirmed
and terminated reports to \`/presence/event\` (6 brain requests per call),
sipbrain \`--shards 1\` with the WAL on disk. Kamailio ($KAM_WORKERS workers) and
sipbrain on CPU $SERVER_CPU, both sipps on CPU $CLIENT_CPU. Set-up time: first
INVITE sent → 200 received, as sipp measures it (rtd).

$(cat "$RESULTS/sip.md")

EOF
	fi
	cat <<EOF
## Commands

\`\`\`sh
$(env | grep -o '^BENCH_[A-Z_]*=[^ ]*' | tr '\n' ' ')scripts/bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')
# one peer by hand (sipbrain started with --demo and the bench tokens):
target/release/load sweep --peer sipbrain-wal --mix route --target 127.0.0.1:8080 --setup \\
  --cpu $CLIENT_CPU --server-pid \$(pgrep -n sipbrain) --connections $CONNS --depth $DEPTH --open-depth $OPEN_DEPTH \\
  --warmup $WARMUP --seconds $MEASURE --json-out sipbrain-wal-route.json
target/release/load report *.json
\`\`\`

EOF
	cat "$ROOT/benches/ANALYSIS.md"
} >"$OUT"
log "wrote $OUT"
