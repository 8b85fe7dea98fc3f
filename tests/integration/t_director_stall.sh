#!/bin/bash
# A director that accepts commands and answers late (tests/tools/fakedirector
# in its stall mode: a command is answered only 30 s after it came, and the
# connection reads nothing meanwhile, as a director waiting for its ring).
# 1. It stalls on every command (HOST-LIST included), poolmond at -t 10:
#    `poolmonctl version` and `poolmonctl --json status` are answered within
#    1 s each time, over the whole stall.
# 2. It stalls on HOST-DOWN only, 12 dead backends, -t 2 and a systemd
#    watchdog of 2 s: one stalled HOST-DOWN a scan (the fake's log shows at
#    most one between two HOST-LISTs, and scans keep coming), status within
#    1 s, the watchdog pinged every time, a hold answered; once the
#    director is sane the deferred hosts are all taken down.
# The worst latencies seen are printed; the normal figure is a few ms.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"
: "${POOLMONCTL:?}" "${TOOLS:?}"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

GOOD1=127.0.8.41 GOOD2=127.0.8.42
DEAD=$(for i in $(seq 51 62); do echo 127.0.8.$i; done)
FD=$TOOLS/fakedirector LISTEN=$TOOLS/notify-listen
[ -x "$FD" ] && [ -x "$LISTEN" ] || tb_fail "test tools not built (make tests)"
tb_init || tb_fail "tb_init"
for ip in $GOOD1 $GOOD2; do
	hs_server "$ip" 143 'line:* OK hi' 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' ||
		tb_fail "backend $ip"
done
SOCK=$TB_DIR/fd.sock TRUTH=$TB_DIR/truth.sock FDLOG=$TB_DIR/fd.log MODE=$TB_DIR/fd.mode
CTL=$TB_DIR/ctl.sock NSOCK=$TB_DIR/notify.sock NOUT=$TB_DIR/notify.out
: >"$MODE" && : >"$FDLOG" && : >"$NOUT"
# shellcheck disable=SC2086
"$FD" -s 30000 -L "$FDLOG" -m "$MODE" -T "$TRUTH" "$SOCK" $GOOD1 $GOOD2 $DEAD \
	</dev/null >>"$TB_DIR/fd.out" 2>&1 &
tb_track_pid $!
"$LISTEN" "$NSOCK" "$NOUT" &
tb_track_pid $!
for _ in $(seq 1 50); do [ -S "$TRUTH" ] && [ -S "$NSOCK" ] && break; sleep 0.1; done
truth_state() { TB_DIRECTOR_SOCKET=$TRUTH tb_host_state "$1"; }
ctl() { "$POOLMONCTL" -s "$CTL" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sample SECS: poolmonctl version and --json status over SECS seconds; sets
# WORST (ms, of either), N (pairs answered) and GAP (ms, the longest time
# without a WATCHDOG=1 ping). Any failed answer fails the test.
sample() {
	local end t0 t1 pings last_pings last_ping_at
	end=$(($(now_ms) + $1 * 1000)) WORST=0 N=0 GAP=0
	last_pings=$(grep -c '^WATCHDOG=1$' "$NOUT") last_ping_at=$(now_ms)
	while [ "$(now_ms)" -lt "$end" ]; do
		t0=$(now_ms)
		ctl version >/dev/null || tb_fail "version not answered"
		t1=$(now_ms)
		[ $((t1 - t0)) -gt "$WORST" ] && WORST=$((t1 - t0))
		ctl --json status | jq -e .scans_completed >/dev/null ||
			tb_fail "status not answered"
		t0=$(now_ms)
		[ $((t0 - t1)) -gt "$WORST" ] && WORST=$((t0 - t1))
		N=$((N + 1))
		pings=$(grep -c '^WATCHDOG=1$' "$NOUT")
		if [ "$pings" -ne "$last_pings" ]; then
			last_pings=$pings last_ping_at=$t0
		elif [ $((t0 - last_ping_at)) -gt "$GAP" ]; then
			GAP=$((t0 - last_ping_at))
		fi
		# A sample forks seven programs: a fifth of a second between
		# two keeps this loop from taking a CPU of its own away from
		# the daemon (and from the tests beside it).
		sleep 0.2
	done
}

# 1. Every command stalls.
printf '%s\n' HOST-LIST=stall DIRECTOR-LIST=stall HOST-DOWN=stall \
	HOST-UP=stall HOST-FLUSH=stall >"$MODE"
TB_DIRECTOR_SOCKET=$SOCK pm_start -i 1 -t 10 --retries 0 --max-down=100 -p 143
for _ in $(seq 1 50); do ctl version >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 1 50); do
	grep -q "cmd=HOST-LIST arg= how=stall" "$FDLOG" && break
	sleep 0.1
done
grep -q "cmd=HOST-LIST arg= how=stall" "$FDLOG" ||
	tb_fail "poolmond never asked the stalling director"
sample 15
echo "# every command stalled, -t 10: $N version+status pairs in 15 s, worst ${WORST} ms"
[ "$N" -ge 10 ] || tb_fail "only $N answers in 15 s"
[ "$WORST" -lt 1000 ] || tb_fail "a control answer took $WORST ms while the director stalled"
tb_pass "stalled HOST-LIST: version and status answered within 1 s each time (worst $WORST ms)"
tb_assert_eq "$(grep -c 'cmd=HOST-LIST' "$FDLOG")" "$(grep -c 'cmd=HOST-LIST arg= how=stall' "$FDLOG")" \
	"  every HOST-LIST stalled"
kill -0 "$PM_PID" || tb_fail "poolmond died"
pm_stop || tb_fail "poolmond did not stop cleanly"

# 2. HOST-DOWN stalls: 12 dead backends at -t 2 cost one --timeout a scan.
printf '%s\n' HOST-DOWN=stall >"$MODE"
: >"$FDLOG"
rm -f "$TB_DIR/state"
NOTIFY_SOCKET=$NSOCK WATCHDOG_USEC=2000000 TB_DIRECTOR_SOCKET=$SOCK \
	pm_start -d -i 1 -t 2 --retries 0 --max-down=100 -p 143
for _ in $(seq 1 100); do
	grep -q "cmd=HOST-DOWN .*how=stall" "$FDLOG" && break
	sleep 0.1
done
grep -q "cmd=HOST-DOWN .*how=stall" "$FDLOG" || tb_fail "no HOST-DOWN reached the fake"
# A hold meanwhile: answered once its HOST-DOWN fails, never blocking.
ctl hold "$GOOD1" >"$TB_DIR/hold.out" 2>&1 &
HOLD=$!
sample 15
echo "# HOST-DOWN stalled, 12 dead, -t 2: $N pairs in 15 s, worst ${WORST} ms, longest watchdog gap ${GAP} ms"
[ "$WORST" -lt 1000 ] || tb_fail "a control answer took $WORST ms while HOST-DOWN stalled"
tb_pass "stalled HOST-DOWNs: version and status within 1 s each time (worst $WORST ms)"
[ "$GAP" -lt 2000 ] || tb_fail "no watchdog ping for $GAP ms (WATCHDOG_USEC=2000000)"
tb_pass "watchdog pinged throughout (longest gap $GAP ms)"
kill -0 "$HOLD" 2>/dev/null && tb_fail "the hold is still unanswered after 15 s"
wait "$HOLD"
grep -q "hold recorded" "$TB_DIR/hold.out" || tb_fail "hold answer: $(cat "$TB_DIR/hold.out")"
tb_assert_eq "$(ctl --json status | jq -r --arg ip "$GOOD1" '.backends[] | select(.address == $ip) | .owner')" \
	hold "  the hold was answered and recorded"
# What the fake received: HOST-DOWNs per scan (between two HOST-LISTs).
worst_per_scan=$(awk '/cmd=HOST-LIST/ { n = 0; scans++ }
	/cmd=HOST-DOWN/ { n++; if (n > max) max = n }
	END { print max + 0, scans + 0 }' "$FDLOG")
read -r per_scan scans <<<"$worst_per_scan"
echo "# fake director: $scans HOST-LISTs, at most $per_scan HOST-DOWN between two"
[ "$scans" -ge 4 ] || tb_fail "only $scans scans in 15 s: stalled commands held the scans up"
# Two: the batch's and the hold's own.
[ "$per_scan" -le 2 ] || tb_fail "$per_scan HOST-DOWNs in one scan: one stall a scan expected"
tb_pass "one --timeout a scan: at most $per_scan HOST-DOWN per scan, $scans scans"

# Sane again: every deferred host goes down.
: >"$MODE"
for ip in $DEAD; do
	TB_DIRECTOR_SOCKET=$TRUTH tb_wait_host_state "$ip" D 20 || tb_fail "$ip never taken down"
done
tb_pass "once the director answers, all 12 dead hosts are down"
kill -0 "$PM_PID" || tb_fail "poolmond died"
pm_stop || tb_fail "poolmond did not stop cleanly"
