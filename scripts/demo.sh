#!/bin/bash
# scripts/demo.sh POOLMOND - "make demo": a throw-away Dovecot director with
# three backends on loopback, poolmond watching them, one backend stopped
# and restarted.  Needs root (Dovecot instances); takes well under a minute.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../tests/lib/testbed.sh
. "$here/../tests/lib/testbed.sh"

BIN=${1:-}
DIR_IP=127.0.2.1
B1=127.0.3.1 B2=127.0.3.2 B3=127.0.3.3
VICTIM=$B2

# shellcheck source=SCRIPTDIR/demo-lib.sh
. "$here/demo-lib.sh"

# HOST-LIST as a table.  (awk, not "IFS=tab read": bash merges the
# consecutive tabs around an empty tag field.)
show_hosts() {
	local list
	list=$(tb_dcmd HOST-LIST) || return 1
	awk -F'\t' -v now="$(date +%s)" '
		BEGIN { printf "    %-12s %-6s %-7s %-6s %s\n", "HOST", "STATE", "VHOSTS", "USERS", "LAST UP/DOWN CHANGE" }
		{
			when = ($6 > 0) ? (now - $6) " s ago" : "-"
			printf "    %-12s %-6s %-7s %-6s %s\n", $1, ($5 == "U" ? "up" : "DOWN"), $2, $3, when
		}' <<<"$list"
}

if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
	echo "usage: $0 PATH-TO-POOLMOND (an executable; run 'make' first)" >&2
	exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if [ "$(id -u)" != 0 ]; then
	echo "$0: must run as root (it starts private Dovecot instances)" >&2
	exit 2
fi

say "Setting up a throw-away test bed (certificates, users) ..."
tb_init || die "tb_init"
echo "    working directory: $TB_DIR (removed at the end)"

say "Starting three Dovecot backends: $B1 $B2 $B3 (IMAP 143, POP3 110, LMTP 24)"
tb_backend_start b1 "$B1" || die "backend $B1"
tb_backend_start b2 "$B2" || die "backend $B2"
tb_backend_start b3 "$B3" || die "backend $B3"

say "Starting a Dovecot director on $DIR_IP that spreads users over them"
tb_director_start "$DIR_IP" "$B1-$B3" || die "director"
echo "    director-admin socket: $TB_DIRECTOR_SOCKET"
show_hosts

say "Starting poolmond: checks every 2 s, 2 s timeout, IMAP and POP3"
LOG=$TB_DIR/poolmon.log
: >"$LOG"
echo "    $BIN -f -d -i 2 -t 2 -S ... -k ... -l $LOG -p 143 -p 110"
# Its state file and control socket in the throw-away directory too: the
# demo leaves nothing behind.
# shellcheck disable=SC2094 # -l and our stderr capture share the log on purpose
"$BIN" -f -d -i 2 -t 2 -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/poolmon.pid" \
	-l "$LOG" --state-file "$TB_DIR/state" --control-socket "$TB_DIR/ctl.sock" \
	-p 143 -p 110 </dev/null >>"$LOG" 2>&1 &
PM=$!
tb_track_pid "$PM"
# Its log, indented, until poolmond exits (tail --pid).
tail -n +1 -F --pid="$PM" "$LOG" 2>/dev/null > >(sed -u 's/^/    | /') &
tb_track_pid "$!"

sleep 3
kill -0 "$PM" 2>/dev/null || die "poolmond exited at startup (see its log above)"
say "All backends healthy; poolmond leaves them up:"
show_hosts

say "backend $VICTIM stopped: watch poolmond mark it down"
t0=$(_tb_now_ms)
tb_backend_stop b2 || die "stopping $VICTIM"
tb_wait_host_state "$VICTIM" D 25 || die "poolmond did not mark $VICTIM down within 25 s"
say "poolmond marked $VICTIM down $(since "$t0") s after the stop; the director now avoids it:"
show_hosts

say "backend $VICTIM restarted: poolmond should bring it back up"
t0=$(_tb_now_ms)
tb_backend_restart b2 || die "restarting $VICTIM"
tb_wait_host_state "$VICTIM" U 25 || die "poolmond did not mark $VICTIM up within 25 s"
say "poolmond marked $VICTIM up again $(since "$t0") s after the restart:"
show_hosts

say "Stopping poolmond and tearing everything down"
stop_poolmond "$PM"
tb_cleanup
say "Demo finished."
exit 0
