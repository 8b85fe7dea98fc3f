#!/bin/bash
# A check process stopped (SIGSTOP, as a debugger, strace -f or an
# operator's kill -STOP might) is killed at its deadline, and that is
# poolmond's side, never the backend's: against a healthy real pool with
# --fall=1 and no pool guard in the way, every check process with an odd
# pid is stopped as it appears (the spawn server too, now and then, which
# is replaced). No backend is taken down (the director's HOST-LIST stays
# all up), none is ever reported failed, and --json status shows a result
# unknown with its reason. No check process is left when poolmond stops.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
STOPPER=$TOOLS/childkiller
[ -x "$STOPPER" ] || tb_fail "$STOPPER not built (make tests)"
SECS=12
B=(127.0.17.1 127.0.17.2 127.0.17.3)

tb_init || tb_fail "tb_init"
for i in 0 1 2; do
	tb_backend_start "b$i" "${B[$i]}" || tb_fail "backend b$i"
done
tb_director_start 127.0.17.100 "127.0.17.1-127.0.17.3" || tb_fail "director"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }

pm_start -d -i 1 -t 1 --retries 0 --fall=1 --max-down=100 -p 143 -p 110
pm_wait_json '.backends_healthy == 3' 15 || tb_fail "first scan"
tb_pass "3 healthy backends"

# One round of SECS s of stops, sampling status and the director as it
# goes; adds to stopped, failed_seen and unknown_seen.
stop_round() {
	local spid n
	"$STOPPER" "$PM_PID" "$SECS" odd stop >"$TB_DIR/stopper.out" &
	spid=$!
	while kill -0 "$spid" 2>/dev/null; do
		if out=$(ctl --json status 2>/dev/null) && [ -n "$out" ]; then
			[ "$(jq -r .backends_failed <<<"$out")" = 0 ] ||
				{ failed_seen=1; echo "failed: $out" >&2; }
			jq -e '[.backends[] | select(.health == "unknown" and (.reason | test("stopped")))] | length > 0' \
				>/dev/null <<<"$out" && unknown_seen=$((unknown_seen + 1))
		fi
		tb_all_up "while its checks were stopped" "${B[@]}"
		sleep 0.3
	done
	wait "$spid"
	n=$(sed -n 's/^stopped=//p' "$TB_DIR/stopper.out")
	stopped=$((stopped + ${n:-0}))
}

# A stop that lands before a check process has told the daemon its pid
# leaves no result of its own (the check is poolmond's loss, unknown for
# a lost server): on a busy machine a round may have only those, so up
# to three rounds, until a status sample shows a stopped check.
failed_seen=0 unknown_seen=0 stopped=0
for round in 1 2 3; do
	stop_round
	[ "$unknown_seen" -ge 1 ] && break
done
[ "${stopped:-0}" -ge 3 ] || tb_fail "only ${stopped:-0} processes stopped"
tb_pass "$stopped processes stopped in $round round(s) of $SECS s"
[ "$failed_seen" = 0 ] || tb_fail "a backend was reported failed"
[ "$unknown_seen" -ge 1 ] || tb_fail "no status sample showed a stopped check as unknown"
tb_pass "never a failed backend; $unknown_seen samples with a stopped check unknown"
grep -q "changed down" "$TB_DIR/director/dovecot.log" 2>/dev/null &&
	tb_fail "the director logged a HOST-DOWN"

# Once nothing stops them, the checks pass again.
pm_wait_json '.backends_healthy == 3' 20 || tb_fail "not healthy again"
for ip in "${B[@]}"; do
	tb_assert_eq "$(tb_host_state "$ip")" U "$ip still up"
done
pm_stop || tb_fail "poolmond exit status"
# A check process stopped before it asked for the daemon's death signal
# is poolmond's to end, at a look or at its own end: none outlives it
# (each bears poolmond's command line, with this test's pidfile).
left=$(pgrep -f -- "-k $TB_DIR/poolmond.pid" | tr '\n' ' ')
[ -z "$left" ] || tb_fail "processes of poolmond left after it stopped: $left"
tb_pass "no check process outlived poolmond"
echo "t_unknown_stopped: all passed"
exit 0
