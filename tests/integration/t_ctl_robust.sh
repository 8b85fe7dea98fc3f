#!/bin/bash
# Bad clients do not disturb the daemon: garbage, oversized, truncated,
# empty and wrong-version messages get an error reply and a closed
# connection; an unknown request gets a clean error and the connection
# stays usable; a client that connects and says nothing is dropped after
# its timeout while others are served; a client that leaves while its
# recheck waits is forgotten; scans go on throughout.
. "$(dirname "$0")/../lib/testbed.sh"
: "${POOLMOND:?}" "${POOLMONCTL:?}" "${TOOLS:?}"

B1=127.0.6.7 B2=127.0.6.8 DIR_IP=127.0.6.100
RAW=$TOOLS/ctl-raw
[ -x "$RAW" ] || tb_fail "$RAW not built (make tests)"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_backend_start b2 "$B2" || tb_fail "backend b2"
tb_director_start "$DIR_IP" "$B1 $B2" || tb_fail "director"

CTL=$TB_DIR/ctl.sock LOG=$TB_DIR/log
"$POOLMOND" -f -d -i 1 -t 2 --retries 1 --retry-delay 100 -p 143 \
	-S "$TB_DIRECTOR_SOCKET" \
	-k "$TB_DIR/pid" -l "$LOG" --state-file "$TB_DIR/state" \
	--control-socket "$CTL" </dev/null >>"$TB_DIR/out" 2>&1 &
PM=$!
tb_track_pid "$PM"

ctl() {
	"$POOLMONCTL" -s "$CTL" "$@"
}
scans() {
	ctl --json status | jq -r .scans_completed
}
for i in $(seq 1 50); do
	[ "$(scans 2>/dev/null)" -ge 1 ] 2>/dev/null && break
	sleep 0.2
done
before=$(scans) || tb_fail "status"
[ "$before" -ge 1 ] || tb_fail "no first scan"

# A client that says nothing, for the whole of the bad requests below.
"$RAW" "$CTL" silent 15 >"$TB_DIR/silent.out" &
SILENT=$!
start_ms=$(date +%s%3N)

# expect MODE REPLY_REGEX: one error reply, then the daemon hangs up.
expect_closed() {
	local out
	out=$("$RAW" "$CTL" "$1")
	grep -Eq "$2" <<<"$out" || tb_fail "$1: unexpected reply: $out"
	tb_assert_eq "$(tail -n 1 <<<"$out")" eof "$1: connection closed after the error"
}
expect_closed garbage '^reply id=0 success=0 code=71 message=malformed request$'
expect_closed oversized '^reply id=0 success=0 code=90 message=request larger than 65536 bytes$'
expect_closed truncated '^reply id=0 success=0 code=71 message=malformed request$'
expect_closed empty '^reply id=0 success=0 code=71 message=empty request$'
expect_closed badversion '^reply id=8 success=0 code=93 message=protocol version 99 is not supported: poolmond [0-9.]+ speaks version 1$'

# An unknown request: a clean error, and the connection goes on.
out=$("$RAW" "$CTL" unknown)
tb_assert_eq "$(sed -n 1p <<<"$out" | cut -d' ' -f1-4)" "reply id=9 success=0 code=95" "unknown request: EOPNOTSUPP"
tb_assert_eq "$(sed -n 2p <<<"$out")" "reply id=10 success=1 code=0 message=" "then a version request on the same connection"
tb_assert_eq "$(sed -n 3p <<<"$out")" open "connection kept after an unknown request"
tb_pass "malformed, oversized, truncated, empty, wrong-version and unknown requests"

# The silent client does not hold anyone up...
ctl status >/dev/null || tb_fail "status while a client says nothing"
ctl recheck "$B1" >/dev/null || tb_fail "recheck while a client says nothing"
kill -0 "$SILENT" 2>/dev/null || tb_fail "the silent client was dropped too early: $(cat "$TB_DIR/silent.out")"
# ...and is dropped after its timeout (5 s).
wait "$SILENT"
out=$(cat "$TB_DIR/silent.out")
case $out in
"closed after "*" ms") ;;
*) tb_fail "silent client: $out" ;;
esac
ms=${out#closed after }
ms=${ms% ms}
[ "$ms" -ge 4000 ] && [ "$ms" -le 9000 ] || tb_fail "silent client dropped after $ms ms"
tb_pass "a silent client is dropped after ${ms} ms, others served meanwhile"

# A client that gives up while its recheck waits (a blackholed backend
# keeps the scan busy for the whole timeout): the answer finds nobody.
tb_block "$B2" || tb_fail "tb_block"
n=$(scans) || tb_fail "status"
timeout -s KILL 0.5 "$POOLMONCTL" -s "$CTL" recheck "$B2" >/dev/null 2>&1
tb_assert_eq "$?" 137 "impatient client killed while waiting"
# Two attempts of 2 s each: then the scan is over and answered nobody.
# The recheck's scan is the next one to start: once two more scans are
# complete (the one under way, if any, and it), it has been answered.
for _ in $(seq 1 100); do
	[ "$(scans 2>/dev/null)" -ge $((n + 2)) ] 2>/dev/null && break
	sleep 0.2
done
[ "$(scans)" -ge $((n + 2)) ] || tb_fail "the recheck's scan never ended"
tb_unblock "$B2"
ctl version >/dev/null || tb_fail "version after an abandoned recheck"
tb_pass "an abandoned recheck does not disturb the daemon"

# The daemon is alive and still scanning, and said why it hung up.
kill -0 "$PM" || tb_fail "poolmond died"
after=$(scans) || tb_fail "status after the bad clients"
[ "$after" -ge $((before + 2)) ] || tb_fail "scans stalled: $before -> $after"
grep -q "control: client uid 0 pid [0-9]*: malformed request; closing the connection" "$LOG" ||
	tb_fail "no log line for the malformed request"
tb_assert_eq "$(tb_host_state "$B1")" U "$B1 untouched"
elapsed=$(( $(date +%s%3N) - start_ms ))
tb_pass "daemon unharmed: scans $before -> $after in ${elapsed} ms"

kill -TERM "$PM"
wait "$PM"
tb_assert_eq "$?" 0 "poolmond exit status"
echo "t_ctl_robust: all passed"
exit 0
