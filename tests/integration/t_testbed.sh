#!/bin/bash
# Self-test of tests/lib/testbed.sh: real Dovecot backends and director on
# loopback, driven over the director-admin socket.  Must run as root.
# shellcheck source=SCRIPTDIR/../lib/testbed.sh disable=SC2016,SC2015
. "$(dirname "$0")/../lib/testbed.sh"

B1=127.0.3.1 B2=127.0.3.2 B3=127.0.3.3 DIR_IP=127.0.2.1

# can_connect IP PORT SECS: TCP connect succeeds within SECS.
can_connect() {
	timeout "$3" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

tb_init || tb_fail "tb_init"
for f in ca.pem otherca.pem server.pem server.key passwd; do
	[ -s "$TB_DIR/$f" ] || tb_fail "tb_init did not create $f"
done
openssl verify -CAfile "$TB_DIR/ca.pem" "$TB_DIR/server.pem" >/dev/null ||
	tb_fail "server cert does not verify against ca.pem"
if openssl verify -CAfile "$TB_DIR/otherca.pem" "$TB_DIR/server.pem" >/dev/null 2>&1; then
	tb_fail "server cert verifies against otherca.pem"
fi
tb_pass "test CA, unrelated CA and server certificate"

tb_backend_start b1 "$B1" || tb_fail "start backend b1"
tb_backend_start b2 "$B2" || tb_fail "start backend b2"
# b3 with an extra setting, to prove EXTRA_CONF reaches the config.
tb_backend_start b3 "$B3" "login_greeting = testbed b3 ready" || tb_fail "start backend b3"
tb_pass "three backends started"

# TLS on 993 with the test CA and the IP in the SAN (also checks ssl = yes).
# (-quiet ignores stdin EOF: LOGOUT makes the server close instead.)
out=$( (sleep 0.5; printf 'a LOGOUT\r\n') |
	timeout 10 openssl s_client -connect "$B2:993" -CAfile "$TB_DIR/ca.pem" \
	-verify_return_error -verify_ip "$B2" -quiet 2>/dev/null | head -n 1)
case $out in
"* OK"*) tb_pass "imaps on $B2 verifies with ca.pem" ;;
*) tb_fail "imaps on $B2: '$out'" ;;
esac
out=$(timeout 10 openssl s_client -connect "$B3:995" -CAfile "$TB_DIR/otherca.pem" \
	-verify_return_error -quiet </dev/null 2>&1)
case $out in
*"+OK"*) tb_fail "pop3s verified with the unrelated CA" ;;
*"verify"*) tb_pass "pop3s with the unrelated CA fails to verify" ;;
*) tb_fail "pop3s with the unrelated CA: $out" ;;
esac
greeting=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/143"; IFS= read -r -t 4 l <&3; echo "$l"' _ "$B3")
case $greeting in
*"testbed b3 ready"*) tb_pass "EXTRA_CONF applied (b3 greeting)" ;;
*) tb_fail "b3 greeting: $greeting" ;;
esac

# LMTP: known recipient accepted, unknown rejected.
lmtp_rcpt() {
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/$1/24" || exit 1
		IFS= read -r -t 5 l <&3
		printf "LHLO tester\r\n" >&3
		while IFS= read -r -t 5 l <&3; do case $l in "250 "*) break;; esac; done
		printf "MAIL FROM:<>\r\n" >&3; IFS= read -r -t 5 l <&3
		printf "RCPT TO:<%s>\r\n" "$2" >&3; IFS= read -r -t 5 l <&3
		echo "${l%$'"'"'\r'"'"'}"
		printf "QUIT\r\n" >&3
	' _ "$@"
}
r=$(lmtp_rcpt "$B1" testuser)
case $r in 250*) tb_pass "LMTP RCPT testuser: $r" ;; *) tb_fail "LMTP RCPT testuser: $r" ;; esac
r=$(lmtp_rcpt "$B1" lmtpuser@test)
case $r in 250*) tb_pass "LMTP RCPT lmtpuser@test: $r" ;; *) tb_fail "LMTP RCPT lmtpuser@test: $r" ;; esac
r=$(lmtp_rcpt "$B1" nosuchuser)
case $r in 550*) tb_pass "LMTP RCPT nosuchuser rejected: $r" ;; *) tb_fail "LMTP RCPT nosuchuser: $r" ;; esac

tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "start director"
[ -S "$TB_DIRECTOR_SOCKET" ] || tb_fail "TB_DIRECTOR_SOCKET is not a socket"
[ -f "$TB_DIRECTOR_CONF" ] || tb_fail "TB_DIRECTOR_CONF missing"
tb_pass "director started"

list=$(tb_dcmd HOST-LIST) || tb_fail "HOST-LIST"
tb_assert_eq "$(awk -F'\t' '{print $1 "=" $5}' <<<"$list" | sort | tr '\n' ' ')" \
	"$B1=U $B2=U $B3=U " "HOST-LIST shows three hosts up"

tb_assert_eq "$(tb_dcmd HOST-DOWN "$B2")" OK "HOST-DOWN $B2"
tb_assert_eq "$(tb_host_state "$B2")" D "$B2 is down"
tb_wait_host_state "$B2" D 1 || tb_fail "tb_wait_host_state D"
tb_assert_eq "$(tb_dcmd HOST-UP "$B2")" OK "HOST-UP $B2"
tb_wait_host_state "$B2" U 5 || tb_fail "$B2 back up"
tb_pass "$B2 is up again"
tb_assert_eq "$(tb_dcmd HOST-DOWN 127.0.3.99)" NOTFOUND "HOST-DOWN of an unknown host"
# Bounded wait must time out (and say so) for a state never reached.
if tb_wait_host_state "$B1" D 0.5 2>/dev/null; then
	tb_fail "tb_wait_host_state did not time out"
fi
tb_pass "tb_wait_host_state times out"

tb_assert_eq "$(tb_user_backend "$TB_USER")" "" "no mapping before login"
tb_user_login "$TB_USER" "$TB_PASS" || tb_fail "login through the director"
be=$(tb_user_backend "$TB_USER")
case " $B1 $B2 $B3 " in
*" $be "*) tb_pass "$TB_USER mapped to $be" ;;
*) tb_fail "USER-LOOKUP $TB_USER gave '$be'" ;;
esac
if tb_user_login "$TB_USER" wrongpass 2>/dev/null; then
	tb_fail "login with a wrong password succeeded"
fi
tb_pass "wrong password rejected through the proxy"

# Stop the user's backend: it refuses connections; then restart it.
name=b${be##*.}
tb_backend_stop "$name" || tb_fail "stop $name"
if can_connect "$be" 143 2; then
	tb_fail "$be still accepts connections after stop"
fi
tb_pass "$name stopped, $be:143 refuses"
tb_backend_restart "$name" || tb_fail "restart $name"
can_connect "$be" 143 2 || tb_fail "$be not back"
tb_pass "$name restarted"

# HOST-DOWN + HOST-FLUSH moves the user to another backend on next login.
tb_assert_eq "$(tb_dcmd HOST-DOWN "$be")" OK "HOST-DOWN $be"
tb_assert_eq "$(tb_dcmd HOST-FLUSH "$be")" OK "HOST-FLUSH $be"
tb_user_login "$TB_USER" "$TB_PASS" || tb_fail "login after flush"
be2=$(tb_user_backend "$TB_USER")
[ -n "$be2" ] && [ "$be2" != "$be" ] || tb_fail "after flush user on '$be2' (was $be)"
tb_pass "after HOST-DOWN+HOST-FLUSH $TB_USER moved $be -> $be2"
tb_assert_eq "$(tb_dcmd HOST-UP "$be")" OK "HOST-UP $be"

# A blocked backend hangs instead of refusing.
tb_block "$B3" || tb_fail "tb_block"
if can_connect "$B3" 143 2; then
	tb_fail "$B3 reachable while blocked"
fi
tb_unblock "$B3" || tb_fail "tb_unblock"
can_connect "$B3" 143 2 || tb_fail "$B3 unreachable after unblock"
tb_pass "tb_block / tb_unblock"
tb_block "$B1" || tb_fail "tb_block $B1"	# left for tb_cleanup to remove

# Director restart: host states start over, socket answers again.
tb_dcmd HOST-DOWN "$B3" >/dev/null
tb_director_restart || tb_fail "director restart"
tb_wait_host_state "$B3" U 5 || tb_fail "$B3 not up after director restart"
tb_pass "director restarted"

tag=poolmon-tb:${TB_DIR##*/}
dir=$TB_DIR
tb_cleanup
tb_cleanup	# idempotent
[ ! -e "$dir" ] || tb_fail "TB_DIR not removed"
if iptables -S INPUT | grep -qF -- "$tag"; then
	tb_fail "iptables rules left behind"
fi
if pgrep -a -f -- "$dir" >&2; then
	tb_fail "processes left behind"
fi
tb_pass "cleanup"
echo "t_testbed: all passed"
exit 0
