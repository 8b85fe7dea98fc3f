#!/bin/bash
# poolmonctl reload: like HUP, re-reads the credential file (a fixed
# password brings the host back) and reopens the log; a bad file fails the
# reload (exit 1) and keeps the credentials in use. The password appears
# in no poolmonctl output.
. "$(dirname "$0")/../lib/testbed.sh"
: "${POOLMOND:?}" "${POOLMONCTL:?}"

B1=127.0.6.4 B2=127.0.6.5 DIR_IP=127.0.6.100
WRONG='Wr0ngCtlPass'
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

tb_init || tb_fail "tb_init"
# No TLS: the login goes in plain text. b2 refuses plaintext logins, so
# poolmond only warns about it and b2 stays up: b1 alone fails, and the
# pool-wide guard (never every host down) does not hold it back. No delay
# and no auth penalty after a failed login: the fixed one is answered at once.
tb_backend_start b1 "$B1" "ssl = no
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}" || tb_fail "backend b1"
tb_backend_start b2 "$B2" "ssl = no
disable_plaintext_auth = yes" || tb_fail "backend b2"
tb_director_start "$DIR_IP" "$B1 $B2" || tb_fail "director"

CRED=$TB_DIR/cred CTL=$TB_DIR/ctl.sock LOG=$TB_DIR/log
write_cred() {
	(umask 077 && printf '%s\n%s\n' "$TB_USER" "$1" >"$CRED")
	chmod "$2" "$CRED"
}
ctl() {
	"$POOLMONCTL" -s "$CTL" "$@"
}

write_cred "$WRONG" 600
"$POOLMOND" -f -i 3600 -t 5 --retries 0 --max-down 100 -p 143 -c "$CRED" \
	-S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" -l "$LOG" \
	--state-file "$TB_DIR/state" --control-socket "$CTL" \
	</dev/null >>"$TB_DIR/out" 2>&1 &
PM=$!
tb_track_pid "$PM"

tb_wait_host_state "$B1" D 15 || tb_fail "$B1 not down with a wrong password"
json=$(ctl --json show "$B1") || tb_fail "show exit $?"
tb_assert_eq "$(jq -r '"\(.healthy) \(.checks[0].status)"' <<<"$json")" "false login failed" "$B1 failed its login"
tb_pass "wrong password: $B1 down"

# Fix the file, reload: the recheck logs in with the new password.
write_cred "$TB_PASS" 600
mv "$LOG" "$LOG.1"
tb_assert_eq "$(ctl reload)" reloaded "poolmonctl reload"
[ -s "$LOG" ] || tb_fail "reload did not reopen the log"
grep -q "log file reopened" "$LOG" || tb_fail "no reopen line in the new log"
json=$(ctl --json recheck "$B1") || tb_fail "recheck exit $?"
tb_assert_eq "$(jq -r '.backends[0].healthy' <<<"$json")" true "$B1 passes with the fixed file"
tb_assert_eq "$(tb_host_state "$B1")" U "$B1 up after reload"
tb_pass "reload picked up the fixed credential file"

# A bad file (others may read it): reload fails, the credentials stay.
write_cred "$WRONG" 644
out=$(ctl reload 2>&1); rc=$?
tb_assert_eq "$rc" 1 "reload of a bad credential file: exit 1"
grep -q "credential file $CRED not re-read" <<<"$out" || tb_fail "bad reload: $out"
ctl recheck "$B1" >/dev/null || tb_fail "recheck after a bad reload"
tb_assert_eq "$(tb_host_state "$B1")" U "$B1 still up: credentials in use kept"
kill -0 "$PM" || tb_fail "poolmond died on a bad reload"

# The password is in nothing poolmonctl prints.
all="$out $(ctl status) $(ctl --json status) $(ctl show "$B1") $(ctl --json show "$B1") $(ctl --json recheck)"
if grep -qF -e "$WRONG" -e "$TB_PASS" <<<"$all"; then
	tb_fail "a password shows in poolmonctl output"
fi
tb_pass "no password in status, show, recheck or reload output"

kill -TERM "$PM"
wait "$PM"
tb_assert_eq "$?" 0 "poolmond exit status"
echo "t_ctl_reload: all passed"
exit 0
