#!/bin/bash
# Logins against real Dovecot. b3 requires TLS for plaintext auth (its
# banner announces STARTTLS and LOGINDISABLED): IMAP LOGIN through STARTTLS
# and POP3 USER/PASS through STLS pass; a wrong password fails with the
# server's reason and the host goes down in the director. The credential
# file: mode 0644, missing or one-line refused at start; HUP after fixing
# the password brings the host back; a bad file at HUP keeps the old
# credentials. b4 has no TLS and disallows plaintext auth: a warning, as in
# poolmon 0.7, and the host stays up. The password, full of bytes that
# need quoting, never reaches the log, a reason or poolmond's argv.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

B3=127.0.5.3 B4=127.0.5.4 DIR_IP=127.0.5.100
USER=pmcheck
PASS='S3cr3tTok "q{7}\ x%s'
WRONG='Wr0ngTok {3}'

tb_init || tb_fail "tb_init"
echo "$USER:{PLAIN}$PASS::::::" >>"$TB_DIR/passwd"
# No failure delay, no auth penalty: a wrong password is answered at once.
tb_backend_start b3 "$B3" "disable_plaintext_auth = yes
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}" || tb_fail "backend b3"
tb_backend_start b4 "$B4" "disable_plaintext_auth = yes
ssl = no" || tb_fail "backend b4"
tb_director_start "$DIR_IP" "$B3 $B4" || tb_fail "director"

# b3 requires TLS for plaintext auth; b4 cannot offer it.
banner() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/143"; IFS= read -r -t 4 l <&3; echo "$l"' _ "$1"
}
case $(banner "$B3") in
*" STARTTLS LOGINDISABLED"*) tb_pass "$B3 announces STARTTLS and LOGINDISABLED" ;;
*) tb_fail "$B3 banner: $(banner "$B3")" ;;
esac
case $(banner "$B4") in
*STARTTLS*) tb_fail "$B4 offers STARTTLS" ;;
*LOGINDISABLED*) tb_pass "$B4 announces LOGINDISABLED without STARTTLS" ;;
*) tb_fail "$B4 banner: $(banner "$B4")" ;;
esac

CRED=$TB_DIR/cred
# write_cred MODE USER PASS
write_cred() {
	rm -f "$CRED"
	(umask 077 && printf '%s\r\n%s\r\n' "$2" "$3" >"$CRED")
	chmod "$1" "$CRED"
}
start_refused() {
	"$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/x.pid" -l "$TB_DIR/x.log" \
		-c "$CRED" 2>&1
}

# 1. Refused at start-up, exit 1, with a clear message.
write_cred 0644 "$USER" "$PASS"
out=$(start_refused); rc=$?
tb_assert_eq "$rc" 1 "credential file of mode 0644: exit 1"
tb_assert_eq "$out" "poolmond: credential file $CRED: mode 0644 lets group or others read or write it; run chmod 600 on it" "mode 0644 message"
rm -f "$CRED"
out=$(start_refused); rc=$?
tb_assert_eq "$rc:$out" "1:poolmond: credential file $CRED: No such file or directory" "missing credential file"
printf 'onlyauser\n' >"$CRED"; chmod 600 "$CRED"
out=$(start_refused); rc=$?
tb_assert_eq "$rc:$out" "1:poolmond: credential file $CRED: needs a user name on line 1 and a password on line 2" "one-line credential file"
[ ! -e "$TB_DIR/x.pid" ] || tb_fail "a refused start left a pidfile"

# 2. A wrong password: b3 goes down with Dovecot's reasons for both ports.
write_cred 0600 "$USER" "$WRONG"
pm_start -d -i 1 -t 2 --retries 1 --retry-delay 100 -p 143 -p 110 \
	-c "$CRED" --ssl-ca="$TB_DIR/ca.pem" --no-ptr
tb_wait_host_state "$B3" D 10 || tb_fail "b3 not down with a wrong password"
pm_wait_backend "$B3" '.health == "failed" and .reason == "IMAP:143 LOGIN: NO [AUTHENTICATIONFAILED] Authentication failed. (2 tries); POP3:110 PASS: -ERR [AUTH] Authentication failed. (2 tries)"' 5 ||
	tb_fail "login failure reasons"
tb_pass "wrong password: $B3 down with the LOGIN and PASS replies as reasons"

# b4: LOGINDISABLED without STARTTLS, POP3 plaintext disallowed: warnings.
warnings() { echo "[.checks[] | select(.port == $1) | [.ok, .warning]] == [[true, \"$2\"]]"; }
pm_wait_backend "$B4" "$(warnings 143 "LOGIN: server announces LOGINDISABLED without STARTTLS, login not checked; check login_trusted_networks")" 5 ||
	tb_fail "no IMAP LOGINDISABLED warning"
pm_wait_backend "$B4" "$(warnings 110 "USER: server disallows plaintext authentication, login not checked; check login_trusted_networks")" 5 ||
	tb_fail "no POP3 plaintext warning"
pm_wait_backend "$B4" '.health == "ok"' 1 || tb_fail "$B4 not healthy with warnings"
tb_assert_eq "$(tb_host_state "$B4")" U "$B4 stays up with configuration warnings"

# 3. Fix the password, HUP: the new credentials bring b3 back up.
write_cred 0600 "$USER" "$PASS"
kill -HUP "$PM_PID"
pm_wait_log "credential file $CRED reloaded \(user $USER\)" 5 || tb_fail "no reload line"
tb_wait_host_state "$B3" U 10 || tb_fail "b3 not up after HUP with the right password"
tb_pass "HUP after fixing the password: $B3 up"

# Dovecot saw real logins, over TLS: STARTTLS and STLS were used.
log3=$TB_DIR/backend-b3/dovecot.log
grep -q "imap-login: Info: Login: user=<$USER>, method=PLAIN.*, TLS," "$log3" ||
	tb_fail "no IMAP login over STARTTLS in b3's log"
grep -q "pop3-login: Info: Login: user=<$USER>, method=PLAIN.*, TLS," "$log3" ||
	tb_fail "no POP3 login over STLS in b3's log"
tb_pass "IMAP LOGIN via STARTTLS and POP3 USER/PASS via STLS succeeded on $B3"

# 4. A bad file at HUP (readable by others, and a wrong password in it):
# the credentials in use stay, so b3 stays up; poolmond keeps running.
write_cred 0644 "$USER" "$WRONG"
kill -HUP "$PM_PID"
pm_wait_log "credential file $CRED: mode 0644 lets group or others read or write it; run chmod 600 on it; keeping the credentials in use" 5 ||
	tb_fail "no 'keeping' line"
scans=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((scans + 3))" 10 || tb_fail "scans stopped after a bad HUP"
kill -0 "$PM_PID" || tb_fail "poolmond died on a bad reload"
tb_assert_eq "$(tb_host_state "$B3")" U "$B3 still up: old credentials kept"
pm_wait_backend "$B3" '.health == "ok" and .failing_count == 0' 1 ||
	tb_fail "$B3 failed a check with the old credentials"

# 5. Never the password: not in the log (debug on), not in argv.
pm_stop || tb_fail "poolmond exit"
mv "$(pm_log)" "$(pm_log).1"
write_cred 0600 "$USER" "$PASS"
pm_start -d -i 1 -t 2 -p 143 -c "$CRED" --ssl-ca="$TB_DIR/ca.pem" --no-ptr
pm_wait_json '.scans_completed >= 1' 5 || tb_fail "no scan"
if tr '\0' ' ' <"/proc/$PM_PID/cmdline" | grep -F -e "S3cr3tTok"; then
	tb_fail "password in poolmond's argv"
fi
# Check processes are forks of the daemon, never exec'd: same argv.
tb_pass "no password in argv (children are forks: they share it)"
pm_stop || tb_fail "poolmond exit"
for f in "$(pm_log)" "$(pm_log).1" "$TB_DIR/poolmond.out"; do
	if grep -aF -e "S3cr3tTok" -e "Wr0ngTok" "$f"; then
		tb_fail "a password is in $f"
	fi
done
tb_pass "no password in poolmond's logs or output"
echo "t_checks_login: all passed"
exit 0
