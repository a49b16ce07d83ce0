#!/bin/sh
# check-deps.sh - fail when an #include crosses the layers of STYLE.md.
#
#   core/, conf/        libc only (+ each other); core/store_*.c may do file I/O
#   protocols/<p>/      core/, conf/, own protocol dir; libc
#   bridge/             core/, conf/, protocols/
#   net/                anything (libevent, mbedTLS, sockets)
# Forbidden system headers in the pure layers: sockets, libevent, mbedTLS,
# clocks and polling.
set -u
cd "$(dirname "$0")/.." || exit 2
fail=0

bad() {
	echo "$1: includes $2 ($3)" >&2
	fail=1
}

io_headers='event2/|mbedtls/|sys/socket.h|netinet/|arpa/inet.h|netdb.h|poll.h|sys/epoll.h|sys/select.h|pthread.h|sys/time.h|time.h|unistd.h|fcntl.h'

for f in $(git ls-files 'core/*.[ch]' 'conf/*.[ch]' 'protocols/*.[ch]' 'bridge/*.[ch]' 2>/dev/null); do
	dir=${f%%/*}
	grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r line; do
		inc=$(echo "$line" | sed -E 's/.*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/')
		case "$inc" in
		net/*) echo "$f: includes $inc (net/ is the top layer)" >&2; echo x ;;
		bridge/*) [ "$dir" = bridge ] || { echo "$f: includes $inc (bridge/ is above $dir/)" >&2; echo x; } ;;
		protocols/*)
			case "$dir" in
			core|conf) echo "$f: includes $inc (protocols/ is above $dir/)" >&2; echo x ;;
			esac ;;
		esac
		case "$f" in
		core/store_*) continue ;;
		esac
		if echo "$inc" | grep -qE "^($io_headers)"; then
			case "$dir" in
			bridge) ;;
			*) echo "$f: includes <$inc> (I/O or clock in a pure layer)" >&2; echo x ;;
			esac
		fi
	done | grep -q x && fail=1
done

if [ $fail -ne 0 ]; then
	echo "check-deps: layer violations found" >&2
	exit 1
fi
echo "check-deps: ok"
