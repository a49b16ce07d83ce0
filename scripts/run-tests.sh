#!/usr/bin/env bash
# run-tests.sh - run the whole suite against an existing build: every
# cmocka binary in $BUILD/tests/unit/, then the pytest integration suite.
# Called by `make test` and `make san` (SAN=1) after they built $BUILD.
#
# Prints each failing test's name, and as its very last line
#   N passed, M failed[, K skipped]
# Exits non-zero when M > 0 or when nothing ran at all.
#
# Counting: cmocka's "[  PASSED  ] N test(s)." and "[  FAILED  ] M
# test(s)" lines; a unit binary that crashes or exits non-zero without a
# FAILED line counts as one failure. pytest results come from its junit
# XML: passed = tests - failures - errors - skipped.
set -u
cd "$(dirname "$0")/.." || exit 2

BUILD=${BUILD:-build}
export BUILD
# One hung binary must not hang CI forever.
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
export CMOCKA_MESSAGE_OUTPUT=STDOUT
if [ "${SAN:-}" = 1 ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

passed=0
failed=0
skipped=0
failures=()

# Sum the first number of every line matching a sed pattern.
sum_lines() {
	sed -n "$1" | awk '{ s += $1 } END { print s + 0 }'
}

run_unit() {
	local bin=$1 name out rc p f
	name=${bin##*/}
	out=$(timeout "$UNIT_TIMEOUT" "$bin" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" |
	    sum_lines 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p')
	f=$(printf '%s\n' "$out" |
	    sum_lines 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p')
	passed=$((passed + p))
	if [ "$f" -gt 0 ]; then
		failed=$((failed + f))
		while IFS= read -r t; do
			failures+=("$name: $t")
		done < <(printf '%s\n' "$out" |
		    sed -n 's/^\[  FAILED  \] \(.*\)/\1/p' |
		    grep -v '^[0-9][0-9]* test(s)' | sort -u)
	elif [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		failures+=("$name (exit status $rc)")
	fi
}

run_units() {
	local dir=$BUILD/tests/unit bin
	[ -d "$dir" ] || return 0
	for bin in "$dir"/*; do
		case $bin in
		*.d | *.o) continue ;;
		esac
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		echo "== $bin"
		run_unit "$bin"
	done
}

# Print "tests failures errors skipped" then one failing name per line.
junit_summary() {
	/usr/bin/python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tot = [0, 0, 0, 0]
for s in suites:
    for i, k in enumerate(("tests", "failures", "errors", "skipped")):
        tot[i] += int(s.get(k, 0))
print(*tot)
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        print("%s::%s" % (case.get("classname", ""), case.get("name", "")))
EOF
}

run_integration() {
	local xml=$BUILD/pytest.xml rc summary t f e s name
	[ -d tests/integration ] || return 0
	echo "== tests/integration"
	rm -f "$xml"
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
	    --junitxml="$xml"
	rc=$?
	if [ "$rc" -eq 5 ]; then
		return 0 # no tests collected
	fi
	if [ ! -s "$xml" ] || ! summary=$(junit_summary "$xml"); then
		failed=$((failed + 1))
		failures+=("pytest (exit status $rc, no results)")
		return 0
	fi
	read -r t f e s <<<"$(printf '%s\n' "$summary" | head -n 1)"
	passed=$((passed + t - f - e - s))
	failed=$((failed + f + e))
	skipped=$((skipped + s))
	while IFS= read -r name; do
		[ -n "$name" ] && failures+=("$name")
	done < <(printf '%s\n' "$summary" | tail -n +2)
	if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("pytest (exit status $rc)")
	fi
}

# Each libFuzzer target runs for FUZZ_SECONDS from an empty corpus and
# counts as one test: a crash, leak or sanitizer report fails it. Not
# under SAN=1 (the targets carry their own sanitizers).
run_fuzz() {
	local dir=build/fuzz bin name corpus out rc
	[ "${SAN:-}" = 1 ] && return 0
	[ -d "$dir" ] || return 0
	for bin in "$dir"/fuzz_*; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		name=${bin##*/}
		corpus=$(mktemp -d)
		echo "== $bin (${FUZZ_SECONDS:-10} s)"
		out=$(TMPDIR=${FUZZ_TMP:-/dev/shm} timeout $((${FUZZ_SECONDS:-10} + 60)) \
		    "$bin" -max_total_time="${FUZZ_SECONDS:-10}" -rss_limit_mb=1024 \
		    -print_final_stats=1 "$corpus" 2>&1)
		rc=$?
		rm -rf "$corpus"
		printf '%s\n' "$out" | grep -E '^(stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' || true
		if [ "$rc" -eq 0 ]; then
			passed=$((passed + 1))
		else
			printf '%s\n' "$out" | tail -30
			failed=$((failed + 1))
			failures+=("$name (exit status $rc)")
		fi
	done
}

run_units
run_fuzz
run_integration

if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "failing tests:"
	for t in "${failures[@]}"; do
		echo "  $t"
	done
fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ] && [ $((passed + failed)) -gt 0 ]
