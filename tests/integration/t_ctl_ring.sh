#!/bin/bash
# status says the director's ring state is unknown while the director is
# unreachable, not "synced" as DIRECTOR-LIST last said (issue 12, item 7):
# --json status has "ring_synced": null and "ring_state": "unknown", the
# text "ring: unknown". Once the director is back poolmond asks
# DIRECTOR-LIST at its next scan and the ring is known again; an action
# asks it too.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
: "${POOLMONCTL:?}"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

B1=127.0.13.1 B2=127.0.13.2 DIR_IP=127.0.13.100

ctl() {
	"$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"
}


# ring: "ring_synced ring_state" of --json status.
ring() {
	ctl --json status | jq -r '"\(.ring_synced) \(.ring_state)"'
}

tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_backend_start b2 "$B2" || tb_fail "backend b2"
tb_director_start "$DIR_IP" "$B1-$B2" || tb_fail "director"

pm_start -i 1 -t 2 --retries=1 --retry-delay=100 -p 143 --fall=1 --rise=1 \
	--max-down=100 -d
pm_wait_json '.scans_completed >= 1 and .director_reachable == true' 15 ||
	tb_fail "no first scan"

# 1. A healthy pool at start: nothing deferred, the ring taken as synced.
tb_assert_eq "$(ctl --json status | jq -r .ring_synced)" true "healthy pool: ring_synced true"
ctl status | grep -q "^ring: *synced$" || tb_fail "text: $(ctl status)"

# 2. The director goes away: the ring is unknown, not synced.
tb_director_stop || tb_fail "director stop"
pm_wait_json '.director_reachable == false' 15 || tb_fail "outage not seen"
json=$(ctl --json status) || tb_fail "status --json exit $?"
jq -e 'has("ring_synced")' >/dev/null <<<"$json" || tb_fail "ring_synced key missing"
tb_assert_eq "$(jq -r '.ring_synced' <<<"$json")" null "director down: ring_synced null"
text=$(ctl status) || tb_fail "status exit $?"
grep -q "^ring: *synced" <<<"$text" && tb_fail "text status says synced: $text"
grep -q "^ring: *unknown: the director is unreachable$" <<<"$text" ||
	tb_fail "text status while the director is down: $text"
tb_assert_eq "$(jq -r '.ring_state' <<<"$json")" unknown "director down: ring_state unknown"
tb_pass "unreachable director: ring unknown"

# 3. Back: the next scan asks DIRECTOR-LIST, and the ring is known again
# without waiting for an action. (A fresh director forgets the down
# states: both hosts up.)
tb_director_restart || tb_fail "director restart"
pm_wait_json '.director_reachable == true' 15 || tb_fail "recovery not seen"
pm_wait_json '.ring_state == "synced"' 10 || tb_fail "ring still $(ring) once the director is back"
tb_assert_eq "$(ring)" "true synced" "director back: ring asked and synced"
ctl status | grep -q "^ring: *synced$" || tb_fail "text: $(ctl status)"

# 4. An action asks DIRECTOR-LIST first: the ring is known again.
tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state "$B2" D 15 || tb_fail "b2 not taken down"
tb_assert_eq "$(ring)" "true synced" "after DIRECTOR-LIST: ring synced"
tb_assert_eq "$(tb_host_state "$B1")" U "b1 stays up"
tb_pass "ring known again once DIRECTOR-LIST answered"

pm_stop || tb_fail "poolmond did not exit 0 on TERM"
echo "t_ctl_ring: all passed"
exit 0
