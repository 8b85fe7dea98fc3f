#!/bin/bash
# A fake director (tests/tools/fakedirector) that misbehaves in every way a
# broken or hostile director-admin peer can: garbage or a wrong version
# instead of the handshake; a HOST-LIST that turns to garbage after a valid
# line, stops in the middle of a line, or is cut off; garbage for
# DIRECTOR-LIST; "Ring sync timed out", garbage, a partial line then
# silence, or two reply lines for HOST-DOWN; a close instead of the HOST-FLUSH reply; NOTFOUND
# for a host removed between HOST-LIST and HOST-DOWN. For each: a clear
# log line, no crash, no action on anything not understood (the fake
# records every command: no HOST-DOWN from a list that was not whole, no
# HOST-FLUSH after a HOST-DOWN that was not answered OK), and recovery -
# the dead host taken down and flushed - as soon as the director is sane.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

GOOD1=127.0.8.11 DEAD=127.0.8.12 GOOD2=127.0.8.13 DEAD2=127.0.8.14
FD=$TOOLS/fakedirector
[ -x "$FD" ] || tb_fail "$FD not built (make tests)"
tb_init || tb_fail "tb_init"
for ip in $GOOD1 $GOOD2; do
	hs_server "$ip" 143 'line:* OK hi' 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' ||
		tb_fail "backend $ip"
done
SOCK=$TB_DIR/fd.sock TRUTH=$TB_DIR/truth.sock FDLOG=$TB_DIR/fd.log MODE=$TB_DIR/fd.mode
: >"$MODE"
: >"$FDLOG"
"$FD" -L "$FDLOG" -m "$MODE" -T "$TRUTH" "$SOCK" $GOOD1 $DEAD $GOOD2 $DEAD2 \
	</dev/null >>"$TB_DIR/fd.out" 2>&1 &
tb_track_pid $!
for _ in $(seq 1 50); do [ -S "$TRUTH" ] && break; sleep 0.1; done
truth() { TB_DIRECTOR_SOCKET=$TRUTH tb_dcmd "$@"; }
truth_state() { TB_DIRECTOR_SOCKET=$TRUTH tb_host_state "$1"; }
since() { tail -n +$(($1 + 1)) "$FDLOG"; }
# wait_fd MARK REGEX N SECS: N lines matching REGEX in the fake's log since MARK
wait_fd() {
	for _ in $(seq 1 $(($4 * 10))); do
		[ "$(since "$1" | grep -cE -- "$2")" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "fake director log since line $1 has no $3 x '$2':" >&2
	since "$1" | tail -n 20 >&2
	return 1
}

TB_DIRECTOR_SOCKET=$SOCK pm_start -d -i 1 -t 1 --retries 0 --max-down=100 -p 143
mark=0
for ip in $DEAD $DEAD2; do
	wait_fd 0 "cmd=HOST-FLUSH arg=$ip how=ok" 1 8 || tb_fail "$ip not taken down by a sane fake"
	tb_assert_eq "$(truth_state "$ip")" D "baseline: $ip down and flushed"
done
since 0 | grep -E "arg=($GOOD1|$GOOD2)" && tb_fail "a command for a healthy host"

# recover MARK [OUTAGE]: sane again; $DEAD taken down and flushed (again).
recover() {
	: >"$MODE"
	wait_fd "$1" "cmd=HOST-DOWN arg=$DEAD how=ok" 1 6 &&
		wait_fd "$1" "cmd=HOST-FLUSH arg=$DEAD how=ok" 1 4 || tb_fail "no recovery"
	tb_assert_eq "$(truth_state "$DEAD")" D "  recovered: $DEAD down again"
	if [ -n "${2:-}" ]; then
		hs_wait_count "director $SOCK reachable again" "$2" 3 || tb_fail "recovery not logged"
	fi
	kill -0 "$PM_PID" || tb_fail "poolmond died"
}

# list_fault WHAT=HOW LOG_REGEX: poolmond never gets a whole host list.
list_fault() {
	local how=${1#*=} mark logs ups
	echo "$1" >"$MODE"
	mark=$(wc -l <"$FDLOG")
	logs=$(pm_count_log "$2")
	ups=$(pm_count_log "reachable again")
	truth HOST-UP "$DEAD" >/dev/null || tb_fail "truth HOST-UP"
	wait_fd "$mark" "=$how\$" 2 6 || tb_fail "$1 not served twice"
	hs_wait_count "$2" $((logs + 1)) 3 || tb_fail "$1: no log line"
	tb_assert_eq "$(pm_count_log "$2")" $((logs + 1)) "$1: '$(grep -E -- "$2" "$(pm_log)" | tail -n 1 | sed 's/.*warning: //')' logged once"
	since "$mark" | grep -E "cmd=HOST-(DOWN|UP|FLUSH)" && tb_fail "$1: a command sent"
	tb_assert_eq "$(truth_state "$DEAD")" U "  no command sent on $1"
	recover "$mark" $((ups + 1))
}

list_fault hello=garbage "director $SOCK: unreachable: bad handshake '\?{5} junk \?{4}more\?\?\('; poolmond keeps trying every scan"
list_fault hello=badversion "director $SOCK: unreachable: bad handshake 'VERSION\?director-doveadm\?2\?0'"
list_fault HOST-LIST=garbage "director $SOCK: HOST-LIST failed: bad HOST-LIST line '\?{5} junk \?{4}more\?\?\(': too few fields"
list_fault HOST-LIST=partial "director $SOCK: HOST-LIST failed: no answer within 1000 ms"
list_fault HOST-LIST=close "director $SOCK: HOST-LIST failed: director closed the connection"

# action_fault WHAT=HOW LOG_REGEX: the list is fine, the action is not.
action_fault() {
	local how=${1#*=} mark logs
	echo "$1" >"$MODE"
	mark=$(wc -l <"$FDLOG")
	logs=$(pm_count_log "$2")
	truth HOST-UP "$DEAD" >/dev/null || tb_fail "truth HOST-UP"
	wait_fd "$mark" "how=$how\$" 2 8 || tb_fail "$1 not served twice"
	hs_wait_count "$2" $((logs + 1)) 3 || tb_fail "$1: no log line"
	tb_pass "$1: '$(grep -E -- "$2" "$(pm_log)" | tail -n 1 | sed 's/.*warning: //')'"
	since "$mark" | grep -E "cmd=HOST-(FLUSH|UP) |cmd=HOST-DOWN .*how=ok" &&
		tb_fail "$1: acted on an unconfirmed step"
	tb_assert_eq "$(truth_state "$DEAD")" U "  nothing applied on $1"
	recover "$mark"
}

action_fault DIRECTOR-LIST=garbage "DIRECTOR-LIST: DIRECTOR-LIST has no line for this director; deferring actions to the next scan"
action_fault HOST-DOWN=ring "HOST-DOWN $DEAD: ring sync timed out; retrying at the next scan"
action_fault HOST-DOWN=garbage "HOST-DOWN $DEAD: director replied '\?{5} junk \?{4}more\?\?\('; retrying at the next scan"
action_fault HOST-DOWN=partial "HOST-DOWN $DEAD: no answer within 1000 ms; retrying at the next scan"

# Two lines for one HOST-DOWN (junk, then OK): the OK is no answer to the
# next command. Both dead hosts are due in one scan: the second must not be
# reported down, nor flushed while the director still has it up.
echo HOST-DOWN=twoline >"$MODE"
mark=$(wc -l <"$FDLOG")
downs=$(pm_count_log " down: ")
truth HOST-UP "$DEAD" >/dev/null && truth HOST-UP "$DEAD2" >/dev/null || tb_fail "truth HOST-UP"
wait_fd "$mark" "cmd=HOST-DOWN arg=$DEAD2 how=twoline" 2 8 || tb_fail "twoline not served"
since "$mark" | grep -E "cmd=HOST-(FLUSH|UP) " && tb_fail "twoline: HOST-FLUSH after an unanswered HOST-DOWN"
tb_assert_eq "$(pm_count_log " down: ")" "$downs" "twoline: no host reported down on a stale OK"
tb_assert_eq "$(truth_state "$DEAD2") $(truth_state "$DEAD")" "U U" "  nothing applied on HOST-DOWN=twoline"
: >"$MODE"
for ip in $DEAD $DEAD2; do
	wait_fd "$mark" "cmd=HOST-FLUSH arg=$ip how=ok" 1 5 || tb_fail "$ip: no recovery"
done
tb_pass "twoline: both recovered"

# A close instead of the HOST-FLUSH reply: the flush is owed and retried
# alone, without another HOST-DOWN.
echo HOST-FLUSH=close >"$MODE"
mark=$(wc -l <"$FDLOG")
truth HOST-UP "$DEAD" >/dev/null || tb_fail "truth HOST-UP"
wait_fd "$mark" "cmd=HOST-FLUSH arg=$DEAD how=close" 2 8 || tb_fail "flush not retried"
pm_wait_log "HOST-FLUSH $DEAD: director closed the connection; retrying at the next scan" 2 ||
	tb_fail "HOST-FLUSH close: no log line"
: >"$MODE"
wait_fd "$mark" "cmd=HOST-FLUSH arg=$DEAD how=ok" 1 5 || tb_fail "flush never completed"
tb_assert_eq "$(since "$mark" | grep -c "cmd=HOST-DOWN")" 1 "HOST-FLUSH close: flush retried alone, one HOST-DOWN"

# NOTFOUND: $DEAD is removed from the director just as poolmond sends
# HOST-DOWN. Logged; then it is gone from the host list and from poolmond.
echo HOST-DOWN=notfound >"$MODE"
mark=$(wc -l <"$FDLOG")
truth HOST-UP "$DEAD" >/dev/null || tb_fail "truth HOST-UP"
wait_fd "$mark" "cmd=HOST-DOWN arg=$DEAD how=notfound" 1 5 || tb_fail "NOTFOUND not served"
pm_wait_log "HOST-DOWN $DEAD: host not found; retrying at the next scan" 2 || tb_fail "NOTFOUND: no log line"
n=$(pm_count_log "scan complete: 3 backends, 1 failed")
hs_wait_count "scan complete: 3 backends, 1 failed" $((n + 2)) 5 || tb_fail "no scans without $DEAD"
tb_assert_eq "$(since "$mark" | grep -c "arg=$DEAD")" 1 "NOTFOUND: nothing more sent for the removed host"
status=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" status) || tb_fail "status"
grep -q "$DEAD" <<<"$status" && tb_fail "removed host still in status: $status"
tb_pass "NOTFOUND: host dropped from poolmond's table"
: >"$MODE"
truth HOST-ADD "$DEAD" >/dev/null || tb_fail "HOST-ADD"
wait_fd "$mark" "cmd=HOST-FLUSH arg=$DEAD how=ok" 1 5 || tb_fail "re-added host not acted on"
tb_assert_eq "$(truth_state "$DEAD")" D "re-added dead host taken down"

since 0 | grep -E "arg=($GOOD1|$GOOD2)" && tb_fail "a command for a healthy host"
hs_log_ascii "$(pm_log)" || tb_fail "unprintable bytes in the log"
pm_stop || tb_fail "poolmond exit status"
echo "t_director_fake: all passed"
exit 0
