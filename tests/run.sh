#!/bin/bash
# Runs every test: unit test programs (one "ok - NAME" line per case), then
# the integration scripts tests/integration/t_*.sh against real Dovecot
# (each script is one test; it exits 0 on success, 77 when skipped).
# Prints a summary line "N passed, N failed" and exits non-zero on failure.
# Without root only the integration scripts marked "# runs without root"
# run.
# TESTS="t_foo t_bar" limits the integration scripts run.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
export POOLMOND="$PWD/$BUILD/poolmond"
export POOLMONCTL="$PWD/$BUILD/poolmonctl"
export TOOLS="$PWD/$BUILD/tests"

passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/poolmon-tests.XXXXXX)

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	out=$("$t" 2>"$logdir/$(basename "$t").err")
	rc=$?
	# Figures a test prints ("# ..."), such as timings.
	grep '^# ' <<<"$out"
	p=$(grep -c '^ok - ' <<<"$out")
	f=$(grep -c '^not ok - ' <<<"$out")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		[ "$f" -eq 0 ] && failed=$((failed + 1))
		failures+=("$(basename "$t")")
		grep '^not ok' <<<"$out"
		cat "$logdir/$(basename "$t").err"
	fi
	echo "unit $(basename "$t"): $p passed, $f failed"
done

# Most integration tests start Dovecot and need root; those marked
# "# runs without root" (man pages, unit files) run for anyone.
scripts=(tests/integration/t_*.sh)
if [ "$(id -u)" -ne 0 ]; then
	mapfile -t scripts < <(grep -l '^# runs without root$' "${scripts[@]}")
	echo "integration tests that start Dovecot need root: running only" \
	    "${#scripts[@]} that do not"
fi
for s in "${scripts[@]}"; do
	name=$(basename "$s" .sh)
	if [ -n "${TESTS:-}" ] && ! grep -qw "$name" <<<"$TESTS"; then
		continue
	fi
	start=$(date +%s)
	TB_KEEP_LOGS="$logdir/$name.files" timeout -k 10 600 bash "$s" \
	    >"$logdir/$name.log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $name (${took}s)"
	elif [ "$rc" -eq 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP $name: $(tail -n 1 "$logdir/$name.log")"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "FAIL $name (${took}s, exit $rc); its output:"
		sed 's/^/    /' "$logdir/$name.log" | tail -n 60
		if [ -f "$logdir/$name.files/poolmond.log" ]; then
			echo "    last lines of its poolmond.log:"
			tail -n 40 "$logdir/$name.files/poolmond.log" | sed 's/^/    | /'
		fi
		[ -d "$logdir/$name.files" ] &&
			echo "    (its daemon and Dovecot logs: $logdir/$name.files)"
	fi
done

[ "$failed" -eq 0 ] && rm -rf "$logdir"
[ "$failed" -gt 0 ] && echo "failed: ${failures[*]} (logs in $logdir)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
