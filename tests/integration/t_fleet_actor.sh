#!/bin/bash
# Fleet (issue 15), test 4: the actor of a backend (the one every monitor's
# --json status names) is killed with SIGKILL, then the backend is
# stopped. Asserts: another monitor takes it down (every director shows
# D) within the issue's bound: 3 intervals (a peer silent that long is
# gone) plus the check time (--timeout: the survivors check at once),
# plus a second for the directors' ring;
# the new actor is what the survivors' status names, its log has the one
# down line for it ("(N of M monitors)"), and the survivors no longer
# count the killed monitor as live.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

INTERVAL=2 TIMEOUT=1
# shellcheck disable=SC2034 # fleet.sh's
FL_ARGS=(-d -i "$INTERVAL" -t "$TIMEOUT" --retries=0 -p 143)
fl_ring 30 3
B=${FL_BACKEND[2]}
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 30 || fl_fail "the monitors never trusted each other"

actor=$(fl_wait_actor "$B" 10) || fl_fail "no actor of $B that every monitor names"
survivors=$(for i in 1 2 3; do [ "$i" != "$actor" ] && echo "$i"; done | tr '\n' ' ')
tb_pass "actor of $B: monitor $actor; survivors: $survivors"

t0=$(_tb_now_ms)
fl_kill "$actor" KILL || tb_fail "monitor $actor survived SIGKILL"
tb_backend_stop b2 || tb_fail "stop b2"
# 3 intervals (the actor is gone), plus the check time (the survivors
# check its backends at once), plus a second for the ring to sync the
# HOST-DOWN to every director.
bound=$((3 * INTERVAL + TIMEOUT + 1))
fl_wait_states "$B" "D D D" $((bound + 20)) || fl_fail "$B never taken down after its actor was killed"
took=$(($(_tb_now_ms) - t0))
echo "# $B down on every director $took ms after its actor was killed (bound $bound s)"
# The directors are polled in turn every 0.2 s: half a second of slack.
[ "$took" -le $((bound * 1000 + 500)) ] ||
	fl_fail "$B taken down after $took ms, beyond 3 intervals + check time ($bound s)"
tb_pass "another monitor took $B down within the bound ($took ms <= $bound s)"

fl_wait_count all "$(fl_down_re "$B")" 1 10 || fl_fail "no down line for $B"
tb_assert_eq "$(fl_count all "$(fl_down_re "$B")")" 1 "one down line for $B"
new=""
for i in $survivors; do
	[ "$(fl_count "$i" "$(fl_down_re "$B")")" = 1 ] && new=$i
done
[ -n "$new" ] || fl_fail "no surviving monitor logged the down line"
grep -hE -- "$(fl_down_re "$B")" "$(fl_log "$new")" | grep -qE '\([0-9]+ of [0-9]+ monitors\)$' ||
	fl_fail "down line lacks '(N of M monitors)'"
tb_pass "monitor $new (a survivor) sent HOST-DOWN"
for i in $survivors; do
	fl_wait_json "$i" "(.fleet.peers[] | select(.address == \"$(fl_addr "$actor")\") | .live) == false" 10 ||
		fl_fail "monitor $i still counts the killed monitor as live"
	tb_assert_eq "$(fl_backend_json "$i" "$B" .actor | jq -r .)" "$(fl_addr "$new")" \
		"monitor $i names monitor $new as the new actor of $B"
done
for i in $survivors; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
