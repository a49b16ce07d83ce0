#!/usr/bin/env bash
# rabbitmq.sh start|stop WORKDIR - a private RabbitMQ node with the STOMP
# plugin, for bench/run.sh to compare Junction's STOMP against.
#
# The node lives entirely under WORKDIR and on ports picked free at start:
# its own node name, data, logs, enabled-plugins file, config file, Erlang
# cookie ($HOME is WORKDIR) and its own epmd on a private port, so it never
# meets the packaged service (rabbit@HOST, 5672, epmd on 4369) nor another
# run of this script.
#
#   start  prints "port=STOMP_PORT pid=BEAM_PID" once the STOMP listener
#          accepts connections (RabbitMQ takes seconds to boot: up to
#          RABBITMQ_START_TIMEOUT, default 60 s), guest/guest from loopback.
#   stop   stops the node (rabbitmqctl stop, then the pid if need be) and
#          the epmd it started.
# Exit 2 with the reason on stderr when RabbitMQ is not installed or does
# not come up, so the caller can record "not available".
set -uo pipefail

RMQ_BIN=${RMQ_BIN:-/usr/lib/rabbitmq/bin}
TIMEOUT=${RABBITMQ_START_TIMEOUT:-60}

unavailable() {
	echo "rabbitmq.sh: $*" >&2
	exit 2
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The Erlang distribution port: RabbitMQ's boot checks it by binding the
# wildcard address, which fails on any port a socket in TIME_WAIT still
# holds on some 127.0.0.x (the idle-connection bench leaves thousands), so
# it comes from below the ephemeral range and is probed the same way.
free_dist_port() {
	/usr/bin/python3 - <<-'EOF'
		import random, socket
		for _ in range(200):
		    p = random.randrange(20000, 32000)
		    s = socket.socket()
		    try:
		        s.bind(("0.0.0.0", p))
		    except OSError:
		        continue
		    finally:
		        s.close()
		    print(p)
		    break
	EOF
}

# The environment both rabbitmq-server and rabbitmqctl need to find the
# node: read back from WORKDIR/env, written by start.
load_env() {
	[ -f "$WORK/env" ] || unavailable "no node was started in $WORK"
	set -a
	# shellcheck disable=SC1091
	. "$WORK/env"
	set +a
}

write_env() { # nodename amqp_port dist_port epmd_port
	cat >"$WORK/env" <<-EOF
		HOME=$WORK
		RABBITMQ_NODENAME=$1
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
		RABBITMQ_NODE_PORT=$2
		RABBITMQ_DIST_PORT=$3
		ERL_EPMD_PORT=$4
		ERL_EPMD_ADDRESS=127.0.0.1
		RABBITMQ_CONF_ENV_FILE=$WORK/rabbitmq-env.conf
		RABBITMQ_CONFIG_FILE=$WORK/rabbitmq.conf
		RABBITMQ_ADVANCED_CONFIG_FILE=$WORK/advanced.config
		RABBITMQ_ENABLED_PLUGINS_FILE=$WORK/enabled_plugins
		RABBITMQ_MNESIA_BASE=$WORK/mnesia
		RABBITMQ_LOG_BASE=$WORK/log
		RABBITMQ_PID_FILE=$WORK/beam.pid
		ERL_CRASH_DUMP=$WORK/log/erl_crash.dump
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
	EOF
}

# STOMP on loopback only; guest may log in from loopback (the default,
# stated here so a reader need not know it), and is also the user of a
# CONNECT without login.
write_config() { # amqp_port stomp_port
	cat >"$WORK/rabbitmq.conf" <<-EOF
		listeners.tcp.1 = 127.0.0.1:$1
		stomp.listeners.tcp.1 = 127.0.0.1:$2
		loopback_users.guest = true
		stomp.default_user = guest
		stomp.default_pass = guest
		log.console = false
		log.file.level = warning
		load_definitions = $WORK/definitions.json
	EOF
	write_definitions
	echo '[rabbitmq_stomp].' >"$WORK/enabled_plugins"
	: >"$WORK/rabbitmq-env.conf"
}

# RabbitMQ takes a STOMP CONNECT's host header as the virtual host, and
# clients send the address they dialled, so the vhosts a client of
# 127.0.0.1 may name all exist with guest allowed everywhere. Definitions
# loaded at boot replace the default user, so guest is defined here too
# (RabbitMQ's salted SHA-256 password hash).
write_definitions() {
	/usr/bin/python3 - "$WORK/definitions.json" <<-'EOF'
		import base64, hashlib, json, os, sys
		salt = os.urandom(4)
		digest = hashlib.sha256(salt + b"guest").digest()
		vhosts = ["/", "127.0.0.1", "localhost"]
		defs = {
		    "users": [{"name": "guest", "tags": ["administrator"],
		               "hashing_algorithm": "rabbit_password_hashing_sha256",
		               "password_hash":
		                   base64.b64encode(salt + digest).decode()}],
		    "vhosts": [{"name": v} for v in vhosts],
		    "permissions": [{"user": "guest", "vhost": v, "configure": ".*",
		                     "write": ".*", "read": ".*"} for v in vhosts],
		}
		with open(sys.argv[1], "w") as f:
		    json.dump(defs, f)
	EOF
}

accepts() { # port
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Our own epmd, up before the node so that its boot does not race to
# start one.
start_epmd() {
	local i
	epmd -daemon -address 127.0.0.1 -port "$ERL_EPMD_PORT" || return 1
	for ((i = 0; i < 40; i++)); do
		accepts "$ERL_EPMD_PORT" && return 0
		sleep 0.05
	done
	return 1
}

# The STOMP port opens before the node has loaded its users and vhosts,
# so "ready" is a CONNECT as guest answered by CONNECTED.
stomp_connects() { # port
	local reply=
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0' >&3
	read -r -t 5 reply <&3
	exec 3<&-
	[ "$reply" = CONNECTED ]
}

wait_for_stomp() { # port server_pid
	local i
	for ((i = 0; i < TIMEOUT * 4; i++)); do
		[ -s "$WORK/beam.pid" ] && stomp_connects "$1" 2>/dev/null &&
		    return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.25
	done
	return 1
}

start() {
	[ -x "$RMQ_BIN/rabbitmq-server" ] ||
		unavailable "rabbitmq-server is not installed (scripts/deps.sh bench)"
	[ -x /usr/bin/python3 ] || unavailable "python3 is missing"
	mkdir -p "$WORK/mnesia" "$WORK/log" || unavailable "cannot use $WORK"
	local stomp
	stomp=$(free_port)
	write_env "jbench-$$@localhost" "$(free_port)" "$(free_dist_port)" \
	    "$(free_port)"
	write_config "$(sed -n 's/^RABBITMQ_NODE_PORT=//p' "$WORK/env")" \
	    "$stomp"
	load_env
	start_epmd || unavailable "epmd did not start on port $ERL_EPMD_PORT"
	(cd "$WORK" && exec setsid "$RMQ_BIN/rabbitmq-server" \
	    >"$WORK/log/console.out" 2>&1 </dev/null) &
	echo $! >"$WORK/server.pid"
	if ! wait_for_stomp "$stomp" "$!"; then
		tail -n 20 "$WORK/log/console.out" >&2
		stop >/dev/null 2>&1
		unavailable "the node did not accept STOMP on $stomp within ${TIMEOUT}s (logs in $WORK/log)"
	fi
	echo "port=$stomp pid=$(cat "$WORK/beam.pid")"
}

# rabbitmqctl stop waits for the node to halt; a node that does not answer
# is killed by the pid it wrote. Our epmd then has no node left and -kill
# ends it.
stop() {
	load_env
	local beam server
	beam=$(cat "$WORK/beam.pid" 2>/dev/null)
	server=$(cat "$WORK/server.pid" 2>/dev/null)
	timeout 30 "$RMQ_BIN/rabbitmqctl" -q stop >/dev/null 2>&1 ||
		{ [ -n "$beam" ] && kill "$beam" 2>/dev/null; }
	if [ -n "$server" ]; then
		for _ in $(seq 40); do
			kill -0 "$server" 2>/dev/null || break
			sleep 0.25
		done
		kill "$server" 2>/dev/null
	fi
	epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1
	return 0
}

[ $# -eq 2 ] || { echo "usage: $0 start|stop WORKDIR" >&2; exit 2; }
WORK=$(realpath -m "$2")
case "$1" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop WORKDIR" >&2; exit 2 ;;
esac
