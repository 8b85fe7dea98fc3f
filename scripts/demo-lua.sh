#!/bin/bash
# scripts/demo-lua.sh POOLMOND [POOLMONCTL] - "make demo-lua": what "make
# demo" shows, for Dovecot 2.4's Lua director: three throw-away backends
# on loopback, a Dovecot proxy running poolmon's routing script
# (dovecot/lua-director.lua) over an SQLite file, poolmond watching the
# file's tables. One backend stops taking connections while a user's IMAP
# session through the proxy is open to it: poolmond takes it out of
# service (state 2), deletes its users' rows and kicks the session; the
# user's next login lands elsewhere; the backend comes back at state 0.
# Needs root (Dovecot instances, a firewall rule); takes under a minute.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../tests/lib/testbed.sh
. "$here/../tests/lib/testbed.sh"
# shellcheck source=SCRIPTDIR/../tests/lib/sqldb.sh
. "$here/../tests/lib/sqldb.sh"
# shellcheck source=SCRIPTDIR/../tests/lib/luaproxy.sh
. "$here/../tests/lib/luaproxy.sh"

BIN=${1:-}
CTL=${2:-$(dirname "${1:-.}")/poolmonctl}
PROXY_IP=127.0.9.1
B1=127.0.3.1 B2=127.0.3.2 B3=127.0.3.3
VICTIM=$B2

# shellcheck source=SCRIPTDIR/demo-lib.sh
. "$here/demo-lib.sh"

indent() {
	sed 's/^/    /'
}

# The two tables, as the proxies and poolmond see them.
show_tables() {
	echo "    backends:"
	sq_sql db "SELECT b.id, b.hostname, b.hostip, b.state, CASE b.state
			WHEN 0 THEN 'in service' WHEN 2 THEN 'down by poolmon'
			ELSE 'the operator''s' END,
			(SELECT count(*) FROM user_backend u WHERE u.backend_id = b.id)
		FROM backends b ORDER BY b.id" |
		awk -F'\t' 'BEGIN { printf "    %-3s %-9s %-10s %-22s %s\n", "ID", "HOSTNAME", "HOSTIP", "STATE", "USERS" }
			{ printf "    %-3s %-9s %-10s %-22s %s\n", $1, $2, $3, $4 " (" $5 ")", $6 }'
	echo "    user_backend: $(sq_sql db "SELECT user || ' on ' || backend_id FROM user_backend
		ORDER BY user" | paste -s -d, | sed 's/,/, /g')"
}

# wait_sql SQL VALUE SECS: until the query answers VALUE.
wait_sql() {
	local deadline
	deadline=$(($(_tb_now_ms) + $3 * 1000))
	while [ "$(_tb_now_ms)" -lt "$deadline" ]; do
		[ "$(sq_sql db "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# login USER: an IMAP login through the proxy; prints the backend that
# served it (the backend whose log has one more login of USER).
logins() {
	grep -c "imap-login: Info: Login: user=<$2>" "$TB_DIR/backend-b$1/dovecot.log"
}
login() {
	local user=$1 i was=() out
	for i in 1 2 3; do was[i]=$(logins "$i" "$user"); done
	out=$(lp_imap_login "$PROXY_IP" "$user" testpass) || die "login of $user: $out"
	for _ in $(seq 1 50); do
		for i in 1 2 3; do
			if [ "$(logins "$i" "$user")" -gt "${was[i]}" ]; then
				echo "127.0.3.$i"
				return 0
			fi
		done
		sleep 0.1
	done
	die "no backend logged the login of $user"
}

if [ -z "$BIN" ] || [ ! -x "$BIN" ] || [ ! -x "$CTL" ]; then
	echo "usage: $0 PATH-TO-POOLMOND [PATH-TO-POOLMONCTL] (executables; run 'make' first)" >&2
	exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
if [ "$(id -u)" != 0 ]; then
	echo "$0: must run as root (it starts private Dovecot instances)" >&2
	exit 2
fi
for p in dovecot-auth-lua lua-dbi-sqlite3 sqlite3 iptables jq; do
	[ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
		die "the package $p is not installed ('make test-deps' installs it)"
done

say "Setting up a throw-away test bed (certificates, users) ..."
tb_init || die "tb_init"
sq_init || die "sq_init"
echo "    working directory: $TB_DIR (removed at the end)"

say "Starting three Dovecot backends: $B1 $B2 $B3 (IMAP 143, POP3 110, LMTP 24)"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.3.$i" || die "backend 127.0.3.$i"
done

say "Creating the Lua director's tables in an SQLite file (dovecot/schema-sqlite.sql), a row per backend"
sq_start sqlite db || die "the SQLite file"
for i in 1 2 3; do
	sq_backend_add db "$i" "b$i.test" "127.0.3.$i" || die "row $i"
done
DSN=$(sq_dsn db)
echo "    $DSN"
show_tables

say "Starting a Dovecot 2.3 proxy on $PROXY_IP that routes users with poolmon's script (dovecot/lua-director.lua)"
sq_lua_conf db "" "$TB_DIR/lua-director.conf" || die "settings file"
lp_start p1 "$PROXY_IP" "$TB_DIR/lua-director.conf" || die "proxy"
PCONF=$(lp_conf p1)
echo "    its configuration: $PCONF; the script's settings: database = $DSN"

say "user1, user2 and user3 log in through the proxy: each is placed on the backend with the fewest users"
for u in user1 user2 user3; do
	echo "    $u served by $(login "$u")"
done
show_tables

say "Starting poolmond on those tables: checks every 2 s, 2 s timeout, IMAP and POP3"
LOG=$TB_DIR/poolmon.log
: >"$LOG"
echo "    $BIN -f -d -i 2 -t 2 --lua-director=$DSN --proxy=$PCONF -k ... -l $LOG -p 143 -p 110"
# Its state file and control socket in the throw-away directory too: the
# demo leaves nothing behind.
# shellcheck disable=SC2094 # -l and our stderr capture share the log on purpose
"$BIN" -f -d -i 2 -t 2 --lua-director="$DSN" --proxy="$PCONF" -k "$TB_DIR/poolmon.pid" \
	-l "$LOG" --state-file "$TB_DIR/state" --control-socket "$TB_DIR/ctl.sock" \
	-p 143 -p 110 </dev/null >>"$LOG" 2>&1 &
PM=$!
tb_track_pid "$PM"
# Its log, indented, until poolmond exits (tail --pid); debug lines of
# single checks left out.
tail -n +1 -F --pid="$PM" "$LOG" 2>/dev/null |
	grep --line-buffered -v -E 'debug: (127\.[0-9.]+ (IMAP|POP3)|control|scan)' |
	sed -u 's/^/    | /' &
tb_track_pid "$!"
for _ in $(seq 1 50); do
	"$CTL" -s "$TB_DIR/ctl.sock" --json status 2>/dev/null | jq -e '.scans_completed >= 1' >/dev/null 2>&1 &&
		break
	kill -0 "$PM" 2>/dev/null || die "poolmond exited at startup (see its log above)"
	sleep 0.2
done
say "All backends healthy: poolmond leaves the tables as they are. poolmonctl status:"
"$CTL" -s "$TB_DIR/ctl.sock" status | indent

say "user2 opens an IMAP session through the proxy and keeps it open"
lp_session_open "$PROXY_IP" user2 testpass || die "user2's session"
S=$LP_SESSION
echo "    doveadm proxy list on the proxy:"
lp_proxy_list p1 | indent | indent

say "backend $VICTIM stops taking connections (a firewall rule resets new ones; the session it serves stays open, as when a backend's login service dies): watch poolmond take it out of service"
t0=$(_tb_now_ms)
lp_refuse "$VICTIM" || die "firewall rule"
wait_sql "SELECT state FROM backends WHERE id = 2" 2 25 || die "poolmond did not set state 2 within 25 s"
say "poolmond set backend 2's state to 2 $(since "$t0") s after: no new users go there, and its users' rows are deleted"
show_tables
if lp_session_wait_closed "$S" 10 2>/dev/null; then
	say "user2's session was kicked: poolmond ran doveadm proxy kick on the proxy, the client saw the connection close"
else
	die "user2's session was not kicked within 10 s"
fi
echo "    doveadm proxy list: $(($(lp_proxy_list p1 | wc -l) - 1)) sessions"

say "user2 logs in again: the script places it anew, on a backend in service"
echo "    user2 served by $(login user2)"
show_tables

say "backend $VICTIM takes connections again: poolmond brings it back into service"
t0=$(_tb_now_ms)
lp_accept "$VICTIM"
wait_sql "SELECT state FROM backends WHERE id = 2" 0 25 || die "poolmond did not set state 0 within 25 s"
say "poolmond set backend 2's state back to 0 $(since "$t0") s after; users placed elsewhere stay there (new users may land on it):"
show_tables
echo
"$CTL" -s "$TB_DIR/ctl.sock" status | indent

say "Stopping poolmond and tearing everything down"
stop_poolmond "$PM"
sq_cleanup
tb_cleanup
say "Demo finished."
exit 0
