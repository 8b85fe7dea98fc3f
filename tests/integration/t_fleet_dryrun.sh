#!/bin/bash
# A monitor in dry-run changes nothing, anywhere (issue 19 item 6). Three
# monitors, monitor 2 started with -n; six backends, addresses chosen so
# that the rendezvous order would name monitor 2 the actor of two of them
# (b2 and b5), b2 among the three that are stopped (--max-down=50 of 6).
# Asserts: every monitor names an actor for every backend and it is never
# monitor 2; monitors 1 and 3 show peer 2 with dry_run true; every stopped
# backend goes down on all three directors, none by a command to director
# 2; the healthy ones stay up; `poolmonctl hold` on monitor 2 exits 1
# saying it is in dry-run, and changes nothing.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 90 6
M2=$(fl_addr 2)
FL_ARGS+=(--max-down=50)
fl_start 1
fl_start 2 -n
fl_start 3
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"

# no_actor2 I: monitor I names an actor for each backend, never monitor 2.
no_actor2=".backends | length == 6 and all(.[]; .actor != null and .actor != \"$M2\")"
for i in 1 2 3; do
	fl_wait_json "$i" "$no_actor2" 10 || fl_fail "monitor $i names monitor 2 (dry-run) an actor"
done
for b in 1 2 3 4 5 6; do
	a=$(fl_wait_actor "${FL_BACKEND[b]}" 10) || fl_fail "no agreed actor for b$b"
	echo "# b$b ${FL_BACKEND[b]}: actor monitor $a"
done
tb_pass "no backend's actor is monitor 2"

for b in 1 2 3; do tb_backend_stop "b$b" || tb_fail "stop b$b"; done
for b in 1 2 3; do
	fl_wait_states "${FL_BACKEND[b]}" "D D D" 15 || fl_fail "stopped b$b not down on every director"
done
tb_pass "every stopped backend down on every director"
for i in 1 2 3; do
	fl_wait_json "$i" "$no_actor2" 5 || fl_fail "monitor $i names monitor 2 an actor after the stops"
done
for b in 1 2 3; do
	tb_assert_eq "$(fl_dir_changes "${FL_BACKEND[b]}" down 2)" 0 "no HOST-DOWN of b$b sent to director 2"
done
for b in 4 5 6; do
	tb_assert_eq "$(fl_states "${FL_BACKEND[b]}")" "U U U" "healthy b$b stays up"
done
for i in 1 3; do
	fl_wait_json "$i" ".fleet.peers[] | select(.address == \"$M2\") | .dry_run == true" 10 ||
		fl_fail "monitor $i does not show peer 2 in dry-run"
done
tb_pass "monitors 1 and 3 show monitor 2 in dry-run"

H=${FL_BACKEND[6]}
out=$(fl_ctl 2 hold "$H" --reason "in dry-run" 2>&1)
rc=$?
tb_assert_eq "$rc" 1 "hold on monitor 2 (dry-run) refused: $out"
[[ $out == *dry-run* ]] || fl_fail "the refusal does not say dry-run: $out"
tb_pass "it says why: dry-run"
fl_wait_more_scans 2 15 1 2 3 || fl_fail "a monitor stopped scanning"
tb_assert_eq "$(fl_states "$H")" "U U U" "$H still up after the refused hold"
for i in 1 2 3; do
	tb_assert_eq "$(fl_backend_json "$i" "$H" .owner)" null "monitor $i: $H is no one's"
done
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
