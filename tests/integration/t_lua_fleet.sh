#!/bin/bash
# shellcheck disable=SC2015
# (SC2015: a && b || fail)
# Two Dovecot proxies sharing one PostgreSQL database of the Lua director,
# a poolmond beside each in one fleet (--fleet-listen on its proxy's
# address, --fleet-peer the other, --proxy its own proxy): a backend that
# fails is taken down by exactly one of them (one UPDATE, as an audit
# trigger records it; one "down:" line across both logs; both name the
# same actor), and the sessions open through BOTH proxies to it are
# kicked, each by the monitor beside its proxy. Back in service, one
# UPDATE brings it up.
# shellcheck source=SCRIPTDIR/../lib/testbed.sh
. "$(dirname "$0")/../lib/testbed.sh"
# shellcheck source=SCRIPTDIR/../lib/sqldb.sh
. "$(dirname "$0")/../lib/sqldb.sh"
# shellcheck source=SCRIPTDIR/../lib/luaproxy.sh
. "$(dirname "$0")/../lib/luaproxy.sh"
# shellcheck source=SCRIPTDIR/../lib/poolmon.sh
. "$(dirname "$0")/../lib/poolmon.sh"
# shellcheck source=SCRIPTDIR/../lib/fleet.sh
. "$(dirname "$0")/../lib/fleet.sh"

P=(x 127.0.9.1 127.0.9.2)
tb_need_packages dovecot-auth-lua lua-dbi-postgresql postgresql jq iptables

tb_init || tb_fail "tb_init"
sq_init || tb_fail "sq_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.3.$i" || tb_fail "backend b$i"
done
sq_start postgresql db 127.0.8.1 || tb_fail "PostgreSQL"
sq_role db dovecot proxy && sq_role db monitor monitor || tb_fail "roles"
for i in 1 2 3; do
	sq_backend_add db "$i" "b$i.test" "127.0.3.$i" || tb_fail "backends row $i"
done
sq_audit db || tb_fail "audit trigger"
sq_lua_conf db dovecot "$TB_DIR/lua-director.conf" 2 || tb_fail "settings file"
lp_start p1 "${P[1]}" "$TB_DIR/lua-director.conf" && lp_start p2 "${P[2]}" "$TB_DIR/lua-director.conf" ||
	tb_fail "proxies"
DSN="$(sq_dsn db monitor)?passfile=$(sq_secret db monitor)"
KEY=$TB_DIR/fleet.key
fl_key "$KEY" || tb_fail "fleet key"

# Monitor I beside proxy pI, its files in $TB_DIR/mon<I>/.
mon() {
	local i=$1 other=$((3 - $1)) d=$TB_DIR/mon$1
	mkdir -p "$d" || return 1
	"$POOLMOND" -f -d -i 1 -t 1 --retries=0 -p 143 --lua-director="$DSN" \
		--proxy="$(lp_conf "p$i")" -k "$d/pid" -l "$d/poolmond.log" \
		--state-file "$d/state" --control-socket "$d/ctl.sock" \
		--fleet-listen="${P[i]}" --fleet-peer="${P[other]}" --fleet-key="$KEY" \
		--source-address="${P[i]}" </dev/null >>"$d/poolmond.out" 2>&1 &
	tb_track_pid "$!"
	eval "MON$i=$!"
}
json() { "$POOLMONCTL" -s "$TB_DIR/mon$1/ctl.sock" --json status; }
wait_json() {
	local _ out
	for _ in $(seq 1 $(($3 * 5))); do
		out=$(json "$1" 2>/dev/null) && [ -n "$out" ] && jq -e "$2" >/dev/null 2>&1 <<<"$out" && return 0
		sleep 0.2
	done
	echo "monitor $1: status never matched $2:" >&2
	json "$1" | jq -c 'del(.backends)' >&2
	return 1
}
mon 1 && mon 2 || tb_fail "monitors"
for i in 1 2; do
	wait_json "$i" ".scans_completed >= 1 and .router.reachable and .fleet.peers[0].live and .fleet.peers[0].trusted" 30 ||
		tb_fail "monitor $i does not trust the other"
done
tb_pass "two monitors, one beside each proxy, trust each other"

# user4 and user5 on backend 1, a session of each through a different proxy.
sq_sql db "INSERT INTO user_backend (backend_id, \"user\") VALUES (1, 'user4'), (1, 'user5')" >/dev/null ||
	tb_fail "rows"
lp_session_open "${P[1]}" user4 testpass || tb_fail "session through p1"
s4=$LP_SESSION
lp_session_open "${P[2]}" user5 testpass || tb_fail "session through p2"
s5=$LP_SESSION
tb_assert_eq "$(lp_proxy_count p1 127.0.3.1) $(lp_proxy_count p2 127.0.3.1)" "1 1" \
	"proxy list: one session to backend 1 on each proxy"

lp_refuse 127.0.3.1 || tb_fail "refuse"
for i in 1 2; do
	wait_json "$i" '.backends[] | select(.address == "127.0.3.1") | .router_state == 2' 15 ||
		tb_fail "monitor $i never saw backend 1 at state 2"
done
tb_assert_eq "$(sq_state db 1) $(sq_count db 1)" "2 0" "backend 1 at state 2, its rows gone"
lp_session_wait_closed "$s4" 10 || tb_fail "the session through p1 was not kicked"
lp_session_wait_closed "$s5" 10 || tb_fail "the session through p2 was not kicked"
tb_pass "the sessions through both proxies kicked"
tb_assert_eq "$(sq_audit_of db 1)" "0>2" "exactly one UPDATE took it down"
re='\]: [a-z]+: 127\.0\.3\.1 down: '
n=$(cat "$TB_DIR"/mon1/poolmond.log "$TB_DIR"/mon2/poolmond.log | grep -Ec -- "$re")
tb_assert_eq "$n" 1 "one 'down:' line across both monitors' logs"
a1=$(json 1 | jq -c '.backends[] | select(.address == "127.0.3.1") | .actor')
a2=$(json 2 | jq -c '.backends[] | select(.address == "127.0.3.1") | .actor')
[ "$a1" = "$a2" ] && [[ $a1 == \"127.0.9.[12]:9094\" ]] || tb_fail "actors: $a1 and $a2"
tb_pass "both name the same actor: $a1"
out=$(lp_imap_login "${P[2]}" user4 testpass) || tb_fail "login: $out"
tb_assert_eq "$(sq_user_backend db user4)" 2 "user4's next login (through the other proxy) placed on backend 2"

lp_accept 127.0.3.1
for i in 1 2; do
	wait_json "$i" '.backends[] | select(.address == "127.0.3.1") | .router_state == 0' 15 ||
		tb_fail "monitor $i never saw backend 1 back"
done
tb_assert_eq "$(sq_audit_of db 1 | tr '\n' ' ')" "0>2 2>0 " "one UPDATE brought it up"

for i in 1 2; do
	pid=$(eval "echo \$MON$i")
	kill -TERM "$pid" && wait "$pid" || tb_fail "monitor $i did not exit 0 on SIGTERM"
	if grep -q -E "Sanitizer|runtime error" "$TB_DIR/mon$i/poolmond.out"; then
		head -n 40 "$TB_DIR/mon$i/poolmond.out" >&2
		tb_fail "a sanitizer reported an error in monitor $i"
	fi
done
tb_pass "both monitors stopped cleanly"
