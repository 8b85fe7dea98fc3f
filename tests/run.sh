#!/bin/bash
# Runs every test: the unit test programs (one "ok - NAME" line per case)
# and the integration scripts tests/integration/t_*.sh against real Dovecot
# (each script is one test; it exits 0 on success, 77 when skipped).
# Prints each test's result and time as it ends, the slowest ten, and a
# summary line "N passed, N failed, N skipped"; exits non-zero on failure.
#
# Tests run in parallel, JOBS at a time (default: 4 per CPU; most of a
# test's time is spent waiting on daemons, not computing). As root, each
# runs in a network namespace of its own (loopback only, plus one address
# that is not 127.0.0.1, as a machine has): its 127.x addresses, ports and
# iptables rules are its own, not shared with the other tests or with
# anyone else's. A test's output is kept and shown when it ends, so the
# outputs of tests running together never mix. The longest start first:
# how long each took is kept in $BUILD/tests/durations for the next run.
#
# Lines in a script's header tell how it may share the machine:
#   # runs without root    it needs no root: without root only these run
#   # runs long            it takes half a minute or more: started among
#                          the first when no earlier run timed it
#   # runs heavy           it keeps a CPU busy: it counts as JOBS/3 tests
#                          and no other heavy one runs beside it, so that
#                          the deadlines of the tests beside it do not
#                          suffer from it
#   # runs alone           nothing else runs while it does (its figures or
#                          deadlines would suffer from any neighbour)
#   # runs with lock NAME  it uses something of the whole machine (the
#                          package system, a file in /etc): one test holding
#                          lock NAME at a time, also across simultaneous runs
#                          of this script (flock on /tmp/poolmon-tests-NAME.lock)
#   # runs with packages SET   it needs the Debian packages of
#                          "scripts/deps.sh SET": installed (as root) before
#                          any test starts, outside the namespaces, where
#                          the network is
#
# TESTS="t_foo t_bar" limits the integration scripts run. JOBS=1 runs one
# test at a time, the longest first.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
export POOLMOND="$PWD/$BUILD/poolmond"
export POOLMONCTL="$PWD/$BUILD/poolmonctl"
export TOOLS="$PWD/$BUILD/tests"

ncpu=$(nproc 2>/dev/null || echo 2)
JOBS=${JOBS:-$((4 * ncpu))}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "JOBS=$JOBS: not a number of tests" >&2; exit 2; }

passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/poolmon-tests.XXXXXX) || exit 1
run_start=$EPOCHREALTIME

# ---------------------------------------------------------------- isolation

# As root, a test runs in a fresh network namespace: lo up, and 192.0.2.1
# (TEST-NET-1, used by no test) so that getaddrinfo's AI_ADDRCONFIG, which
# ignores 127.0.0.1, sees a configured IPv4 address as on a real machine.
isolate=()
if [ "$(id -u)" -eq 0 ]; then
	if unshare -n sh -c 'ip link set lo up && ip addr add 192.0.2.1/32 dev lo' 2>/dev/null; then
		isolate=(unshare -n sh -c 'ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec "$@"' isolate)
	else
		echo "cannot make a network namespace (unshare -n, ip): running one test at a time in this one"
		JOBS=1
	fi
fi

# Each test in a session of its own: where the scheduler groups processes
# by session (autogroup, on by default in Debian's kernels), a test that
# keeps the CPUs busy then takes its share, not its neighbours'.
session=()
setsid -w true 2>/dev/null && session=(setsid -w)

# ---------------------------------------------------------------- the tests

# Per test: what to run, how to report it, how it shares the machine, and
# how long it should take: as long as it took last time ($BUILD/tests/
# durations, written at the end of each run; else tests/durations, a full
# run's times kept in the tree), else 60 s for one that says it runs
# long, 10 s for the others.
declare -A KIND CMD COST LOCK HEAVY GUESS LAST
durations=$BUILD/tests/durations
# A fresh clone starts from the times of a full run kept in the tree
# (tests/durations): its longest tests then start first too.
for known in tests/durations "$durations"; do
	[ -r "$known" ] || continue
	while read -r name secs; do
		[[ $secs =~ ^[0-9]+(\.[0-9]+)?$ ]] && LAST[$name]=$secs
	done <"$known"
done
alone=() others=()

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	name=$(basename "$t")
	KIND[$name]=unit CMD[$name]=$t COST[$name]=1 LOCK[$name]="" HEAVY[$name]=""
	GUESS[$name]=${LAST[$name]:-1}
	others+=("$name")
done

# Most integration tests start Dovecot and need root; those marked
# "# runs without root" (man pages, unit files) run for anyone.
scripts=(tests/integration/t_*.sh)
if [ "$(id -u)" -ne 0 ]; then
	mapfile -t scripts < <(grep -l '^# runs without root$' "${scripts[@]}")
	echo "integration tests that start Dovecot need root: running only" \
	    "${#scripts[@]} that do not"
fi
third=$(( (JOBS + 2) / 3 ))
for s in "${scripts[@]}"; do
	name=$(basename "$s" .sh)
	if [ -n "${TESTS:-}" ] && ! grep -qw "$name" <<<"$TESTS"; then
		continue
	fi
	KIND[$name]=integration CMD[$name]=$s COST[$name]=1 LOCK[$name]="" HEAVY[$name]=""
	LOCK[$name]=$(sed -n 's/^# runs with lock \([A-Za-z0-9_-]*\)$/\1/p' "$s" | head -n 1)
	GUESS[$name]=10
	grep -qx '# runs long' "$s" && GUESS[$name]=60
	GUESS[$name]=${LAST[$name]:-${GUESS[$name]}}
	grep -qx '# runs heavy' "$s" && COST[$name]=$third HEAVY[$name]=1
	if grep -qx '# runs alone' "$s"; then
		COST[$name]=$JOBS
		alone+=("$name")
	else
		others+=("$name")
	fi
done
# Those that need the machine to themselves first, while it is empty; then
# the longest first, so that none of them is what the run waits for at its
# end.
mapfile -t others < <(for name in ${others[@]+"${others[@]}"}; do
	echo "${GUESS[$name]} $name"
done | sort -s -k1,1nr | cut -d' ' -f2)
order=(${alone[@]+"${alone[@]}"} ${others[@]+"${others[@]}"})

# What the tests need from the network, before they are cut off from it.
if [ "$(id -u)" -eq 0 ]; then
	for set in $(for name in "${!KIND[@]}"; do
		[ "${KIND[$name]}" = integration ] &&
			sed -n 's/^# runs with packages \([a-z]*\)$/\1/p' "${CMD[$name]}"
	done | sort -u); do
		scripts/deps.sh "$set" ||
			echo "could not install the packages of $set: the tests that need them will fail"
	done
fi

# ---------------------------------------------------------------- reports

declare -A TOOK
fmt_secs() {	# microsecond timestamps START END -> seconds, one decimal
	local us=$(( ${2//[.,]/} - ${1//[.,]/} ))
	printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

report_unit() {	# NAME RC SECS
	local name=$1 rc=$2 took=$3 out p f
	out=$(cat "$logdir/$name.out")
	# Figures a test prints ("# ..."), such as timings.
	grep '^# ' <<<"$out"
	p=$(grep -c '^ok - ' <<<"$out")
	f=$(grep -c '^not ok - ' <<<"$out")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		[ "$f" -eq 0 ] && failed=$((failed + 1))
		failures+=("$name")
		grep '^not ok' <<<"$out"
		cat "$logdir/$name.err"
		[ "$rc" -eq 124 ] && echo "unit $name: killed after 300 s"
	fi
	echo "unit $name: $p passed, $f failed (${took}s)"
}

report_integration() {	# NAME RC SECS
	local name=$1 rc=$2 took=$3
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
}

# ---------------------------------------------------------------- scheduling

declare -A PID STARTED	# name -> pid, start time, while it runs
declare -A HELD		# lock name -> 1 while a test of ours holds it
free=$JOBS heavy_running=""
# Each test says on this pipe when it ends: "NAME EXIT_STATUS END_TIME".
mkfifo "$logdir/.ended" && exec {ended}<>"$logdir/.ended" || exit 1

# start NAME: in the background, output to its files, under its lock.
start() {
	local name=$1 lock=${LOCK[$1]}
	(
		child=""
		trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT HUP
		if [ -n "$lock" ] && ! { exec 9>"/tmp/poolmon-tests-$lock.lock" && flock 9; }; then
			echo "cannot take the lock $lock" >"$logdir/$name.log"
			echo "$name 1 $EPOCHREALTIME" >&"$ended"
			exit 1
		fi
		if [ "${KIND[$name]}" = unit ]; then
			${session[@]+"${session[@]}"} ${isolate[@]+"${isolate[@]}"} \
			    timeout -k 10 300 "${CMD[$name]}" \
			    </dev/null >"$logdir/$name.out" 2>"$logdir/$name.err" {ended}>&- 9>&- &
		else
			TB_KEEP_LOGS="$logdir/$name.files" \
			    ${session[@]+"${session[@]}"} ${isolate[@]+"${isolate[@]}"} \
			    timeout -k 10 600 bash "${CMD[$name]}" \
			    </dev/null >"$logdir/$name.log" 2>&1 {ended}>&- 9>&- &
		fi
		# (Daemons it starts keep what they inherit: not the pipe, not
		# the lock, which only this shell holds.)
		child=$!
		# (again after a signal's trap has passed it on)
		while :; do
			wait "$child"
			rc=$?
			kill -0 "$child" 2>/dev/null || break
		done
		echo "$name $rc $EPOCHREALTIME" >&"$ended"
	) &
	PID[$name]=$!
	STARTED[$name]=$EPOCHREALTIME
	free=$((free - COST[$name]))
	[ -n "$lock" ] && HELD[$lock]=1
	[ -n "${HEAVY[$name]}" ] && heavy_running=1
}

# Start the first test in order that fits, if any. One that does not fit
# yet keeps the tests after it from starting, so that one needing many
# slots is not starved.
start_next() {
	local i name lock cost
	for i in "${!order[@]}"; do
		name=${order[i]}
		lock=${LOCK[$name]}
		[ -n "$lock" ] && [ -n "${HELD[$lock]:-}" ] && continue
		[ -n "${HEAVY[$name]}" ] && [ -n "$heavy_running" ] && continue
		cost=${COST[$name]}
		[ "$cost" -gt "$JOBS" ] && cost=$JOBS
		[ "$cost" -le "$free" ] || return 1
		start "$name"
		unset 'order[i]'
		order=(${order[@]+"${order[@]}"})
		return 0
	done
	return 1
}

stop_all() {
	local name
	for name in "${!PID[@]}"; do
		kill -TERM "${PID[$name]}" 2>/dev/null
	done
	wait
	echo "interrupted; logs in $logdir"
	exit 130
}
trap stop_all INT TERM HUP

echo "running ${#order[@]} tests, up to $JOBS at a time (JOBS)"
while [ "${#order[@]}" -gt 0 ] || [ "${#PID[@]}" -gt 0 ]; do
	# A quarter of a second between two starts: a test's start (its
	# certificates, its Dovecot instances) is the busiest part of it, and
	# a whole wave of them at once would crowd its neighbours' deadlines.
	# (A sleep, not a read with a timeout, which could cut a line in two.)
	if start_next; then
		sleep 0.25
		continue
	fi
	read -r name rc end <&"$ended" || continue
	[ -n "${PID[$name]:-}" ] || continue
	wait "${PID[$name]}"
	took=$(fmt_secs "${STARTED[$name]}" "$end")
	TOOK[$name]=$took
	unset 'PID[$name]' 'STARTED[$name]'
	free=$((free + COST[$name]))
	[ -n "${LOCK[$name]}" ] && unset 'HELD[${LOCK[$name]}]'
	[ -n "${HEAVY[$name]}" ] && heavy_running=""
	"report_${KIND[$name]}" "$name" "$rc" "$took"
done

# This run's times for the next one's order (those of tests it did not run
# kept).
if [ "${#TOOK[@]}" -gt 0 ] && [ -d "${durations%/*}" ] && [ -w "${durations%/*}" ]; then
	for name in "${!TOOK[@]}"; do LAST[$name]=${TOOK[$name]}; done
	for name in "${!LAST[@]}"; do echo "$name ${LAST[$name]}"; done | sort >"$durations.new" &&
		mv "$durations.new" "$durations"
fi

if [ "${#TOOK[@]}" -gt 0 ]; then
	echo "slowest tests:"
	for name in "${!TOOK[@]}"; do
		echo "${TOOK[$name]} $name"
	done | sort -rn | head -n 10 | awk '{ printf "  %6ss %s\n", $1, $2 }'
fi
echo "all tests: $(fmt_secs "$run_start" "$EPOCHREALTIME")s wall, up to $JOBS at a time"
[ "$failed" -eq 0 ] && rm -rf "$logdir"
[ "$failed" -gt 0 ] && echo "failed: ${failures[*]} (logs in $logdir)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
