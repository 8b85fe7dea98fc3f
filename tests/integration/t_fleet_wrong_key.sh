#!/bin/bash
# Fleet (issue 15), test 5: monitors 1 and 2 share the fleet key, monitor
# 3 starts with another one. Asserts: monitors 1 and 2 log the refusal
# ("fleet: refused <monitor 3>: authentication failed (wrong
# --fleet-key?)") and list monitor 3 as a peer that is not trusted, and
# trust each other; monitor 3's status is isolated, its peers carry an
# error and are not trusted, and it logs that no peer trusts it; nothing
# changes while all backends are healthy (all up, no command logged); a
# stopped backend goes down exactly once, by monitor 1 or 2 (quorum 2 of
# the two trusted), and monitor 3 never logs a down or up line; restarted,
# the backend comes up once, again not by monitor 3.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 40 3
B=${FL_BACKEND[3]}
fl_key "$TB_DIR/wrong.key" || tb_fail "wrong key"
started=$(_tb_now_ms)
fl_start 1
fl_start 2
fl_start 3 --fleet-key="$TB_DIR/wrong.key"
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 20 || fl_fail "monitors 1 and 2 never trusted each other"

re3="fleet: refused $(_fl_re_ip "${FL_DIR_IP[3]}")(:[0-9]+)?: authentication failed \(wrong --fleet-key\?\)"
for i in 1 2; do
	for k in $(seq 1 75); do
		[ "$(fl_count "$i" "$re3")" -ge 1 ] && break
		sleep 0.2
	done
	[ "$(fl_count "$i" "$re3")" -ge 1 ] || fl_fail "monitor $i never logged the refusal of monitor 3"
	fl_wait_json "$i" "(.fleet.peers[] | select(.address == \"$(fl_addr 3)\") | .trusted) == false" 10 ||
		fl_fail "monitor $i trusts monitor 3"
done
tb_pass "monitors 1 and 2 refuse monitor 3 and say so"
fl_wait_json 3 '.fleet.isolated == true and (.fleet.peers | length) == 2 and all(.fleet.peers[]; .trusted == false and .error != null)' 20 ||
	fl_fail "monitor 3 is not isolated with its peers in error"
tb_pass "monitor 3: isolated, both peers with an error: $(fl_json 3 | jq -c '[.fleet.peers[].error]')"
for k in $(seq 1 50); do
	[ "$(fl_count 3 'fleet: no peer trusts this monitor \(wrong --fleet-key\?\): acting on nothing')" -ge 1 ] && break
	sleep 0.2
done
[ "$(fl_count 3 'fleet: no peer trusts this monitor')" -ge 1 ] || fl_fail "monitor 3 does not log that no peer trusts it"
tb_pass "monitor 3 logs that it acts on nothing"
line=$(fl_ctl 3 status | grep '^fleet:')
[[ $line == "fleet: self $(fl_addr 3), "*", isolated: no peer trusts this monitor" ]] ||
	fl_fail "monitor 3's text status does not say it is isolated: $line"
tb_pass "monitor 3's text status: $line"
for i in 1 2; do
	tb_assert_eq "$(fl_json "$i" | jq -r '"\(.fleet.isolated) \(.fleet.quorum)"')" "false 2" \
		"monitor $i not isolated, quorum 2 (the two trusted)"
done

# Nothing changes while the pool is healthy.
n=$(fl_json 3 | jq .scans_completed)
fl_wait_json 3 ".scans_completed >= $((n + 3))" 20 || fl_fail "monitor 3 stopped scanning"
for b in "${FL_BACKEND[@]}"; do
	tb_assert_eq "$(fl_states "$b")" "U U U" "$b up everywhere"
	tb_assert_eq "$(fl_count all "$(_fl_re_ip "$b") (down|up): ")" 0 "no command logged for $b"
done

tb_backend_stop b3 || tb_fail "stop b3"
fl_wait_states "$B" "D D D" 20 || fl_fail "$B not down on every director"
for i in 1 2 3; do
	n=$(fl_json "$i" | jq .scans_completed)
	fl_wait_json "$i" ".scans_completed >= $((n + 3))" 20 || fl_fail "monitor $i stopped scanning"
done
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 1 "exactly one down line for $B"
tb_assert_eq "$(fl_count "1 2" "$(fl_down_re "$B")")" 1 "sent by monitor 1 or 2"
tb_backend_start b3 "$B" || tb_fail "restart b3"
fl_wait_states "$B" "U U U" 20 || fl_fail "$B not up again"
for i in 1 2 3; do
	n=$(fl_json "$i" | jq .scans_completed)
	fl_wait_json "$i" ".scans_completed >= $((n + 2))" 20 || fl_fail "monitor $i stopped scanning"
done
tb_assert_eq "$(fl_count "1 2" "$(fl_up_re "$B")")" 1 "exactly one up line, by monitor 1 or 2"
tb_assert_eq "$(fl_count 3 "$(_fl_re_ip "$B") (down|up): ")" 0 "monitor 3 never sent a command"
fl_wait_json 3 '.fleet.isolated == true' 5 || fl_fail "monitor 3 no longer isolated"
# Monitor 3 knocks at every interval; the refusals are logged at most 10
# lines a minute.
minutes=$((($(_tb_now_ms) - started) / 60000 + 1))
for i in 1 2; do
	n=$(fl_count "$i" "$re3")
	[ "$n" -le $((10 * minutes)) ] ||
		fl_fail "monitor $i logged $n refusals in less than $minutes minute(s)"
	tb_pass "monitor $i: $n refusal lines in less than $minutes minute(s)"
done
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
