#!/bin/bash
# A real director that fails poolmond mid-run (beyond t_core_director_
# restart, which stops it between scans):
#  - stopped in the middle of a scan that has an action to take: the
#    action is not sent, with a clear log line, poolmond keeps running and
#    takes the host down once the director is started again;
#  - its admin socket replaced by a regular file: a clear log line, no
#    crash, nothing sent, and recovery when the socket is back.
# (tests/integration/t_director_fake.sh does garbage, partial lines,
# wrong handshakes, ring timeouts and NOTFOUND with a fake director.)
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

GOOD=127.0.8.1 SLOW=127.0.8.2 DEAD=127.0.8.3 DIR_IP=127.0.8.100
tb_init || tb_fail "tb_init"
imap_ok='line:* OK hi'
hs_server "$GOOD" 143 "$imap_ok" 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' || tb_fail "good"
# Healthy, but each check of it keeps the scan busy for 3.5 s.
hs_server "$SLOW" 143 sleep:3500 "$imap_ok" 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' ||
	tb_fail "slow"
# $DEAD fails, but slowly (3.5 s, then a reset): backends are acted on as
# their results arrive, so its failure must come after the director stops.
hs_server "$DEAD" 143 sleep:3500 reset || tb_fail "dead"
tb_director_start "$DIR_IP" "$GOOD-$DEAD" || tb_fail "director"
SOCK=$TB_DIRECTOR_SOCKET

pm_start -d -i 1 -t 4 --retries 0 --max-down=100 -p 143
tb_wait_host_state "$DEAD" D 8 || tb_fail "$DEAD not taken down"
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 1' 5 || tb_fail "first scan"

# 1. Stopped mid-scan. The operator puts $DEAD up: the next scan owes a
# HOST-DOWN. As soon as that scan has read HOST-LIST (while $SLOW is being
# checked), the director stops.
n=$(pm_count_log "$DEAD is up again")
downs=$(pm_count_log "$DEAD down:")
tb_dcmd HOST-UP "$DEAD" >/dev/null || tb_fail "HOST-UP by the test"
hs_wait_count "$DEAD is up again" $((n + 1)) 5 || tb_fail "no scan saw $DEAD up"
t0=$(date +%s%N)
tb_director_stop || tb_fail "director stop"
stopped_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$stopped_ms" -lt 3000 ] || tb_fail "the director took $stopped_ms ms to stop: not mid-scan"
pm_wait_log "DIRECTOR-LIST not sent: director unreachable: connect $SOCK: (No such file or directory|Connection refused); retrying at the next scan" 6 ||
	tb_fail "no log line for the action the stopped director prevented"
tb_pass "director stopped mid-scan ($stopped_ms ms): action not sent, said why"
pm_wait_log "director $SOCK: unreachable: connect" 5 || tb_fail "outage not logged"
# Two more scans (-i 1) try the missing socket (each says so in debug):
# the warning must not come again.
pm_wait_more "no host list at this scan" 2 10 ||
	tb_fail "no more tries of the missing socket"
kill -0 "$PM_PID" || tb_fail "poolmond died"
tb_assert_eq "$(pm_count_log "director $SOCK: unreachable")" 1 "outage logged once"
tb_assert_eq "$(pm_count_log "$DEAD down:")" "$downs" "no HOST-DOWN while the director is away"

tb_director_restart || tb_fail "director start again"
hs_wait_count "director $SOCK reachable again" 1 8 || tb_fail "recovery not logged"
tb_wait_host_state "$DEAD" D 8 || tb_fail "$DEAD not taken down after the restart"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up"
tb_assert_eq "$(tb_host_state "$SLOW")" U "$SLOW up"
tb_pass "director restarted: $DEAD taken down again"

# 2. The admin socket replaced by a regular file; the director itself keeps
# running on the socket, moved aside.
n=$(pm_count_log "unreachable")
re="director $SOCK: unreachable: connect $SOCK: Connection refused; poolmond keeps trying every scan"
m=$(pm_count_log "$re")
mv "$SOCK" "$SOCK.real" || tb_fail "mv socket"
echo "not a socket" >"$SOCK"
TB_DIRECTOR_SOCKET=$SOCK.real tb_dcmd HOST-UP "$DEAD" >/dev/null || tb_fail "HOST-UP"
downs=$(pm_count_log "$DEAD down:")
hs_wait_count "$re" $((m + 1)) 8 || tb_fail "regular file: no clear log line"
# As above: two more scans meet the regular file.
pm_wait_more "no host list at this scan" 2 10 ||
	tb_fail "no more tries of the regular file"
kill -0 "$PM_PID" || tb_fail "poolmond died"
tb_assert_eq "$(pm_count_log "unreachable")" $((n + 1)) "logged once"
tb_assert_eq "$(TB_DIRECTOR_SOCKET=$SOCK.real tb_host_state "$DEAD")" U "nothing sent meanwhile"
tb_assert_eq "$(pm_count_log "$DEAD down:")" "$downs" "no HOST-DOWN logged meanwhile"
tb_assert_eq "$(cat "$SOCK")" "not a socket" "the file left alone"
rm -f "$SOCK" && mv "$SOCK.real" "$SOCK" || tb_fail "restore socket"
hs_wait_count "director $SOCK reachable again" 2 8 || tb_fail "recovery not logged"
tb_wait_host_state "$DEAD" D 8 || tb_fail "$DEAD not taken down after the socket came back"
tb_pass "socket replaced by a regular file: logged, survived, recovered"

"$POOLMONCTL" -s "$TB_DIR/ctl.sock" status >/dev/null || tb_fail "status"
pm_stop || tb_fail "poolmond exit status"
echo "t_director_faults: all passed"
exit 0
