#!/bin/bash
# Hostile implicit-TLS ports (tests/hostile/hostile) in a real director,
# beside a real Dovecot backend, checked on IMAPS:993 with one retry:
# plain text where TLS is due, a handshake that stalls (no ServerHello, or
# half of one), 10 MB of handshake records, 10 MB of text without a
# newline, a reset or a close after the ClientHello, NUL bytes and invalid
# UTF-8. For each: the director has the host down with a precise reason
# after both tries, each try within its deadline (the parent never had to
# kill a check); memory stays bounded; the real backend is unharmed;
# poolmond keeps running and exits cleanly.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

GOOD=127.0.8.1 DIR_IP=127.0.8.100
MEM=1
hs_mem_checked || MEM=0
tb_init || tb_fail "tb_init"
tb_backend_start good "$GOOD" || tb_fail "backend"

declare -A WANT MAXMS
hostile() {	# IP REASON_REGEX MAX_MS STEP...
	local ip=$1
	WANT[$ip]=$2 MAXMS[$ip]=$3
	shift 3
	hs_server "$ip" 993 "$@" || tb_fail "hostile server $ip"
}
SLOW=2400 FAST=1000
hostile 127.0.8.20 "TLS: wrong version number" $FAST \
	'line:* OK [CAPABILITY IMAP4rev1] Dovecot ready.' hang
hostile 127.0.8.21 "TLS: timed out after 2 s" $SLOW recv hang
hostile 127.0.8.22 "TLS: timed out after 2 s" $SLOW \
	recv 'send:\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03' hang
hostile 127.0.8.23 "TLS: unexpected message" $FAST \
	recv 'bulk:10485760:\x16\x03\x03\x40\x00'
hostile 127.0.8.24 "TLS: handshake: Connection reset by peer" $FAST recv reset
hostile 127.0.8.25 "TLS: unexpected eof while reading" $FAST recv close
hostile 127.0.8.26 "TLS: wrong version number" $FAST bulk:10485760:x
hostile 127.0.8.27 "TLS: wrong version number" $FAST \
	recv 'send:\0\xff\xfe\xc3\x28\0\0\0\0\0\0\0\r\n' hang
HOSTILE=$(tr ' ' '\n' <<<"${!WANT[*]}" | sort -t. -k4 -n)
tb_director_start "$DIR_IP" "$GOOD ${HOSTILE//$'\n'/ }" || tb_fail "director"

hs_pm_start -d -i 1 -t 2 --retries 1 --retry-delay 100 --max-down=100 \
	-s 993 -v 0 || tb_fail "poolmond"
hs_watch_start 10
pm_wait_json '.scans_completed >= 1 and .backends_total == 9 and .backends_failed == 8' 15 || tb_fail "first scan"
hwm_first=$(hs_status_kb "$PM_DAEMON" VmHWM)

for ip in $HOSTILE; do
	tb_wait_host_state "$ip" D 5 || tb_fail "$ip not down"
	line=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status |
		jq -r --arg ip "$ip" '.backends[] | select(.address == $ip) | .reason')
	[[ $line =~ ^IMAPS:993\ ${WANT[$ip]}\ \(2\ tries\)$ ]] ||
		tb_fail "$ip: status reason '$line', expected 'IMAPS:993 ${WANT[$ip]} (2 tries)'"
	ms=$(hs_check_ms "$ip" IMAPS:993)
	[ -n "$ms" ] && [ "$ms" -le "${MAXMS[$ip]}" ] ||
		tb_fail "$ip: an attempt took '$ms' ms, more than ${MAXMS[$ip]}"
	# Two connections per scan: the retry really happened.
	n=$(hs_conns "$ip" 993 | wc -l)
	[ "$n" -ge 2 ] || tb_fail "$ip: $n connections for two tries"
	tb_pass "$ip down in the director: $line (last try $ms ms)"
done
grep -Eq "killing it|killed at its deadline" "$(pm_log)" &&
	tb_fail "a check had to be killed by the parent"
tb_pass "every hostile check ended by its own deadline"
for ip in 127.0.8.21 127.0.8.22; do
	first=$(hs_conns "$ip" 993 | head -n 1)
	ms=$(sed -n 's/.* ms=\([0-9]*\) end=gone .*/\1/p' <<<"$first")
	[ -n "$ms" ] && [ "$ms" -ge 1800 ] && [ "$ms" -le 2600 ] ||
		tb_fail "$ip: the client left after '$ms' ms: $first"
done
tb_pass "stalled handshakes: the client left after ~2 s"

n=$(pm_count_log "scan complete")
for _ in $(seq 1 40); do
	[ "$(pm_count_log "scan complete")" -ge $((n + 2)) ] && break
	sleep 0.5
done
scans=$(pm_count_log "scan complete")
[ "$scans" -ge $((n + 2)) ] || tb_fail "scans stalled"
ok=$(grep -ac "debug: $GOOD IMAPS:993 ok (" "$(pm_log)")
[ "$ok" -ge "$scans" ] || tb_fail "$GOOD ok in $ok of $scans scans"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up throughout ($ok healthy checks)"

hwm_end=$(hs_status_kb "$PM_DAEMON" VmHWM)
if [ "$MEM" = 1 ]; then
	[ "$hwm_end" -le $((hwm_first + 1024)) ] ||
		tb_fail "poolmond VmHWM grew from $hwm_first to $hwm_end kB"
	tb_pass "poolmond VmHWM $hwm_first -> $hwm_end kB"
fi
"$POOLMONCTL" -s "$TB_DIR/ctl.sock" status >/dev/null || tb_fail "status"
hs_watch_stop || tb_fail "procwatch"
priv=$(hs_watch_field max_private_kb) seen=$(hs_watch_field children)
[ "$seen" -ge 15 ] || tb_fail "procwatch saw only $seen check processes"
[ "$MEM" = 0 ] || [ "$priv" -le 4096 ] || tb_fail "a check process had $priv kB of its own"
tb_pass "$seen check processes sampled: at most $priv kB of their own"
pm_stop || tb_fail "poolmond exit status"
maxrss=$(hs_maxrss)
[ -n "$maxrss" ] && { [ "$MEM" = 0 ] || [ "$maxrss" -le $((hwm_end + 4096)) ]; } ||
	tb_fail "largest RSS of poolmond or a check process: '$maxrss' kB (daemon $hwm_end kB)"
tb_pass "largest RSS of poolmond and all its check processes: $maxrss kB"
hs_log_ascii "$(pm_log)" || tb_fail "unprintable bytes in the log"
echo "t_hostile_tls: all passed"
exit 0
