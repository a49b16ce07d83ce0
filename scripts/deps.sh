#!/bin/sh
# deps.sh run|test - install the Debian packages Junction needs for that
# command, or print the exact command when not root. Checked with dpkg so a
# machine that has everything does not touch the network.
set -eu

build="gcc make libevent-dev libmbedtls-dev"
run="$build"
test="$build libcmocka-dev libpaho-mqtt-dev python3-pytest python3-paho-mqtt
      python3-stomp mosquitto mosquitto-clients clang clang-format"

case "${1:-}" in
run) want=$run ;;
test) want=$test ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

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
