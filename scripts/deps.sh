#!/bin/sh
# deps.sh run|test|bench - install the Debian packages Junction needs for that
# command, or print the exact command when not root. Checked with dpkg so a
# machine that has everything does not touch the network.
set -eu

build="gcc make libevent-dev libmbedtls-dev"
run="$build"
test="$build libcmocka-dev libpaho-mqtt-dev python3-pytest python3-paho-mqtt
      python3-stomp mosquitto mosquitto-clients clang clang-format"
# make bench: RabbitMQ's STOMP plugin to compare against, and the plot.
bench="$test rabbitmq-server python3-matplotlib"

case "${1:-}" in
run) want=$run ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

# Installing rabbitmq-server may start the packaged node (rabbit@HOST on
# 5672); the bench runs a private node of its own, so the packaged one is
# stopped and kept from starting at boot.
quiet_rabbitmq() {
	if [ -d /run/systemd/system ]; then
		systemctl stop rabbitmq-server >&2 || true
		systemctl disable rabbitmq-server >&2 || true
	else
		invoke-rc.d rabbitmq-server stop >&2 || true
		update-rc.d rabbitmq-server disable >&2 || true
	fi
}

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "Junction needs:$missing" >&2
	echo "Run as root: $cmd" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends $missing >&2
case "$missing" in
*" rabbitmq-server"*) quiet_rabbitmq ;;
esac
