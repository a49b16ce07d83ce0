#!/usr/bin/env bash
# run.sh - the comparison matrix (issue 6), called by `make bench`.
#
# Each case of MATRIX runs build/jbench against Junction and, in the same
# run, against the broker it is compared with: Debian's Mosquitto for MQTT,
# a private RabbitMQ node with its STOMP plugin (bench/rabbitmq.sh) for
# STOMP. Runs alternate A B A B ... for REPS rounds so drift on the machine
# hits both alike; every run gets a fresh broker on a free loopback port,
# whose pid jbench is given so CPU and RSS come from /proc for that run
# alone. Every run lands in bench/results.tsv; the medians, ratios and
# goals of issue 6 go into bench/RESULTS.md, with the plot bench/plot.py
# draws. The "## Optimisation log" section of RESULTS.md is carried over
# from the previous file verbatim.
#
# Knobs (environment): REPS (3), SECONDS_PER_RUN (4), WARMUP (1), CASES
# (space-separated globs over case names, e.g. CASES='qos1*'; default all),
# INFLIGHT (64), QUEUED (100000), IDLE_CONNS (19000).
# Exit 1 when a Junction run lost a message or jbench failed on it, after
# writing the results (a comparison broker's losses are only reported).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
REPS=${REPS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
WARMUP=${WARMUP:-1}
CASES=${CASES:-*}
INFLIGHT=${INFLIGHT:-64}
QUEUED=${QUEUED:-100000}
IDLE_CONNS=${IDLE_CONNS:-19000}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PYTHON=${PYTHON:-/usr/bin/python3}
JBENCH=$BUILD/jbench
OUT=bench/RESULTS.md
TSV=bench/results.tsv
PNG=bench/results.png

# The matrix, one case a line: name, pairing, goal, jbench arguments.
#   pairing  mqtt     Junction vs Mosquitto, both in memory
#            stomp    Junction vs RabbitMQ's STOMP plugin
#            durable  Junction (persistence true, sync always) vs
#                     Mosquitto in memory
#   goal     the target of issue 6 the case is judged by (verdict_*).
# QoS 1 publishers keep 32 PUBLISHes awaiting PUBACK (the issue-5 bench's
# window) unless the case says otherwise: w64 is the pipelined target of
# issue 6, w1 a publisher that waits for each PUBACK (latency- and
# syscall-bound, shown without a goal).
# Flow cases also get --duration and --warmup; every run gets --host,
# --port, --broker-pid and --tag.
MATRIX=(
	"qos0-1p-64B       mqtt    tput    --qos 0 --pubs 1 --subs 1 --size 64"
	"qos0-8p-64B       mqtt    tput    --qos 0 --pubs 8 --subs 8 --size 64"
	"qos0-1p-1KiB      mqtt    tput    --qos 0 --pubs 1 --subs 1 --size 1024"
	"qos0-8p-1KiB      mqtt    tput    --qos 0 --pubs 8 --subs 8 --size 1024"
	"qos1-1p-64B       mqtt    tput    --qos 1 --pubs 1 --subs 1 --size 64 --window 32"
	"qos1-8p-64B       mqtt    tput    --qos 1 --pubs 8 --subs 8 --size 64 --window 32"
	"qos1-1p-1KiB      mqtt    tput    --qos 1 --pubs 1 --subs 1 --size 1024 --window 32"
	"qos1-8p-1KiB      mqtt    tput    --qos 1 --pubs 8 --subs 8 --size 1024 --window 32"
	"qos1-8p-64B-w64   mqtt    window  --qos 1 --pubs 8 --subs 8 --size 64 --window 64"
	"qos1-1p-64B-w1    mqtt    none    --qos 1 --pubs 1 --subs 1 --size 64 --window 1"
	"qos1-8p-64B-w1    mqtt    none    --qos 1 --pubs 8 --subs 8 --size 64 --window 1"
	"qos2-8p-64B       mqtt    qos2    --qos 2 --pubs 8 --subs 8 --size 64"
	"fanout-qos0-1to100 mqtt   fanout  --qos 0 --topology shared --pubs 1 --subs 100 --size 64"
	"fanout-qos1-1to100 mqtt   fanout  --qos 1 --topology shared --pubs 1 --subs 100 --size 64"
	"fanin-qos1-8to1   mqtt    none    --qos 1 --topology shared --pubs 8 --subs 1 --size 64"
	"latency-qos1-20k  mqtt    latency --qos 1 --pubs 1 --subs 1 --size 64 --rate 20000"
	"mqtt5-qos1-8p-64B mqtt    none    --proto mqtt5 --qos 1 --pubs 8 --subs 8 --size 64"
	"idle-19k          mqtt    idle    --idle $IDLE_CONNS"
	"stomp-topic-auto  stomp   stomp   --proto stomp --dest topic --ack auto --pubs 8 --subs 8 --size 64"
	"stomp-queue-ack   stomp   stomp   --proto stomp --dest queue --ack client-individual --pubs 8 --subs 8 --size 64"
	"durable-qos1-4p   durable durable --qos 1 --pubs 4 --subs 4 --size 64 --window 32 --persistent"
)

# Every key of a jbench line, flow and idle, in the order results.tsv
# keeps them; a key jbench adds later goes into the last column, "more".
KEYS="mode proto qos pubs subs size rate window duration published acked
delivered expected lost dup msgs_per_s deliveries_per_s p50_us p99_us p999_us
max_us broker_cpu_s broker_cpu_us_per_delivery broker_rss_kb gen_cpu_pct conns
connect_s conns_per_s rss_before_kb rss_after_kb rss_per_conn_b"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jbench.XXXXXX")
BROKER_PID=
BROKER_PORT=
RMQ_DIR=
RMQ_STATE=untried # untried | ok | the reason it is not available
FAILURES=()
START_S=$SECONDS

cleanup() {
	stop_broker
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run.sh: $*" >&2; }

free_port() {
	"$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

calc() { awk "BEGIN { print ($1) }"; }

# ---------------------------------------------------------------- brokers

# Shared by all three MQTT configurations: the same in-flight window per
# client and the same per-client queue bound, no memory cap, no log.
conf_limits() {
	printf 'max_inflight_messages %s\nmax_queued_messages %s\n' \
	    "$INFLIGHT" "$QUEUED"
	printf 'memory_limit 0\nlog_dest none\n'
}

conf_junction() { # port proto
	printf 'listener %s 127.0.0.1\n' "$1"
	[ "$2" = stomp ] && printf 'protocol stomp\n'
	printf 'allow_anonymous true\npersistence false\n'
	conf_limits
}

conf_junction_durable() { # port proto store
	printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$1"
	printf 'persistence true\npersistence_location %s\n' "$3"
	printf 'persistence_sync always\n'
	conf_limits
}

# Junction sets TCP_NODELAY on every connection; Mosquitto must be told.
conf_mosquitto() { # port
	printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$1"
	printf 'persistence false\nset_tcp_nodelay true\nmax_connections -1\n'
	conf_limits
}

wait_accepting() { # port pid
	local i
	for ((i = 0; i < 200; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

start_exec() { # name conf-args... -> BROKER_PID; the binary gets -c FILE
	local name=$1 conf=$WORK/$1.conf
	shift
	"conf_$name" "$BROKER_PORT" "$@" >"$conf"
	case $name in
	mosquitto) "$MOSQUITTO" -c "$conf" >"$WORK/broker.log" 2>&1 & ;;
	*) "$BUILD/junction" -c "$conf" >"$WORK/broker.log" 2>&1 & ;;
	esac
	BROKER_PID=$!
	wait_accepting "$BROKER_PORT" "$BROKER_PID" && return 0
	log "$name did not start:"
	tail -n 5 "$WORK/broker.log" >&2
	return 1
}

# A fresh RabbitMQ node per run, like the others. When it cannot start,
# RMQ_STATE says why and the remaining RabbitMQ runs are skipped.
start_rabbitmq() {
	local out
	RMQ_DIR=$(mktemp -d "$WORK/rabbitmq.XXXXXX")
	if ! out=$(bench/rabbitmq.sh start "$RMQ_DIR" 2>"$WORK/rabbitmq.err"); then
		RMQ_STATE=$(tail -n 1 "$WORK/rabbitmq.err" | sed 's/^rabbitmq.sh: //')
		log "RabbitMQ not available: $RMQ_STATE"
		stop_broker
		return 1
	fi
	RMQ_STATE=ok
	BROKER_PORT=$(sed -E 's/.*port=([0-9]+).*/\1/' <<<"$out")
	BROKER_PID=$(sed -E 's/.*pid=([0-9]+).*/\1/' <<<"$out")
}

start_broker() { # broker proto
	BROKER_PORT=$(free_port)
	case $1 in
	junction) start_exec junction "$2" ;;
	junction-durable)
		start_exec junction_durable "$2" "$(mktemp -d "$WORK/store.XXXXXX")" ;;
	mosquitto) start_exec mosquitto ;;
	rabbitmq) start_rabbitmq ;;
	esac
}

stop_broker() {
	if [ -n "$RMQ_DIR" ]; then
		bench/rabbitmq.sh stop "$RMQ_DIR" >/dev/null 2>&1
		rm -rf "$RMQ_DIR"
		RMQ_DIR=
	elif [ -n "$BROKER_PID" ]; then
		kill "$BROKER_PID" 2>/dev/null
		wait "$BROKER_PID" 2>/dev/null
	fi
	BROKER_PID=
	rm -rf "$WORK"/store.*
}

# ------------------------------------------------------------------- runs

pairing_brokers() { # pairing -> the brokers run, Junction first
	case $1 in
	mqtt) echo "junction mosquitto" ;;
	stomp) echo "junction rabbitmq" ;;
	durable) echo "junction-durable mosquitto" ;;
	esac
}

jbench_args() { # case-args... -> the whole argument list for one run
	local a
	printf '%s\n' --host 127.0.0.1 --port "$BROKER_PORT" \
	    --broker-pid "$BROKER_PID"
	case " $* " in
	*" --idle "*) ;;
	*) printf '%s\n' --duration "$SECONDS_PER_RUN" --warmup "$WARMUP" ;;
	esac
	[ "$BROKER" = rabbitmq ] && printf '%s\n' --user guest --pass guest
	for a in "$@"; do printf '%s\n' "$a"; done
}

# One jbench line -> one results.tsv row: case broker rep exit, then the
# values of KEYS, then any other key=value pairs.
tsv_row() { # case broker rep exit line
	awk -v c="$1" -v b="$2" -v r="$3" -v x="$4" -v keys="$KEYS" '
	BEGIN { n = split(keys, k, /[ \n]+/) }
	{
		for (i = 1; i <= NF; i++) {
			eq = index($i, "=")
			if (eq) v[substr($i, 1, eq - 1)] = substr($i, eq + 1)
		}
		row = c "\t" b "\t" r "\t" x
		for (i = 1; i <= n; i++) {
			row = row "\t" ((k[i] in v) ? v[k[i]] : "")
			seen[k[i]] = 1
		}
		more = ""
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (!(kv[1] in seen) && kv[1] != "tag")
				more = more (more == "" ? "" : " ") $i
		}
		print row "\t" more
	}' <<<"$5"
}

tsv_header() {
	printf 'case\tbroker\trep\texit'
	# shellcheck disable=SC2086
	printf '\t%s' $KEYS
	printf '\tmore\n'
}

# jbench puts the tag in client ids and topics: alphanumeric only.
tag_of() { # case rep
	local t="$1r$2"
	echo "${t//[^A-Za-z0-9]/}"
}

run_one() { # case rep broker proto case-args...
	local name=$1 rep=$2 line rc cmd
	BROKER=$3
	local proto=$4
	shift 4
	if [ "$BROKER" = rabbitmq ] && [ "$RMQ_STATE" != untried ] &&
	    [ "$RMQ_STATE" != ok ]; then
		return 0
	fi
	if ! start_broker "$BROKER" "$proto"; then
		[ "$BROKER" = rabbitmq ] && return 0
		FAILURES+=("$name $BROKER run $rep: the broker did not start")
		return 0
	fi
	mapfile -t cmd < <(jbench_args "$@")
	"$JBENCH" "${cmd[@]}" --tag "$(tag_of "$name" "$rep")" >"$WORK/jbench.out" \
	    2>"$WORK/jbench.err"
	rc=$?
	line=$(grep '^mode=' "$WORK/jbench.out" | tail -n 1)
	stop_broker
	log "$name $BROKER $rep: rc=$rc $line"
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		FAILURES+=("$name $BROKER run $rep: \`jbench ${cmd[*]}\` exited $rc: $(tail -n 3 "$WORK/jbench.err" | paste -sd ';' -)")
	fi
	[ -n "$line" ] && tsv_row "$name" "$BROKER" "$rep" "$rc" "$line" >>"$TSV"
}

case_selected() { # name
	local pat pats
	read -ra pats <<<"$CASES" # split, never matched against file names
	for pat in "${pats[@]}"; do
		# shellcheck disable=SC2053
		[[ $1 == $pat ]] && return 0
	done
	return 1
}

proto_of() { # case-args... -> mqtt311 | mqtt5 | stomp
	local a prev=
	for a in "$@"; do
		[ "$prev" = --proto ] && { echo "$a"; return; }
		prev=$a
	done
	echo mqtt311
}

run_matrix() {
	local entry name pairing goal rep b proto
	for entry in "${MATRIX[@]}"; do
		read -r name pairing goal args <<<"$entry"
		case_selected "$name" || continue
		# shellcheck disable=SC2086
		proto=$(proto_of $args)
		for rep in $(seq "$REPS"); do
			for b in $(pairing_brokers "$pairing"); do
				# shellcheck disable=SC2086
				run_one "$name" "$rep" "$b" "$proto" $args
			done
		done
	done
}

# ---------------------------------------------------------------- summary

# The median of one key over the runs of one case and broker; empty when
# there are none.
med() { # case broker key
	awk -F'\t' -v c="$1" -v b="$2" -v key="$3" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	$1 == c && $2 == b && $col[key] != "" { print $col[key] }' "$TSV" |
	    sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit
		if (NR % 2) print v[(NR + 1) / 2]
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

total() { # case broker key
	awk -F'\t' -v c="$1" -v b="$2" -v key="$3" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	$1 == c && $2 == b { s += $col[key] } END { print s + 0 }' "$TSV"
}

fmt() { # printf-format value -> formatted, or n/a when empty
	if [ -n "$2" ]; then
		# shellcheck disable=SC2059
		printf "$1" "$2"
	else
		printf 'n/a'
	fi
}

pair() { # printf-format a b -> "a/b", or n/a when neither is known
	if [ -z "$2" ] && [ -z "$3" ]; then
		echo n/a
	else
		echo "$(fmt "$1" "$2")/$(fmt "$1" "$3")"
	fi
}

ratio() { # a b -> a/b with two decimals, n/a when either is missing
	if [ -n "$1" ] && [ -n "$2" ] && [ "$(calc "$2 > 0")" = 1 ]; then
		calc "sprintf(\"%.2f\", $1 / $2)"
	else
		echo n/a
	fi
}

at_least() { # value threshold -> met | missed
	[ "$1" != n/a ] && [ "$(calc "$1 >= $2")" = 1 ] && echo met || echo missed
}

at_most() {
	[ "$1" != n/a ] && [ "$(calc "$1 <= $2")" = 1 ] && echo met || echo missed
}

# The goals of issue 6, given R (the rate ratio), C (the CPU ratio) and the
# medians J_* / O_* of Junction and the other broker.
verdict_tput() {
	echo ">=2x: $(at_least "$R" 2); CPU <=1/3: $(at_most "$C" 0.3334)"
}
verdict_window() { # the generator may saturate: CPU decides then
	local by_rate
	by_rate=$(at_least "$R" 2)
	if [ "$by_rate" = met ]; then
		echo ">=2x: met"
	else
		echo ">=2x: missed; CPU <=1/3 instead: $(at_most "$C" 0.3334)"
	fi
}
verdict_qos2() {
	local lost=met
	[ "$J_LOST" -eq 0 ] && [ "${J_DUP:-0}" = 0 ] || lost=missed
	echo ">=2x: $(at_least "$R" 2); no loss/dup: $lost"
}
verdict_fanout() { echo ">=2x deliveries/s: $(at_least "$R" 2)"; }
verdict_latency() {
	local v=missed
	[ -n "$J_P99" ] && [ -n "$O_P99" ] &&
	    [ "$(calc "$J_P99 < $O_P99")" = 1 ] && v=met
	echo "p99 below Mosquitto's: $v"
}
verdict_idle() {
	echo "<=500 B/conn: $(at_most "${J_VAL:-n/a}" 500)"
}
verdict_stomp() { echo ">=5x: $(at_least "$R" 5)"; }
verdict_durable() { echo ">=0.5x (issue 5): $(at_least "$R" 0.5)"; }
verdict_none() { echo "(no goal)"; }

# The figure a case is compared on.
value_key() { # goal
	case $1 in
	fanout) echo deliveries_per_s ;;
	idle) echo rss_per_conn_b ;;
	*) echo msgs_per_s ;;
	esac
}

unit_of() { # goal
	case $1 in
	fanout) echo deliveries/s ;;
	idle) echo "RSS B/conn" ;;
	*) echo msgs/s ;;
	esac
}

other_label() { # pairing
	case $1 in
	stomp) [ "$RMQ_STATE" = ok ] && echo RabbitMQ ||
	    echo "RabbitMQ not available" ;;
	durable) echo "Mosquitto (in memory)" ;;
	*) echo Mosquitto ;;
	esac
}

table_row() { # entry
	local name pairing goal args a o key J_VAL O_VAL R C J_CPU O_CPU \
	    J_P99 O_P99 J_LOST O_LOST J_DUP J_GEN O_GEN
	read -r name pairing goal args <<<"$1"
	case_selected "$name" || return 0
	read -r a o <<<"$(pairing_brokers "$pairing")"
	key=$(value_key "$goal")
	J_VAL=$(med "$name" "$a" "$key")
	O_VAL=$(med "$name" "$o" "$key")
	J_CPU=$(med "$name" "$a" broker_cpu_us_per_delivery)
	O_CPU=$(med "$name" "$o" broker_cpu_us_per_delivery)
	J_P99=$(med "$name" "$a" p99_us)
	O_P99=$(med "$name" "$o" p99_us)
	J_GEN=$(med "$name" "$a" gen_cpu_pct)
	O_GEN=$(med "$name" "$o" gen_cpu_pct)
	J_LOST=$(total "$name" "$a" lost)
	O_LOST=$(total "$name" "$o" lost)
	J_DUP=$([ "$goal" = qos2 ] && total "$name" "$a" dup)
	R=$(ratio "$J_VAL" "$O_VAL")
	C=$(ratio "$J_CPU" "$O_CPU")
	if [ "$goal" = idle ]; then
		J_CPU='' O_CPU='' C=n/a
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s | %s | %s |\n' \
	    "$name" "$(other_label "$pairing")" "$(unit_of "$goal")" \
	    "$(fmt %.0f "$J_VAL")" "$(fmt %.0f "$O_VAL")" "$R" \
	    "$(fmt %.2f "$J_CPU")" "$(fmt %.2f "$O_CPU")" "$C" \
	    "$(fmt %.0f "$J_P99")" "$(fmt %.0f "$O_P99")" \
	    "$J_LOST" "$O_LOST" "$(pair %.0f "$J_GEN" "$O_GEN")" \
	    "$("verdict_$goal")"
}

versions() {
	local rmq erl
	rmq=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)
	erl=$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null)
	printf '%s; %s; RabbitMQ %s (Erlang %s)' \
	    "$("$BUILD/junction" -v 2>&1 | head -n 1)" \
	    "$("$MOSQUITTO" -h 2>/dev/null | head -n 1 | sed 's/ is an.*//')" \
	    "${rmq:-not installed}" "${erl:-n/a}"
}

conf_block() { # title conf-function args...
	printf '%s:\n\n```\n' "$1"
	shift
	"$@"
	printf '```\n\n'
}

settings_section() {
	echo "## Broker settings"
	echo
	echo "Both MQTT brokers get the same limits: an in-flight window of" \
	    "$INFLIGHT QoS 1/2 messages per client (max_inflight_messages," \
	    "as large as the largest publisher window in the matrix, so" \
	    "neither broker is the one throttling a window-64 publisher;" \
	    "MQTT 5 clients are told it as Receive Maximum), $QUEUED queued" \
	    "messages per client (max_queued_messages, far above what a" \
	    "connected subscriber backs up in a run; Mosquitto's default of" \
	    "1000 would silently drop QoS 1/2 messages in fan-out), no" \
	    "memory cap, no logging, no persistence unless stated, and" \
	    "TCP_NODELAY (Junction always sets it; Mosquitto needs" \
	    "set_tcp_nodelay true). Port and store paths are filled in per" \
	    "run."
	echo
	conf_block "Junction (MQTT; STOMP cases add \`protocol stomp\`)" \
	    conf_junction PORT mqtt
	conf_block "Junction, durable case (STORE-DIR: a fresh directory under \$TMPDIR, default /tmp, per run)" \
	    conf_junction_durable PORT mqtt STORE-DIR
	conf_block "Mosquitto" conf_mosquitto PORT
	echo "RabbitMQ (bench/rabbitmq.sh): a private node per run with only" \
	    "the rabbitmq_stomp plugin, STOMP on a loopback port, Debian's" \
	    "defaults otherwise (no STOMP prefetch limit: jbench sends no" \
	    "prefetch-count; Junction's queue prefetch is then its in-flight" \
	    "window, $INFLIGHT). The broker CPU is the Erlang VM's (beam.smp," \
	    "scheduler busy-waiting off as Debian ships it); RSS is not" \
	    "compared for it."
	echo
}

cases_section() {
	local entry name pairing goal args
	echo "## Cases"
	echo
	echo "Every run: \`$JBENCH --host 127.0.0.1 --port PORT --broker-pid" \
	    "PID [--duration $SECONDS_PER_RUN --warmup $WARMUP] ARGS\`" \
	    "(duration and warm-up for flow cases; RabbitMQ runs add" \
	    "\`--user guest --pass guest\`)."
	echo
	echo "| case | compared with | ARGS |"
	echo "|---|---|---|"
	for entry in "${MATRIX[@]}"; do
		read -r name pairing goal args <<<"$entry"
		case_selected "$name" || continue
		echo "| $name | $(other_label "$pairing") | \`$args\` |"
	done
	echo
}

failures_section() {
	local f
	[ ${#FAILURES[@]} -eq 0 ] && return 0
	echo "## Failed runs"
	echo
	echo "jbench exited non-zero: the broker lost or duplicated messages, or" \
	    "a run could not be set up. Their lines are in results.tsv."
	echo
	for f in "${FAILURES[@]}"; do
		echo "* $f"
	done
	echo
}

# Everything from "## Optimisation log" to the end of the old file.
optimisation_log() { # old-file
	if [ -f "$1" ] && grep -q '^## Optimisation log' "$1"; then
		sed -n '/^## Optimisation log/,$p' "$1"
	else
		printf '## Optimisation log\n\n(none yet)\n'
	fi
}

write_results() { # old-results
	local entry minutes
	minutes=$(calc "sprintf(\"%.1f\", $((SECONDS - START_S)) / 60)")
	echo "# Benchmark: Junction against Mosquitto and RabbitMQ (issue 6)"
	echo
	echo "Generated by \`make bench\` (bench/run.sh) on" \
	    "$(date -u '+%Y-%m-%d %H:%M UTC') in $minutes min."
	echo "Machine: $(nproc) cores, $(uname -sr). $(versions)."
	echo
	echo "Each case ran $REPS time(s) per broker, alternating Junction and" \
	    "the other broker in one session, each run on a fresh broker" \
	    "process over loopback: ${SECONDS_PER_RUN} s measured after" \
	    "${WARMUP} s of warm-up. Medians below; every run is a row of" \
	    "[results.tsv](results.tsv). Broker CPU comes from /proc for the" \
	    "broker's pid over the measured interval."
	echo
	[ -f "$PNG" ] && echo "![msgs/s and CPU per delivery](results.png)" &&
	    echo
	echo "| case | compared with | unit | Junction | other | ratio | Junction CPU µs/delivery | other CPU µs/delivery | CPU ratio | Junction p99 µs | other p99 µs | lost J/other | gen CPU % J/other | goal |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for entry in "${MATRIX[@]}"; do
		table_row "$entry"
	done
	echo
	echo "ratio = Junction / other (for RSS per connection, lower is" \
	    "better). lost = taken by the broker (acknowledged; for QoS 0 and" \
	    "STOMP, written to its socket) but never delivered, summed over" \
	    "runs, as jbench counts it. gen CPU" \
	    "% is the load generator's own CPU (100 = one core): near 100" \
	    "jbench, not the broker, sets the pace, and CPU per delivery is" \
	    "the fairer figure."
	echo
	failures_section
	cases_section
	settings_section
	optimisation_log "$1"
}

# ------------------------------------------------------------------- main

main() {
	local old=$WORK/old-results.md lost
	if [ ! -x "$JBENCH" ] || [ ! -x "$BUILD/junction" ]; then
		log "build $BUILD/junction and $JBENCH first"
		exit 1
	fi
	# 19,000 idle clients plus the brokers' own descriptors; brokers and
	# jbench inherit the limit.
	ulimit -n 20000 || log "cannot raise the descriptor limit; the idle case will fail"
	[ -f "$OUT" ] && cp "$OUT" "$old"
	tsv_header >"$TSV"
	run_matrix
	stop_broker
	if "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
		"$PYTHON" bench/plot.py "$TSV" "$PNG" ||
		    log "plot.py failed; no plot"
	else
		rm -f "$PNG"
		log "python3-matplotlib missing; no plot (scripts/deps.sh bench)"
	fi
	write_results "$old" >"$OUT"
	cat "$OUT"
	echo
	echo "Results: $OUT, $TSV$([ -f "$PNG" ] && echo ", $PNG")" \
	    "($(((SECONDS - START_S) / 60)) min $(((SECONDS - START_S) % 60)) s)"
	lost=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	    { s[$2 ~ /^junction/ ? "Junction" : $2] += $c["lost"] }
	    END { for (b in s) if (s[b]) printf "%s%s %d", n++ ? ", " : "", b, s[b] }' "$TSV")
	[ -n "$lost" ] || [ ${#FAILURES[@]} -ne 0 ] &&
		log "messages lost: ${lost:-none}; ${#FAILURES[@]} failed run(s)"
	# Junction losing or failing fails the bench; a comparison broker's
	# loss (Mosquitto 2.0.11's fan-in, see RESULTS.md) is reported above.
	if [[ $lost == *Junction* ]] ||
	    printf '%s\n' "${FAILURES[@]}" | grep -q '^[^ ]* junction'; then
		exit 1
	fi
}

main
