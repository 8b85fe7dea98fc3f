#!/bin/bash
# Events have one order, whatever the clocks say (issue 19 item 3).
# Monitor 3's clock runs five minutes fast (libfaketime, FAKETIME=+5m).
# Asserts: monitors 1 and 2 show peer 3 not trusted, its clock_skew_ms
# between 290000 and 310000 and the skew as its error; monitor 3 shows both
# peers about -300000 ms off and is isolated, its own checks working under
# the fake clock. Then backend B fails and is taken down, is held and
# released on monitor 3 (poolmond's again, a record stamped five minutes
# ahead), and afterwards held on monitor 1 for maintenance, during which
# B is started again: over several intervals B is down on every
# director, monitors 1 and 2 show it held with monitor 1's reason, and no
# director is sent a HOST-UP for it after monitor 1's hold (with
# wall-clock order, monitor 3's release would win and the fleet would
# bring B up in the middle of the maintenance).
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

FAKETIME_LIB=$(dpkg -L libfaketime 2>/dev/null | grep '/libfaketime\.so\.1$' | head -n 1)
[ -n "$FAKETIME_LIB" ] || FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
[ -n "$FAKETIME_LIB" ] && [ -f "$FAKETIME_LIB" ] ||
	{ echo "libfaketime is not installed (Debian package faketime)"; exit 77; }

fl_ring 110 3
B=${FL_BACKEND[1]} M3=$(fl_addr 3)
fl_start 1
fl_start 2
# Wall clock only: sd-event's timers stay on the real monotonic clock. A
# sanitizer build wants its runtime first among the preloaded libraries.
preload=$FAKETIME_LIB
asan=$(ldd "$POOLMOND" 2>/dev/null | awk '/libasan/ { print $3 }')
[ -n "$asan" ] && preload=$asan:$preload
LD_PRELOAD=$preload FAKETIME=+5m FAKETIME_DONT_FAKE_MONOTONIC=1 fl_start 3
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 20 || fl_fail "monitors 1 and 2 never trusted each other"
for i in 1 2; do
	fl_wait_json "$i" ".fleet.peers[] | select(.address == \"$M3\") | .trusted == false and
	    .clock_skew_ms >= 290000 and .clock_skew_ms <= 310000 and
	    (.error | startswith(\"clock skew +\"))" 15 ||
		fl_fail "monitor $i does not show monitor 3's clock 5 minutes ahead"
	echo "# monitor $i: peer 3 $(fl_json "$i" | jq -c ".fleet.peers[] | select(.address == \"$M3\") | {trusted, clock_skew_ms, error}")"
done
tb_pass "monitors 1 and 2: monitor 3 about +300000 ms, not trusted"
fl_wait_json 3 ".fleet.isolated == true and (.fleet.peers | length) == 2 and
    all(.fleet.peers[]; .trusted == false and .clock_skew_ms <= -290000 and .clock_skew_ms >= -310000)" 15 ||
	fl_fail "monitor 3 does not see its peers 5 minutes behind, or is not isolated"
tb_pass "monitor 3: both peers about -300000 ms, isolated"
fl_wait_json 3 ".backends | length == 3 and all(.[]; .health == \"ok\")" 10 ||
	fl_fail "monitor 3's checks do not work under libfaketime"
tb_pass "monitor 3's checks work under the fake clock"

# B fails and is taken down; on monitor 3 it is held, then released,
# which makes it poolmond's again: a record stamped five minutes ahead.
tb_backend_stop b1 || tb_fail "stop b1"
fl_wait_states "$B" "D D D" 15 || fl_fail "failed $B not taken down"
out=$(fl_ctl 3 hold "$B" --reason "fast clock" 2>&1) || fl_fail "hold on monitor 3: exit $?: $out"
out=$(fl_ctl 3 release "$B" 2>&1) || fl_fail "release on monitor 3: exit $?: $out"
fl_wait_json 3 ".backends[] | select(.address == \"$B\") | .owner == \"poolmond\"" 5 ||
	fl_fail "monitor 3 does not show $B released to poolmond"
tb_pass "held and released on monitor 3"
# Monitors 1 and 2 have heard from monitor 3 since.
for i in 1 2; do
	s=$(fl_json "$i" | jq ".fleet.peers[] | select(.address == \"$M3\") | .last_seen // 0")
	fl_wait_json "$i" ".fleet.peers[] | select(.address == \"$M3\") | .last_seen > $s" 5 ||
		fl_fail "monitor $i no longer hears from monitor 3"
done

# Maintenance, placed after monitor 3's release: the backend may be
# started and stopped as the work needs, it stays down.
out=$(fl_ctl 1 hold "$B" --reason "maintenance" 2>&1) || fl_fail "hold on monitor 1: exit $?: $out"
ups=$(fl_dir_changes "$B" up)
tb_pass "held on monitor 1, after monitor 3's release"
tb_backend_start b1 "$B" || tb_fail "start b1"
for i in 1 2; do
	fl_wait_json "$i" ".backends[] | select(.address == \"$B\") | .health == \"ok\"" 10 ||
		fl_fail "monitor $i does not see $B healthy again"
done
fl_wait_more_scans 4 20 1 2 || fl_fail "a monitor stopped scanning"
tb_assert_eq "$(fl_states "$B")" "D D D" "$B, healthy, still down on every director after several intervals"
for i in 1 2; do
	tb_assert_eq "$(fl_backend_json "$i" "$B" '[.owner, .hold_reason]')" '["hold","maintenance"]' \
		"monitor $i: $B held, monitor 1's reason"
done
tb_assert_eq "$(fl_dir_changes "$B" up)" "$ups" "no HOST-UP for $B since monitor 1's hold"
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
