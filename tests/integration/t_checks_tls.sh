#!/bin/bash
# Implicit TLS against real Dovecot with test CAs and IP subjectAltNames:
# IMAPS and POP3S pass with verification on and the right CA (next to plain
# IMAP, POP3 and LMTP banner checks); they fail with the TLS reason when the
# CA is wrong and when the name does not match; a PEM bundle of both CAs
# trusts both; --ssl-verify=0 checks neither. Every backend has its own
# certificate, so one healthy backend keeps the pool-wide guard out of it.
# Asserted on the director's HOST-LIST and on the reasons in the log.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

GOOD=127.0.5.1 OTHERCA=127.0.5.2 NONAME=127.0.5.13 DIR_IP=127.0.5.100

tb_init || tb_fail "tb_init"

# mkcert NAME CA SAN: a server certificate NAME.pem/.key signed by CA.
mkcert() {
	local d=$TB_DIR
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$1" 2>/dev/null &&
	printf '%s\n' "basicConstraints = critical,CA:FALSE" \
		"keyUsage = critical,digitalSignature" \
		"extendedKeyUsage = serverAuth" "subjectAltName = $3" >"$d/$1.ext" &&
	openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.pem" -CAkey "$d/$2.key" \
		-set_serial "$RANDOM" -days 2 -extfile "$d/$1.ext" \
		-out "$d/$1.pem" 2>/dev/null
}
mkcert otherca-server otherca "IP:$OTHERCA" || tb_fail "certificate by the other CA"
mkcert noname-server ca "DNS:elsewhere.test" || tb_fail "certificate without the IP"
cert_conf() {
	printf 'ssl_cert = <%s\nssl_key = <%s\n' "$TB_DIR/$1.pem" "$TB_DIR/$1.key"
}

tb_backend_start good "$GOOD" || tb_fail "backend good"
tb_backend_start otherca "$OTHERCA" "$(cert_conf otherca-server)" || tb_fail "backend otherca"
tb_backend_start noname "$NONAME" "$(cert_conf noname-server)" || tb_fail "backend noname"
tb_director_start "$DIR_IP" "$GOOD $OTHERCA $NONAME" || tb_fail "director"

COMMON=(-d -i 1 -t 2 --retries 0 --max-down=100)
# Each poolmond run gets a log of its own, so no wait matches an older run.
restart_log() {
	pm_stop || tb_fail "poolmond exit"
	mv "$(pm_log)" "$(pm_log).$((++RUN))"
}
RUN=0
# wait_scans N: until the current run has finished N scans.
wait_scans() {
	pm_wait_json ".scans_completed >= $1" 10 || tb_fail "fewer than $1 scans"
}
VERIFY_FAILED="TLS: certificate verify failed"

# 1. Verification on, the test CA, the address as the name.
pm_start "${COMMON[@]}" -p 143 -p 110 -p 24 -s 993 -s 995 \
	--ssl-ca="$TB_DIR/ca.pem" --no-ptr
tb_wait_host_state "$OTHERCA" D 10 || tb_fail "$OTHERCA not down: wrong CA"
tb_wait_host_state "$NONAME" D 10 || tb_fail "$NONAME not down: IP not in the certificate"
pm_wait_backend "$GOOD" '.health == "ok" and
    [.checks[] | [.port, .ok]] == [[143, true], [110, true], [24, true], [993, true], [995, true]]' 5 ||
	tb_fail "$GOOD: not every port ok"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up: all five checks pass"
pm_wait_backend "$OTHERCA" ".reason == \"IMAPS:993 $VERIFY_FAILED (unable to get local issuer certificate); POP3S:995 $VERIFY_FAILED (unable to get local issuer certificate)\"" 5 ||
	tb_fail "no wrong-CA reason"
tb_pass "wrong CA: down, reason '$VERIFY_FAILED (unable to get local issuer certificate)'"
pm_wait_backend "$NONAME" ".reason == \"IMAPS:993 $VERIFY_FAILED (IP address mismatch); POP3S:995 $VERIFY_FAILED (IP address mismatch)\"" 5 ||
	tb_fail "no IP mismatch reason"
tb_pass "address not in the certificate: down, reason '$VERIFY_FAILED (IP address mismatch)'"
restart_log

# 2. --ssl-name: a DNS name the good certificate carries (also sent as
# SNI), and the other one does not.
pm_start "${COMMON[@]}" -s 993 --ssl-ca="$TB_DIR/ca.pem" --ssl-name=backend.test
wait_scans 2
pm_wait_backend "$NONAME" "[.checks[] | [.port, .error]] == [[993, \"$VERIFY_FAILED (hostname mismatch)\"]]" 1 ||
	tb_fail "no hostname mismatch"
pm_wait_backend "$GOOD" '[.checks[] | [.port, .ok]] == [[993, true]]' 1 ||
	tb_fail "$GOOD not ok with --ssl-name=backend.test"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up with --ssl-name=backend.test"
tb_assert_eq "$(tb_host_state "$NONAME")" D "$NONAME down: name mismatch"
tb_pass "name mismatch: reason '$VERIFY_FAILED (hostname mismatch)'"
restart_log

# 3. A PEM bundle of both CAs: the other CA's backend verifies and poolmond
# brings it back up (it took it down itself).
cat "$TB_DIR/ca.pem" "$TB_DIR/otherca.pem" >"$TB_DIR/bundle.pem"
pm_start "${COMMON[@]}" -s 993 -s 995 --ssl-ca="$TB_DIR/bundle.pem" --no-ptr
tb_wait_host_state "$OTHERCA" U 10 || tb_fail "$OTHERCA not up with the CA bundle"
wait_scans 2
tb_assert_eq "$(tb_host_state "$NONAME")" D "$NONAME still down: bundle or not, the IP is missing"
restart_log
tb_pass "IMAPS and POP3S pass with verification and the right CA (a bundle)"

# 4. --ssl-verify=0: neither chain nor name: every host up.
pm_start "${COMMON[@]}" -s 993 -s 995 -v 0 --ssl-ca="$TB_DIR/otherca.pem" --ssl-name=wrong.test
tb_wait_host_state "$NONAME" U 10 || tb_fail "$NONAME not up with --ssl-verify=0"
for ip in "$GOOD" "$OTHERCA"; do
	tb_assert_eq "$(tb_host_state "$ip")" U "$ip up with --ssl-verify=0"
done
pm_stop || tb_fail "poolmond exit"
tb_pass "--ssl-verify=0 ignores the CA and the name"

# 5. A CA file that cannot be read is refused at start-up.
out=$("$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/x.pid" -l "$TB_DIR/x.log" \
	--state-file "$TB_DIR/x.state" -s 993 --ssl-ca="$TB_DIR/nonexistent.pem" 2>&1)
rc=$?
tb_assert_eq "$rc:$out" "1:poolmond: --ssl-ca $TB_DIR/nonexistent.pem: No such file or directory" \
	"unreadable --ssl-ca: exit 1 with a message"
echo "t_checks_tls: all passed"
exit 0
