#!/bin/bash
# The state file round-trips what an operator types (issue 19 item 2).
# Three monitors; two hosts held on monitor 1 with reasons holding
# "by=alice: disk swap", "at=17", a tab and UTF-8, and a stopped backend
# that poolmond took down. Every monitor is stopped; a line no loader can
# read ("down<TAB>not-an-ip") is put in the middle of monitor 2's state
# file. Asserts: monitor 2, started alone (its peers still stopped, so
# only its file speaks), shows both holds with their reasons word for word,
# the stopped backend as poolmond's (not the operator's) and keeps the
# file as it was in PATH.corrupt; with monitors 1 and 3 started again,
# every monitor shows the same; all three directors keep the three hosts
# down over several intervals.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 70 4
H1=${FL_BACKEND[1]} H2=${FL_BACKEND[2]} DEAD=${FL_BACKEND[3]}
R1=$'by=alice: disk swap\tat=17 – Plattentausch für Jürgen'
R2=$'at=17 by=bob: disk swap ✓ ünd ßo'
FL_ARGS+=(--max-down=100)
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"

tb_backend_stop b3 || tb_fail "stop b3"
fl_wait_states "$DEAD" "D D D" 15 || fl_fail "$DEAD not taken down"
out=$(fl_ctl 1 hold "$H2" --reason "$R2" 2>&1) || fl_fail "hold $H2: exit $?: $out"
out=$(fl_ctl 1 hold "$H1" --reason "$R1" 2>&1) || fl_fail "hold $H1 (a tab in its reason): exit $?: $out"
tb_pass "two holds on monitor 1, their reasons with by=, at=, a tab and UTF-8"
for h in "$H1" "$H2"; do
	fl_wait_states "$h" "D D D" 15 || fl_fail "$h not down after its hold"
done

# as_held I: monitor I shows both holds word for word and DEAD as
# poolmond's.
as_held() {
	jq -e --arg h1 "$H1" --arg r1 "$R1" --arg h2 "$H2" --arg r2 "$R2" --arg d "$DEAD" '
		[.backends[] | {key: .address, value: .}] | from_entries as $b |
		$b[$h1].owner == "hold" and $b[$h1].hold_reason == $r1 and
		$b[$h2].owner == "hold" and $b[$h2].hold_reason == $r2 and
		$b[$d].owner == "poolmond"' >/dev/null 2>&1 <<<"$(fl_json "$1")"
}
wait_held() {
	local _
	for _ in $(seq 1 $(($2 * 5))); do
		as_held "$1" && return 0
		sleep 0.2
	done
	fl_json "$1" | jq -c '[.backends[] | {address, owner, hold_reason}]' >&2
	return 1
}
for i in 1 2 3; do
	wait_held "$i" 10 || fl_fail "monitor $i does not show both holds and $DEAD as poolmond's"
done
tb_pass "every monitor shows both reasons word for word, $DEAD poolmond's"

for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
ST2=$TB_DIR/mon2/state
n=$(grep -Ec $'^(hold|down)\t' "$ST2")
[ "$n" = 3 ] || tb_fail "monitor 2's state file has $n records, not 3: $(cat -A "$ST2")"
# After the first record: records before it and after it.
awk '{ print } !done && /^(hold|down)\t/ { print "down\tnot-an-ip"; done = 1 }' \
	"$ST2" >"$ST2.new" && mv "$ST2.new" "$ST2" || tb_fail "edit monitor 2's state file"
echo "# monitor 2's state file with the bad line:"
sed 's/^/#   /' "$ST2" | cat -A | sed 's/\$$//'

# Monitor 2 alone: what it shows comes from its file only.
fl_start 2
fl_wait_scans 2 1
wait_held 2 10 || fl_fail "monitor 2 lost what its state file knew to one bad line"
tb_pass "monitor 2, alone, reads both holds and $DEAD back from its file"
[ -f "$ST2.corrupt" ] || fl_fail "no $ST2.corrupt"
grep -q $'^down\tnot-an-ip$' "$ST2.corrupt" || fl_fail "$ST2.corrupt is not the file as it was"
tb_pass "the file as it was kept as state.corrupt"

fl_start 1
fl_start 3
for i in 1 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the restarted monitors never trusted each other"
fl_wait_more_scans 3 15 1 2 3 || fl_fail "a monitor stopped scanning"
for i in 1 2 3; do
	as_held "$i" || { wait_held "$i" 0; fl_fail "monitor $i lost a hold or $DEAD after the restarts"; }
done
tb_pass "after every monitor's restart: both reasons word for word, $DEAD poolmond's, everywhere"
for h in "$H1" "$H2" "$DEAD"; do
	tb_assert_eq "$(fl_states "$h")" "D D D" "$h still down on every director"
done
tb_assert_eq "$(fl_states "${FL_BACKEND[4]}")" "U U U" "the healthy backend stays up"
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
