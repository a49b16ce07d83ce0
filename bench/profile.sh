#!/usr/bin/env bash
# profile.sh - instructions per delivered message, counted by callgrind.
#
#   bench/profile.sh [JUNCTION_BINARY] [-- JBENCH_OPTIONS...]
#
# Wall-clock throughput on a shared two-core machine is noisy; an
# instruction count is not (callgrind counts the same for the same
# binary and input whatever else the machine does). This runs the broker
# under callgrind twice - once idle, once under a jbench load - and
# prints the difference divided by the messages delivered, so start-up
# and shutdown cancel out. The figure depends a little on how many
# messages share a loop turn (callgrind slows the broker about 50x, so
# turns are small): compare binaries with the same options, not across
# options. Optimisations in bench/RESULTS.md quote it.
#
# Default load: 4 QoS 1 pairs, 64-byte payloads, 5 s. Set KEEP=FILE to
# keep the loaded run's callgrind.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
BIN=$BUILD/junction
if [ $# -gt 0 ] && [ "$1" != -- ]; then
	BIN=$1
	shift
fi
[ "${1:-}" = -- ] && shift
LOAD=("$@")
[ ${#LOAD[@]} -gt 0 ] || LOAD=(--qos 1 --pubs 4 --size 64 --duration 5 --warmup 0)

command -v valgrind >/dev/null || {
	echo "profile.sh: needs valgrind (apt-get install valgrind)" >&2
	exit 2
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jprofile.XXXXXX")
VG_PID=
cleanup() {
	[ -n "$VG_PID" ] && kill "$VG_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
printf 'listener 0 127.0.0.1\nallow_anonymous true\npersistence false\n' \
    >"$WORK/junction.conf"

# run TAG [JBENCH_OPTIONS...]: the broker under callgrind, loaded or not.
run() {
	local tag=$1 port
	shift
	valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$tag" \
	    "$BIN" -c "$WORK/junction.conf" >"$WORK/log.$tag" 2>&1 &
	VG_PID=$!
	for _ in $(seq 600); do
		grep -q 'listening on' "$WORK/log.$tag" && break
		sleep 0.1 # valgrind start-up; polling a log, not a test
	done
	port=$(sed -nE 's/.*listening on 127\.0\.0\.1:([0-9]+).*/\1/p' \
	    "$WORK/log.$tag" | head -n 1)
	[ -n "$port" ] || {
		echo "profile.sh: broker did not start" >&2
		exit 1
	}
	if [ "$tag" = load ]; then
		"$BUILD/jbench" --port "$port" "$@" >"$WORK/jbench.out"
	fi
	kill "$VG_PID"
	wait "$VG_PID" || true
	VG_PID=
}

total() { sed -nE 's/^summary: ([0-9]+)/\1/p' "$WORK/cg.$1"; }

run idle
run load "${LOAD[@]}"
line=$(cat "$WORK/jbench.out")
delivered=$(echo "$line" | sed -E 's/.* delivered=([0-9]+).*/\1/')
[ "$delivered" -gt 0 ] || {
	echo "profile.sh: nothing delivered: $line" >&2
	exit 1
}
idle=$(total idle)
loaded=$(total load)
echo "jbench ${LOAD[*]}"
echo "$line"
echo "binary=$BIN instructions_loaded=$loaded instructions_idle=$idle" \
    "delivered=$delivered ir_per_delivery=$(((loaded - idle) / delivered))"
[ -z "${KEEP:-}" ] || cp "$WORK/cg.load" "$KEEP"
