#!/bin/bash
# A hold is never erased by an action already under way (issue 19 item 4).
# A real backend B that poolmond took down recovers; poolmond's HOST-UP for
# it is held up by the director (tests/tools/fakedirector, HOST-UP stalled
# 3 s: a real director will not hold a reply on demand) and, while it is
# in flight, `poolmonctl hold B` comes. Asserts, once the HOST-UP's reply
# has come: status shows B held with the hold's reason, the director
# (the fake's truth socket) shows B down, and both stay so over several
# scans; the other backend is untouched.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
: "${POOLMONCTL:?}" "${TOOLS:?}"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

B=127.0.23.51 OTHER=127.0.23.52
FD=$TOOLS/fakedirector
[ -x "$FD" ] || tb_fail "fakedirector not built (make tests)"
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B" || tb_fail "backend b1"
tb_backend_start b2 "$OTHER" || tb_fail "backend b2"
SOCK=$TB_DIR/fd.sock TRUTH=$TB_DIR/truth.sock FDLOG=$TB_DIR/fd.log MODE=$TB_DIR/fd.mode
: >"$MODE" && : >"$FDLOG"
"$FD" -s 3000 -L "$FDLOG" -m "$MODE" -T "$TRUTH" "$SOCK" "$B" "$OTHER" \
	</dev/null >>"$TB_DIR/fd.out" 2>&1 &
tb_track_pid $!
for _ in $(seq 1 50); do [ -S "$TRUTH" ] && break; sleep 0.1; done
truth_state() { TB_DIRECTOR_SOCKET=$TRUTH tb_host_state "$1"; }
backend() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq -c --arg ip "$1" ".backends[] | select(.address == \$ip) | $2"; }

# -t 10: the stalled HOST-UP is answered (3 s) within the batch's --timeout.
TB_DIRECTOR_SOCKET=$SOCK pm_start -d -i 1 -t 10 --retries=0 --max-down=100 -p 143
pm_wait_json '.scans_completed >= 1 and .backends_failed == 0' 15 || tb_fail "first scan"
tb_backend_stop b1 || tb_fail "stop b1"
TB_DIRECTOR_SOCKET=$TRUTH tb_wait_host_state "$B" D 10 || tb_fail "$B not taken down"
pm_wait_backend "$B" '.owner == "poolmond"' 5 || tb_fail "$B not poolmond's"
tb_pass "$B down, poolmond's"

echo HOST-UP=stall >"$MODE"
tb_backend_start b1 "$B" || tb_fail "restart b1"
for _ in $(seq 1 75); do
	grep -q "cmd=HOST-UP arg=$B how=stall" "$FDLOG" && break
	sleep 0.2
done
grep -q "cmd=HOST-UP arg=$B how=stall" "$FDLOG" || tb_fail "no HOST-UP of $B reached the director"
: >"$MODE"
"$POOLMONCTL" -s "$TB_DIR/ctl.sock" hold "$B" --reason "swap during up" >"$TB_DIR/hold.out" 2>&1 &
HOLD=$!
tb_track_pid "$HOLD"
pm_wait_backend "$B" '.owner == "hold"' 2 || tb_fail "the hold was not recorded while HOST-UP was in flight"
tb_pass "hold recorded while the HOST-UP of $B was in flight"
# The stalled reply comes 3 s after the HOST-UP; the hold's answer by then.
for _ in $(seq 1 75); do kill -0 "$HOLD" 2>/dev/null || break; sleep 0.2; done
kill -0 "$HOLD" 2>/dev/null && tb_fail "poolmonctl hold still unanswered after 15 s"
wait "$HOLD"
echo "# poolmonctl hold (exit $?): $(cat "$TB_DIR/hold.out")"
n=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((n + 4))" 20 || tb_fail "poolmond stopped scanning"
tb_assert_eq "$(backend "$B" '[.owner, .hold_reason]')" '["hold","swap during up"]' \
	"$B still held after the HOST-UP's reply and several scans"
tb_assert_eq "$(truth_state "$B")" D "$B down on the director"
n=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((n + 3))" 20 || tb_fail "poolmond stopped scanning"
tb_assert_eq "$(truth_state "$B") $(backend "$B" .owner)" 'D "hold"' "$B stays down and held"
tb_assert_eq "$(truth_state "$OTHER") $(backend "$OTHER" .owner)" "U null" "the other backend untouched"
echo "# what the director was sent for $B: $(grep -o "cmd=HOST-[A-Z]* arg=$B how=[a-z]*" "$FDLOG" | cut -d' ' -f1 | tr '\n' ' ')"
kill -0 "$PM_PID" || tb_fail "poolmond died"
pm_stop || tb_fail "poolmond did not stop cleanly"
