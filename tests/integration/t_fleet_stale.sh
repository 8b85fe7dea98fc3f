#!/bin/bash
# A stale verdict is no verdict (issue 19 item 5). Three monitors (-i 1);
# monitor 3's checks of backend B are blocked so that it sees B failed,
# then its director is stopped: it scans no more, but keeps offering its
# last verdicts. Asserts: within 3 of its intervals (and slack) monitors
# 1 and 2 show monitor 3's verdict on every backend as "unknown", monitor
# 3 still a trusted peer; and it counts nowhere: once monitor 1's checks
# of B are blocked too (1 failed, 1 ok, 1 stale failed: a quorum of 2
# failed if the stale one counted), B stays up on directors 1 and 2 over
# several intervals and neither director is sent a HOST-DOWN for it.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 80 3
B=${FL_BACKEND[1]} M3=$(fl_addr 3)
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"
# verdict3 IP HEALTH: monitor 3's verdict on IP, as monitors 1 and 2 show it.
verdict3() {
	local i
	for i in 1 2; do
		fl_wait_json "$i" "[.backends[] | select(.address == \"$1\") | .verdicts[] |
		    select(.monitor == \"$M3\") | .health] == [\"$2\"]" "$3" || return 1
	done
}

fl_block "${FL_DIR_IP[3]}" "$B" || tb_fail "block monitor 3's checks of $B"
verdict3 "$B" failed 10 || fl_fail "monitors 1 and 2 never saw monitor 3's failed verdict on $B"
tb_assert_eq "$(fl_states "$B")" "U U U" "$B up: failed for monitor 3 only"

tb_peer_stop d3 || tb_fail "stop director 3"
stopped=$(_tb_now_ms)
fl_unblock "${FL_DIR_IP[3]}" "$B"
tb_pass "director 3 stopped: monitor 3 scans no more"
# 3 intervals of 1 s, one more for the verdict's whole-second time, and
# slack for the offers that carry it: 8 s, and the old verdict would show
# "ok"/"failed" for ever.
all_unknown=".fleet.peers[] | select(.address == \"$M3\") | .trusted"
all_unknown="($all_unknown) and ([.backends[].verdicts[] | select(.monitor == \"$M3\") | .health] |
    length == 3 and all(. == \"unknown\"))"
for i in 1 2; do
	left=$((8 - ($(_tb_now_ms) - stopped) / 1000))
	fl_wait_json "$i" "$all_unknown" $((left > 1 ? left : 1)) ||
		fl_fail "monitor $i still counts monitor 3's verdicts 8 s after its director stopped"
done
echo "# unknown on both $(($(_tb_now_ms) - stopped)) ms after director 3 stopped"
tb_pass "monitors 1 and 2: every verdict of monitor 3 unknown, monitor 3 still trusted"

fl_block "${FL_DIR_IP[1]}" "$B" || tb_fail "block monitor 1's checks of $B"
fl_wait_json 1 "[.backends[] | select(.address == \"$B\") | .verdicts[] |
    select(.monitor == \"$(fl_addr 1)\") | .health] == [\"failed\"]" 10 ||
	fl_fail "monitor 1 never saw $B failed"
fl_wait_more_scans 4 15 1 2 || fl_fail "a monitor stopped scanning"
tb_assert_eq "$(fl_dir_state 1 "$B") $(fl_dir_state 2 "$B")" "U U" \
	"$B still up: 1 failed, 1 ok and a stale verdict make no quorum"
tb_assert_eq "$(fl_dir_changes "$B" down 1 2)" 0 "no HOST-DOWN sent for $B"
for i in 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
fl_kill 3 || tb_fail "monitor 3 did not stop"
