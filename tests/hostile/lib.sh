# shellcheck shell=bash
# tests/hostile/lib.sh - helpers of the robustness tests (issue 6). Source
# after tests/lib/testbed.sh and tests/lib/poolmon.sh, then call tb_init.
# Needs $TOOLS (tests/run.sh exports it) with the programs built from
# tests/hostile/*.c and tests/tools/*.c.
#
#   hs_server IP PORT STEP...  a tests/hostile/hostile server (tracked for
#                              cleanup), listening when it returns; its
#                              connection log is hs_connlog IP PORT; its
#                              pid is HS_LAST_PID
#   hs_conns IP PORT           that log's connection lines
#   hs_pm_start ARGS...        pm_start's poolmond, run under tests/hostile/
#                              maxrss; sets PM_PID (the wrapper) and
#                              PM_DAEMON (poolmond itself)
#   hs_maxrss                  after pm_stop: largest RSS (kB) of poolmond
#                              and every process it reaped
#   hs_status_kb PID KEY       a /proc/PID/status value (VmHWM, VmRSS...)
#   hs_watch_start / hs_watch_stop   tests/hostile/procwatch on PM_DAEMON;
#                              hs_watch_field KEY reads its summary
#   hs_check_line IP PORTNAME  the first debug line of that check
#   hs_check_ms IP PORTNAME    the latency it reports
#   hs_wait_count REGEX N SECS until pm_count_log REGEX is N or more
#   hs_children PID            pids whose parent is PID
#   hs_check_processes PID     those but poolmond's spawn server
#   hs_log_ascii FILE          0 when FILE holds only printable ASCII lines
#   hs_mem_checked             0 unless $POOLMOND is an ASan build: its
#                              shadow memory and quarantine make memory
#                              figures meaningless, so bounds are skipped

: "${TOOLS:?TOOLS must point at the built test programs}"
HS_WATCH_PID=""
HS_LAST_PID=""
PM_DAEMON=""

for _hs_tool in hostile maxrss procwatch; do
	[ -x "$TOOLS/$_hs_tool" ] || { echo "$TOOLS/$_hs_tool not built (make tests)" >&2; exit 1; }
done

hs_connlog() {
	echo "$TB_DIR/hostile-$1-$2.log"
}

hs_server() {
	local ip=$1 port=$2 log
	shift 2
	log=$(hs_connlog "$ip" "$port")
	rm -f "$log"
	"$TOOLS/hostile" -L "$log" "$ip" "$port" "$@" \
		</dev/null >>"$TB_DIR/hostile.out" 2>&1 &
	HS_LAST_PID=$!
	tb_track_pid "$HS_LAST_PID"
	# No probe connection: it would be the log's first.
	for _ in $(seq 1 50); do
		[ -s "$log" ] && return 0
		sleep 0.1
	done
	echo "hostile server on $ip:$port did not start:" >&2
	tail -n 5 "$TB_DIR/hostile.out" >&2
	return 1
}

hs_conns() {
	grep '^conn=' "$(hs_connlog "$1" "$2")"
}

hs_pm_start() {
	rm -f "$TB_DIR/poolmond.pid" "$TB_DIR/maxrss.out"
	"$TOOLS/maxrss" "$TB_DIR/maxrss.out" "$POOLMOND" -f \
		-S "${TB_DIRECTOR_SOCKET:-$TB_DIR/director/run/director-admin}" \
		-k "$TB_DIR/poolmond.pid" -l "$(pm_log)" --state-file "$TB_DIR/state" \
		--control-socket "$TB_DIR/ctl.sock" "$@" \
		</dev/null >>"$TB_DIR/poolmond.out" 2>&1 &
	PM_PID=$!
	tb_track_pid "$PM_PID"
	PM_DAEMON=""
	for _ in $(seq 1 50); do
		PM_DAEMON=$(cat "$TB_DIR/poolmond.pid" 2>/dev/null)
		[ -n "$PM_DAEMON" ] && [ -d "/proc/$PM_DAEMON" ] && return 0
		sleep 0.1
	done
	echo "poolmond did not write its pid; output:" >&2
	cat "$TB_DIR/poolmond.out" >&2
	return 1
}

hs_maxrss() {
	sed -n 's/^maxrss_kb=\([0-9]*\) .*/\1/p' "$TB_DIR/maxrss.out" 2>/dev/null
}

hs_status_kb() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null
}

hs_watch_start() {
	"$TOOLS/procwatch" "$PM_DAEMON" "${1:-20}" "$TB_DIR/procwatch.out" &
	HS_WATCH_PID=$!
	tb_track_pid "$HS_WATCH_PID"
}

hs_watch_stop() {
	[ -n "$HS_WATCH_PID" ] || return 1
	kill -TERM "$HS_WATCH_PID" 2>/dev/null
	wait "$HS_WATCH_PID"
	HS_WATCH_PID=""
	[ -s "$TB_DIR/procwatch.out" ]
}

hs_watch_field() {
	head -n 1 "$TB_DIR/procwatch.out" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

hs_check_line() {
	grep -a -m 1 -F "debug: $1 $2 " "$(pm_log)" | sed 's/.*debug: //'
}

hs_check_ms() {
	hs_check_line "$1" "$2" | sed -nE 's/.*\(([0-9]+) ms, [0-9]+ tr(y|ies)\)$/\1/p'
}

hs_wait_count() {
	for _ in $(seq 1 $(($3 * 10))); do
		[ "$(pm_count_log "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "log has $(pm_count_log "$1") lines matching '$1', not $2; its end:" >&2
	tail -n 20 "$(pm_log)" >&2
	return 1
}

hs_children() {
	cat "/proc/$1/task/$1/children" 2>/dev/null
}

hs_check_processes() {
	local c
	for c in $(hs_children "$1"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = poolmond-spawn ] ||
			echo "$c"
	done
}

hs_log_ascii() {
	! LC_ALL=C grep -q -a -P '[^\x20-\x7e\t]' "$1"
}

hs_mem_checked() {
	if LC_ALL=C grep -q -a __asan_init "$POOLMOND"; then
		echo "note: ASan build: memory bounds not checked"
		return 1
	fi
	return 0
}
