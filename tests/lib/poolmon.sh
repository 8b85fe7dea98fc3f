# shellcheck shell=bash
# tests/lib/poolmon.sh - run poolmond in integration tests. Source after
# testbed.sh and tb_init. Needs $POOLMOND (tests/run.sh exports it).
#
#   pm_start ARGS...     poolmond -f with the testbed's director socket, a
#                        pidfile and log under $TB_DIR, plus ARGS; sets PM_PID
#   pm_stop [SECS]       TERM it and wait (max SECS, 10); 0 if it exited 0
#   pm_log               path of its log file
#   pm_wait_log REGEX SECS   wait until the log matches
#   pm_count_log REGEX   number of matching log lines
#   pm_wait_json FILTER SECS   wait until `poolmonctl --json status`
#                        satisfies jq -e FILTER (the control socket of
#                        pm_start, or $PM_CTL)
#   pm_wait_backend IP FILTER SECS   wait until the backend IP of
#                        `poolmonctl --json status` satisfies FILTER
#   pm_scans             its scans_completed (empty if it does not answer)
#   pm_wait_scans N SECS wait until N more scans than now have completed:
#                        how a test lets "a few scans" pass, as many on a
#                        loaded machine as on an idle one
#   pm_wait_count REGEX N SECS   wait until pm_count_log REGEX is N or more
#   pm_ctl_clients       control clients the daemon has accepted and not
#                        closed (on the socket of pm_start, or $PM_CTL)
#   pm_wait_ctl_clients N SECS   wait until pm_ctl_clients is N or more
#
# pm_wait_log and pm_count_log read only what the latest pm_start's poolmond
# wrote: a restarted poolmond must not be answered by its predecessor's lines.

: "${POOLMOND:?POOLMOND must point at the poolmond binary}"
PM_PID=""
PM_LOG_FROM=0

pm_log() {
	echo "$TB_DIR/poolmond.log"
}

pm_start() {
	PM_LOG_FROM=$(stat -c %s "$(pm_log)" 2>/dev/null || echo 0)
	"$POOLMOND" -f -S "${TB_DIRECTOR_SOCKET:-$TB_DIR/director/run/director-admin}" \
		-k "$TB_DIR/poolmond.pid" -l "$(pm_log)" --state-file "$TB_DIR/state" \
		--control-socket "$TB_DIR/ctl.sock" "$@" \
		</dev/null >>"$TB_DIR/poolmond.out" 2>&1 &
	PM_PID=$!
	tb_track_pid "$PM_PID"
}

# The spawn server of the poolmond pm_start started (its child named
# poolmond-spawn), empty if none.
pm_server_pid() {
	pgrep -P "$PM_PID" -x poolmond-spawn | head -n 1
}

# The children of the poolmond pm_start started that are zombies
# (defunct, not yet reaped), one pid a line.
pm_zombies() {
	local c
	for c in $(cat /proc/"$PM_PID"/task/*/children 2>/dev/null); do
		[ "$(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] &&
			echo "$c"
	done
}

pm_stop() {
	local secs=${1:-10} i rc
	[ -n "$PM_PID" ] || return 1
	kill -TERM "$PM_PID" 2>/dev/null
	for i in $(seq 1 $((secs * 10))); do
		kill -0 "$PM_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$PM_PID"
	rc=$?
	PM_PID=""
	return $rc
}

# _pm_own_log: the log from where the latest pm_start found its end.
_pm_own_log() {
	tail -c +$((PM_LOG_FROM + 1)) "$(pm_log)" 2>/dev/null
}

pm_wait_log() {
	local re=$1 secs=$2 i
	for i in $(seq 1 $((secs * 5))); do
		_pm_own_log | grep -Eq -- "$re" && return 0
		sleep 0.2
	done
	echo "log never matched '$re'; log:" >&2
	_pm_own_log | tail -n 30 >&2
	return 1
}

pm_count_log() {
	_pm_own_log | grep -Ec -- "$1"
}

# Only on a reply: jq 1.6 -e exits 0 on empty input, so a poolmonctl that
# failed (poolmond not listening yet) would "match" and the test go on
# during the first scan.
pm_wait_json() {
	local i out sock=${PM_CTL:-$TB_DIR/ctl.sock}
	for i in $(seq 1 $(($2 * 5))); do
		out=$("$POOLMONCTL" -s "$sock" --json status 2>/dev/null) &&
			[ -n "$out" ] && jq -e "$1" >/dev/null 2>&1 <<<"$out" &&
			return 0
		sleep 0.2
	done
	echo "status never matched $1:" >&2
	"$POOLMONCTL" -s "$sock" status >&2
	return 1
}

pm_wait_backend() {
	pm_wait_json "[.backends[] | select(.address == \"$1\") | ($2)] == [true]" "$3"
}

pm_scans() {
	"$POOLMONCTL" -s "${PM_CTL:-$TB_DIR/ctl.sock}" --json status 2>/dev/null |
		jq -r '.scans_completed // empty' 2>/dev/null
}

pm_wait_scans() {
	local from
	for _ in $(seq 1 $(($2 * 5))); do
		from=$(pm_scans)
		[ -n "$from" ] && break
		sleep 0.2
	done
	[ -n "$from" ] || { echo "poolmond does not answer status" >&2; return 1; }
	pm_wait_json ".scans_completed >= $((from + $1))" "$2"
}

# pm_wait_more RE N SECS: until the log has N more lines matching RE than now.
pm_wait_more() {
	pm_wait_count "$1" $(($(pm_count_log "$1") + $2)) "$3"
}

pm_wait_count() {
	for _ in $(seq 1 $(($3 * 10))); do
		[ "$(pm_count_log "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "log has $(pm_count_log "$1") lines matching '$1', not $2; its end:" >&2
	_pm_own_log | tail -n 20 >&2
	return 1
}

# The daemon's ends of connections to its control socket carry the
# socket's path in /proc/net/unix, state 03 once accepted (02 while still
# queued); a refused client is closed as soon as it is accepted.
pm_ctl_clients() {
	awk -v p="${PM_CTL:-$TB_DIR/ctl.sock}" '$NF == p && $6 == "03"' /proc/net/unix |
		wc -l
}

pm_wait_ctl_clients() {
	for _ in $(seq 1 $(($2 * 20))); do
		[ "$(pm_ctl_clients)" -ge "$1" ] && return 0
		sleep 0.05
	done
	echo "$(pm_ctl_clients) control clients accepted, not $1" >&2
	return 1
}
