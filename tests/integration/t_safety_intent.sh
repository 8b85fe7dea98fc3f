#!/bin/bash
# Nothing is lost at any instant of a batch: poolmond is killed (SIGKILL,
# through its test hook POOLMON_TEST_CRASH_AT) after it recorded its intent
# to take a failed host down, after the director's OK, and before it wrote
# the confirmation. Each time, against a real director, the restarted
# poolmond brings the host it took down back up once healthy, and never
# brings up the host the operator took down (HOST-DOWN on the admin
# socket), which stays down.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

B1=127.0.14.71 B2=127.0.14.72 B3=127.0.14.73
tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.14.7$i" || tb_fail "backend b$i"
done
tb_director_start 127.0.14.100 "$B1-$B3" || tb_fail "director"
state=$TB_DIR/state

for at in after-intent after-ok before-confirm; do
	echo "# killed at $at"
	rm -f "$state"
	tb_dcmd HOST-UP "$B2" >/dev/null && tb_dcmd HOST-DOWN "$B3" >/dev/null ||
		tb_fail "director setup"
	tb_backend_stop b2 || tb_fail "stop b2"
	export POOLMON_TEST_CRASH_AT=$at
	pm_start -d -i 1 -t 2 --retries=0 --max-down=100 -p 143
	unset POOLMON_TEST_CRASH_AT
	for _ in $(seq 1 100); do
		kill -0 "$PM_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PM_PID" 2>/dev/null && tb_fail "$at: poolmond never reached the point (no HOST-DOWN batch?)"
	wait "$PM_PID"
	rc=$?
	PM_PID=""
	tb_assert_eq "$rc" 137 "  poolmond killed by SIGKILL at $at"
	echo "# state file at the kill: $(grep -v '^#' "$state" 2>/dev/null | tr '\t\n' ' ')"
	echo "# $B2 in the director at the kill: $(tb_host_state "$B2")"
	tb_assert_eq "$(tb_host_state "$B3")" D "  the operator's host is down"

	# Restarted, b2 still dead: it is (or becomes again) poolmond's.
	pm_start -d -i 1 -t 2 --retries=0 --max-down=100 -p 143
	tb_wait_host_state "$B2" D 10 || tb_fail "$at: $B2 not down after the restart"
	tb_backend_restart b2 || tb_fail "restart b2"
	tb_wait_host_state "$B2" U 15 || tb_fail "$at: poolmond lost $B2, which it took down"
	tb_pass "$at: $B2 brought back up once healthy"
	# A few more scans: the operator's host is not poolmond's to bring up.
	pm_wait_scans 3 15 || tb_fail "$at: scans stopped"
	tb_assert_eq "$(tb_host_state "$B3")" D "  $at: the operator's host $B3 stays down"
	grep -q "$B3" "$state" && tb_fail "$at: $B3 recorded as poolmond's: $(cat "$state")"
	kill -0 "$PM_PID" || tb_fail "poolmond died"
	pm_stop || tb_fail "stop"
done
tb_assert_eq "$(tb_host_state "$B1")" U "$B1, healthy throughout, stays up"
