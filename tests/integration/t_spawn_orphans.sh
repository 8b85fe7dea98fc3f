#!/bin/bash
# Check processes forked as their spawn server is killed. A check process
# still bears the server's name (poolmond-spawn) for its first moments,
# so "pkill poolmond-spawn" during a recheck of 100 backends kills the
# server and, now and then, a check process before the daemon has heard
# of it; or the server dies before its check process has answered. Either
# way poolmond must not keep a zombie child, and the lost checks are its
# own fault, never the backends': none is taken down (--fall=1, no pool
# guard in the way), none is reported failed once the scans go on.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
n=100
tb_init || tb_fail "tb_init"
tb_pool_start || tb_fail "pool backend"
tb_director_start 127.0.16.1 "$(tb_pool_addresses $n | tr '\n' ' ')" ||
	tb_fail "director"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }

pm_start -i 3600 -t 5 --fall=1 --max-down=100 -p IMAP:10143 -p POP3:10110
pm_wait_json ".backends_healthy == $n" 60 || tb_fail "first scan"
tb_pass "$n healthy backends"

rechecks=()
for _ in $(seq 1 12); do
	ctl -t 30 recheck >/dev/null 2>&1 &
	rechecks+=($!)
	sleep "0.0$((RANDOM % 8 + 1))"
	pkill -KILL -P "$PM_PID" -x poolmond-spawn
	sleep 0.4
done
wait "${rechecks[@]}"

# A zombie is reaped by its child source at once, an unknown one within
# two of poolmond's looks (5 s apart): none is left after 15 s.
left=
for _ in $(seq 1 150); do
	left=$(pm_zombies)
	[ -z "$left" ] && break
	sleep 0.1
done
[ -z "$left" ] || tb_fail "poolmond keeps zombie children:" $left
tb_pass "no zombie child left"
echo "# check processes poolmond did not know: $(pm_count_log 'answered after|ended before poolmond knew it')"

scans=$(pm_scans)
ctl -t 60 recheck >/dev/null || tb_fail "recheck after the kills"
pm_wait_json ".scans_completed > $scans and .backends_healthy == $n and .backends_failed == 0" 30 ||
	tb_fail "backends failed after the kills: $(ctl --json status | jq -c '{backends_healthy, backends_failed}')"
tb_assert_eq "$(tb_dcmd HOST-LIST | awk -F'\t' '$5 == "U"' | wc -l)" "$n" \
	"all $n up in the director"
grep -q "changed down" "$TB_DIR/director/dovecot.log" 2>/dev/null &&
	tb_fail "the director logged a HOST-DOWN"
tb_pass "the lost checks were poolmond's faults: no backend failed or down"
pm_stop || tb_fail "poolmond exit status"
echo "t_spawn_orphans: all passed"
exit 0
