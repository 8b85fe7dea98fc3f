#!/bin/bash
# The idle daemon gives back the dynamic linker's tables (issue 21,
# poolmond/lean.c). Plain IMAP, no TLS, no metrics, a fake director with
# three backends, one of them dead: once poolmond answers on its control
# socket (start-up over), libcrypto's first segment (its .dynsym,
# .dynstr, hash tables, versions and relocations: several hundred KiB)
# holds at most its ELF header's page, and so it stays while scans run;
# and poolmond works as before: the live backends check ok, the dead one
# is taken down and flushed in the director, status answers. With
# --metrics-listen, libmicrohttpd (loaded at start) is given back too and
# /metrics is served. The idle RSS is printed, not asserted (it depends
# on the machine).
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"
: "${POOLMONCTL:?}"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }

GOOD1=127.0.23.11 DEAD=127.0.23.12 GOOD2=127.0.23.13
LISTEN=127.0.23.50:9095
# At most the ELF header's page and one more.
KEPT_KB=8
FD=$TOOLS/fakedirector
[ -x "$FD" ] || tb_fail "$FD not built (make tests)"
tb_init || tb_fail "tb_init"
for ip in $GOOD1 $GOOD2; do
	hs_server "$ip" 143 'line:* OK hi' 'expect:P1 LOGOUT' 'line:* BYE' 'line:P1 OK' ||
		tb_fail "backend $ip"
done
SOCK=$TB_DIR/fd.sock TRUTH=$TB_DIR/truth.sock FDLOG=$TB_DIR/fd.log
: >"$FDLOG"
"$FD" -L "$FDLOG" -T "$TRUTH" "$SOCK" $GOOD1 $DEAD $GOOD2 \
	</dev/null >>"$TB_DIR/fd.out" 2>&1 &
tb_track_pid $!
for _ in $(seq 1 50); do [ -S "$TRUTH" ] && break; sleep 0.1; done
[ -S "$TRUTH" ] || tb_fail "the fake director did not start"

# seg_kb PID LIB: "RSS SIZE" (kB) of PID's mapping at file offset 0 of
# the library whose file name starts with LIB: the read-only segment of
# its ELF header and the linker's tables.
seg_kb() {
	awk -v lib="$2" '
		/^[0-9a-f]+-[0-9a-f]+ / {
			n = split($6, p, "/")
			m = $3 == "00000000" && index(p[n], lib) == 1
		}
		m && $1 == "Size:" { size = $2 }
		m && $1 == "Rss:" { print $2, size; exit }' "/proc/$1/smaps"
}

# assert_given_back WHEN LIB MIN_KB: LIB's tables segment, of MIN_KB or
# more (else the test would prove nothing), holds KEPT_KB at most.
assert_given_back() {
	local rss size
	read -r rss size <<<"$(seg_kb "$PM_PID" "$2")"
	[ -n "$size" ] || tb_fail "$1: poolmond maps no $2"
	[ "$size" -ge "$3" ] || tb_fail "$1: $2's first segment is $size kB only"
	[ "$rss" -le "$KEPT_KB" ] ||
		tb_fail "$1: $rss kB of $2's tables segment ($size kB) resident"
	tb_pass "$1: $rss kB of $2's tables segment ($size kB) resident"
}

TB_DIRECTOR_SOCKET=$SOCK pm_start -d -i 1 -t 1 --retries 0 --max-down=100 -p 143
# Status answers once the event loop runs: start-up is over.
pm_wait_json '.backends | length == 3' 20 || tb_fail "poolmond does not answer status"
assert_given_back "after start-up" libcrypto.so 256
echo "# idle RSS $(awk '$1 == "Rss:" { print $2 }' "/proc/$PM_PID/smaps_rollup") kB" \
	"(3 backends, plain, no metrics)"

for ip in $GOOD1 $GOOD2; do
	pm_wait_backend "$ip" '.health == "ok"' 20 || tb_fail "$ip never checked ok"
done
tb_pass "the live backends check ok"
for _ in $(seq 1 100); do
	grep -q "cmd=HOST-FLUSH arg=$DEAD how=ok" "$FDLOG" && break
	sleep 0.1
done
grep -q "cmd=HOST-DOWN arg=$DEAD how=ok" "$FDLOG" || tb_fail "no HOST-DOWN for $DEAD"
grep -q "cmd=HOST-FLUSH arg=$DEAD how=ok" "$FDLOG" || tb_fail "no HOST-FLUSH for $DEAD"
tb_assert_eq "$(TB_DIRECTOR_SOCKET=$TRUTH tb_host_state "$DEAD")" D "$DEAD down in the director"
grep -E "arg=($GOOD1|$GOOD2)" "$FDLOG" && tb_fail "a command for a live backend"
# Scans do not fault the tables back in.
pm_wait_scans 3 20 || tb_fail "no more scans"
assert_given_back "after scans" libcrypto.so 256
pm_wait_json ".backends[] | select(.address == \"$DEAD\") | .health != \"ok\"" 5 ||
	tb_fail "status does not show $DEAD failing"
pm_stop || tb_fail "poolmond did not stop cleanly"

# A library loaded at start for an option: given back too, and it serves.
TB_DIRECTOR_SOCKET=$SOCK pm_start -i 1 -t 1 --retries 0 --max-down=100 -p 143 \
	--metrics-listen="$LISTEN"
pm_wait_json '.backends | length == 3' 20 || tb_fail "poolmond with metrics does not answer status"
assert_given_back "with --metrics-listen" libmicrohttpd.so 12
pm_wait_backend "$GOOD1" '.health == "ok"' 20 || tb_fail "$GOOD1 never checked ok with metrics"
body=$(curl -sS -m 10 "http://$LISTEN/metrics") || tb_fail "no metrics on $LISTEN"
grep -q "^poolmon_backend_healthy{.*backend=\"$GOOD1\".*} 1\$" <<<"$body" ||
	tb_fail "metrics do not show $GOOD1 healthy"
tb_pass "/metrics served"
pm_stop || tb_fail "poolmond with metrics did not stop cleanly"
echo "t_lean_idle: all passed"
exit 0
