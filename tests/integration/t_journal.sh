#!/bin/bash
# The journal: with -l journal, and with -f when stderr is the journal's
# stream (JOURNAL_STREAM, as under systemd), poolmond's lines reach
# journald's native socket with PRIORITY matching the level and the fields
# an operator filters on (POOLMON_HOST, POOLMON_EVENT, POOLMON_REASON,
# POOLMON_PORT). No journal runs here: poolmond runs in a mount namespace
# where /run/systemd/journal is a directory of the test's, whose socket a
# stand-in (tests/tools/journal-listen) reads.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v unshare >/dev/null || { echo "unshare(1) missing"; exit 77; }
B1=127.0.14.1 B2=127.0.14.2 DOWN=127.0.14.3 DIR_IP=127.0.14.100
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_backend_start b2 "$B2" || tb_fail "backend b2"
tb_director_start "$DIR_IP" "$B1-$DOWN" || tb_fail "director"
# The operator's down host: an "operator" event.
tb_dcmd HOST-DOWN "$DOWN" >/dev/null || tb_fail "HOST-DOWN $DOWN"

J=$TB_DIR/journal OUT=$TB_DIR/entries
mkdir -p "$J"
"$TOOLS/journal-listen" "$J/socket" "$OUT" &
tb_track_pid $!
for _ in $(seq 1 20); do [ -S "$J/socket" ] && break; sleep 0.1; done
[ -S "$J/socket" ] || tb_fail "journal-listen did not bind"

# in_ns CMD...: CMD with the test's directory as /run/systemd/journal,
# in this process (exec all the way: $! of "in_ns ... &" is CMD's pid).
in_ns() {
	exec unshare -m --propagation private sh -c '
		mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal &&
		mount --bind "$0" /run/systemd/journal && exec "$@"' "$J" "$@"
}
run_pm() {
	in_ns "$POOLMOND" -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pm.pid" \
	    --state-file "$TB_DIR/state" --control-socket "$TB_DIR/ctl.sock" \
	    -i 1 -t 2 --retries 0 -p 143 -p 110 -d "$@" &
	PM=$!
	tb_track_pid "$PM"
}
# entry_with FIELD=VALUE...: an entry carrying every one of them.
entry_with() {
	local f line ok
	while IFS= read -r line; do
		ok=1
		for f in "$@"; do
			[[ $'\t'$line$'\t' == *$'\t'"$f"$'\t'* ]] || { ok=0; break; }
		done
		[ "$ok" = 1 ] && return 0
	done <"$OUT"
	return 1
}
wait_entry() {
	for _ in $(seq 1 50); do entry_with "$@" && return 0; sleep 0.2; done
	echo "no entry with $*; entries:" >&2
	tail -n 20 "$OUT" >&2
	return 1
}

run_pm -f -l journal 2>>"$TB_DIR/pm.out"
wait_entry "POOLMON_EVENT=check" "POOLMON_HOST=$B1" "POOLMON_PORT=IMAP:143" \
	"PRIORITY=7" "SYSLOG_IDENTIFIER=poolmond" || tb_fail "a check's debug entry"
tb_pass "a check's line: POOLMON_HOST, POOLMON_EVENT=check, POOLMON_PORT, PRIORITY=7"
wait_entry "POOLMON_EVENT=operator" "POOLMON_HOST=$DOWN" "PRIORITY=6" ||
	tb_fail "the operator's down host"
tb_pass "a host down by the operator: POOLMON_EVENT=operator, PRIORITY=6"
# A failing port: its reason as POOLMON_REASON.
tb_backend_stop b2 || tb_fail "stop b2"
wait_entry "POOLMON_EVENT=check" "POOLMON_HOST=$B2" "POOLMON_PORT=POP3:110" \
	"POOLMON_REASON=connect: Connection refused" || tb_fail "a failed check's reason"
tb_pass "a failed check: POOLMON_REASON"
kill -TERM "$PM"; wait "$PM"
# (Sanitizer builds note their own warnings on stderr: not poolmond's lines.)
grep -v '^==[0-9]*==' "$TB_DIR/pm.out" 2>/dev/null | grep -q . &&
	tb_fail "lines went elsewhere: $(head -3 "$TB_DIR/pm.out")"

# Under systemd: -f, no -l, stderr the journal's stream.
: >"$OUT"
touch "$TB_DIR/stream"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TB_DIR/stream") run_pm -f 2>>"$TB_DIR/stream"
wait_entry "POOLMON_EVENT=check" "POOLMON_HOST=$B1" || tb_fail "JOURNAL_STREAM: no entries"
grep -q "POOLMON\|check" "$TB_DIR/stream" && tb_fail "JOURNAL_STREAM: plain lines on stderr too"
kill -TERM "$PM"; wait "$PM"
tb_pass "JOURNAL_STREAM naming stderr: entries with fields, nothing on stderr"

# stderr elsewhere: JOURNAL_STREAM names another file, plain lines stay.
: >"$OUT"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TB_DIR/stream") run_pm -f 2>>"$TB_DIR/other"
for _ in $(seq 1 50); do grep -q "debug: $B1 IMAP:143 ok" "$TB_DIR/other" && break; sleep 0.2; done
grep -q "debug: $B1 IMAP:143 ok" "$TB_DIR/other" || tb_fail "stderr not the stream: no plain lines"
kill -TERM "$PM"; wait "$PM"
tb_pass "stderr not the journal's stream: plain lines"
echo "t_journal: all passed"
exit 0
