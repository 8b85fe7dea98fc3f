#!/bin/bash
# Hostile ManageSieve servers (tests/hostile/hostile) in a real director,
# beside a real Dovecot backend with dovecot-managesieved, checked on
# SIEVE:4190 with a login: no greeting, endless capability lines, a
# literal of 4 GB, a literal that never arrives, malformed literals, too
# many literals in a line, a 10 MB line, a greeting that says NO, garbage
# after STARTTLS's OK (in the same packet, and instead of the
# ServerHello), a SASL challenge where PLAIN needs none, a huge literal
# as AUTHENTICATE's reply, NUL bytes and invalid UTF-8 in it. For each:
# the director has the host down with a precise reason, found within the
# check's own deadline (the parent never had to kill a check); the real
# backend is checked in the same scans, unharmed; poolmond's memory stays
# bounded; the log stays printable; poolmond exits cleanly.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
[ -x /usr/lib/dovecot/managesieve-login ] ||
	{ echo "dovecot-managesieved is not installed"; exit 77; }

GOOD=127.0.22.1 DIR_IP=127.0.22.100 TIMEOUT_MS=2000
MEM=1
hs_mem_checked || MEM=0
tb_init || tb_fail "tb_init"
tb_backend_start good "$GOOD" "protocols = imap pop3 lmtp sieve
service managesieve-login {
  inet_listener sieve {
    port = 4190
  }
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}" || tb_fail "backend"

CAPS=('line:"IMPLEMENTATION" "hostile"' 'line:"SASL" "PLAIN"')
# IP EXPECTED_REASON MAX_MS STEP...: a hostile SIEVE:4190; the reason is
# the whole of what the down line says about it.
declare -A WANT MAXMS
hostile() {
	local ip=$1
	WANT[$ip]=$2 MAXMS[$ip]=$3
	shift 3
	hs_server "$ip" 4190 "$@" || tb_fail "hostile server $ip"
}
SLOW=$((TIMEOUT_MS + 400)) FAST=1000
hostile 127.0.22.2 "banner: timed out after 2 s" $SLOW hang
hostile 127.0.22.3 "banner: more than 200 capability lines" $FAST \
	'flood:"X-CAP" "more"\r\n'
hostile 127.0.22.4 "banner: literal of 4294967296 bytes, more than 4096" $FAST \
	'line:"SIEVE" {4294967296}' bulk:10485760:x
hostile 127.0.22.5 "banner: timed out after 2 s" $SLOW \
	'line:"SIEVE" {4000}' 'drip:1000:fileinto reject'
hostile 127.0.22.6 'banner: malformed literal: "SIEVE" \{12abc\}' $FAST \
	'line:"SIEVE" {12abc}' hang
hostile 127.0.22.7 "banner: more than 4 literals in a line" $FAST \
	'send:OK (X {1}\r\na {1}\r\nb {1}\r\nc {1}\r\nd {1}\r\ne)\r\n' hang
hostile 127.0.22.8 "banner: reply line longer than 8192 bytes" $FAST \
	'send:"SIEVE" "' bulk:10485760:y
hostile 127.0.22.9 'banner: NO \(TRYLATER\) "Service unavailable"' $FAST \
	"${CAPS[@]}" 'line:NO (TRYLATER) "Service unavailable"'
hostile 127.0.22.10 "TLS: plaintext data after the TLS request" $FAST \
	"${CAPS[@]}" 'line:"STARTTLS"' line:OK expect:STARTTLS \
	'send:OK\r\n\x16\x03\x03garbage\r\n' hang
hostile 127.0.22.11 "TLS: wrong version number" $FAST \
	"${CAPS[@]}" 'line:"STARTTLS"' line:OK expect:STARTTLS line:OK recv \
	'line:BYE "garbage"' hang
hostile 127.0.22.12 'AUTHENTICATE: unexpected challenge: ""' $FAST \
	"${CAPS[@]}" line:OK 'expect:AUTHENTICATE "PLAIN"' 'flood:""\r\n'
hostile 127.0.22.13 "AUTHENTICATE: literal of 99999999 bytes, more than 4096" $FAST \
	"${CAPS[@]}" line:OK 'expect:AUTHENTICATE "PLAIN"' 'line:NO {99999999}' \
	bulk:10485760:z
hostile 127.0.22.14 'AUTHENTICATE: NO "\?\( bad\? utf8 \?\?\?\?\? end"' $FAST \
	"${CAPS[@]}" line:OK 'expect:AUTHENTICATE "PLAIN"' \
	'line:NO "\xc3\x28 bad\0 utf8 \xff\xfe\xed\xa0\x80 end"' hang
HOSTILE=$(tr ' ' '\n' <<<"${!WANT[*]}" | sort -t. -k4 -n)
tb_director_start "$DIR_IP" "$GOOD-127.0.22.14" || tb_fail "director"

printf '%s\n%s\n' "$TB_USER" "$TB_PASS" >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"
hs_pm_start -d -i 1 -t $((TIMEOUT_MS / 1000)) --retries 0 --max-down=100 \
	-p 4190 -c "$TB_DIR/cred" -v 0 || tb_fail "poolmond"
pm_wait_json '.scans_completed >= 1 and .backends_total == 14 and .backends_failed == 13' 10 ||
	tb_fail "first scan"
hwm_first=$(hs_status_kb "$PM_DAEMON" VmHWM)

for ip in $HOSTILE; do
	tb_wait_host_state "$ip" D 5 || tb_fail "$ip not down"
	line=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status |
		jq -r --arg ip "$ip" '.backends[] | select(.address == $ip) | .reason')
	[[ $line =~ ^SIEVE:4190\ ${WANT[$ip]}$ ]] ||
		tb_fail "$ip: status reason '$line', expected 'SIEVE:4190 ${WANT[$ip]}'"
	ms=$(hs_check_ms "$ip" SIEVE:4190)
	[ -n "$ms" ] && [ "$ms" -le "${MAXMS[$ip]}" ] ||
		tb_fail "$ip: check took '$ms' ms, more than ${MAXMS[$ip]}"
	tb_pass "$ip down in the director: $line ($ms ms)"
done
grep -Eq "killing it|killed at its deadline" "$(pm_log)" &&
	tb_fail "a check had to be killed by the parent"
tb_pass "every hostile check ended by its own deadline"

# The 4 GB and 10 MB servers: the client left long before it read them.
for ip in 127.0.22.4 127.0.22.8 127.0.22.13; do
	first=$(hs_conns "$ip" 4190 | head -n 1)
	sent=$(sed -n 's/.* sent=\([0-9]*\) .* end=gone .*/\1/p' <<<"$first")
	[ -n "$sent" ] && [ "$sent" -lt 10485760 ] || tb_fail "$ip: $first"
done
tb_pass "huge literals and lines: the client gone before reading them"

# More scans, then: the real backend was checked every time, and fast.
n=$(pm_count_log "scan complete")
hs_wait_count "scan complete" $((n + 3)) 20 || tb_fail "scans stalled"
scans=$(pm_count_log "scan complete")
ok=$(grep -ac "debug: $GOOD SIEVE:4190 ok (" "$(pm_log)")
[ "$ok" -ge "$scans" ] || tb_fail "$GOOD SIEVE:4190 ok in $ok of $scans scans"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up throughout"
grep -aq "$GOOD down" "$(pm_log)" && tb_fail "$GOOD was taken down"
grep -q "managesieve-login: Info: Login: user=<$TB_USER>" "$TB_DIR/backend-good/dovecot.log" ||
	tb_fail "no ManageSieve login on $GOOD"
tb_pass "$GOOD logged into in each of $scans scans beside the hostile ones"

# The daemon never reads a backend's bytes: its peak is its first scan's.
hwm_end=$(hs_status_kb "$PM_DAEMON" VmHWM)
if [ "$MEM" = 1 ]; then
	[ "$hwm_end" -le $((hwm_first + 1024)) ] ||
		tb_fail "poolmond VmHWM grew from $hwm_first to $hwm_end kB"
	tb_pass "poolmond VmHWM $hwm_first -> $hwm_end kB"
fi
pm_stop || tb_fail "poolmond exit status"
maxrss=$(hs_maxrss)
[ -n "$maxrss" ] && { [ "$MEM" = 0 ] || [ "$maxrss" -le $((hwm_end + 4096)) ]; } ||
	tb_fail "largest RSS of poolmond or a check process: '$maxrss' kB (daemon $hwm_end kB)"
tb_pass "largest RSS of poolmond and all its check processes: $maxrss kB"
hs_log_ascii "$(pm_log)" || tb_fail "unprintable bytes in the log"
tb_pass "log printable: NUL and invalid UTF-8 shown as '?'"
echo "t_checks_sieve_hostile: all passed"
exit 0
