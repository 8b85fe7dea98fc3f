#!/bin/bash
# A missing admin socket at start-up does not stop poolmond; a director
# stopped and started again mid-run is survived (logged once per outage) and
# acted on again.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
tb_backend_start b1 127.0.7.31 || tb_fail "backend b1"
tb_backend_start b2 127.0.7.32 || tb_fail "backend b2"

# The director is not running yet: its socket does not exist.
TB_DIRECTOR_SOCKET=$TB_DIR/director/run/director-admin
pm_start -i 1 -t 1 --retries=1 --retry-delay=100 -p 143 -d
pm_wait_json '.director_reachable == false and .ring_state == "unknown"' 5 ||
	tb_fail "status does not show the outage"
pm_wait_log "director .*unreachable" 5 || tb_fail "outage not logged"
# Two more scans (-i 1) try the missing socket (each says so in debug):
# the warning must not come again.
pm_wait_more "no host list at this scan" 2 10 ||
	tb_fail "no more tries of the missing socket"
kill -0 "$PM_PID" || tb_fail "poolmond died without a director"
tb_assert_eq "$(pm_count_log 'unreachable')" 1 "outage logged once, not per scan"

tb_director_start 127.0.7.100 "127.0.7.31-127.0.7.32" || tb_fail "director"
pm_wait_json '.director_reachable == true and .scans_completed >= 1 and
    .backends_total == 2 and .backends_failed == 0' 5 || tb_fail "no scan after recovery"

tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state 127.0.7.32 D 5 || tb_fail "b2 not taken down"

# Restart the director: it forgets the down state (all hosts up again).
tb_director_stop || tb_fail "director stop"
pm_wait_count 'unreachable' 2 10 || tb_fail "second outage not logged"
kill -0 "$PM_PID" || tb_fail "poolmond died when the director stopped"
tb_director_restart 2>/dev/null || tb_director_start 127.0.7.100 "127.0.7.31-127.0.7.32" ||
	tb_fail "director start again"
# b2 is still dead: poolmond takes it down again by itself.
tb_wait_host_state 127.0.7.32 D 6 || tb_fail "b2 not taken down after director restart"
tb_assert_eq "$(tb_host_state 127.0.7.31)" U "b1 stays up"
tb_assert_eq "$(pm_count_log 'unreachable')" 2 "second outage logged once more"
pm_stop || tb_fail "stop"
