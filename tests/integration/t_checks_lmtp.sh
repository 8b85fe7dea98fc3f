#!/bin/bash
# LMTP against real Dovecot: with --lmtp-to of an existing user the
# MAIL/RCPT transaction passes (and no mail is ever delivered: no DATA);
# an unknown recipient fails with the RCPT reply and the host goes down.
# A port of no known protocol (4191, a fake speaking ManageSieve) passes on
# any banner.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

B5=127.0.5.5 DIR_IP=127.0.5.100
# Each poolmond run gets a log of its own, so no wait matches an older run.
RUN=0
restart_log() {
	pm_stop || tb_fail "poolmond exit"
	mv "$(pm_log)" "$(pm_log).$((++RUN))"
}

tb_init || tb_fail "tb_init"
tb_backend_start b5 "$B5" || tb_fail "backend b5"
tb_director_start "$DIR_IP" "$B5" || tb_fail "director"
"$TOOLS/fakeserver" "$B5" 4191 'line:"IMPLEMENTATION" "fake"' 'line:OK "ready"' &
tb_track_pid $!

# 1. An existing recipient, empty sender: the host, down by the operator,
# is brought back up (--adopt-down: poolmon 0.7's behaviour).
tb_dcmd HOST-DOWN "$B5" >/dev/null
pm_start -d -i 1 -t 2 --retries 0 --adopt-down -p 24 -p 4191 --lmtp-to=testuser
tb_wait_host_state "$B5" U 10 || tb_fail "$B5 not up with --lmtp-to=testuser"
pm_wait_backend "$B5" '.health == "ok" and
    [.checks[] | [.protocol, .port, .ok]] == [["LMTP", 24, true], ["TCP", 4191, true]]' 5 ||
	tb_fail "LMTP and banner-only checks not both ok"
restart_log
tb_pass "LMTP transaction to testuser and a banner-only port pass"

# 2. An unknown recipient: down, with Dovecot's RCPT reply as the reason
# (--max-down=100: the only backend may go down).
pm_start -d -i 1 -t 2 --retries 0 --max-down=100 -p 24 --lmtp-from=pm@test --lmtp-to=nosuchuser
tb_wait_host_state "$B5" D 10 || tb_fail "$B5 not down with an unknown recipient"
pm_wait_backend "$B5" '.health == "failed" and .reason == "LMTP:24 RCPT: 550 5.1.1 <nosuchuser> User doesn'"'"'t exist: nosuchuser"' 5 ||
	tb_fail "no RCPT reason"
restart_log
tb_pass "unknown recipient: down, reason 'RCPT: 550 5.1.1 <nosuchuser> User doesn't exist'"

# 3. A user with a domain, a sender: back up (poolmond took it down).
pm_start -d -i 1 -t 2 --retries 0 -p 24 --lmtp-from=pm@test --lmtp-to=lmtpuser@test
tb_wait_host_state "$B5" U 10 || tb_fail "$B5 not up with --lmtp-to=lmtpuser@test"
pm_stop || tb_fail "poolmond exit"
tb_pass "--lmtp-from=pm@test --lmtp-to=lmtpuser@test passes"

# Never DATA: Dovecot delivered nothing, and saw MAIL/RCPT then RSET/QUIT.
log5=$TB_DIR/backend-b5/dovecot.log
if grep -Eq "saved mail to|msgid=" "$log5"; then
	tb_fail "a mail was delivered: $(grep -E 'saved mail to|msgid=' "$log5" | head -n 1)"
fi
[ -z "$(find "$TB_DIR/backend-b5/home" -type f -path '*Maildir*' 2>/dev/null)" ] ||
	tb_fail "mail files in the backend's homes"
tb_pass "no mail delivered: the check stops before DATA"
echo "t_checks_lmtp: all passed"
exit 0
