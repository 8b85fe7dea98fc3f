#!/bin/bash
# Control-socket abuse in bulk (tests/hostile/ctl-abuse; t_ctl_robust does
# one bad message of each kind): 300 messages of random bytes, sizes around
# the 64 KiB cap, every truncation of a valid request, 30 clients that
# stall beside one that never reads its replies, 1000 connections at once,
# an unauthorised uid asking for rechecks 300 times, and rechecks of
# thousands of unknown addresses. Throughout, the daemon keeps scanning on
# time (scans counted per phase), answers the next honest client, and its
# descriptors and memory come back to where they were.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

ABUSE=$TOOLS/ctl-abuse FD=$TOOLS/fakedirector
[ -x "$ABUSE" ] && [ -x "$FD" ] || tb_fail "ctl-abuse/fakedirector not built (make tests)"
command -v setpriv >/dev/null || { echo "setpriv is not installed"; exit 77; }

MEM=1
hs_mem_checked || MEM=0
tb_init || tb_fail "tb_init"
# Two backends, one of them slow: each scan takes 1.5 s of the 2 s
# interval, so rechecks can pile up while one runs.
hs_server 127.0.8.21 143 'line:* OK hi' 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' ||
	tb_fail "backend"
hs_server 127.0.8.22 143 sleep:1500 'line:* OK hi' 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' ||
	tb_fail "backend"
"$FD" -T "$TB_DIR/truth.sock" "$TB_DIR/fd.sock" 127.0.8.21 127.0.8.22 </dev/null \
	>>"$TB_DIR/fd.out" 2>&1 &
tb_track_pid $!
for _ in $(seq 1 50); do [ -S "$TB_DIR/fd.sock" ] && break; sleep 0.1; done

CTL=$TB_DIR/ctl.sock
TB_DIRECTOR_SOCKET=$TB_DIR/fd.sock hs_pm_start -d -i 2 -t 3 --retries 0 -p 143 ||
	tb_fail "poolmond"
pm_wait_json '.scans_completed >= 1 and .backends_total == 2 and .backends_failed == 0' 10 || tb_fail "first scan"
T0=$(date +%s)
abuse() { "$ABUSE" "$CTL" "$@"; }
# field LINE KEY
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

honest() {	# the next honest client is answered at once
	local out
	out=$(abuse status)
	[[ $out =~ ^status\ code=0\ backends=2\ ms=([0-9]+)$ ]] ||
		tb_fail "$1: honest status: $out"
	[ "${BASH_REMATCH[1]}" -lt 1000 ] || tb_fail "$1: honest status took ${BASH_REMATCH[1]} ms"
}
# A phase: on_time NAME START_MS START_SCANS - scans went on every 2 s.
phase_start() { P_MS=$(date +%s%3N) P_SCANS=$(pm_count_log "scan complete"); }
on_time() {
	local secs scans
	secs=$(( ($(date +%s%3N) - P_MS) / 1000 ))
	scans=$(( $(pm_count_log "scan complete") - P_SCANS ))
	[ "$scans" -ge $((secs / 2 - 1)) ] || tb_fail "$1: $scans scans in $secs s"
	kill -0 "$PM_DAEMON" || tb_fail "$1: poolmond died"
	honest "$1"
	tb_pass "$1 (scans on time: $scans in $secs s; honest client answered)"
}
# poolmond's descriptors but the pidfds of check processes, which come
# and go with its scans.
daemon_fds() {
	find "/proc/$PM_DAEMON/fd" -mindepth 1 -printf '%l\n' |
		grep -vc 'pidfd'
}
# The fewest of five counts: one may catch poolmond with a file open for
# a moment (its look at /proc for unknown check processes).
fds_start=$(for _ in 1 2 3 4 5; do daemon_fds; sleep 0.1; done | sort -n | head -n 1)
rss_start=$(hs_status_kb "$PM_DAEMON" VmRSS)
honest "before"

phase_start
out=$(abuse random 300 42)
[ "$(field "$out" hung)" = 0 ] && [ "$(field "$out" sendfail)" = 0 ] || tb_fail "random: $out"
# Malformed (71) or too large (90); never a success, never silence.
[[ $(field "$out" codes) =~ ^(71|90)(:[0-9]+)(,(71|90):[0-9]+)*$ ]] || tb_fail "random: codes: $out"
on_time "300 random messages: each answered with an error and a hang-up ($(field "$out" codes))"
# What clients do wrong is logged at most 10 times a minute, then counted:
# 300 protocol errors in a few seconds are 10 lines and one notice.
n=$(pm_count_log "; closing the connection")
[ "$n" -ge 1 ] && [ "$n" -le 10 ] || tb_fail "random: $n protocol errors logged"
[ "$(pm_count_log "the next are counted, not logged")" = 1 ] ||
	tb_fail "random: no notice that client errors go unlogged"
tb_pass "300 protocol errors: $n logged, then counted"

out=$(abuse sizes)
tb_assert_eq "$out" "sizes 65535=71 65536=71 65537=90 131072=90" "sizes around the 64 KiB cap"
out=$(abuse truncate)
[ "$(field "$out" hung)" = 0 ] || tb_fail "truncate: $out"
# Cut right after the id, a request has no command: unknown (95), the
# connection stays; any other cut is malformed (71).
tb_assert_eq "$(field "$out" codes)" "71:$(($(field "$out" prefixes) - 1)),95:1" "every truncation answered"

# 30 clients that say nothing and one that asks and never reads: all are
# dropped after the 5 s client timeout; one slot is left for the honest.
phase_start
abuse stall 30 10 >"$TB_DIR/stall.out" &
STALL=$!
pm_wait_ctl_clients 30 5 || tb_fail "the 30 stalling clients never all connected"
abuse noread 100000 >"$TB_DIR/noread.out" &
NOREAD=$!
pm_wait_ctl_clients 31 5 || tb_fail "the client that never reads never connected"
honest "beside 31 stalled clients"
wait "$STALL" "$NOREAD"
out=$(cat "$TB_DIR/stall.out")
[ "$(field "$out" closed)" = 30 ] && [ "$(field "$out" min_ms)" -ge 4500 ] &&
	[ "$(field "$out" max_ms)" -le 7000 ] || tb_fail "stalled clients: $out"
out=$(cat "$TB_DIR/noread.out")
[ "$(field "$out" closed)" = 1 ] && [ "$(field "$out" after_ms)" -ge 4000 ] &&
	[ "$(field "$out" after_ms)" -le 7000 ] || tb_fail "client that never reads: $out"
on_time "30 stalled clients and one that never reads ($(field "$out" sent) requests): dropped after ~5 s"

# 1000 connections at once: 32 are served, the others told "too many
# control clients" at once; an honest client meanwhile is answered or told
# so, never left hanging, and is answered once the flood is gone.
phase_start
abuse flood 1000 3 >"$TB_DIR/flood.out" &
FLOOD=$!
# Every slot taken: the flood is on.
pm_wait_ctl_clients 32 5 || tb_fail "the flood never filled the 32 slots"
out=$(abuse status)
[[ $out =~ ^status\ code=(0|16)\ .*ms=([0-9]+)$ ]] && [ "${BASH_REMATCH[2]}" -lt 1000 ] ||
	tb_fail "honest client during the flood: $out"
during=$out
wait "$FLOOD"
out=$(cat "$TB_DIR/flood.out")
n=$(field "$out" n)
[ "$n" -ge 1000 ] || echo "note: file descriptor limit: flood of $n connections"
[ "$(field "$out" connected)" = "$n" ] || tb_fail "flood: $out"
[ "$(field "$out" open)" -le 32 ] &&
	[ $(( $(field "$out" refused) + $(field "$out" open) + $(field "$out" dropped) )) = "$n" ] ||
	tb_fail "flood: $out"
on_time "flood: $out; during it: $during"
refusals=$(pm_count_log "more than 32 clients, refusing one")

# An unauthorised uid (the operator opened the socket to everyone).
cp "$ABUSE" "$TB_DIR/ctl-abuse" && chmod 0755 "$TB_DIR/ctl-abuse"
chmod 0666 "$CTL"
phase_start
rechecks=$(pm_count_log "control: recheck of ")
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$TB_DIR/ctl-abuse" "$CTL" privileged 300)
grep -qx "privileged n=300 recheck codes=13:300" <<<"$out" || tb_fail "nobody: $out"
grep -qx "privileged n=300 status codes=0:300" <<<"$out" || tb_fail "nobody: $out"
tb_assert_eq "$(pm_count_log "control: recheck of ")" "$rechecks" "no recheck queued for nobody"
n=$(pm_count_log "recheck refused to uid")
[ "$n" -le 10 ] || tb_fail "nobody: $n refusals logged"
on_time "uid nobody: 300 rechecks refused (EACCES), 300 status requests served"
chmod 0660 "$CTL"

# Rechecks of 4000 unknown addresses, 300 times, faster than scans run.
phase_start
rss0=$(hs_status_kb "$PM_DAEMON" VmRSS)
out=$(abuse bigrecheck 300 4000)
tb_assert_eq "$out" "bigrecheck n=300 hosts=4000 codes=0:300" "300 rechecks of 4000 addresses queued"
rss1=$(hs_status_kb "$PM_DAEMON" VmRSS)
[ "$MEM" = 0 ] || [ "$rss1" -le $((rss0 + 4096)) ] ||
	tb_fail "recheck queue grew poolmond from $rss0 to $rss1 kB"
on_time "recheck flood: poolmond VmRSS $rss0 -> $rss1 kB"

# Over the whole test: a scan completed at least every 3 s (the 2 s
# interval; log times have 1 s steps), abuse or not.
gap=$(grep -a "scan complete" "$(pm_log)" | cut -c1-19 | while read -r d t; do
	date -d "$d $t" +%s; done | awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { print m + 0 }')
[ "$gap" -le 3 ] || tb_fail "$gap s between two scans"
tb_pass "at most $gap s between two scans over the whole test"

# Client errors logged over the whole test: at most 10 a started minute.
mins=$(( ($(date +%s) - T0) / 60 + 1 ))
errs=$(pm_count_log "control: .*(closing the connection|refusing one|refused to uid)")
[ "$errs" -le $((10 * mins)) ] || tb_fail "$errs client errors logged in $mins minute(s)"
tb_pass "$errs client errors logged in $mins minute(s) of abuse"

# Back where it started: no client, descriptor or memory left behind.
for _ in $(seq 1 30); do
	fds_end=$(daemon_fds)
	[ "$fds_end" -le "$fds_start" ] && break
	sleep 0.2
done
tb_assert_eq "$fds_end" "$fds_start" "descriptors back to $fds_start"
rss_end=$(hs_status_kb "$PM_DAEMON" VmRSS)
[ "$MEM" = 0 ] || [ "$rss_end" -le $((rss_start + 4096)) ] || tb_fail "VmRSS $rss_start -> $rss_end kB"
tb_pass "VmRSS $rss_start -> $rss_end kB; $refusals refusals logged"
pm_stop || tb_fail "poolmond exit status"
echo "t_ctl_abuse: all passed"
exit 0
