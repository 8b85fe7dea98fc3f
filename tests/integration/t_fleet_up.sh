#!/bin/bash
# Fleet (issue 15), test 3: a backend the fleet took down (stopped: one
# down line across the monitors) is restarted. Asserts: it comes up on
# every director, exactly one "<ip> up: ... (N of 3 monitors)" line
# across the three monitors' logs (N >= 2), still after several more
# scans of each; every monitor's status shows three ok verdicts and no
# owner for it any more.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 20 3
B=${FL_BACKEND[1]}
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"

tb_backend_stop b1 || tb_fail "stop b1"
fl_wait_states "$B" "D D D" 20 || fl_fail "$B not down on every director"
fl_wait_count all "$(fl_down_re "$B")" 1 10 || fl_fail "no down line for $B"
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 1 "one down line for $B"
for i in 1 2 3; do
	fl_wait_json "$i" ".backends[] | select(.address == \"$B\") | .owner != null" 10 ||
		fl_fail "monitor $i does not record $B as the fleet's"
done
tb_pass "every monitor records $B as taken down"

tb_backend_start b1 "$B" || tb_fail "restart b1"
fl_wait_states "$B" "U U U" 20 || fl_fail "$B not up on every director"
tb_pass "$B up on every director"
for i in 1 2 3; do
	n=$(fl_json "$i" | jq .scans_completed)
	fl_wait_json "$i" ".scans_completed >= $((n + 3))" 20 || fl_fail "monitor $i stopped scanning"
done
tb_assert_eq "$(fl_count all "$(fl_up_re "$B")")" 1 "exactly one HOST-UP logged across the monitors"
line=$(grep -hE -- "$(fl_up_re "$B")" "$(fl_log 1)" "$(fl_log 2)" "$(fl_log 3)")
[[ $line =~ \(([0-9]+)\ of\ 3\ monitors\)$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] ||
	fl_fail "up line does not end with '(N of 3 monitors)', N >= 2: $line"
tb_pass "the up line gives the verdict count: $line"
tb_assert_eq "$(fl_dir_changes "$B" up)" 1 "one HOST-UP reached the directors"
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 1 "still the one down line"
tb_assert_eq "$(fl_states "$B")" "U U U" "$B stays up"
for i in 1 2 3; do
	tb_assert_eq "$(fl_backend_json "$i" "$B" '"\(.owner) \([.verdicts[].health] | join(","))"' | jq -r .)" \
		"null ok,ok,ok" "monitor $i: $B nobody's, three ok verdicts"
done
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
