#!/bin/bash
# sd_notify: with its own datagram socket as $NOTIFY_SOCKET the test sees
# READY=1 once the pidfile and control socket exist, STATUS= after scans
# ("2 backends, 1 down, scan N ms"), RELOADING=1 with MONOTONIC_USEC= then
# READY=1 around poolmonctl reload and HUP, WATCHDOG=1 pings with
# $WATCHDOG_USEC (none without), STOPPING=1 on TERM, and MAINPID= of the
# daemon from the parent when it forks into the background.
. "$(dirname "$0")/../lib/testbed.sh"
: "${POOLMOND:?}" "${POOLMONCTL:?}" "${TOOLS:?}"

B1=127.0.6.9 B2=127.0.6.10 DIR_IP=127.0.6.100
LISTEN=$TOOLS/notify-listen
[ -x "$LISTEN" ] || tb_fail "$LISTEN not built (make tests)"

tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_backend_start b2 "$B2" || tb_fail "backend b2"
tb_director_start "$DIR_IP" "$B1 $B2" || tb_fail "director"

NSOCK=$TB_DIR/notify.sock NOUT=$TB_DIR/notify.out CTL=$TB_DIR/ctl.sock
: >"$NOUT"
"$LISTEN" "$NSOCK" "$NOUT" &
tb_track_pid $!
for i in $(seq 1 50); do [ -S "$NSOCK" ] && break; sleep 0.1; done
[ -S "$NSOCK" ] || tb_fail "notify listener did not bind"

lines() {
	wc -l <"$NOUT"
}
# wait_line REGEX SECS [AFTER_LINE]: a line matching REGEX after line N.
wait_line() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		tail -n +$((${3:-0} + 1)) "$NOUT" | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	echo "no notification matching '$1' after line ${3:-0}:" >&2
	cat "$NOUT" >&2
	return 1
}
# line_no REGEX AFTER_LINE: number of the first matching line after N.
line_no() {
	awk -v re="$1" -v after="$2" 'NR > after && $0 ~ re { print NR; exit }' "$NOUT"
}

NOTIFY_SOCKET=$NSOCK WATCHDOG_USEC=400000 "$POOLMOND" -f -i 1 -t 2 \
	--retries 0 --max-down 100 -p 143 -S "$TB_DIRECTOR_SOCKET" \
	-k "$TB_DIR/pid" -l "$TB_DIR/poolmond.log" --state-file "$TB_DIR/state" \
	--control-socket "$CTL" </dev/null >>"$TB_DIR/out" 2>&1 &
PM=$!
tb_track_pid "$PM"

# READY=1 only once the pidfile is held and the control socket listens.
wait_line '^READY=1$' 10 || tb_fail "no READY=1"
tb_assert_eq "$(cat "$TB_DIR/pid")" "$PM" "pidfile written before READY=1"
[ -S "$CTL" ] || tb_fail "control socket missing at READY=1"
"$POOLMONCTL" -s "$CTL" version >/dev/null || tb_fail "control socket not answering at READY=1"
tb_pass "READY=1 with pidfile and control socket in place"

wait_line '^STATUS=2 backends, 0 down, scan [0-9]+ ms$' 10 || tb_fail "no STATUS after a scan"
tb_backend_stop b2 || tb_fail "stop b2"
wait_line '^STATUS=2 backends, 1 down, scan [0-9]+ ms$' 10 || tb_fail "STATUS does not count the dead backend"
tb_pass "STATUS= after each scan"

"$POOLMONCTL" -s "$CTL" dry-run on >/dev/null || tb_fail "dry-run on"
wait_line '^STATUS=.*, dry-run$' 5 || tb_fail "STATUS does not say dry-run"
"$POOLMONCTL" -s "$CTL" dry-run off >/dev/null || tb_fail "dry-run off"

# reload: RELOADING=1 and a current MONOTONIC_USEC, then READY=1.
check_reload() {	# check_reload FROM_LINE WHAT
	local r m ready usec now
	wait_line '^RELOADING=1$' 5 "$1" || tb_fail "$2: no RELOADING=1"
	r=$(line_no '^RELOADING=1$' "$1")
	m=$(line_no '^MONOTONIC_USEC=' "$r")
	ready=$(line_no '^READY=1$' "$r")
	wait_line '^READY=1$' 5 "$r" || tb_fail "$2: no READY=1 after RELOADING=1"
	ready=$(line_no '^READY=1$' "$r")
	[ "$m" = $((r + 1)) ] || tb_fail "$2: MONOTONIC_USEC not with RELOADING=1"
	usec=$(sed -n "${m}p" "$NOUT" | cut -d= -f2)
	now=$(awk '{ printf "%.0f", $1 * 1000000 }' /proc/uptime)
	[ $((now - usec)) -ge 0 ] && [ $((now - usec)) -lt 10000000 ] ||
		tb_fail "$2: MONOTONIC_USEC=$usec, clock now $now"
	tb_pass "$2: RELOADING=1, MONOTONIC_USEC=$usec, then READY=1 (line $ready)"
}
n=$(lines)
"$POOLMONCTL" -s "$CTL" reload >/dev/null || tb_fail "poolmonctl reload"
check_reload "$n" "poolmonctl reload"
n=$(lines)
kill -HUP "$PM"
check_reload "$n" "SIGHUP"

# Watchdog: WATCHDOG_USEC=400000 means a ping at least every 200-300 ms:
# 5 or more within 2 s.
n=$(grep -c '^WATCHDOG=1$' "$NOUT")
end=$(($(_tb_now_ms) + 2000))
while m=$(grep -c '^WATCHDOG=1$' "$NOUT") && [ $((m - n)) -lt 5 ] &&
	[ "$(_tb_now_ms)" -lt "$end" ]; do
	sleep 0.05
done
[ $((m - n)) -ge 5 ] || tb_fail "only $((m - n)) watchdog pings in 2 s"
tb_pass "WATCHDOG=1: $((m - n)) pings within 2 s"

n=$(lines)
kill -TERM "$PM"
wait "$PM"
tb_assert_eq "$?" 0 "poolmond exit status"
wait_line '^STOPPING=1$' 2 "$n" || tb_fail "no STOPPING=1 on TERM"
tb_pass "STOPPING=1 on TERM"

# In the background: the parent announces the daemon as MAINPID, and
# without WATCHDOG_USEC nothing pings.
n=$(lines)
wd=$(grep -c '^WATCHDOG=1$' "$NOUT")
NOTIFY_SOCKET=$NSOCK "$POOLMOND" -i 1 -t 2 --retries 0 -p 143 \
	-S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/bg.pid" -l "$TB_DIR/bg.log" \
	--state-file "$TB_DIR/bg.state" --control-socket "$CTL" \
	</dev/null >>"$TB_DIR/bg.out" 2>&1
tb_assert_eq "$?" 0 "background start"
bg=$(cat "$TB_DIR/bg.pid")
tb_track_pid "$bg"
wait_line "^MAINPID=$bg\$" 5 "$n" || tb_fail "no MAINPID=$bg"
mp=$(line_no "^MAINPID=$bg\$" "$n")
tb_assert_eq "$(sed -n "$((mp + 1))p" "$NOUT")" READY=1 "READY=1 with MAINPID="
# Two scans' STATUS= (-i 1): the daemon has run a while, with no ping.
for _ in $(seq 1 100); do
	[ "$(tail -n +"$mp" "$NOUT" | grep -cE '^STATUS=.*, scan [0-9]+ ms')" -ge 2 ] && break
	sleep 0.1
done
[ "$(tail -n +"$mp" "$NOUT" | grep -cE '^STATUS=.*, scan [0-9]+ ms')" -ge 2 ] ||
	tb_fail "background daemon: no STATUS= for two scans"
tb_assert_eq "$(grep -c '^WATCHDOG=1$' "$NOUT")" "$wd" "no WATCHDOG=1 without WATCHDOG_USEC"
kill -TERM "$bg"
for i in $(seq 1 50); do kill -0 "$bg" 2>/dev/null || break; sleep 0.1; done
wait_line '^STOPPING=1$' 5 "$mp" || tb_fail "background daemon: no STOPPING=1"
tb_pass "MAINPID= from the forking parent"
echo "t_notify: all passed"
exit 0
