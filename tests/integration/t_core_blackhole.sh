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
pm_wait_log "scan complete: 2 backends, 0 failed" 10 || tb_fail "first scan"

tb_block 127.0.7.42 || tb_fail "iptables block"
t0=$(date +%s%N)
tb_wait_host_state 127.0.7.42 D 8 || tb_fail "hanging backend not taken down"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
tb_pass "hanging backend down after $ms ms"
# Serial checks would need 3 x 2 s per scan; concurrent ones one 2 s timeout.
grep -Eq "127.0.7.42 down: IMAP:143 connect: timed out after 2 s; POP3:110 connect: timed out after 2 s; LMTP:24 connect: timed out after 2 s" \
	"$(pm_log)" || tb_fail "down line does not list the three timeouts"
tb_pass "all three ports timed out in one scan"
lat=$(grep -E "debug: 127.0.7.42 IMAP:143 connect: timed out" "$(pm_log)" | head -1 |
	sed -E 's/.*\(([0-9]+) ms.*/\1/')
[ -n "$lat" ] && [ "$lat" -ge 1900 ] && [ "$lat" -le 3000 ] || tb_fail "attempt took '$lat' ms, not ~2000"
tb_pass "one attempt bounded by the 2 s timeout ($lat ms)"
pm_wait_log "longer than the 1 s interval; starting the next one at once" 5 ||
	tb_fail "long scan not logged"
tb_assert_eq "$(tb_host_state 127.0.7.41)" U "healthy backend unaffected"
grep -q "127.0.7.41 down" "$(pm_log)" && tb_fail "healthy backend was taken down"

tb_unblock 127.0.7.42
tb_wait_host_state 127.0.7.42 U 8 || tb_fail "not back up after unblock"
pm_stop || tb_fail "stop"
