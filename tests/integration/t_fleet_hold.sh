#!/bin/bash
# Fleet (issue 15), test 6: a maintenance hold placed on monitor 1
# (poolmonctl hold HOST) is kept by the whole fleet. Asserts: the healthy
# host goes down on every director, monitor 1 logs that hold and is the
# one that sent it; every monitor's --json status shows owner "hold" for
# it (with the hold's reason), and it stays down and held after several
# intervals and after monitor 2 is restarted (its status shows the hold
# again); no monitor brings it up meanwhile. Released on monitor 3
# (poolmonctl release HOST), the host comes up on every director and no
# monitor shows it held any more.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 50 3
B=${FL_BACKEND[1]}
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"

out=$(fl_ctl 1 hold "$B" --reason "disk swap" 2>&1) || fl_fail "hold on monitor 1: exit $?: $out"
tb_pass "hold on monitor 1: $out"
fl_wait_states "$B" "D D D" 15 || fl_fail "$B not down on every director after the hold"
fl_wait_count 1 "$(_fl_re_ip "$B") held for maintenance by uid 0 \(disk swap\)" 1 5 ||
	fl_fail "monitor 1 does not log the hold"
held=".backends[] | select(.address == \"$B\") | .owner == \"hold\" and .hold_reason == \"disk swap\""
for i in 1 2 3; do
	fl_wait_json "$i" "$held" 15 || fl_fail "monitor $i does not show the hold"
done
tb_pass "every monitor shows $B held (\"disk swap\")"
tb_assert_eq "$(fl_dir_changes "$B" down 1) $(fl_dir_changes "$B" down 2 3)" "1 0" \
	"monitor 1 sent the hold's HOST-DOWN (to its director), no one else did"

# Several intervals: still held, still down, nobody brought it up.
for i in 1 2 3; do
	n=$(fl_json "$i" | jq .scans_completed)
	fl_wait_json "$i" ".scans_completed >= $((n + 4))" 20 || fl_fail "monitor $i stopped scanning"
done
tb_assert_eq "$(fl_states "$B")" "D D D" "$B still down after several intervals"
for i in 1 2 3; do
	fl_wait_json "$i" "$held" 1 || fl_fail "monitor $i lost the hold"
done
tb_assert_eq "$(fl_count all "$(fl_up_re "$B")")" 0 "no monitor brought the held host up"
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")|$(_fl_re_ip "$B") is held for maintenance but was up")" 0 \
	"no other command for the held host (monitor 1 sent its HOST-DOWN)"

# Monitor 2 restarted: its state file and its peers keep the hold.
fl_kill 2 || tb_fail "monitor 2 did not stop"
fl_start 2
fl_wait_scans 2 2
fl_wait_trusted 1 2 3 20 || fl_fail "restarted monitor 2 not trusted again"
for i in 1 2 3; do
	fl_wait_json "$i" "$held" 10 || fl_fail "monitor $i does not show the hold after monitor 2's restart"
done
n=$(fl_json 2 | jq .scans_completed)
fl_wait_json 2 ".scans_completed >= $((n + 3))" 20 || fl_fail "monitor 2 stopped scanning"
tb_assert_eq "$(fl_states "$B")" "D D D" "$B still down after monitor 2's restart"
tb_assert_eq "$(fl_count all "$(fl_up_re "$B")")" 0 "still nobody brought it up"

out=$(fl_ctl 3 release "$B" 2>&1) || fl_fail "release on monitor 3: exit $?: $out"
tb_pass "release on monitor 3: $out"
fl_wait_states "$B" "U U U" 20 || fl_fail "$B not up on every director after the release"
tb_pass "$B up on every director after the release on monitor 3"
for i in 1 2 3; do
	fl_wait_json "$i" ".backends[] | select(.address == \"$B\") | .owner != \"hold\" and .hold_reason == null" 10 ||
		fl_fail "monitor $i still shows the hold"
done
tb_pass "no monitor shows the hold any more"
fl_wait_count all "$(fl_up_re "$B")" 1 10 || fl_fail "no up line for $B"
tb_assert_eq "$(fl_count all "$(fl_up_re "$B")")" 1 "one up line for $B"
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
