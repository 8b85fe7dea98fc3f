#!/bin/bash
# Fleet (issue 15), test 2: one monitor's own path to a backend blocked
# (iptables drops TCP from its --source-address to the backend) while the
# other two still reach it. Asserts: the blocked monitor's checks fail (its
# own verdict "failed", with a reason), yet the backend stays up on every
# director across several intervals of every monitor, no monitor logs a
# down line for it, and every monitor's --json status shows the split: one
# "failed" verdict (the blocked monitor's) and two "ok". Then a second
# monitor's path blocked too: two of three fail, and the backend goes down
# with one "(2 of 3 monitors)" down line. Unblocked, the verdicts turn ok
# and it comes up once.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 10 3
B=${FL_BACKEND[2]}
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"

# Monitor 2's path: its checks come from its director's address.
fl_block "${FL_DIR_IP[2]}" "$B" || tb_fail "iptables"
own2="[.verdicts[] | select(.monitor == \"$(fl_addr 2)\")][0]"
fl_wait_json 2 ".backends[] | select(.address == \"$B\") | $own2.health == \"failed\"" 20 ||
	fl_fail "monitor 2's checks of $B do not fail with its path blocked (is --source-address in effect?)"
tb_pass "monitor 2's own verdict on $B is failed"
reason=$(fl_backend_json 2 "$B" "$own2.reason")
[ "$reason" != null ] && [ -n "$reason" ] || fl_fail "monitor 2's failed verdict has no reason"

# Several intervals of every monitor with the split in place.
for i in 1 2 3; do
	n=$(fl_json "$i" | jq .scans_completed)
	fl_wait_json "$i" ".scans_completed >= $((n + 4))" 30 || fl_fail "monitor $i stopped scanning"
	tb_assert_eq "$(fl_states "$B")" "U U U" "$B still up on every director (after 4 more scans of monitor $i)"
done
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 0 "no monitor logged a down line for $B"

split='[.verdicts[] | "\(.monitor)=\(.health)"] | sort | join(" ")'
want=$(printf '%s\n' "$(fl_addr 1)=ok" "$(fl_addr 2)=failed" "$(fl_addr 3)=ok" | sort | tr '\n' ' ')
want=${want% }
for i in 1 2 3; do
	tb_assert_eq "$(fl_backend_json "$i" "$B" "$split" | jq -r .)" "$want" \
		"monitor $i's status shows the split verdict (one failed, two ok)"
	tb_assert_eq "$(fl_backend_json "$i" "$B" .director_state)" '"up"' "monitor $i: $B up"
done
# poolmonctl show: each verdict with its reason, on every monitor.
for i in 1 2 3; do
	r=$(fl_backend_json "$i" "$B" "$own2.reason" | jq -r .)
	fl_ctl "$i" show "$B" | grep -F "$(fl_addr 2)" | grep -w failed | grep -qF -- "$r" ||
		fl_fail "monitor $i: show $B lacks monitor 2's failed verdict with its reason: $(fl_ctl "$i" show "$B")"
done
tb_pass "show $B gives monitor 2's failed verdict with its reason on every monitor"
# The other backends: every monitor ok.
for i in 1 2 3; do
	tb_assert_eq "$(fl_backend_json "$i" "${FL_BACKEND[1]}" '[.verdicts[].health] | join(",")' | jq -r .)" \
		"ok,ok,ok" "monitor $i: three ok verdicts on ${FL_BACKEND[1]}"
done

# The same split with a majority: monitor 3's path blocked too, two of
# three fail and the backend goes down, once.
fl_block "${FL_DIR_IP[3]}" "$B" || tb_fail "iptables"
fl_wait_states "$B" "D D D" 20 || fl_fail "$B not down with two of three monitors failing it"
fl_wait_count all "$(fl_down_re "$B")" 1 10 || fl_fail "no down line for $B"
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 1 "two of three failed: one down line"
line=$(grep -hE -- "$(fl_down_re "$B")" "$(fl_log 1)" "$(fl_log 2)" "$(fl_log 3)")
[[ $line == *"(2 of 3 monitors)" ]] || fl_fail "down line does not say (2 of 3 monitors): $line"
tb_pass "down by a majority: $line"

fl_unblock "${FL_DIR_IP[2]}" "$B"
fl_unblock "${FL_DIR_IP[3]}" "$B"
fl_wait_json 2 ".backends[] | select(.address == \"$B\") | $own2.health == \"ok\"" 20 ||
	fl_fail "monitor 2's verdict on $B not ok again once unblocked"
tb_pass "unblocked, monitor 2's verdict is ok again"
fl_wait_states "$B" "U U U" 20 || fl_fail "$B not up again once unblocked"
fl_wait_count all "$(fl_up_re "$B")" 1 10 || fl_fail "no up line for $B"
tb_assert_eq "$(fl_count all "$(fl_up_re "$B")")" 1 "$B up again, once"
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
