#!/bin/bash
# Daemon mode: forks, writes its pid, holds the lock (a second instance is
# refused), reopens a rotated log on HUP, and on TERM stops its children and
# removes the pidfile.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
tb_backend_start b1 127.0.7.21 || tb_fail "backend"
tb_director_start 127.0.7.100 "127.0.7.21" || tb_fail "director"

pidfile=$TB_DIR/poolmon.pid
log=$TB_DIR/poolmon.log
args=(-S "$TB_DIRECTOR_SOCKET" -k "$pidfile" -l "$log" --state-file "$TB_DIR/state"
	--control-socket "$TB_DIR/ctl.sock" -i 1 -t 2 -d -p 143)

"$POOLMOND" "${args[@]}" </dev/null >"$TB_DIR/start.out" 2>&1
tb_assert_eq "$?" 0 "daemon start returns 0"
[ -s "$pidfile" ] || tb_fail "no pidfile after start returned"
pid=$(cat "$pidfile")
tb_track_pid "$pid"
kill -0 "$pid" 2>/dev/null || tb_fail "pid $pid from pidfile not running"
sid=$(ps -o sid= -p "$pid" | tr -d ' ')
tb_assert_eq "$sid" "$pid" "daemon leads its own session"
cwd=$(readlink "/proc/$pid/cwd")
tb_assert_eq "$cwd" / "daemon runs in /"
tb_assert_eq "$(readlink /proc/$pid/fd/0)" /dev/null "stdin is /dev/null"

# A second instance with the same lock file is refused.
out=$("$POOLMOND" "${args[@]}" 2>&1)
rc=$?
tb_assert_eq "$rc" 1 "second instance exits 1"
grep -q "already running as pid $pid" <<<"$out" || tb_fail "second instance said: $out"
tb_pass "second instance names the running pid"
tb_assert_eq "$(cat "$pidfile")" "$pid" "pidfile untouched by the second instance"

# Scans happen; check processes hold neither the pidfile nor the lock.
for i in $(seq 1 50); do
	grep -q "scan complete" "$log" && break
	sleep 0.2
done
grep -q "scan complete" "$log" || tb_fail "no scan in the log"
for child in $(pgrep -P "$pid"); do
	if ls -l "/proc/$child/fd" 2>/dev/null | grep -q "$pidfile"; then
		tb_fail "check process $child holds the pidfile"
	fi
done
tb_pass "check processes do not inherit the pidfile"

# Log rotation: move the file away, HUP, and the daemon writes a new one.
mv "$log" "$log.1"
kill -HUP "$pid"
for i in $(seq 1 50); do
	[ -s "$log" ] && grep -q "scan complete" "$log" && break
	sleep 0.2
done
grep -q "log file reopened" "$log" || tb_fail "no reopen line in the new log"
grep -q "scan complete" "$log" || tb_fail "new log not written after HUP"
tb_pass "HUP reopened the rotated log"
before=$(wc -l <"$log.1")
pm_wait_scans 2 10 || tb_fail "no scans after HUP"
tb_assert_eq "$(wc -l <"$log.1")" "$before" "rotated log no longer written"

# TERM in the middle of scanning: children stopped, pidfile removed.
kill -TERM "$pid"
for i in $(seq 1 50); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && tb_fail "daemon still running after TERM"
[ ! -e "$pidfile" ] || tb_fail "pidfile left after TERM"
grep -q "stopped" "$log" || tb_fail "no stop line"
left=$(ps -eo pid,ppid,args | awk -v p="$pid" '$2 == p')
[ -z "$left" ] || tb_fail "children left: $left"
tb_pass "TERM stops cleanly, pidfile removed"

# A stale pidfile of a dead instance is taken over.
echo 999999 >"$pidfile"
"$POOLMOND" "${args[@]}" </dev/null >/dev/null 2>&1 || tb_fail "start over a stale pidfile"
pid=$(cat "$pidfile")
tb_track_pid "$pid"
[ "$pid" != 999999 ] && kill -0 "$pid" || tb_fail "stale pidfile not replaced"
kill -TERM "$pid"
tb_pass "stale pidfile taken over"
