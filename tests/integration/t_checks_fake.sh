#!/bin/bash
# Fake IMAP backends (tests/tools/fakeserver) for what Dovecot will not do,
# listed in a real director: a greeting split across packets passes; a
# tagged reply for a wrong tag, a server that never answers, an oversized
# line, NUL bytes and an endless multi-line reply each fail with a reason
# in the log, and the director has the host down.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

SPLIT=127.0.5.14 WRONGTAG=127.0.5.9 SILENT=127.0.5.10 LONG=127.0.5.11
NUL=127.0.5.12 FLOOD=127.0.5.15 DIR_IP=127.0.5.100
CAPS='* OK [CAPABILITY IMAP4rev1 LITERAL+]'

tb_init || tb_fail "tb_init"
fake() {
	local ip=$1
	shift
	"$TOOLS/fakeserver" "$ip" 143 "$@" &
	tb_track_pid $!
}
fake "$SPLIT" "send:$CAPS sp" sleep:300 "send:lit gr" sleep:300 "line:eeting" \
	'expect:P1 LOGIN "pm" {7+}' expect:fakePw1 "line:P1 OK Logged in" \
	"expect:P2 LOGOUT" "line:* BYE" "line:P2 OK"
fake "$WRONGTAG" "line:$CAPS hi" read read "line:* OK [ALERT] noise" "line:A1 OK Logged in"
fake "$SILENT" hang
fake "$LONG" "send:* OK " "repeat:9000:x" "line:"
fake "$NUL" 'send:\0\0\0* OK \xff\xfe\r\n'
fake "$FLOOD" "line:* OK hi" "expect:P1 CAPABILITY" 'repeat:500:* OK more\r\n'
ALL="$SPLIT $WRONGTAG $SILENT $LONG $NUL $FLOOD"
tb_director_start "$DIR_IP" "$ALL" || tb_fail "director"

printf 'pm\nfakePw1\n' >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"
# --ssl-verify=0 so no PTR lookups; none of these offer STARTTLS anyway.
pm_start -d -i 1 -t 2 --retries 0 --max-down=100 -p 143 -c "$TB_DIR/cred" -v 0

# reason IP TEXT: the host goes down in the director, and its check fails
# with that reason. The last check's is matched, not the first one's: on a
# loaded machine the very first check may fail otherwise.
reason() {
	tb_wait_host_state "$1" D 10 || tb_fail "$1 not down"
	pm_wait_backend "$1" "[.checks[] | [.port, .error]] == [[143, \"$2\"]]" 10 ||
		tb_fail "$1: reason"
	tb_pass "$1 down; check fails with: $2"
}
reason "$WRONGTAG" "LOGIN: reply for another tag: A1 OK Logged in"
reason "$SILENT" "banner: timed out after 2 s"
reason "$LONG" "banner: reply line longer than 8192 bytes"
reason "$NUL" 'banner: ???* OK ??'
reason "$FLOOD" "CAPABILITY: more than 200 untagged lines"
pm_wait_backend "$SPLIT" '.health == "ok" and [.checks[] | [.port, .ok]] == [[143, true]]' 5 ||
	tb_fail "split greeting not ok"
tb_assert_eq "$(tb_host_state "$SPLIT")" U "greeting split across packets: login passes, host up"
pm_stop || tb_fail "poolmond exit"
if grep -aF fakePw1 "$(pm_log)"; then
	tb_fail "password in the log"
fi
echo "t_checks_fake: all passed"
exit 0
