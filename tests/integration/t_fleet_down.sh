#!/bin/bash
# Fleet (issue 15), test 1: three directors in one ring and a poolmond
# beside each (--fleet-peer=ring, --fleet-listen and --source-address on
# its director's address). Once the monitors trust each other, a backend
# stopped is taken down by exactly one monitor: across the three logs one
# "<ip> down: <reason> (N of 3 monitors)" line with N >= 2, written by the
# monitor every status names as the backend's actor; every director shows
# it down (and keeps showing the other backends up); each monitor's
# --json status shows its failed verdict and the actor.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 0 3
B=${FL_BACKEND[3]}
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"
for i in 1 2 3; do
	json=$(fl_json "$i") || fl_fail "monitor $i: no status"
	tb_assert_eq "$(jq -r '"\(.fleet.self) \(.fleet.quorum) \(.fleet.peers | length) \(.fleet.isolated)"' <<<"$json")" \
		"$(fl_addr "$i") 2 2 false" "monitor $i: self, quorum 2, two peers from the ring, not isolated"
done
for i in 1 2 3; do
	tb_assert_eq "$(fl_ctl "$i" status | grep '^fleet:')" \
		"fleet: self $(fl_addr "$i"), 2 of 2 peers live, quorum 2" "monitor $i: the text status's fleet line"
done
tb_assert_eq "$(fl_states "$B")" "U U U" "backend up everywhere before the test"

# Every monitor names the same actor for B.
actor=$(fl_wait_actor "$B" 10) || fl_fail "no actor of $B that every monitor names"
tb_pass "every monitor names $(fl_addr "$actor") as the actor of $B"

tb_backend_stop b3 || tb_fail "stop b3"
fl_wait_states "$B" "D D D" 20 || fl_fail "$B not down on every director"
tb_pass "$B down on every director"
# A few more scans on every monitor: a second HOST-DOWN would show now.
for i in 1 2 3; do
	n=$(fl_json "$i" | jq .scans_completed)
	fl_wait_json "$i" ".scans_completed >= $((n + 3))" 20 || fl_fail "monitor $i stopped scanning"
done
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 1 "exactly one HOST-DOWN logged across the monitors"
line=$(grep -hE -- "$(fl_down_re "$B")" "$(fl_log 1)" "$(fl_log 2)" "$(fl_log 3)")
[[ $line =~ \(([0-9]+)\ of\ 3\ monitors\)$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] ||
	fl_fail "down line does not end with '(N of 3 monitors)', N >= 2: $line"
tb_pass "the down line gives the verdict count: $line"
tb_assert_eq "$(fl_count "$actor" "$(fl_down_re "$B")")" 1 "the actor sent it"
tb_assert_eq "$(fl_dir_changes "$B" down)" 1 "one HOST-DOWN reached the directors (one director logs it from its admin socket)"
for i in 1 2 3; do
	grep -E -- "$(_fl_re_ip "$B") (up|down):" "$(fl_log "$i")" | grep -Eqv -- "$(fl_down_re "$B")" &&
		fl_fail "monitor $i logged another command for $B"
done
tb_assert_eq "$(fl_states "${FL_BACKEND[1]}") $(fl_states "${FL_BACKEND[2]}")" \
	"U U U U U U" "the other backends stay up"
for i in 1 2 3; do
	tb_assert_eq "$(fl_backend_json "$i" "$B" '[.verdicts[] | select(.monitor == "'"$(fl_addr "$i")"'") | .health] | join(",")')" \
		'"failed"' "monitor $i's own verdict on $B is failed"
	tb_assert_eq "$(fl_backend_json "$i" "$B" '.director_state')" '"down"' "monitor $i sees $B down"
done
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
