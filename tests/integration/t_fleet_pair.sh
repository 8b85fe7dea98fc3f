#!/bin/bash
# Fleet (issue 15), test 7: two monitors that name each other with
# explicit --fleet-peer=ADDR:PORT (beside directors 1 and 2 of the ring;
# none beside director 3). Asserts: each lists exactly the other as a
# live, trusted peer and needs both verdicts (quorum 2); once monitor 2 is
# killed (SIGKILL) monitor 1 counts it as gone (live false, quorum 1) and
# acts alone: a stopped backend goes down on every director, with one
# down line, in monitor 1's log, "(1 of 1 monitors)".
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 60 3
B=${FL_BACKEND[2]}
fl_start 1 --fleet-peer="$(fl_addr 2)"
fl_start 2 --fleet-peer="${FL_DIR_IP[1]}"
for i in 1 2; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 20 || fl_fail "the two monitors never trusted each other"
tb_assert_eq "$(fl_json 1 | jq -r '"\(.fleet.quorum) \([.fleet.peers[].address] | join(","))"')" \
	"2 $(fl_addr 2)" "monitor 1: quorum 2, its one peer"
tb_assert_eq "$(fl_json 2 | jq -r '"\(.fleet.quorum) \([.fleet.peers[].address] | join(","))"')" \
	"2 $(fl_addr 1)" "monitor 2: the same (its peer given without a port: the default 9094)"

fl_kill 2 KILL || tb_fail "monitor 2 survived SIGKILL"
fl_wait_json 1 '.fleet.quorum == 1 and .fleet.peers[0].live == false' 30 ||
	fl_fail "monitor 1 still counts the killed monitor"
tb_pass "monitor 1 counts monitor 2 as gone: not live, quorum 1"
tb_assert_eq "$(fl_backend_json 1 "$B" .actor | jq -r .)" "$(fl_addr 1)" "monitor 1 is the actor of $B now"

tb_backend_stop b2 || tb_fail "stop b2"
fl_wait_states "$B" "D D D" 20 || fl_fail "monitor 1 alone did not take $B down"
tb_pass "monitor 1 alone took $B down"
fl_wait_count 1 "$(fl_down_re "$B")" 1 10 || fl_fail "monitor 1 logged no down line"
tb_assert_eq "$(fl_count 1 "$(fl_down_re "$B")")" 1 "one down line"
grep -hE -- "$(fl_down_re "$B")" "$(fl_log 1)" | grep -qE '\(1 of 1 monitors\)$' ||
	fl_fail "down line does not say (1 of 1 monitors): $(grep -hE -- "$(fl_down_re "$B")" "$(fl_log 1)")"
tb_pass "the down line says (1 of 1 monitors)"
fl_kill 1 || tb_fail "monitor 1 did not stop"
