#!/bin/bash
# Hysteresis: with --fall=3 a backend that fails now and then never goes
# down; one that keeps failing goes down after its third failed scan; with
# --rise=2 it comes back after two healthy scans.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.7.8$i" || tb_fail "backend b$i"
done
tb_director_start 127.0.7.100 "127.0.7.81-127.0.7.83" || tb_fail "director"
ip=127.0.7.83

# An interval longer than the check timeout: a blocked check whose SYN,
# retransmitted after the unblock, connects at its last moment makes a
# scan of the whole interval, and with -i 1 the next one (the second
# healthy) would start at once, leaving rise 1/2 no time to be seen.
pm_start -d -i 2 -t 1 --retries=0 --fall=3 --rise=2 -p 143
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 0' 10 ||
	tb_fail "first scan"

# Three short outages, each seen by at most two scans in a row.
for round in 1 2 3; do
	tb_block "$ip" || tb_fail "block"
	pm_wait_backend "$ip" '.health == "failed" and .failing_count >= 1' 5 ||
		{ tb_unblock "$ip"; tb_fail "outage $round not seen by a scan"; }
	tb_unblock "$ip"
	pm_wait_backend "$ip" '.health == "ok" and .failing_count == 0' 5 ||
		tb_fail "outage $round: not healthy again"
	tb_assert_eq "$(tb_host_state "$ip")" U "outage $round: still up"
done
tb_pass "intermittent failures below --fall=3 never take it down"

# A lasting failure: down only after the third failed scan in a row.
tb_block "$ip" || tb_fail "block"
pm_wait_backend "$ip" '.failing_count == 2' 10 || tb_fail "never failing 2/3"
tb_assert_eq "$(tb_host_state "$ip")" U "up after two failed scans"
tb_wait_host_state "$ip" D 10 || tb_fail "lasting failure not taken down"
pm_wait_backend "$ip" '.owner == "poolmond"' 5 || tb_fail "not poolmond's once down"
tb_pass "down after the third failed scan, not before (--fall=3)"

# Recovery: up only after two healthy scans.
tb_unblock "$ip"
pm_wait_backend "$ip" '.health == "ok" and .rising_count == 1' 10 || tb_fail "never rising 1/2"
tb_assert_eq "$(tb_host_state "$ip")" D "down after one healthy scan"
tb_wait_host_state "$ip" U 10 || tb_fail "not back up"
tb_pass "up after the second healthy scan, not before (--rise=2)"
pm_stop || tb_fail "stop"
