#!/bin/bash
# make bench: poolmond against a real Dovecot director whose host list holds
# N backends, for each N of BENCH_SIZES (default "100 1000 5000"). One
# Dovecot backend with listen = * answers on every 127.1.x.y address, on
# ports of its own (10143 IMAP, 10110 POP3, 10024 LMTP, 10993 IMAPS,
# 10995 POP3S) so it never collides with other Dovecot instances. Five
# ports, logins (IMAP/POP3 with STARTTLS or implicit TLS, verified against
# the test CA) and an LMTP transaction up to RCPT.
#
# It prints one table row per N and never fails on a figure: it reports.
# Needs root (Dovecot instances, iptables). Usage: bench.sh BUILD_DIR
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
POOLMOND=$top/$build/poolmond
POOLMONCTL=$top/$build/poolmonctl
TOOLS=$top/$build/tests
export POOLMOND POOLMONCTL TOOLS BUILD=$build
sizes=${BENCH_SIZES:-100 1000 5000}
scans=${BENCH_SCANS:-3}
interval=${BENCH_INTERVAL:-10}
. "$top/tests/lib/testbed.sh"

[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }

# CPU ticks of the daemon and its reaped children.
cpu_ticks() {
	awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"
}

# CPU ticks of a process tree: the Dovecot instance serving the checks
# (its master counts the login and mail processes it has reaped).
tree_ticks() {
	local root=$1
	ps -e -o pid=,ppid= | awk -v root="$root" '
		{ parent[$1] = $2 }
		END {
			n = 1; todo[1] = root; inside[root] = 1
			while (n > 0) {
				p = todo[n--]; print p
				for (c in parent)
					if (parent[c] == p && !(c in inside)) {
						inside[c] = 1; todo[++n] = c
					}
			}
		}' | while read -r p; do
		cat "/proc/$p/stat" 2>/dev/null
	done | awk '{ t += $14 + $15 + $16 + $17 } END { print t + 0 }'
}

# Median milliseconds of COUNT "poolmonctl --json status" calls.
status_latency() {
	local count=$1 i s e
	for i in $(seq 1 "$count"); do
		s=$(_tb_now_ms)
		"$POOLMONCTL" -s "$ctl" -t 60 --json status >/dev/null
		e=$(_tb_now_ms)
		echo $((e - s))
	done | sort -n | sed -n "$(( (count + 1) / 2 ))p"
}

json_field() {
	"$POOLMONCTL" -s "$ctl" --json status | jq -r ".$1"
}

# Seconds (ms precision) until the director shows IP in STATE.
time_to_state() {
	local ip=$1 want=$2 limit=$3 t0 now
	t0=$(_tb_now_ms)
	while :; do
		[ "$(tb_host_state "$ip" 2>/dev/null)" = "$want" ] && break
		now=$(_tb_now_ms)
		[ $((now - t0)) -gt $((limit * 1000)) ] && { echo "> ${limit}"; return; }
		sleep 0.1
	done
	now=$(_tb_now_ms)
	awk -v ms=$((now - t0)) 'BEGIN { printf "%.1f", ms / 1000 }'
}

start_poolmond() {
	"$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" -l "$TB_DIR/poolmond.log" \
		--state-file "$TB_DIR/state" --control-socket "$ctl" \
		-p IMAP:10143 -p POP3:10110 -p LMTP:10024 -s IMAP:10993 -s POP3:10995 \
		-c "$TB_DIR/cred" --lmtp-to=testuser --ssl-ca "$TB_DIR/ca.pem" \
		--ssl-name backend.test -t 5 "$@" </dev/null >/dev/null 2>&1 &
	pm=$!
	tb_track_pid "$pm"
	for _ in $(seq 1 100); do
		"$POOLMONCTL" -s "$ctl" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench: poolmond did not start" >&2
	return 1
}

stop_poolmond() {
	kill -TERM "$pm" 2>/dev/null
	wait "$pm" 2>/dev/null
}

run_size() {
	local n=$1 servers t0 t1 c0 c1 s0 s1 forks0 forks1 i wall cpu hwm lat stopped \
		black childmax sampler ip hz pool_pid server rechecking busylat
	hz=$(getconf CLK_TCK)
	tb_init || return 1
	ctl=$TB_DIR/ctl.sock
	printf 'testuser\ntestpass\n' >"$TB_DIR/cred"
	chmod 600 "$TB_DIR/cred"
	tb_pool_start || return 1
	pool_pid=$(_tb_master_pid "$TB_DIR/backend-pool") || return 1
	servers=$(tb_pool_addresses "$n" | tr '\n' ' ')
	tb_director_start 127.0.10.1 "$servers" || return 1

	# Scans back to back through "poolmonctl recheck" (which waits for the
	# scan), with no interval scan in between.
	start_poolmond -i 3600 || return 1
	# tests/hostile/procwatch samples the check processes' own memory.
	"$TOOLS/procwatch" "$pm" 20 "$TB_DIR/procwatch" &
	sampler=$!
	"$POOLMONCTL" -s "$ctl" -t 3600 recheck >/dev/null 2>&1	# warm-up (PTR, caches)
	forks0=$(json_field children_forked)
	c0=$(cpu_ticks "$pm")
	s0=$(tree_ticks "$pool_pid")
	t0=$(_tb_now_ms)
	for i in $(seq 1 "$scans"); do
		"$POOLMONCTL" -s "$ctl" -t 3600 recheck >/dev/null 2>&1
	done
	t1=$(_tb_now_ms)
	c1=$(cpu_ticks "$pm")
	s1=$(tree_ticks "$pool_pid")
	forks1=$(json_field children_forked)
	failed=$(json_field backends_failed)
	lat=$(status_latency 10)
	# The same while a scan runs: an operator asks when something is wrong.
	"$POOLMONCTL" -s "$ctl" -t 3600 recheck >/dev/null 2>&1 &
	rechecking=$!
	sleep 1
	busylat=$(status_latency 5)
	wait "$rechecking"
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pm/status")
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	childmax=$(sed -n 's/.*max_private_kb=\([0-9]*\).*/\1/p' "$TB_DIR/procwatch" | head -1)
	wall=$(awk -v ms=$((t1 - t0)) -v s="$scans" 'BEGIN { printf "%.2f", ms / s / 1000 }')
	cpu=$(awk -v t=$((c1 - c0)) -v s="$scans" -v hz="$hz" 'BEGIN { printf "%.2f", t / s / hz }')
	server=$(awk -v t=$((s1 - s0)) -v s="$scans" -v hz="$hz" 'BEGIN { printf "%.2f", t / s / hz }')
	perb=$(awk -v t=$((c1 - c0)) -v s="$scans" -v hz="$hz" -v n="$n" \
		'BEGIN { printf "%.2f", t / s / hz / n * 1000 }')
	stop_poolmond

	# Detection latency at a real interval: a refused backend (service
	# stopped: TCP reset) and a blackholed one (packets dropped).
	stopped=- black=-
	# Its two backends are the pool's 7th and 9th.
	if [ "${BENCH_DETECT:-1}" = 1 ] && [ "$n" -ge 9 ]; then
		detect_latency
	fi
	printf '| %5d | %7s | %6s | %7s | %8s | %8s | %7s | %7s | %6s | %6s | %6s | %9s | %9s |\n' \
		"$n" "$cpu" "$perb" "$server" "$wall" "$((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 ))" \
		"$childmax" "$(( (forks1 - forks0) / scans ))" "$failed" "$lat" "$busylat" \
		"$stopped" "$black"
	tb_cleanup
}

detect_latency() {
	local limit
	# Actions follow a scan's end: a scan longer than the interval bounds
	# detection, so wait out two of them (the size's measured wall time).
	limit=$(awk -v i="$interval" -v w="$wall" 'BEGIN { printf "%d", i * 4 + 60 + 2 * w }')
	start_poolmond -i "$interval" || return 1
	sleep 2
	ip=127.1.0.7
	iptables -w 5 -I INPUT -d "$ip/32" -p tcp -m comment --comment "$_TB_TAG" \
		-j REJECT --reject-with tcp-reset
	stopped=$(time_to_state "$ip" D "$limit")
	tb_unblock "$ip"
	iptables -w 5 -D INPUT -d "$ip/32" -p tcp -m comment --comment "$_TB_TAG" \
		-j REJECT --reject-with tcp-reset 2>/dev/null
	ip=127.1.0.9
	tb_block "$ip"
	black=$(time_to_state "$ip" D "$limit")
	tb_unblock "$ip"
	stop_poolmond
}

# What this machine charges for the parts of a check process, measured
# without poolmond (tests/tools/calibrate): the floor under ms/backend.
calibrate() {
	local out
	tb_init || return 1
	tb_pool_start || return 1
	echo
	echo "Machine floor (tests/tools/calibrate, CPU per event):"
	if out=$("$TOOLS/calibrate" 127.1.0.1 10993 "$TB_DIR/ca.pem" backend.test 200); then
		echo "$out" | sed 's/^/  /'
	else
		echo "  (calibration failed)"
	fi
	tb_cleanup
}

echo "poolmond benchmark: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
echo "5 ports (IMAP, POP3, LMTP, IMAPS, POP3S), logins and LMTP RCPT; -t 5, --retries 3;"
echo "$scans scans per size after a warm-up; detection at -i $interval."
echo
echo "| N     | CPU s/scan | ms/backend | Dovecot CPU s/scan | wall s/scan | daemon MiB | child KiB | forks/scan | failed | status ms | status ms, scanning | stopped s | blackhole s |"
echo "|-------|---------|--------|---------|----------|----------|---------|---------|--------|--------|--------|-----------|-----------|"
for n in $sizes; do
	run_size "$n" || echo "| $n | (failed: see above) |"
done
# An if, not "[ ] && calibrate": with BENCH_CALIBRATE=0 that would end
# the script, and make bench, with status 1.
if [ "${BENCH_CALIBRATE:-1}" = 1 ]; then
	calibrate
fi
