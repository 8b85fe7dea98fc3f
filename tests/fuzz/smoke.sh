#!/bin/bash
# Runs every fuzz target for a bounded time on a scratch copy of its seed
# corpus (the committed corpus is never modified). Fails on the first crash,
# leak or sanitizer report. Usage: smoke.sh BUILD_DIR SECONDS
set -u
dir=${1:?build dir} secs=${2:?seconds}
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/poolmon-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0 passed=0
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	mkdir -p "$work/$name"
	cp "$top/tests/fuzz/corpus/$name"/* "$work/$name/" 2>/dev/null
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
	    -print_final_stats=1 -artifact_prefix="$work/" "$work/$name" \
	    >"$work/$name.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
		echo "fuzz $name: clean, ${runs:-?} runs in $secs s"
		passed=$((passed + 1))
	else
		echo "fuzz $name: FAILED"
		grep -v "^#[0-9]" "$work/$name.log" | tail -n 40
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
