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

: "${POOLMOND:?POOLMOND must point at the poolmond binary}"
PM_PID=""

pm_log() {
	echo "$TB_DIR/poolmond.log"
}

pm_start() {
	"$POOLMOND" -f -S "${TB_DIRECTOR_SOCKET:-$TB_DIR/director/run/director-admin}" \
		-k "$TB_DIR/poolmond.pid" -l "$(pm_log)" --state-file "$TB_DIR/state" \
		--control-socket "$TB_DIR/ctl.sock" "$@" \
		</dev/null >>"$TB_DIR/poolmond.out" 2>&1 &
	PM_PID=$!
	tb_track_pid "$PM_PID"
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

pm_wait_log() {
	local re=$1 secs=$2 i
	for i in $(seq 1 $((secs * 5))); do
		grep -Eq -- "$re" "$(pm_log)" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "log never matched '$re'; log:" >&2
	tail -n 30 "$(pm_log)" >&2
	return 1
}

pm_count_log() {
	grep -Ec -- "$1" "$(pm_log)" 2>/dev/null
}
