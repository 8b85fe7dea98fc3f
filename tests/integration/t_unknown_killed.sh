#!/bin/bash
# poolmond's own faults are never a backend's fault. For half a minute every
# check process with an odd pid is SIGKILLed as soon as it appears (as the
# OOM killer or an operator might), against a healthy real pool with
# --fall=1 and no pool guard in the way: no backend is taken down (the
# director's HOST-LIST stays all up), none is ever reported failed, and
# --json status shows the results as unknown, with a counter.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
KILLER=$TOOLS/childkiller
[ -x "$KILLER" ] || tb_fail "$KILLER not built (make tests)"
# On purpose: 30 scans (-i 1) of kills, some 60 of them, many more than
# the warnings' limit of 10 a minute lets through.
SECS=${UNKNOWN_SECS:-30}
B=(127.0.12.1 127.0.12.2 127.0.12.3)

tb_init || tb_fail "tb_init"
for i in 0 1 2; do
	tb_backend_start "b$i" "${B[$i]}" || tb_fail "backend b$i"
done
tb_director_start 127.0.12.100 "127.0.12.1-127.0.12.3" || tb_fail "director"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }

pm_start -d -i 1 -t 2 --retries 0 --fall=1 --max-down=100 -p 143 -p 110
for _ in $(seq 1 75); do
	out=$(ctl --json status 2>/dev/null) &&
		[ "$(jq -r .backends_healthy <<<"$out")" = 3 ] && break
	sleep 0.2
done
[ "$(jq -r .backends_healthy <<<"$out")" = 3 ] || tb_fail "first scan: $out"
tb_pass "3 healthy backends"

"$KILLER" "$PM_PID" "$SECS" odd >"$TB_DIR/killer.out" &
KPID=$!
# Sample status while it kills: never a failed backend; unknown seen.
failed_seen=0 unknown_seen=0 samples=0
while kill -0 "$KPID" 2>/dev/null; do
	if out=$(ctl --json status 2>/dev/null) && [ -n "$out" ]; then
		samples=$((samples + 1))
		f=$(jq -r .backends_failed <<<"$out")
		[ "$f" = 0 ] || { failed_seen=$f; echo "failed: $out" >&2; }
		if jq -e '[.backends[] | select(.health == "unknown" and .healthy == null and (.reason | test("signal 9")))] | length > 0' \
		    >/dev/null <<<"$out"; then
			unknown_seen=$((unknown_seen + 1))
		fi
	fi
	tb_all_up "while its checks were killed" "${B[@]}"
	sleep 0.5
done
wait "$KPID"
killed=$(sed -n 's/^killed=//p' "$TB_DIR/killer.out")
[ "${killed:-0}" -ge 10 ] || tb_fail "the killer killed only ${killed:-0} check processes"
tb_pass "$killed check processes killed in $SECS s"
[ "$failed_seen" = 0 ] || tb_fail "a backend was reported failed"
[ "$samples" -ge 10 ] || tb_fail "only $samples status samples"
[ "$unknown_seen" -ge 1 ] || tb_fail "no status sample showed an unknown backend"
tb_pass "$samples status samples: never a failed backend, $unknown_seen with an unknown one"

out=$(ctl --json status) || tb_fail "status"
n=$(jq -r .checks_unknown <<<"$out")
[ "$n" -ge 1 ] || tb_fail "checks_unknown is $n"
tb_pass "checks_unknown counts $n"
for ip in "${B[@]}"; do
	tb_assert_eq "$(tb_host_state "$ip")" U "$ip still up"
done
grep -q "changed down" "$TB_DIR/director/dovecot.log" 2>/dev/null &&
	tb_fail "the director logged a HOST-DOWN"
# Warnings are rate-limited: at most 10 a minute, plus the minute's edge.
w=$(pm_count_log "not checked: .*poolmond's own fault")
[ "$w" -ge 1 ] && [ "$w" -le 22 ] || tb_fail "$w 'not checked' warnings in $SECS s"
tb_pass "$w rate-limited warnings"

# Once nothing kills them, the checks pass again.
for _ in $(seq 1 50); do
	out=$(ctl --json status 2>/dev/null) &&
		[ "$(jq -r .backends_healthy <<<"$out")" = 3 ] && break
	sleep 0.2
done
[ "$(jq -r .backends_healthy <<<"$out")" = 3 ] || tb_fail "not healthy again: $out"
pm_stop || tb_fail "poolmond exit status"
echo "t_unknown_killed: all passed"
exit 0
