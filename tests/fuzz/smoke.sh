#!/bin/bash
# Runs every fuzz target for a bounded time on a scratch copy of its seed
# corpus (the committed corpus is never modified). Fails on the first crash,
# leak or sanitizer report. Usage: smoke.sh BUILD_DIR SECONDS
# Targets run side by side, one per CPU (FUZZ_JOBS to change that): each is
# one process keeping one CPU busy. Results are printed in target order.
set -u
dir=${1:?build dir} secs=${2:?seconds}
top=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
work=$(mktemp -d /tmp/poolmon-fuzz.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT
failed=0 passed=0 names=()

# fuzz NAME BIN: its run, its exit status in $work/NAME.rc
fuzz() {
	local name=$1 bin=$2
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
	    -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/$name" \
	    >"$work/$name.log" 2>&1
	echo $? >"$work/$name.rc"
}

for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	names+=("$name")
	mkdir -p "$work/$name"
	cp "$top/tests/fuzz/corpus/$name"/* "$work/$name/" 2>/dev/null
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	fuzz "$name" "$bin" &
done
wait

for name in ${names[@]+"${names[@]}"}; do
	if [ "$(cat "$work/$name.rc" 2>/dev/null)" = 0 ]; then
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
