#!/bin/bash
# poolmonctl watch streams events as they happen: a backend stopped gives
# a failed verdict, then "down" and "flush" with result "ok" (asserted
# against the director's HOST-LIST); restarted, an "up"; a hold and its
# release; with --scans, scan events. --json is one object a line with the
# issue's keys. A watcher that stops reading never holds the daemon:
# status stays fast while it is stopped, and it is dropped, told why.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
B1=127.0.17.1 B2=127.0.17.2 B3=127.0.17.3 DIR_IP=127.0.17.100
tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.17.$i" || tb_fail "backend b$i"
done
tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "director"
CTL=$TB_DIR/ctl.sock
ctl() { "$POOLMONCTL" -s "$CTL" "$@"; }
pm_start -d -i 1 -t 2 --retries 0 -p 143 -p 110
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 0' 15 || tb_fail "first scan"

# Not through ctl(): $! must be poolmonctl itself, to signal it.
"$POOLMONCTL" -s "$CTL" --json watch --scans >"$TB_DIR/events" 2>"$TB_DIR/watch.err" &
W=$!
tb_track_pid "$W"
"$POOLMONCTL" -s "$CTL" watch >"$TB_DIR/events.txt" 2>&1 &
WT=$!
tb_track_pid "$WT"
# has EVENT HOST [RESULT]: a JSON line of that event
has() {
	jq -c --arg e "$1" --arg h "$2" --arg r "${3:-}" \
		'select(.event == $e and (.host == $h or $h == "") and ($r == "" or .result == $r))' \
		"$TB_DIR/events" 2>/dev/null | grep -q .
}
wait_has() {
	for _ in $(seq 1 50); do has "$@" && return 0; sleep 0.2; done
	echo "no $* event; got: $(tail -n 20 "$TB_DIR/events")" >&2
	return 1
}
wait_has scan "" || tb_fail "no scan event with --scans"

tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state "$B2" D 10 || tb_fail "$B2 not taken down"
wait_has verdict "$B2" || tb_fail "no verdict event"
jq -e --arg h "$B2" 'select(.event == "verdict" and .host == $h) | .detail == "failed" and (.reason | length > 0)' \
	"$TB_DIR/events" | grep -q true || tb_fail "verdict: $(grep verdict "$TB_DIR/events")"
wait_has down "$B2" ok || tb_fail "no down event with result ok"
wait_has flush "$B2" ok || tb_fail "no flush event"
# The keys of every line, as the issue names them.
jq -e 'has("time") and has("event") and has("host") and has("reason") and has("result") and has("dry_run")' \
	"$TB_DIR/events" | grep -qv true && tb_fail "a line lacks a key: $(head -3 "$TB_DIR/events")"
tb_pass "verdict, down and flush of $B2 streamed, as the director shows it down"

tb_backend_restart b2 || tb_fail "restart b2"
tb_wait_host_state "$B2" U 10 || tb_fail "$B2 not up"
wait_has up "$B2" ok || tb_fail "no up event"
ctl hold "$B3" --reason "disk swap" >/dev/null || tb_fail "hold"
wait_has hold "$B3" || tb_fail "no hold event"
ctl release "$B3" >/dev/null || tb_fail "release"
wait_has release "$B3" || tb_fail "no release event"
tb_pass "up, hold and release streamed"
# Text: one line an event, scans only with --scans.
grep -q " down $B2: " "$TB_DIR/events.txt" || tb_fail "text: $(cat "$TB_DIR/events.txt")"
grep -q " scan: " "$TB_DIR/events.txt" && tb_fail "text watch without --scans got scans"
tb_pass "text watch: a line an event"
kill -INT "$WT"
wait "$WT"
tb_assert_eq "$?" 0 "watch ends with 0 when interrupted"

# A watcher that stops reading: the daemon never waits for it.
kill -STOP "$W"
# Rechecks (each scan an event for it), 100 at a time until it is dropped,
# 3000 at most: more, once it is, would only take time (minutes under ASan,
# whose daemon forks slower as its quarantine grows).
dropped() { [ "$(pm_count_log "watcher uid 0 pid [0-9]* reads too slowly")" -gt 0 ]; }
(
	for _ in $(seq 1 30); do
		"$TOOLS/ctl-abuse" "$CTL" rechecks 100 >/dev/null || exit 1
		dropped && exit 0
	done
) &
FLOOD=$!
worst=0
for _ in $(seq 1 5); do
	t0=$(date +%s%N)
	ctl --json status >/dev/null || tb_fail "status while a watcher is stopped"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ "$ms" -gt "$worst" ] && worst=$ms
done
echo "status while a watcher sleeps: worst $worst ms"
[ "$worst" -lt 5000 ] || tb_fail "status took $worst ms while a watcher slept"
# Dropped once the 1024 events it may have queued are, and the socket's:
# some 1300 scans, a minute's worth under ASan, three on a busy machine.
pm_wait_log "watcher uid 0 pid [0-9]* reads too slowly" 480 || tb_fail "slow watcher not dropped"
# Woken at once: within the daemon's idle timeout it reads its goodbye.
kill -CONT "$W"
wait "$FLOOD" || tb_fail "rechecks"
wait "$W"
rc=$?
tb_assert_eq "$rc" 1 "a dropped watcher exits 1"
grep -q "watch dropped" "$TB_DIR/watch.err" || tb_fail "not told: $(cat "$TB_DIR/watch.err")"
tb_pass "a stopped watcher is dropped and told; status stayed fast"
pm_stop || tb_fail "poolmond exit status"
echo "t_watch: all passed"
exit 0
