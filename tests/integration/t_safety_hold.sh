#!/bin/bash
# Ownership and maintenance holds through poolmonctl, against a real
# director. Scans are driven by "poolmonctl recheck" (-i 3600), so "across
# scans" is exact. Asserts: status shows a failing backend as "failing
# N/3" and a recovering one as "rising 1/2"; a healthy backend the test
# took down (HOST-DOWN) stays down across scans, shows owner operator, and
# "release" brings it up; "hold --flush" takes a user's backend down and
# moves the user; status and --json show the hold's reason, uid 0 and
# since; the hold survives a restart of poolmond (same --state-file), the
# held host stays down while healthy and is taken down again if someone
# brings it up; "release" brings it up; a peer that is neither root nor in
# the control group is refused hold and release; every --json parses and
# has the stable keys.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
: "${POOLMONCTL:?}"

B1=127.0.9.1 B2=127.0.9.2 B3=127.0.9.3 DIR_IP=127.0.9.100
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
command -v runuser >/dev/null || { echo "runuser is not installed"; exit 77; }

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.9.$i" || tb_fail "backend b$i"
done
tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "director"
CTL=$TB_DIR/ctl.sock state=$TB_DIR/state
PM_ARGS=(-d -i 3600 -t 2 --retries=0 --fall=3 --rise=2 -p 143)

ctl() {
	"$POOLMONCTL" -s "$CTL" "$@"
}
# bk IP JQ-EXPR: a key of one backend in status --json.
bk() {
	ctl --json status | jq -r --arg ip "$1" ".backends[] | select(.address == \$ip) | $2"
}
# row IP: that backend's row of the text status.
row() {
	ctl status | grep "^$1 "
}
rescan() {
	ctl recheck >/dev/null || tb_fail "recheck exit $?"
}
start_pm() {
	local i
	pm_start "${PM_ARGS[@]}"
	for i in $(seq 1 75); do
		[ "$(ctl --json status 2>/dev/null | jq -r .scans_completed 2>/dev/null)" -ge 1 ] 2>/dev/null &&
			return 0
		sleep 0.2
	done
	tb_fail "poolmond: no first scan; $(tail -n 20 "$(pm_log)")"
}

# 1. The stable keys, on a healthy pool.
start_pm
json=$(ctl --json status) || tb_fail "status --json exit $?"
[ -n "$json" ] && jq -e . >/dev/null <<<"$json" || tb_fail "status --json does not parse"
tb_assert_eq "$(jq -r '"\(.guard_active) \(.all_failed) \(.ring_synced) \(.fall) \(.rise) \(.max_down_pct) \(.adopt_down)"' <<<"$json")" \
	"false false true 3 2 50 false" "summary: guard, ring and policy"
for k in owner hold_reason hold_uid hold_since failing_count spared; do
	jq -e --arg k "$k" '.backends | length == 3 and all(has($k))' >/dev/null <<<"$json" ||
		tb_fail "a backend lacks key $k"
done
tb_assert_eq "$(jq -r '[.backends[] | "\(.owner)/\(.hold_reason)/\(.failing_count)/\(.spared)"] | unique | join(" ")' <<<"$json")" \
	"null/null/0/false" "nobody's, not held, not failing, not spared"
text=$(ctl status)
grep -q "^guard: *inactive" <<<"$text" && grep -q "^ring: *synced" <<<"$text" ||
	tb_fail "text summary lacks guard or ring: $text"
tb_pass "status --json has the safety keys"

# 2. Hysteresis as status shows it: failing 1/3, 2/3, then down; rising.
tb_backend_stop b3 || tb_fail "stop b3"
for n in 1 2; do
	rescan
	tb_assert_eq "$(bk "$B3" '"\(.failing_count) \(.director_state)"')" "$n up" "$B3 failing $n, still up"
	row "$B3" | grep -q "failing $n/3" || tb_fail "row lacks 'failing $n/3': $(row "$B3")"
done
rescan
tb_assert_eq "$(tb_host_state "$B3")" D "$B3 down after the third failed scan"
tb_assert_eq "$(bk "$B3" '"\(.owner) \(.failing_count)"')" "poolmond 0" "$B3 poolmond's"
row "$B3" | grep -q "down by poolmond" || tb_fail "row: $(row "$B3")"
tb_backend_restart b3 || tb_fail "restart b3"
rescan
tb_assert_eq "$(tb_host_state "$B3")" D "$B3 still down after one healthy scan"
row "$B3" | grep -q "down by poolmond, rising 1/2" || tb_fail "row: $(row "$B3")"
rescan
tb_assert_eq "$(tb_host_state "$B3")" U "$B3 up after two healthy scans"
tb_pass "failing and rising counts in status"

# 3. The operator takes a healthy backend down: it stays down.
tb_assert_eq "$(tb_dcmd HOST-DOWN "$B1")" OK "operator HOST-DOWN $B1"
for i in 1 2 3; do
	rescan
	tb_assert_eq "$(tb_host_state "$B1")" D "operator's $B1 down after scan $i"
done
tb_assert_eq "$(bk "$B1" '"\(.owner) \(.healthy)"')" "operator true" "$B1: owner operator, healthy"
row "$B1" | grep -q "down by operator" || tb_fail "row: $(row "$B1")"
tb_assert_eq "$(pm_count_log "$B1 is down by the operator")" 1 "noted once"
out=$(ctl release "$B1") || tb_fail "release $B1 exit $?"
tb_assert_eq "$out" "$B1: released (was operator)" "release output"
tb_wait_host_state "$B1" U 10 || tb_fail "$B1 not brought up after release"
tb_assert_eq "$(bk "$B1" .owner)" null "$B1 nobody's once up"
out=$(ctl release "$B1" 2>&1); rc=$?
tb_assert_eq "$rc" 1 "release of an up host: exit 1"
grep -q "nothing to release" <<<"$out" || tb_fail "release of an up host: $out"
tb_pass "operator's down left alone; release brings it up"

# 4. hold --flush: down at once, and the user mapped to it moves.
tb_user_login "$TB_USER" "$TB_PASS" || tb_fail "login through the director"
victim=$(tb_user_backend "$TB_USER")
[ -n "$victim" ] || tb_fail "$TB_USER has no mapping after login"
before=$(date +%s)
out=$(ctl hold "$victim" --reason "disk swap" --flush) || tb_fail "hold exit $?"
after=$(date +%s)
tb_assert_eq "$out" "$victim: held: down and flushed" "hold output"
tb_assert_eq "$(tb_host_state "$victim")" D "held $victim down at once"
now=$(tb_user_backend "$TB_USER")
[ "$now" != "$victim" ] || tb_fail "$TB_USER still mapped to held $victim"
tb_user_login "$TB_USER" "$TB_PASS" || tb_fail "re-login through the director"
now=$(tb_user_backend "$TB_USER")
[ -n "$now" ] && [ "$now" != "$victim" ] || tb_fail "$TB_USER re-routed to '$now'"
tb_pass "hold --flush moved $TB_USER from $victim to $now"

json=$(ctl --json status) || tb_fail "status --json exit $?"
tb_assert_eq "$(jq -r --arg ip "$victim" '.backends[] | select(.address == $ip) | "\(.owner)|\(.hold_reason)|\(.hold_uid)|\(.hold_flush)"' <<<"$json")" \
	"hold|disk swap|0|true" "status --json: the hold"
since=$(jq -r --arg ip "$victim" '.backends[] | select(.address == $ip) | .hold_since' <<<"$json")
[ "$since" -ge "$before" ] && [ "$since" -le "$after" ] || tb_fail "hold_since $since not in [$before, $after]"
row "$victim" | grep -q "held: disk swap (uid 0 since $(date -d "@$since" '+%Y-%m-%d %H:%M:%S'))" ||
	tb_fail "row: $(row "$victim")"
ctl show "$victim" | grep -q "^  owner: *hold$" || tb_fail "show lacks the owner: $(ctl show "$victim")"
grep -q "^hold	$victim	uid=0	since=$since	flush=1	reason=disk swap$" "$state" || tb_fail "state file: $(cat "$state")"
for i in 1 2; do
	rescan
	tb_assert_eq "$(tb_host_state "$victim")" D "held $victim down after scan $i"
done
tb_assert_eq "$(bk "$victim" .healthy)" true "held $victim is healthy"
tb_pass "status, show and --json show the hold"

# 5. The hold survives a restart of poolmond.
pm_stop || tb_fail "stop"
start_pm
rescan
tb_assert_eq "$(tb_host_state "$victim")" D "held $victim down after the restart"
tb_assert_eq "$(bk "$victim" '"\(.owner)|\(.hold_reason)|\(.hold_uid)|\(.hold_since)"')" \
	"hold|disk swap|0|$since" "the hold after the restart"
tb_assert_eq "$(tb_dcmd HOST-UP "$victim")" OK "someone brings held $victim up"
rescan
tb_assert_eq "$(tb_host_state "$victim")" D "held $victim taken down again"
tb_assert_eq "$(bk "$victim" '.owner')" hold "still held once down again"
tb_pass "the hold survives a restart and keeps the host down"

# 6. release brings it up.
json=$(ctl --json release "$victim") || tb_fail "release exit $?"
tb_assert_eq "$(jq -r '"\(.released) \(.previous_owner) \(.backend.address)"' <<<"$json")" \
	"true hold $victim" "release --json"
for i in 1 2 3; do
	[ "$(tb_host_state "$victim")" = U ] && break
	rescan
done
tb_assert_eq "$(tb_host_state "$victim")" U "released $victim up"
grep -q "$victim" "$state" && tb_fail "released $victim still in the state file: $(cat "$state")"
tb_assert_eq "$(bk "$victim" '"\(.owner) \(.hold_reason)"')" "null null" "released $victim nobody's"
tb_pass "release ends the hold"

# 7. A peer that is neither root nor in the control group may look, not hold.
install -m 0755 "$POOLMONCTL" "$TB_DIR/poolmonctl"
chmod o+rw "$CTL"
nobody() {
	runuser -u nobody -- "$TB_DIR/poolmonctl" -s "$CTL" "$@"
}
nobody status >/dev/null || tb_fail "status as nobody: exit $?"
for cmd in "hold $B2 --reason x" "release $B2"; do
	# shellcheck disable=SC2086
	out=$(nobody $cmd 2>&1); rc=$?
	tb_assert_eq "$rc" 1 "nobody: ${cmd%% *} refused with exit 1"
	grep -q "permission denied: ${cmd%% *} needs root or group root" <<<"$out" ||
		tb_fail "nobody: $cmd: $out"
done
tb_assert_eq "$(tb_host_state "$B2")" U "refused hold changed nothing"
tb_assert_eq "$(bk "$B2" .owner)" null "refused hold recorded nothing"
pm_wait_log "control: hold refused to uid [0-9]+" 2 || tb_fail "no refusal in the log"
tb_pass "non-root peer refused hold and release"

# 8. Usage errors exit 2; a host the director lacks exits 1.
for args in "hold" "hold $B2 --reason" "hold $B2 --bogus" "hold $B2 $B3" "release" "rel $B2"; do
	# shellcheck disable=SC2086
	ctl $args >/dev/null 2>&1
	tb_assert_eq "$?" 2 "usage error: '$args'"
done
out=$(ctl hold 127.0.9.9 2>&1); rc=$?
tb_assert_eq "$rc" 1 "hold of a host the director lacks: exit 1"
grep -q "not in the director's host list" <<<"$out" || tb_fail "hold unknown: $out"
tb_pass "usage errors and refusals"

pm_stop || tb_fail "poolmond did not exit 0 on TERM"
echo "t_safety_hold: all passed"
exit 0
