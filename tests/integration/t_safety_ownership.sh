#!/bin/bash
# Ownership: a host the operator took down stays down however healthy;
# hosts poolmond took down are recorded in the state file, survive a
# restart of poolmond and are brought up when healthy; a corrupt state file
# is moved aside; --adopt-down restores poolmon 0.7's behaviour.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.7.7$i" || tb_fail "backend b$i"
done
tb_director_start 127.0.7.100 "127.0.7.71-127.0.7.73" || tb_fail "director"
state=$TB_DIR/state

# The operator takes a healthy host down for maintenance, before and while
# poolmond runs (first start without a state file: not poolmond's).
tb_dcmd HOST-DOWN 127.0.7.71 >/dev/null || tb_fail "operator HOST-DOWN"
pm_start -d -i 1 -t 1 --retries=0 --max-down=100 -p 143
pm_wait_backend 127.0.7.71 '.owner == "operator" and .health == "ok" and
    .director_state == "down"' 10 || tb_fail "operator down not seen as the operator's"
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 0' 5 ||
	tb_fail "scan"
scans=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((scans + 2))" 10 || tb_fail "scans stopped"
tb_assert_eq "$(tb_host_state 127.0.7.71)" D "operator's host stays down across scans"
pm_wait_backend 127.0.7.71 '.owner == "operator" and .rising_count == 0' 1 ||
	tb_fail "the operator's host counts towards bringing it up"
tb_assert_eq "$(pm_count_log 'is down by the operator')" 1 "noted once, not per scan"

# poolmond's own HOST-DOWN is recorded (--max-down=100: with the
# operator's host down, the default 50% would spare it).
tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state 127.0.7.72 D 6 || tb_fail "b2 not taken down"
grep -qx $'down\t127.0.7.72' "$state" || tb_fail "state file lacks b2: $(cat "$state")"
grep -q "127.0.7.71" "$state" && tb_fail "operator's host recorded as poolmond's"
tb_pass "state file records the host poolmond took down"
pm_stop || tb_fail "stop"

# Restart poolmond with b2 healthy again: it is still poolmond's to bring up.
tb_backend_restart b2 || tb_fail "restart b2"
pm_start -d -i 1 -t 1 --retries=0 --max-down=100 -p 143
tb_wait_host_state 127.0.7.72 U 6 || tb_fail "ownership lost across the restart"
tb_assert_eq "$(tb_host_state 127.0.7.71)" D "operator's host still down"
grep -q "127.0.7.72" "$state" && tb_fail "b2 still in the state file after HOST-UP"
tb_pass "ownership survives a restart of poolmond"
pm_stop || tb_fail "stop"

# A corrupt state file is moved aside; poolmond starts with empty state.
printf 'this is not\x01 a state file\n' >"$state"
pm_start -d -i 1 -t 1 --retries=0 --max-down=100 -p 143
pm_wait_log "state file .* is unusable .*moved to .*state.corrupt" 5 || tb_fail "corrupt file not reported"
pm_wait_json '.scans_completed >= 1' 5 || tb_fail "no scan after a corrupt state file"
[ -f "$state.corrupt" ] || tb_fail "no .corrupt file"
kill -0 "$PM_PID" || tb_fail "poolmond died on a corrupt state file"
tb_pass "corrupt state file moved aside"
pm_stop || tb_fail "stop"

# --adopt-down: any healthy down host is brought up, as poolmon 0.7 did.
pm_start -d -i 1 -t 1 --retries=0 --adopt-down -p 143
tb_wait_host_state 127.0.7.71 U 6 || tb_fail "--adopt-down did not bring the host up"
pm_stop || tb_fail "stop"
