#!/bin/bash
# PTR names for TLS verification (on with --ssl-verify=1 and TLS): the name
# a backend's address resolves to, if it resolves back to that address, is
# what its certificate must carry, so a backend named wrong.test (hosts
# file) or dns.test (DNS) fails although its certificate has its IP. A PTR
# name whose forward lookup gives another address (forged.test) is not
# used: the IP is verified. An address without a name, behind a DNS server
# that never answers, falls back to the IP within the check timeout and
# the lookup is cached: the scan does not stall. The daemon resolves; its
# check processes have one thread. --no-ptr verifies the address instead.
#
# poolmond runs in a mount namespace of its own with the test's /etc/hosts
# and /etc/resolv.conf bound over the machine's: nothing outside changes.
# The DNS server (tests/tools/fakedns) answers only the records below.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

NAMED=127.0.5.6 WRONG=127.0.5.7 NONAME=127.0.5.8 DNS=127.0.5.253 DIR_IP=127.0.5.100
FORGED=127.0.5.9 DNSNAMED=127.0.5.10 ELSEWHERE=127.0.5.50

tb_init || tb_fail "tb_init"
command -v unshare >/dev/null || { echo "unshare(1) missing"; exit 77; }

NS=$TB_DIR/ns
mkdir -p "$NS"
printf '127.0.0.1 localhost\n%s backend.test\n%s wrong.test\n' "$NAMED" "$WRONG" >"$NS/hosts"
printf 'nameserver %s\noptions timeout:5 attempts:2\n' "$DNS" >"$NS/resolv.conf"
cat >"$NS/run" <<'EOF'
#!/bin/sh
# run NSDIR CMD ARGS...: CMD with NSDIR's hosts and resolv.conf as /etc's.
exec unshare -m --propagation private sh -c '
	mount --bind "$0/hosts" /etc/hosts &&
	mount --bind "$0/resolv.conf" /etc/resolv.conf &&
	exec "$@"' "$@"
EOF
chmod +x "$NS/run"
printf '#!/bin/sh\nexec "%s" "%s" "%s" "$@"\n' "$NS/run" "$NS" "$POOLMOND" >"$NS/poolmond"
chmod +x "$NS/poolmond"

# forged.test: a PTR name that points elsewhere; dns.test: one that points
# back. The certificate has both addresses but neither name.
"$TOOLS/fakedns" "$DNS" 53 "ptr:$FORGED=forged.test" "a:forged.test=$ELSEWHERE" \
	"ptr:$DNSNAMED=dns.test" "a:dns.test=$DNSNAMED" &
tb_track_pid $!
for _ in $(seq 1 50); do
	[ -n "$(ss -Hlun src "$DNS:53" 2>/dev/null)" ] && break
	sleep 0.1
done
[ -n "$(ss -Hlun src "$DNS:53")" ] || tb_fail "fakedns is not listening on $DNS:53"

# The namespace works, and its DNS really hangs (10 s for a lookup).
tb_assert_eq "$("$NS/run" "$NS" getent hosts "$NAMED" | awk '{print $2}')" backend.test \
	"namespace: $NAMED is backend.test"
"$NS/run" "$NS" timeout 3 getent hosts "$NONAME"
rc=$?
tb_assert_eq "$rc" 124 "namespace: the PTR lookup of $NONAME hangs (getent killed after 3 s)"
tb_assert_eq "$("$NS/run" "$NS" timeout 3 getent hosts "$FORGED" | awk '{print $2}')" forged.test \
	"namespace: DNS names $FORGED forged.test"
tb_assert_eq "$("$NS/run" "$NS" timeout 3 getent ahostsv4 forged.test | awk 'NR == 1 {print $1}')" "$ELSEWHERE" \
	"namespace: forged.test resolves to $ELSEWHERE"

for ip in "$NAMED" "$WRONG" "$NONAME" "$FORGED" "$DNSNAMED"; do
	tb_backend_start "b${ip##*.}" "$ip" || tb_fail "backend $ip"
done
tb_director_start "$DIR_IP" "$NAMED $WRONG $NONAME $FORGED $DNSNAMED" || tb_fail "director"

# Down by the operator; --adopt-down: they come up only if they pass.
tb_dcmd HOST-DOWN "$NAMED" >/dev/null
tb_dcmd HOST-DOWN "$NONAME" >/dev/null
tb_dcmd HOST-DOWN "$FORGED" >/dev/null
POOLMOND=$NS/poolmond
pm_start -d -i 1 -t 2 --retries 0 --adopt-down --max-down=100 -s 993 --ssl-ca="$TB_DIR/ca.pem"
kill -0 "$PM_PID" || tb_fail "poolmond did not start"
# Every check process of the first scans, sampled every 10 ms.
"$TOOLS/procwatch" "$PM_PID" 10 "$TB_DIR/procwatch.out" &
WATCH_PID=$!
tb_track_pid "$WATCH_PID"
tb_wait_host_state "$NAMED" U 10 || tb_fail "$NAMED (backend.test) not up"
tb_wait_host_state "$NONAME" U 10 || tb_fail "$NONAME (no name) not up: no fallback to the IP"
tb_wait_host_state "$WRONG" D 10 || tb_fail "$WRONG (wrong.test) not down"
pm_wait_backend "$WRONG" '.reason == "IMAPS:993 TLS: certificate verify failed (hostname mismatch)"' 5 ||
	tb_fail "no hostname mismatch for $WRONG"
tb_pass "PTR names verified: backend.test passes, wrong.test fails, no name falls back to the IP"

tb_wait_host_state "$DNSNAMED" D 10 || tb_fail "$DNSNAMED (dns.test, confirmed) not down"
pm_wait_backend "$DNSNAMED" '.reason == "IMAPS:993 TLS: certificate verify failed (hostname mismatch)"' 5 ||
	tb_fail "no hostname mismatch for $DNSNAMED"
tb_wait_host_state "$FORGED" U 10 ||
	tb_fail "$FORGED not up: its unconfirmed PTR name forged.test was verified, not its IP"
tb_pass "forward-confirmed: dns.test (points back) is verified, forged.test (points elsewhere) is not"

# Bounded: the first scan waited at most the 2 s timeout for the hanging
# lookup; later scans use the cached answer and do not wait at all.
pm_wait_log "scan complete: .*" 5 || tb_fail "no scan"
for i in $(seq 1 40); do
	[ "$(pm_count_log "scan complete")" -ge 4 ] && break
	sleep 0.25
done
mapfile -t took < <(sed -n 's/.*scan complete: .*, \([0-9]*\) ms$/\1/p' "$(pm_log)")
[ "${#took[@]}" -ge 4 ] || tb_fail "fewer than 4 scans: ${took[*]}"
[ "${took[0]}" -ge 1900 ] && [ "${took[0]}" -lt 4000 ] ||
	tb_fail "first scan took ${took[0]} ms (want 2 s for the bounded lookup, not 10 s)"
for i in 1 2 3; do
	[ "${took[$i]}" -lt 1000 ] || tb_fail "scan $((i + 1)) took ${took[$i]} ms: PTR answer not cached"
done
tb_pass "scans took ${took[*]} ms: lookup bounded by the timeout, then cached"
kill -TERM "$WATCH_PID"
wait "$WATCH_PID"
seen=$(head -n 1 "$TB_DIR/procwatch.out" | tr ' ' '\n' | sed -n 's/^children=//p')
threads=$(head -n 1 "$TB_DIR/procwatch.out" | tr ' ' '\n' | sed -n 's/^max_threads=//p')
[ "${seen:-0}" -ge 5 ] || tb_fail "procwatch saw only '$seen' check processes"
tb_assert_eq "$threads" 1 "$seen check processes sampled: each had one thread"
pm_stop || tb_fail "poolmond exit"

# --no-ptr: the address is verified, and wrong.test's certificate has it.
pm_start -d -i 1 -t 2 --retries 0 -s 993 --ssl-ca="$TB_DIR/ca.pem" --no-ptr
tb_wait_host_state "$WRONG" U 10 || tb_fail "$WRONG not up with --no-ptr"
pm_stop || tb_fail "poolmond exit"
tb_pass "--no-ptr verifies the address"
echo "t_checks_ptr: all passed"
exit 0
