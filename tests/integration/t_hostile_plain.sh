#!/bin/bash
# Hostile plain-text backends (tests/hostile/hostile) in a real director,
# beside a real Dovecot backend, checked on IMAP:143 with a login and on
# LMTP:24: no banner ever, a 10 MB banner without a newline, one byte a
# second, a banner then close, a reset on connect, NUL bytes and invalid
# UTF-8, garbage after STARTTLS OK (in the same packet, and instead of the
# ServerHello), endless untagged lines, endless 250- lines (at the banner
# and after LHLO), a 10 MB continuation line. For each: the director has
# the host down with a precise reason, found within the check's own
# deadline (the parent never had to kill a check); poolmond's and every
# check process's memory stay bounded; the real backend is checked in the
# same scans, unharmed; the log stays printable; poolmond keeps running
# and exits cleanly.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

GOOD=127.0.8.1 DIR_IP=127.0.8.100 TIMEOUT_MS=2000
MEM=1
hs_mem_checked || MEM=0
tb_init || tb_fail "tb_init"
tb_backend_start good "$GOOD" || tb_fail "backend"

# The other port of a hostile backend behaves: only one port is hostile.
good_imap() {
	hs_server "$1" 143 'line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready' \
		'expect:P1 LOGIN "testuser" {8+}' expect:testpass 'line:P1 OK in' \
		'expect:P2 LOGOUT' 'line:* BYE bye' 'line:P2 OK out'
}
good_lmtp() {
	hs_server "$1" 24 'line:220 lmtp ready' expect:LHLO 'line:250 ok' \
		expect:QUIT 'line:221 bye'
}
CAPS='* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS] hi'

# IP PORT EXPECTED_REASON MAX_MS STEP...: one hostile port; the reason is
# the whole of what the down line says about it.
declare -A WANT MAXMS PORTNAME
hostile() {
	local ip=$1 port=$2
	WANT[$ip]=$3 MAXMS[$ip]=$4
	shift 4
	hs_server "$ip" "$port" "$@" || tb_fail "hostile server $ip:$port"
	if [ "$port" = 143 ]; then
		PORTNAME[$ip]=IMAP:143
		good_lmtp "$ip"
	else
		PORTNAME[$ip]=LMTP:24
		good_imap "$ip"
	fi
}
SLOW=$((TIMEOUT_MS + 400)) FAST=1000
hostile 127.0.8.2 143 "banner: timed out after 2 s" $SLOW hang
hostile 127.0.8.3 143 "banner: reply line longer than 8192 bytes" $FAST \
	'send:* OK ' bulk:10485760:x
hostile 127.0.8.4 143 "banner: timed out after 2 s" $SLOW 'drip:1000:* OK hello\r\n'
# The client's CAPABILITY may meet the close (EOF) or the reset it causes.
hostile 127.0.8.5 143 "CAPABILITY: (connection closed|read: Connection reset by peer)" $FAST \
	'line:* OK hi' close
# The reset may beat the end of the client's connect(), or follow it.
hostile 127.0.8.6 143 "(connect|banner: read): Connection reset by peer" $FAST reset
hostile 127.0.8.7 143 'LOGIN: NO \?\( bad\? utf8 \?\?\?\?\? end' $FAST \
	'line:* OK [CAPABILITY IMAP4rev1 LITERAL+] hi' read read \
	'line:P1 NO \xc3\x28 bad\0 utf8 \xff\xfe\xed\xa0\x80 end' hang
hostile 127.0.8.8 143 "TLS: plaintext data after the TLS request" $FAST \
	"line:$CAPS" 'expect:P1 STARTTLS' 'send:P1 OK Begin TLS\r\n\x16\x03\x03garbage\r\n' hang
hostile 127.0.8.9 143 "TLS: wrong version number" $FAST \
	"line:$CAPS" 'expect:P1 STARTTLS' 'line:P1 OK Begin TLS' recv 'line:* BYE garbage' hang
hostile 127.0.8.10 143 "CAPABILITY: more than 200 untagged lines" $FAST \
	'line:* OK hi' 'expect:P1 CAPABILITY' 'flood:* OK more\r\n'
hostile 127.0.8.11 24 "banner: more than 200 reply lines" $FAST 'flood:220-hostile\r\n'
hostile 127.0.8.12 24 "LHLO: more than 200 reply lines" $FAST \
	'line:220 hi' expect:LHLO 'flood:250-PIPELINING\r\n'
hostile 127.0.8.13 24 'LHLO: 550 \?\?\?\?\( no' $FAST \
	'line:220 hi' expect:LHLO 'line:550 \0\xff\xfe\xc3\x28 no' hang
hostile 127.0.8.14 24 "LHLO: timed out after 2 s" $SLOW \
	'line:220 hi' expect:LHLO 'drip:1000:250-a\r\n250 b\r\n'
hostile 127.0.8.15 24 "LHLO: reply line longer than 8192 bytes" $FAST \
	'line:220 hi' expect:LHLO 'send:250-' bulk:10485760:y
HOSTILE=$(tr ' ' '\n' <<<"${!WANT[*]}" | sort -t. -k4 -n)
tb_director_start "$DIR_IP" "$GOOD-127.0.8.15" || tb_fail "director"

printf '%s\n%s\n' "$TB_USER" "$TB_PASS" >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"
# --ssl-verify=0: the STARTTLS of the real backend is not what is tested.
hs_pm_start -d -i 1 -t $((TIMEOUT_MS / 1000)) --retries 0 --max-down=100 \
	-p 143 -p 24 -c "$TB_DIR/cred" -v 0 || tb_fail "poolmond"
hs_watch_start 10
pm_wait_json '.scans_completed >= 1 and .backends_total == 15 and .backends_failed == 14' 10 || tb_fail "first scan"
hwm_first=$(hs_status_kb "$PM_DAEMON" VmHWM)

for ip in $HOSTILE; do
	tb_wait_host_state "$ip" D 5 || tb_fail "$ip not down"
	line=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status |
		jq -r --arg ip "$ip" '.backends[] | select(.address == $ip) | .reason')
	[[ $line =~ ^${PORTNAME[$ip]}\ ${WANT[$ip]}$ ]] ||
		tb_fail "$ip: status reason '$line', expected '${PORTNAME[$ip]} ${WANT[$ip]}'"
	ms=$(hs_check_ms "$ip" "${PORTNAME[$ip]}")
	[ -n "$ms" ] && [ "$ms" -le "${MAXMS[$ip]}" ] ||
		tb_fail "$ip: check took '$ms' ms, more than ${MAXMS[$ip]}"
	tb_pass "$ip down in the director: $line ($ms ms)"
done
grep -Eq "killing it|killed at its deadline" "$(pm_log)" &&
	tb_fail "a check had to be killed by the parent"
tb_pass "every hostile check ended by its own deadline"

# The server's view of the slow ones: the client left at its deadline.
for ip in 127.0.8.2 127.0.8.4; do
	first=$(hs_conns "$ip" 143 | head -n 1)
	ms=$(sed -n 's/.* ms=\([0-9]*\) end=gone .*/\1/p' <<<"$first")
	[ -n "$ms" ] && [ "$ms" -ge 1800 ] && [ "$ms" -le 2600 ] ||
		tb_fail "$ip: the client left after '$ms' ms: $first"
done
for hp in "127.0.8.3 143" "127.0.8.15 24"; do
	# shellcheck disable=SC2086
	first=$(hs_conns $hp | head -n 1)
	sent=$(sed -n 's/.* sent=\([0-9]*\) .* end=gone .*/\1/p' <<<"$first")
	[ -n "$sent" ] && [ "$sent" -lt 10485760 ] || tb_fail "10 MB server $hp: $first"
done
tb_pass "hang and drip: client gone after ~2 s; 10 MB: client gone before reading it all"

# More scans with every hostile backend, for the memory figures.
n=$(pm_count_log "scan complete")
for _ in $(seq 1 40); do
	[ "$(pm_count_log "scan complete")" -ge $((n + 3)) ] && break
	sleep 0.5
done
[ "$(pm_count_log "scan complete")" -ge $((n + 3)) ] || tb_fail "scans stalled"

# The real backend, in the same scans, was checked every time and fast.
scans=$(pm_count_log "scan complete")
for p in IMAP:143 LMTP:24; do
	ok=$(grep -ac "debug: $GOOD $p ok (" "$(pm_log)")
	[ "$ok" -ge "$scans" ] || tb_fail "$GOOD $p ok in $ok of $scans scans"
	slow=$(grep -a "debug: $GOOD $p ok (" "$(pm_log)" | sed -nE 's/.*\(([0-9]+) ms.*/\1/p' |
		awk '$1 > 1000' | wc -l)
	tb_assert_eq "$slow" 0 "$GOOD $p never slower than 1 s beside the hostile ones"
done
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up throughout"
grep -aq "$GOOD down" "$(pm_log)" && tb_fail "$GOOD was taken down"
tb_assert_eq "$(grep -ac "scan complete: 15 backends, 14 failed" "$(pm_log)")" "$scans" \
	"every scan: 15 backends, 14 failed"

# Memory. The daemon never reads a backend's bytes: its peak is that of its
# first scan (+1 MB for allocator noise). A check process shares the
# daemon's pages; what it has of its own (thread stacks, an 8 KiB line
# buffer, OpenSSL state) stays under 4 MB, whatever a backend sends: a 10
# MB line read into memory would show here.
hwm_end=$(hs_status_kb "$PM_DAEMON" VmHWM)
if [ "$MEM" = 1 ]; then
	[ "$hwm_end" -le $((hwm_first + 1024)) ] ||
		tb_fail "poolmond VmHWM grew from $hwm_first to $hwm_end kB"
	tb_pass "poolmond VmHWM $hwm_first -> $hwm_end kB"
fi
kill -0 "$PM_DAEMON" || tb_fail "poolmond died"
"$POOLMONCTL" -s "$TB_DIR/ctl.sock" status >/dev/null || tb_fail "status"
hs_watch_stop || tb_fail "procwatch"
priv=$(hs_watch_field max_private_kb) chwm=$(hs_watch_field max_hwm_kb)
seen=$(hs_watch_field children)
[ "$seen" -ge 30 ] || tb_fail "procwatch saw only $seen check processes"
[ "$MEM" = 0 ] || [ "$priv" -le 4096 ] || tb_fail "a check process had $priv kB of its own"
tb_pass "$seen check processes sampled: at most $priv kB of their own, VmHWM $chwm kB"

pm_stop || tb_fail "poolmond exit status"
maxrss=$(hs_maxrss)
[ -n "$maxrss" ] && { [ "$MEM" = 0 ] || [ "$maxrss" -le $((hwm_end + 4096)) ]; } ||
	tb_fail "largest RSS of poolmond or a check process: '$maxrss' kB (daemon $hwm_end kB)"
tb_pass "largest RSS of poolmond and all its check processes: $maxrss kB"
hs_log_ascii "$(pm_log)" || tb_fail "unprintable bytes in the log: $(LC_ALL=C grep -a -n -P '[^\x20-\x7e\t]' "$(pm_log)" | head -3)"
tb_pass "log printable: NUL and invalid UTF-8 shown as '?'"
echo "t_hostile_plain: all passed"
exit 0
