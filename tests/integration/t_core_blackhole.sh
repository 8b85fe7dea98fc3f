#!/bin/bash
# A backend that hangs (packets dropped) is failed by its check deadline:
# its ports are checked concurrently, so three hanging ports cost one
# timeout, not three; the other backends of the scan are unaffected; a scan
# longer than the interval is logged and the next one starts at once.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
tb_backend_start b1 127.0.7.41 || tb_fail "backend b1"
tb_backend_start b2 127.0.7.42 || tb_fail "backend b2"
tb_director_start 127.0.7.100 "127.0.7.41-127.0.7.42" || tb_fail "director"

pm_start -d -i 1 -t 2 --retries=0 -p 143 -p 110 -p 24
pm_wait_json '.scans_completed >= 1 and .backends_total == 2 and .backends_failed == 0' 10 ||
	tb_fail "first scan"

tb_block 127.0.7.42 || tb_fail "iptables block"
t0=$(date +%s%N)
tb_wait_host_state 127.0.7.42 D 8 || tb_fail "hanging backend not taken down"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
tb_pass "hanging backend down after $ms ms"
# Serial checks would need 3 x 2 s per scan; concurrent ones one 2 s timeout.
json=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status) || tb_fail "poolmonctl status"
b2() { jq -c "[.backends[] | select(.address == \"127.0.7.42\") | $1]" <<<"$json"; }
tb_assert_eq "$(b2 '.checks[] | "\(.protocol):\(.port) \(.error)"')" \
	'["IMAP:143 connect: timed out after 2 s","POP3:110 connect: timed out after 2 s","LMTP:24 connect: timed out after 2 s"]' \
	"status: all three ports timed out in one scan"
for lat in $(b2 '.checks[].latency_ms' | tr -d '[]' | tr , ' '); do
	[ "$lat" -ge 1900 ] && [ "$lat" -le 3000 ] || tb_fail "attempt took '$lat' ms, not ~2000"
done
tb_pass "each attempt bounded by the 2 s timeout ($(b2 '.checks[].latency_ms'))"
pm_wait_log "longer than the 1 s interval; starting the next one at once" 5 ||
	tb_fail "long scan not logged"
tb_assert_eq "$(tb_host_state 127.0.7.41)" U "healthy backend unaffected"
grep -q "127.0.7.41 down" "$(pm_log)" && tb_fail "healthy backend was taken down"

tb_unblock 127.0.7.42
tb_wait_host_state 127.0.7.42 U 8 || tb_fail "not back up after unblock"
pm_stop || tb_fail "stop"
