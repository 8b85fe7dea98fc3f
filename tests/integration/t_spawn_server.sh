#!/bin/bash
# The spawn server: one process, forked by poolmond at start, that enters
# the sandbox once and forks every check process as poolmond's own child.
# Against a healthy real pool (--fall=1, no pool guard in the way):
# - it runs as the check user under seccomp, and the check processes are
#   poolmond's children (their parent is poolmond, not the server);
# - stopped (SIGSTOP) for longer than its 5 s to answer, it is replaced,
#   and killed (SIGKILL) again and again, it is started again: scans go
#   on, and no backend is ever taken down or reported failed (the
#   director's HOST-LIST stays all up): its faults are poolmond's;
# - no check process is left a zombie.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
B=(127.0.13.1 127.0.13.2 127.0.13.3)

tb_init || tb_fail "tb_init"
for i in 0 1 2; do
	tb_backend_start "b$i" "${B[$i]}" || tb_fail "backend b$i"
done
tb_director_start 127.0.13.100 "127.0.13.1-127.0.13.3" || tb_fail "director"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }

# Every backend up in the director, none failed in status.
all_up() {
	local out
	tb_all_up "$1" "${B[@]}"
	if out=$(ctl --json status 2>/dev/null) && [ -n "$out" ]; then
		[ "$(jq -r .backends_failed <<<"$out")" = 0 ] ||
			tb_fail "a backend reported failed ($1): $out"
	fi
}

pm_start -d -i 1 -t 2 --retries 0 --fall=1 --max-down=100 -p 143 -p 110
pm_wait_json '.backends_healthy == 3' 15 || tb_fail "first scan"
tb_pass "3 healthy backends"

srv=$(pm_server_pid)
[ -n "$srv" ] || tb_fail "no spawn server among poolmond's children"
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$srv/status")" != 0 ] ||
	tb_fail "the spawn server runs as root"
tb_assert_eq "$(awk '/^Seccomp:/ { print $2 }' "/proc/$srv/status")" 2 \
	"the spawn server is under its seccomp filter"
tb_assert_eq "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$srv/status")" 1 \
	"the spawn server has no_new_privs"

# A check process: poolmond's child; the server never has one.
seen=
for _ in $(seq 1 3000); do
	[ -z "$(cat "/proc/$srv/task/$srv/children")" ] ||
		tb_fail "the spawn server has a child"
	for c in $(cat "/proc/$PM_PID/task/$PM_PID/children"); do
		[ "$c" != "$srv" ] && seen=$c && break
	done
	[ -n "$seen" ] && break
done
[ -n "$seen" ] || tb_fail "no check process caught"
tb_pass "check process $seen is poolmond's child"

# Stopped: asked and silent for 5 s, it is replaced by a new one.
scans=$(pm_scans)
kill -STOP "$srv"
for _ in $(seq 1 100); do
	all_up "while the spawn server was stopped"
	new=$(pm_server_pid)
	[ -n "$new" ] && [ "$new" != "$srv" ] && break
	sleep 0.1
done
[ -n "$new" ] && [ "$new" != "$srv" ] || tb_fail "the stopped spawn server was not replaced"
kill -CONT "$srv" 2>/dev/null
tb_pass "the stopped spawn server $srv was replaced by $new"
pm_wait_json ".scans_completed >= $((scans + 2)) and .backends_healthy == 3" 20 ||
	tb_fail "scans did not go on after the server was replaced"
all_up "after the replaced server"

# Killed, again and again: started again each time, the checks go on.
kills=0
for _ in $(seq 1 5); do
	srv=$(pm_server_pid)
	[ -n "$srv" ] || { sleep 0.2; continue; }
	kill -KILL "$srv" && kills=$((kills + 1))
	sleep 0.7
	all_up "while the spawn server was killed"
done
[ "$kills" -ge 3 ] || tb_fail "only $kills kills"
scans=$(pm_scans)
pm_wait_json ".scans_completed >= $((scans + 2)) and .backends_healthy == 3" 20 ||
	tb_fail "scans did not go on after the kills"
[ -n "$(pm_server_pid)" ] || tb_fail "no spawn server after the kills"
all_up "after the kills"
grep -q "changed down" "$TB_DIR/director/dovecot.log" 2>/dev/null &&
	tb_fail "the director logged a HOST-DOWN"
tb_pass "$kills kills of the spawn server: scans go on, never a backend down"

# None stays one: every check process, even one forked as its server
# was killed, is reaped (one poolmond never heard of, within two of its
# looks, 5 s apart).
left=$(pm_zombies)
for _ in $(seq 1 150); do
	still=
	for z in $left; do
		grep -qw "$z" <<<"$(pm_zombies)" && still="$still $z"
	done
	[ -z "$still" ] && break
	sleep 0.1
done
[ -z "$still" ] || tb_fail "check processes left zombies:$still"
tb_pass "no check process left a zombie"

srv=$(pm_server_pid)
pm_stop || tb_fail "poolmond exit status"
# It dies with poolmond (its parent-death signal).
for _ in $(seq 1 20); do
	kill -0 "$srv" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$srv" 2>/dev/null && tb_fail "spawn server $srv outlived poolmond"
tb_pass "the spawn server ended with poolmond"
echo "t_spawn_server: all passed"
exit 0
