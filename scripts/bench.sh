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
# Then the floor section: at BENCH_FLOOR_N backends (200), the machine's
# floor for one backend's check (tests/tools/calibrate: fork, a TLS
# handshake in a fresh and in a warm process, and check_floor, a process
# checking the same five ports and nothing else, over as many checks as
# poolmond's rechecks make, N x BENCH_SCANS, 100 at least) against
# poolmond's CPU per backend, in turns (BENCH_FLOOR_ROUNDS, 3) so that
# other work on the machine weighs on both alike, over rechecks (every
# backend at once) and over scans at -i BENCH_FLOOR_INTERVAL (10 s: each
# backend at its own offset, as poolmond works); and the daemon's and its
# spawn server's resident and private memory, idle and during the scans.
# Then like for like: poolmond checking one backend at a time
# (--max-children=1) against check_floor, which checks one at a time too,
# and its rechecks (all N check processes at once) against
# check_floor_at_once (calibrate running as many at once: on a machine of
# few cores, checks running side by side cost each more CPU than one
# alone, floor or poolmond).
# Then paired with the floor (BENCH_FLOOR_PAIRS, 10; 0: none): rechecks,
# spread scans and rechecks one at a time, each measurement between two
# runs of calibrate and set against their mean, since this machine's
# speed moves by a fifth between two runs of calibrate seconds apart.
# BENCH_POOLMON07=PATH (the Perl poolmon's script; it needs Debian's
# libio-socket-inet6-perl) sets its idle memory beside poolmond's, with
# the same two plain ports.
# BENCH_BASELINE=DIR adds the poolmond of another build directory (an
# earlier version) to the same turns.
# Between the two, the detection table: at each N of BENCH_DETECT_SIZES
# ("100 1000 5000"; empty: none), the time from a backend's failure to its
# HOST-DOWN and the check processes alive at once (its section below).
# Needs root (Dovecot instances, iptables). Usage: bench.sh BUILD_DIR
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
POOLMOND=$top/$build/poolmond
POOLMONCTL=$top/$build/poolmonctl
TOOLS=$top/$build/tests
export POOLMOND POOLMONCTL TOOLS BUILD=$build
# Empty: no sizes, the floor section only.
sizes=${BENCH_SIZES-100 1000 5000}
scans=${BENCH_SCANS:-3}
interval=${BENCH_INTERVAL:-10}
# Empty: no detection table.
detect_sizes=${BENCH_DETECT_SIZES-100 1000 5000}
. "$top/tests/lib/testbed.sh"

[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }

# CPU ticks of the daemon and its reaped children (the check processes),
# and of the children it has not reaped: its spawn server, which forks
# them.
cpu_ticks() {
	tree_ticks "$1"
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

# Until poolmond's control socket answers; 1 after 10 s.
wait_poolmond_started() {
	for _ in $(seq 1 100); do
		"${PMCTL_BIN:-$POOLMONCTL}" -s "$ctl" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench: poolmond did not start" >&2
	return 1
}

start_poolmond() {
	"${PM_BIN:-$POOLMOND}" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" -l "$TB_DIR/poolmond.log" \
		--state-file "$TB_DIR/state" --control-socket "$ctl" \
		-p IMAP:10143 -p POP3:10110 -p LMTP:10024 -s IMAP:10993 -s POP3:10995 \
		-c "$TB_DIR/cred" --lmtp-to=testuser --ssl-ca "$TB_DIR/ca.pem" \
		--ssl-name backend.test -t 5 "$@" </dev/null >/dev/null 2>&1 &
	pm=$!
	tb_track_pid "$pm"
	wait_poolmond_started
}

# poolmond with two plain ports, no login, dry-run.
start_poolmond_plain() {
	"$POOLMOND" -f -n -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" \
		-l "$TB_DIR/poolmond.log" --state-file "$TB_DIR/state" \
		--control-socket "$ctl" -p IMAP:10143 -p POP3:10110 -t 5 -i 3600 \
		</dev/null >/dev/null 2>&1 &
	pm=$!
	tb_track_pid "$pm"
	wait_poolmond_started
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
	# For tests/integration/t_bench.sh to show when a time is out of bounds.
	if [ -n "${BENCH_DETECT_LOG:-}" ]; then
		cp "$TB_DIR/poolmond.log" "$BENCH_DETECT_LOG" 2>/dev/null
	fi
}

# ---- The detection table (issue 21 item 1) ----
#
# At each N of BENCH_DETECT_SIZES, poolmond at -i BENCH_INTERVAL checks
# the two plain ports of poolmon 0.7's defaults (BENCH_DETECT_PORTS): the
# machine must afford N checks an interval, and the five ports with
# logins cost some 26 ms of CPU a backend (the table above), so 5000 of
# them would not fit into 10 s of two cores. The check processes are
# counted (tests/tools/childcount, every ms) during the first scan, which
# checks all at once, and over one interval after the second. Then, in
# each of BENCH_DETECT_ROUNDS rounds, at a random moment within an
# interval, one backend (a different one each round) gets an iptables
# rule that answers its TCP with a reset, and the bench times its
# detection: until poolmond's verdict (poolmonctl watch, each event
# stamped as it arrives) and until the director's HOST-LIST shows it D
# (tests/tools/host-wait: a poll every BENCH_DETECT_GRAIN ms on one
# connection; the first poll showing D, answered, against the last
# showing U, sent: the window within which it changed). The rule is then
# removed and the backend comes back on its own. BENCH_DEBUG=DIR prints
# each round and keeps the daemon's log and the stamped events in DIR.

detect_ports=${BENCH_DETECT_PORTS:--p IMAP:10143 -p POP3:10110}
detect_rounds=${BENCH_DETECT_ROUNDS:-5}
detect_grain=${BENCH_DETECT_GRAIN:-50}
# poolmond's default, passed so that the failed check's time is known.
retry_delay_ms=500

# In srv, the pid of PID's spawn server (not a check process: childcount
# leaves it out), waiting up to TRIES x 10 ms for it; empty for a poolmond
# without one.
server_pid() {
	local i
	for i in $(seq 0 "$2"); do
		srv=$(pgrep -P "$1" -x poolmond-spawn | head -n 1)
		[ -n "$srv" ] && return 0
		[ "$i" -lt "$2" ] && sleep 0.01
	done
	return 0
}

# Its check processes are counted from the start into FILE until
# $counter is ended: the first scan checks all at once.
start_poolmond_detect() {
	# shellcheck disable=SC2086 # the ports are words
	"$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" \
		-l "$TB_DIR/poolmond.log" --state-file "$TB_DIR/state" \
		--control-socket "$ctl" $detect_ports -t 5 \
		--retry-delay="$retry_delay_ms" -i "$interval" \
		</dev/null >/dev/null 2>&1 &
	pm=$!
	tb_track_pid "$pm"
	server_pid "$pm" 100
	"$TOOLS/childcount" "$pm" 86400 1 $srv >"$1" &
	counter=$!
	tb_track_pid "$counter"
	wait_poolmond_started
}

# Until the watch has seen COUNT scans end; 1 at LIMIT seconds. (A
# status at 5000 backends is megabytes of JSON: not a thing to poll.)
wait_scans() {
	local count=$1 limit=$2 t0
	t0=$(_tb_now_ms)
	while [ "$(grep -c '"event": "scan"' "$TB_DIR/watch")" -lt "$count" ]; do
		[ $(($(_tb_now_ms) - t0)) -gt $((limit * 1000)) ] && return 1
		sleep 0.2
	done
}

# A random decimal number of seconds in [0, MAX).
random_secs() {
	awk -v max="$1" -v seed="$RANDOM$RANDOM" 'BEGIN { srand(seed);
		printf "%.3f", rand() * max }'
}

# Unix ms of the first "EVENT" of IP with DETAIL in the stamped watch
# FILE at or after SINCE (ms); empty when none.
watched_ms() {
	awk -v ip="\"host\": \"$2\"" -v ev="\"event\": \"$3\"" \
		-v detail="\"detail\": \"$4\"" -v since="$5" '
		index($0, ip) && index($0, ev) && index($0, detail) {
			split($1, t, "."); ms = t[1] * 1000 + int(t[2] / 1000)
			if (ms >= since) { print ms; exit }
		}' "$1"
}

# Seconds a check of IP took to fail, from poolmond's status: its
# slowest port's tries, each the latency of the last, with the pauses.
failed_check_secs() {
	"$POOLMONCTL" -s "$ctl" --json show "$1" 2>/dev/null |
		jq -r --argjson d "$retry_delay_ms" '[.checks[]? |
			((.tries // 1) - 1) * $d + (.tries // 1) * (.latency_ms // 0)] |
			if length > 0 then max / 1000 else empty end' 2>/dev/null
}

# One round: a backend refused at a random moment; appends "to_D
# to_verdict verdict_to_D failed_check window" to $TB_DIR/rounds (s, s,
# ms, s, ms), "-" for what was not seen.
detect_round() {
	local ip=$1 limit_ms=$2 tf out lo hi tv down=- verdict=- after=- \
		window=- failed
	sleep "$(random_secs "$interval")"
	iptables -w 5 -I INPUT -d "$ip/32" -p tcp -m comment --comment "$_TB_TAG" \
		-j REJECT --reject-with tcp-reset || return 1
	tf=$(_tb_now_ms)
	# The director shows D by hi, and did not at lo: the change came
	# within the window before hi.
	if out=$("$TOOLS/host-wait" "$TB_DIRECTOR_SOCKET" "$ip" D "$detect_grain" \
		"$limit_ms"); then
		read -r lo hi _ <<<"$out"
		[ "$lo" -lt "$tf" ] && lo=$tf
		down=$(awk -v hi="$hi" -v tf="$tf" 'BEGIN { printf "%.2f", (hi - tf) / 1000 }')
		window=$((hi - lo))
	fi
	tv=$(watched_ms "$TB_DIR/watch" "$ip" verdict failed "$tf")
	if [ -n "$tv" ]; then
		verdict=$(awk -v tv="$tv" -v tf="$tf" 'BEGIN { printf "%.2f", (tv - tf) / 1000 }')
		[ "$down" != - ] && after=$((hi - tv))
	fi
	failed=$(failed_check_secs "$ip")
	iptables -w 5 -D INPUT -d "$ip/32" -p tcp -m comment --comment "$_TB_TAG" \
		-j REJECT --reject-with tcp-reset 2>/dev/null
	echo "$down $verdict $after ${failed:--} $window" >>"$TB_DIR/rounds"
	if [ -n "${BENCH_DEBUG:-}" ]; then
		echo "round $ip: at $tf: $down $verdict $after ${failed:--} $window" >&2
	fi
}

# "M [MIN-MAX]" of column COL of FILE (FORMAT: spread's, or "%d" for
# whole numbers), or "-" when a round saw nothing.
column_spread() {
	if awk -v c="$2" '$c == "-" { bad = 1 } END { exit !bad }' "$1"; then
		echo "- ($(awk -v c="$2" '$c == "-"' "$1" | wc -l) of $(wc -l <"$1") not seen)"
		return
	fi
	if [ "${3:-}" = "%d" ]; then
		awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END {
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.0f [%d-%d]", m, v[1], v[NR] }'
	else
		awk -v c="$2" '{ print $c }' "$1" | spread
	fi
}

# A backend of $addrs not in $used, anywhere in the pool.
random_unused() {
	local ip
	while :; do
		ip=${addrs[$(( (RANDOM * 32768 + RANDOM) % ${#addrs[@]} ))]}
		[[ $used == *" $ip "* ]] || break
	done
	echo "$ip"
}

detect_size() {
	local n=$1 addrs ip r limit_ms f0 f1 median mean max t_ms expected \
		failed bound used=" " watcher window counter first_max t0
	tb_init || return 1
	ctl=$TB_DIR/ctl.sock
	tb_pool_start || return 1
	mapfile -t addrs < <(tb_pool_addresses "$n")
	tb_director_start 127.0.10.1 "${addrs[*]}" || return 1
	start_poolmond_detect "$TB_DIR/first_scan" || return 1
	# Each event stamped as it arrives (poolmonctl flushes each).
	"$POOLMONCTL" -s "$ctl" --json watch --scans 2>/dev/null |
		while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done \
		>"$TB_DIR/watch" &
	watcher=$!
	# The first scan checks everything at once; the second is spread.
	wait_scans 1 $((interval + 300)) || {
		echo "bench: no scan at $n backends" >&2
		return 1
	}
	kill -TERM "$counter"
	wait "$counter"
	read -r _ _ _ first_max <"$TB_DIR/first_scan"
	wait_scans 2 $((2 * interval + 300)) || {
		echo "bench: no second scan at $n backends" >&2
		return 1
	}
	f0=$(json_field children_forked)
	server_pid "$pm" 0
	read -r _ median mean max < <("$TOOLS/childcount" "$pm" "$interval" 1 $srv)
	f1=$(json_field children_forked)
	# Little's law: the mean number alive over the checks started a second.
	t_ms=$(awk -v m="$mean" -v i="$interval" -v f=$((f1 - f0)) \
		'BEGIN { printf "%.1f", (f > 0 ? m * i * 1000 / f : 0) }')
	expected=$(awk -v n="$n" -v t="$t_ms" -v i="$interval" \
		'BEGIN { printf "%.2f", n * t / 1000 / i }')
	: >"$TB_DIR/rounds"
	# A refused check fails after its retries; the director's HOST-DOWN
	# and poolmond's own delays come on top: wait well beyond the bound.
	limit_ms=$(( (2 * interval + 60) * 1000 ))
	# Each round a backend of its own.
	for r in $(seq 1 $((detect_rounds < n ? detect_rounds : n - 1))); do
		ip=$(random_unused)
		used+="$ip "
		detect_round "$ip" "$limit_ms" || echo "- - - - -" >>"$TB_DIR/rounds"
	done
	stop_poolmond
	wait "$watcher" 2>/dev/null
	# The director's own part of a HOST-DOWN (it rebuilds its hash of
	# every host's vhosts), poolmond stopped, on backends still up.
	for r in 1 2 3; do
		ip=$(random_unused)
		t0=$(_tb_now_ms)
		tb_dcmd HOST-DOWN "$ip" >/dev/null
		echo $(($(_tb_now_ms) - t0))
		tb_dcmd HOST-UP "$ip" >/dev/null
	done >"$TB_DIR/director_down"
	if [ -n "${BENCH_DEBUG:-}" ]; then
		cp "$TB_DIR/poolmond.log" "$BENCH_DEBUG/detect-$n.log"
		cp "$TB_DIR/watch" "$BENCH_DEBUG/watch-$n"
	fi
	failed=$(awk '$4 != "-" { print $4 }' "$TB_DIR/rounds" | sort -g | tail -1)
	[ -n "$failed" ] && failed=$(awk -v f="$failed" 'BEGIN { printf "%.2f", f }')
	bound=$(awk -v i="$interval" -v f="${failed:-0}" 'BEGIN { printf "%.2f", i + f }')
	window=$(awk '$5 != "-" { print $5 }' "$TB_DIR/rounds" | sort -n | tail -1)
	printf '| %5d | %2d | %6d | %6s | %4s | %4s | %6s | %4s | %5s | %5s | %-22s | %-22s | %-16s | %-16s | %4s |\n' \
		"$n" "$interval" $((f1 - f0)) "$t_ms" "$median" "$max" "$expected" "${first_max:--}" \
		"${failed:--}" "$bound" "$(column_spread "$TB_DIR/rounds" 2)" \
		"$(column_spread "$TB_DIR/rounds" 1)" \
		"$(column_spread "$TB_DIR/rounds" 3 %d)" \
		"$(column_spread "$TB_DIR/director_down" 1 %d)" "${window:--}"
	tb_cleanup
}

detect_section() {
	local n
	echo
	echo "Detection at -i $interval ($detect_ports, -t 5, --retries 3," \
		"--retry-delay $retry_delay_ms): in each of $detect_rounds rounds a backend" \
		"refused (TCP reset) at a random moment; the time until poolmond's verdict" \
		"(poolmonctl watch) and until the director's HOST-LIST shows it D (polled" \
		"every $detect_grain ms; poll window: how long before that it may have" \
		"changed); median [min-max]. Bound: one interval and the failed check's time."
	echo "Check processes alive (or not yet reaped) over one interval after two" \
		"scans, sampled every ms; check ms: their mean lifetime (mean alive x" \
		"interval / checks started). The first scan checks all at once."
	echo
	echo "| N     | -i s | checks/interval | check ms | alive median | alive max | expected N x t / i | first scan alive max | failed check s | bound s | to verdict s | to HOST-DOWN s | verdict to HOST-DOWN ms | director's own HOST-DOWN ms | poll window ms |"
	echo "|-------|----|--------|--------|------|------|--------|------|-------|-------|------------------------|------------------------|------------------|------------------|------|"
	for n in $detect_sizes; do
		detect_size "$n" || { echo "| $n | (failed: see above) |"; tb_cleanup; }
	done
}

# Rss and private (Private_Clean + Private_Dirty) KiB of PID.
mem_kb() {
	awk '/^Rss:/ { r = $2 } /^Private_(Clean|Dirty):/ { p += $2 }
		END { print r + 0, p + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null
}

# Pss KiB of the PIDs together (a page they share counted once).
pss_kb() {
	local p
	for p in "$@"; do
		cat "/proc/$p/smaps_rollup" 2>/dev/null
	done | awk '/^Pss:/ { t += $2 } END { print t + 0 }'
}

# Rss and private KiB of poolmond's spawn server (0 0: none, an older
# poolmond), and the Pss of poolmond and its server together.
server_mem_kb() {
	local srv
	srv=$(pgrep -P "$1" -x poolmond-spawn | head -n 1)
	if [ -n "$srv" ]; then
		echo "$(mem_kb "$srv") $(pss_kb "$1" "$srv")"
	else
		echo "0 0 $(pss_kb "$1")"
	fi
}

# Until TERM: the largest Rss and private KiB of PID, into FILE.
mem_sampler() {
	local pid=$1 file=$2 r p rmax=0 pmax=0 stop=
	trap 'stop=1' TERM
	while [ -z "$stop" ] && read -r r p < <(mem_kb "$pid"); do
		[ "${r:-0}" -gt "$rmax" ] && rmax=$r
		[ "${p:-0}" -gt "$pmax" ] && pmax=$p
		echo "$rmax $pmax" >"$file"
		sleep 0.1
	done
}

# KIB kibibytes as mebibytes, two decimals.
mib() {
	awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'
}

# median, min and max of the numbers on stdin: "M [MIN-MAX]".
spread() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f [%.2f-%.2f]", m, v[1], v[NR] }'
}

# One turn of one poolmond (PM_BIN, PMCTL_BIN): a warm-up scan, its idle
# memory, then BENCH_SCANS scans; appends "ms/backend idle_rss idle_priv
# scan_rss scan_priv server_rss server_priv pss" to FILE (idle; pss: of
# the daemon and its spawn server together).
floor_turn() {
	local n=$1 file=$2 ticks idle sampler peak server
	start_poolmond -i 3600 || return 1
	"$PMCTL_BIN" -s "$ctl" -t 3600 recheck >/dev/null 2>&1
	sleep 1
	idle=$(mem_kb "$pm")
	server=$(server_mem_kb "$pm")
	mem_sampler "$pm" "$TB_DIR/peak" &
	sampler=$!
	ticks=$(recheck_ticks)
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	peak=$(cat "$TB_DIR/peak" 2>/dev/null)
	stop_poolmond
	echo "$(ms_per_backend "$ticks" "$n") $idle $peak $server" >>"$file"
	spread_turn "$n" "$file.spread"
	one_turn "$n" "$file.one"
}

# CPU ms a backend from TICKS (CLK_TCK) of poolmond and its children
# over BENCH_SCANS scans of N backends.
ms_per_backend() {
	awk -v t="$1" -v s="$scans" -v hz="$(getconf CLK_TCK)" -v n="$2" \
		'BEGIN { printf "%.3f", t / s / hz / n * 1000 }'
}

# The CPU ticks of the running poolmond over BENCH_SCANS rechecks.
recheck_ticks() {
	local c0
	c0=$(cpu_ticks "$pm")
	for _ in $(seq 1 "$scans"); do
		"$PMCTL_BIN" -s "$ctl" -t 3600 recheck >/dev/null 2>&1
	done
	echo $(($(cpu_ticks "$pm") - c0))
}

# The same poolmond checking one backend at a time (--max-children=1), as
# check_floor does: BENCH_SCANS rechecks after a warm-up; appends
# "ms/backend" to FILE.
one_turn() {
	local n=$1 file=$2 ticks
	start_poolmond -i 3600 --max-children=1 || return 1
	"$PMCTL_BIN" -s "$ctl" -t 3600 recheck >/dev/null 2>&1
	ticks=$(recheck_ticks)
	stop_poolmond
	ms_per_backend "$ticks" "$n" >>"$file"
	echo >>"$file"
}

# scans_completed of poolmond's status, empty when it does not answer.
scans_completed() {
	"$PMCTL_BIN" -s "$ctl" --json status 2>/dev/null | jq -r '.scans_completed // empty'
}

# Until poolmond has completed COUNT scans; 1 after LIMIT seconds.
wait_completed() {
	local count=$1 limit=$2 t0 done_
	t0=$(_tb_now_ms)
	while :; do
		done_=$(scans_completed)
		[ -n "$done_" ] && [ "$done_" -ge "$count" ] && return 0
		[ $(($(_tb_now_ms) - t0)) -gt $((limit * 1000)) ] && return 1
		sleep 0.2
	done
}

# children_forked of poolmond's status, empty when it does not answer.
children_forked() {
	"$PMCTL_BIN" -s "$ctl" --json status 2>/dev/null | jq -r '.children_forked // empty'
}

# CPU ms a check of the running poolmond over SECONDS of its work, and
# on until it has forked CHECKS checks (three times SECONDS at most): its
# ticks over the checks it forked meanwhile. Nothing polls it in the
# first SECONDS (a status call costs the daemon some 0.5 ms at 200
# backends), and the window holds whole scans' worth of checks even
# where the first spread scan starts late in it.
window_ms_per_check() {
	local secs=$1 checks=$2 c0 c1 f0 f1 t0
	c0=$(cpu_ticks "$pm")
	f0=$(children_forked)
	[ -n "$f0" ] || return 1
	t0=$(_tb_now_ms)
	sleep "$secs"
	while f1=$(children_forked) && [ -n "$f1" ] &&
		[ $((f1 - f0)) -lt "$checks" ] &&
		[ $(($(_tb_now_ms) - t0)) -lt $((secs * 3000)) ]; do
		sleep 0.2
	done
	c1=$(cpu_ticks "$pm")
	[ -n "$f1" ] && [ "$f1" -gt "$f0" ] || return 1
	awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v c=$((f1 - f0)) \
		'BEGIN { printf "%.3f", t / hz / c * 1000 }'
}

# The same poolmond at work as configured: scans at -i BENCH_FLOOR_INTERVAL
# (10 s), each backend checked at its own offset (an older poolmond
# checks them all at once at each interval), over BENCH_SCANS intervals
# after the first scan (which checks all at once); appends "ms/backend"
# (CPU a check) to FILE.
spread_turn() {
	local n=$1 file=$2 ms interval=${BENCH_FLOOR_INTERVAL:-10}
	start_poolmond -i "$interval" || return 1
	wait_completed 1 $((interval * 3 + 60)) || { stop_poolmond; return 1; }
	ms=$(window_ms_per_check $((interval * scans)) $((n * scans)))
	stop_poolmond
	echo "$ms" >>"$file"
}

# poolmon 0.7, the Perl script poolmond replaces, when BENCH_POOLMON07
# names it (in the foreground it logs to its standard output, -l or
# not, unbuffered with PERLIO=:unix): "rss private" KiB of it idle after
# its first scan of the two plain ports, as start_poolmond_plain runs
# poolmond (no login, -i 3600); nothing when it is not given or does not
# get through a scan.
poolmon07_idle() {
	local old i mem=
	[ -n "${BENCH_POOLMON07:-}" ] || return 0
	if ! perl -MIO::Socket::INET6 -e 1 2>/dev/null; then
		echo "bench: poolmon 0.7 needs IO::Socket::INET6" \
			"(Debian: libio-socket-inet6-perl)" >&2
		return 0
	fi
	PERLIO=:unix perl "$BENCH_POOLMON07" -f -d -S "$TB_DIRECTOR_SOCKET" \
		-k "$TB_DIR/poolmon07.pid" -l "$TB_DIR/poolmon07.log" \
		-p 10143 -p 10110 -t 5 -i 3600 </dev/null \
		>>"$TB_DIR/poolmon07.log" 2>&1 &
	old=$!
	tb_track_pid "$old"
	for i in $(seq 1 600); do
		grep -q 'Host scans complete' "$TB_DIR/poolmon07.log" 2>/dev/null &&
			break
		kill -0 "$old" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q 'Host scans complete' "$TB_DIR/poolmon07.log" 2>/dev/null; then
		sleep 1
		mem=$(mem_kb "$old")
	else
		echo "bench: poolmon 0.7 did not complete a scan" \
			"within 60 s" >&2
	fi
	kill -TERM "$old" 2>/dev/null
	wait "$old" 2>/dev/null
	[ -n "$mem" ] && echo "$mem"
}

# The floor section (see the top of this file).
floor_section() {
	local n=${BENCH_FLOOR_N:-200} rounds=${BENCH_FLOOR_ROUNDS:-3} r key med \
		range plain_idle old_idle sr sp cal_rounds names=(this) bins=("$POOLMOND") ctls=("$POOLMONCTL") i out
	if [ -n "${BENCH_BASELINE:-}" ]; then
		names+=(baseline)
		bins+=("$(cd "$BENCH_BASELINE" && pwd)/poolmond")
		ctls+=("$(cd "$BENCH_BASELINE" && pwd)/poolmonctl")
	fi
	tb_init || return 1
	ctl=$TB_DIR/ctl.sock
	printf 'testuser\ntestpass\n' >"$TB_DIR/cred"
	chmod 600 "$TB_DIR/cred"
	tb_pool_start || return 1
	tb_director_start 127.0.10.1 "$(tb_pool_addresses "$n" | tr '\n' ' ')" ||
		return 1
	# Idle with plain ports and no login (no TLS: poolmon 0.7's kind of
	# configuration), dry-run: the checks' own ports, no action.
	PM_BIN=$POOLMOND PMCTL_BIN=$POOLMONCTL start_poolmond_plain || return 1
	"$POOLMONCTL" -s "$ctl" -t 3600 recheck >/dev/null 2>&1
	sleep 1
	plain_idle="$(mem_kb "$pm") $(server_mem_kb "$pm")"
	stop_poolmond
	old_idle=$(poolmon07_idle)
	# As many checks as the rechecks of a turn: a floor of 100 checks,
	# under a second's worth, moved with every burst of other work.
	cal_rounds=$((n * scans > 100 ? n * scans : 100))
	for r in $(seq 1 "$rounds"); do
		if out=$(calibrate_floor "$cal_rounds" "$n"); then
			echo "$out" >>"$TB_DIR/calibrate"
		else
			echo "  (calibration failed)"
		fi
		for i in "${!bins[@]}"; do
			PM_BIN=${bins[$i]} PMCTL_BIN=${ctls[$i]} \
				floor_turn "$n" "$TB_DIR/turns.${names[$i]}"
		done
	done
	echo
	echo "Machine floor (tests/tools/calibrate, CPU per event; median [min-max] of $rounds):"
	for key in fork_exit page_first_touch tls_warm tls_fresh check_floor check_floor_at_once; do
		read -r med range < <(awk -v k="$key" '$1 == k { print $2 }' \
			"$TB_DIR/calibrate" | spread)
		echo "  $key $med $(awk -v k="$key" '$1 == k { print $3; exit }' \
			"$TB_DIR/calibrate") ${range:-}"
	done
	echo
	echo "poolmond at $n backends against the floor ($rounds turns, $scans scans each; median [min-max]):"
	echo
	read -r r i sr sp _ <<<"$plain_idle"
	echo "Idle with -p IMAP:10143 -p POP3:10110, no login (no TLS), at $n backends:" \
		"RSS $(mib "$r") MiB," \
		"private $(mib "$i") MiB" \
		"(its spawn server: RSS $(mib "$sr") MiB," \
		"private $(mib "$sp") MiB)"
	if [ -n "$old_idle" ]; then
		read -r r i <<<"$old_idle"
		echo "the Perl poolmon ($BENCH_POOLMON07) with the same ports and options, idle after a scan:" \
			"RSS $(mib "$r") MiB," \
			"private $(mib "$i") MiB"
	else
		echo "poolmon 0.7, the Perl script: not run (BENCH_POOLMON07=PATH of the script runs it here)"
	fi
	echo
	echo "ms/backend and x check_floor: $scans rechecks (every backend at once, up to 256 check"
	echo "processes on $(nproc) cores with the Dovecot serving them); spread: $scans scans at"
	echo "-i ${BENCH_FLOOR_INTERVAL:-10}, each backend at its own offset, as poolmond works between rechecks."
	echo
	echo "| poolmond | ms/backend | x check_floor | ms/backend, spread | x check_floor, spread | idle RSS MiB | idle private MiB | scan RSS MiB | scan private MiB | spawn server idle RSS MiB | spawn server idle private MiB | idle PSS of both MiB |"
	echo "|----------|------------|---------------|------|------|--------------|------------------|--------------|------------------|------|------|------|"
	for i in "${!bins[@]}"; do
		paste -d' ' "$TB_DIR/turns.${names[$i]}" \
			<(awk '$1 == "check_floor" { print $2 }' "$TB_DIR/calibrate") |
			awk -v d="$TB_DIR/col.${names[$i]}" '$NF > 0 {
				print $1 > (d ".ms"); print $1 / $NF > (d ".x")
				for (c = 2; c < NF; c++) print $c / 1024 > (d "." c) }'
		paste -d' ' "$TB_DIR/turns.${names[$i]}.spread" \
			<(awk '$1 == "check_floor" { print $2 }' "$TB_DIR/calibrate") |
			awk -v d="$TB_DIR/col.${names[$i]}" 'NF == 2 && $2 > 0 {
				print $1 > (d ".sms"); print $1 / $2 > (d ".sx") }'
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${names[$i]}" \
			"$(spread <"$TB_DIR/col.${names[$i]}.ms")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.x")" \
			"$(spread 2>/dev/null <"$TB_DIR/col.${names[$i]}.sms")" \
			"$(spread 2>/dev/null <"$TB_DIR/col.${names[$i]}.sx")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.2")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.3")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.4")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.5")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.6")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.7")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.8")"
	done
	echo
	echo "Like for like: poolmond checking one backend at a time (--max-children=1)"
	echo "against check_floor (one check process at a time), and its rechecks above"
	echo "($((n < 256 ? n : 256)) check processes at once) against check_floor_at_once (as many at once):"
	echo
	echo "| poolmond | ms/backend, one at a time | x check_floor | ms/backend, all at once | x check_floor_at_once |"
	echo "|----------|------|------|------|------|"
	for i in "${!bins[@]}"; do
		paste -d' ' "$TB_DIR/turns.${names[$i]}.one" \
			<(awk '$1 == "check_floor" { print $2 }' "$TB_DIR/calibrate") |
			awk -v d="$TB_DIR/col.${names[$i]}" 'NF == 2 && $2 > 0 {
				print $1 > (d ".oms"); print $1 / $2 > (d ".ox") }'
		paste -d' ' "$TB_DIR/turns.${names[$i]}" \
			<(awk '$1 == "check_floor_at_once" { print $2 }' "$TB_DIR/calibrate") |
			awk -v d="$TB_DIR/col.${names[$i]}" '$NF > 0 {
				print $1 / $NF > (d ".ax") }'
		printf '| %s | %s | %s | %s | %s |\n' "${names[$i]}" \
			"$(spread 2>/dev/null <"$TB_DIR/col.${names[$i]}.oms")" \
			"$(spread 2>/dev/null <"$TB_DIR/col.${names[$i]}.ox")" \
			"$(spread <"$TB_DIR/col.${names[$i]}.ms")" \
			"$(spread 2>/dev/null <"$TB_DIR/col.${names[$i]}.ax")"
	done
	paired_section "$n"
	tb_cleanup
}

# calibrate against the pool's five ports over ROUNDS checks, its
# check_floor_at_once with as many at once as a recheck of N backends
# runs (all N, up to --max-children's default of 256): its output.
calibrate_floor() {
	local rounds=$1 n=$2
	"$TOOLS/calibrate" 127.1.0.1 10993 "$TB_DIR/ca.pem" backend.test \
		"$rounds" "$TB_DIR/cred" 10143 10110 10024 10993 10995 \
		$((n < 256 ? n : 256))
}

# calibrate's check_floor and check_floor_at_once over N checks, N at
# once (256 at most): "floor at_once" ms, or nothing if it failed.
floor_sample() {
	calibrate_floor "$1" "$1" |
		awk '$1 == "check_floor" { f = $2 } $1 == "check_floor_at_once" { a = $2 }
			END { if (f > 0 && a > 0) print f, a }'
}

# One measurement of poolmond for paired_run, MODE "recheck": start it
# (ARGS), a warm-up recheck, then CPU ms a backend of one recheck;
# "spread": start it at -i BENCH_FLOOR_INTERVAL, and after its first scan
# (all at once) CPU ms a check over one interval, each backend at its own
# offset. Stopped after either, so that nothing of it runs beside the
# floor.
paired_sample() {
	local mode=$1 n=$2 interval=${BENCH_FLOOR_INTERVAL:-10} ticks ms=
	shift 2
	if [ "$mode" = spread ]; then
		start_poolmond -i "$interval" "$@" || return 1
		wait_completed 1 $((interval * 3 + 60)) &&
			ms=$(window_ms_per_check "$interval" "$n")
	else
		start_poolmond -i 3600 "$@" || return 1
		"$PMCTL_BIN" -s "$ctl" -t 3600 recheck >/dev/null 2>&1
		ticks=$(scans=1 recheck_ticks)
		ms=$(scans=1 ms_per_backend "$ticks" "$n")
	fi
	stop_poolmond
	[ -n "$ms" ] && echo "$ms"
}

# PAIRS measurements of poolmond (paired_sample MODE N ARGS) against the
# floor measured right before and right after each: F0 P1 F1 P2 F2 ...
# PK FK, measurement I against the mean of F(I-1) and FI, so that what
# the machine does meanwhile (other work, a neighbour's) weighs on both
# alike. Appends "ms floor at_once" lines, floors as those means, to
# FILE.
paired_run() {
	local mode=$1 n=$2 pairs=$3 file=$4 prev cur ms k
	shift 4
	prev=$(floor_sample "$n")
	for k in $(seq 1 "$pairs"); do
		ms=$(paired_sample "$mode" "$n" "$@")
		cur=$(floor_sample "$n")
		if [ -n "$ms" ] && [ -n "$prev" ] && [ -n "$cur" ]; then
			echo "$ms $prev $cur" | awk '{ printf "%s %.3f %.3f\n", $1,
				($2 + $4) / 2, ($3 + $5) / 2 }' >>"$file"
		fi
		prev=$cur
	done
}

# Paired with the floor (BENCH_FLOOR_PAIRS, 10; 0: none): poolmond's
# rechecks, its spread scans and its rechecks one at a time
# (--max-children=1), each against check_floor and check_floor_at_once
# measured around it. The turns above compare a floor and a poolmond
# measured up to a minute apart; on a shared machine whose speed moves
# by a fifth from one run of calibrate to the next, their ratio drifts
# with it.
paired_section() {
	local n=$1 pairs=${BENCH_FLOOR_PAIRS:-10} d=$TB_DIR/paired
	[ "$pairs" -gt 0 ] || return 0
	rm -f "$d".*
	export PM_BIN=$POOLMOND PMCTL_BIN=$POOLMONCTL
	paired_run recheck "$n" "$pairs" "$d.all"
	paired_run spread "$n" "$pairs" "$d.spread"
	paired_run recheck "$n" "$pairs" "$d.one" --max-children=1
	echo
	echo "Paired with the floor: $pairs measurements of each kind at $n backends, each"
	echo "against calibrate run right before and right after it (the mean of the two);"
	echo "median [min-max] of the pairs, and the ratio of the sums (all pairs' poolmond"
	echo "CPU over all pairs' floor). Rechecks: every backend at once; spread: one"
	echo "interval of scans at -i ${BENCH_FLOOR_INTERVAL:-10}, CPU a check; one at a time: --max-children=1."
	echo
	echo "| poolmond | pairs | ms/backend | check_floor ms | x check_floor | sums | check_floor_at_once ms | x check_floor_at_once | sums |"
	echo "|----------|-------|------|------|------|------|------|------|------|"
	paired_row "rechecks" "$d.all"
	paired_row "spread" "$d.spread"
	paired_row "one at a time" "$d.one"
}

# One row of the paired table from FILE's "ms floor at_once" lines.
paired_row() {
	local name=$1 file=$2
	[ -s "$file" ] || { echo "| $name | 0 | (no pairs) |"; return; }
	printf '| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
		"$(wc -l <"$file")" \
		"$(awk '{ print $1 }' "$file" | spread)" \
		"$(awk '{ print $2 }' "$file" | spread)" \
		"$(awk '{ print $1 / $2 }' "$file" | spread)" \
		"$(awk '{ p += $1; f += $2 } END { printf "%.3f", p / f }' "$file")" \
		"$(awk '{ print $3 }' "$file" | spread)" \
		"$(awk '{ print $1 / $3 }' "$file" | spread)" \
		"$(awk '{ p += $1; f += $3 } END { printf "%.3f", p / f }' "$file")"
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
if [ -n "$detect_sizes" ] && [ "$detect_rounds" -gt 0 ]; then
	detect_section
fi
# An if, not "[ ] && floor_section": with BENCH_CALIBRATE=0 that would
# end the script, and make bench, with status 1.
if [ "${BENCH_CALIBRATE:-1}" = 1 ]; then
	floor_section || echo "(floor section failed: see above)"
fi
