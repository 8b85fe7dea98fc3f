#!/bin/bash
# -l syslog (poolmon 0.7's option): log lines go to the local syslog socket.
# poolmond runs in a private mount namespace whose /dev holds a /dev/log of
# the test's own, so the machine's logging is neither needed nor touched.
. "$(dirname "$0")/../lib/testbed.sh"

tb_init || tb_fail "tb_init"
tb_backend_start b1 127.0.7.91 || tb_fail "backend b1"
tb_backend_start b2 127.0.7.92 || tb_fail "backend b2"
tb_director_start 127.0.7.100 "127.0.7.91-127.0.7.92" || tb_fail "director"

sock=$TB_DIR/devlog.sock
out=$TB_DIR/syslog.out
"$TOOLS/notify-listen" "$sock" "$out" &
tb_track_pid $!
for i in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || tb_fail "no syslog stand-in socket"

unshare -m --propagation private bash -c '
	mount -t tmpfs -o mode=0755 tmpfs /dev &&
	mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/urandom c 1 9 &&
	ln -s "$1" /dev/log || exit 1
	shift
	exec "$@"' _ "$sock" "$POOLMOND" -f -l syslog -d -i 1 -t 1 --retries=0 \
	-S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" --state-file "$TB_DIR/state" \
	--control-socket "$TB_DIR/ctl.sock" -p 143 </dev/null >"$TB_DIR/stderr" 2>&1 &
pm=$!
tb_track_pid "$pm"

for i in $(seq 1 50); do grep -q "scan complete" "$out" 2>/dev/null && break; sleep 0.2; done
grep -q "poolmond\[[0-9]*\]: .*started" "$out" || tb_fail "no start line in syslog: $(head -3 "$out")"
grep -q "scan complete: 2 backends" "$out" || tb_fail "no debug line in syslog"
tb_pass "log lines reach the syslog socket, tagged poolmond[pid]"

tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state 127.0.7.92 D 6 || tb_fail "b2 not taken down"
for i in $(seq 1 25); do grep -q "127.0.7.92 down: IMAP:143" "$out" && break; sleep 0.2; done
grep -q "127.0.7.92 down: IMAP:143" "$out" || tb_fail "down line not in syslog"
tb_pass "state changes are logged to syslog"
[ ! -s "$TB_DIR/stderr" ] || tb_fail "wrote to stderr with -l syslog: $(head -3 "$TB_DIR/stderr")"
tb_pass "nothing on stderr"
kill -TERM "$pm"
wait "$pm" || tb_fail "poolmond exit status"
