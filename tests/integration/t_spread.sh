#!/bin/bash
# Spread scans in batches. The interval's scans start each backend at its
# own offset within 80% of the interval (the first scan checks all at
# once), and those due within a tenth of a second of each other start
# together: one wake-up of poolmond and of its spawn server for them, not
# one each. 200 backends answered by one listen=* Dovecot, -i 4: the
# second scan starts them over 3.2 s, some 62 a second.
# - it is spread: while it runs, some of its check processes have been
#   forked and not all;
# - it forks a check process for every backend, and every backend stays
#   up;
# - the spawn server woke (its voluntary context switches) fewer times
#   than half the checks it forked: without the batches, once a check.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
n=200
tb_init || tb_fail "tb_init"
tb_pool_start || tb_fail "pool backend"
tb_director_start 127.0.11.1 "$(tb_pool_addresses $n | tr '\n' ' ')" ||
	tb_fail "director"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }
status() { ctl --json status 2>/dev/null; }
server_wakes() {
	awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$1/status"
}

pm_start -d -i 4 -t 5 -p IMAP:10143
# The first scan, all at once, over and the second not yet begun.
pm_wait_json '.scans_completed == 1 and .scanning == false' 30 ||
	tb_fail "first scan"
srv=$(pm_server_pid)
[ -n "$srv" ] || tb_fail "no spawn server"
out=$(status) || tb_fail "status"
forked0=$(jq .children_forked <<<"$out")
wakes0=$(server_wakes "$srv")

# The second scan: a count of forks between none and all of it.
partial=
for _ in $(seq 1 300); do
	out=$(status) || continue
	f=$(($(jq .children_forked <<<"$out") - forked0))
	[ "$(jq .scans_completed <<<"$out")" -ge 2 ] && break
	[ "$f" -gt 0 ] && [ "$f" -lt "$n" ] && partial=$f
	sleep 0.1
done
pm_wait_json '.scans_completed >= 2' 30 || tb_fail "second scan"
wakes1=$(server_wakes "$srv")
out=$(status) || tb_fail "status"
[ -n "$partial" ] || tb_fail "the second scan was never seen part started: not spread"
tb_pass "the second scan is spread ($partial of $n started at one look)"
# The next scan may have begun by now (on a slow machine its first
# checks start as this one's last end): at least one a backend.
forked=$(($(jq .children_forked <<<"$out") - forked0))
[ "$forked" -ge "$n" ] ||
	tb_fail "$forked check processes for the $n backends of the spread scan"
tb_pass "$forked check processes for the $n backends of the spread scan"
tb_assert_eq "$(jq .backends_failed <<<"$out")" 0 "no backend failed"
tb_assert_eq "$(tb_dcmd HOST-LIST | awk -F'\t' '$5 == "U"' | wc -l)" "$n" \
	"all $n up in the director"
[ "$(pm_server_pid)" = "$srv" ] ||
	tb_fail "the spawn server was replaced"
wakes=$((wakes1 - wakes0))
[ "$wakes" -lt $((forked / 2)) ] ||
	tb_fail "the spawn server woke $wakes times for $forked spread checks: not batched"
tb_pass "the spawn server woke $wakes times for $forked spread checks"
pm_stop || tb_fail "stop"
echo "t_spread: all passed"
exit 0
