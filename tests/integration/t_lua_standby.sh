#!/bin/bash
# shellcheck disable=SC2015
# (SC2015: a && b || fail)
# poolmond pointed at a PostgreSQL hot standby (read-only) of the Lua
# director's database acts on nothing: a backend that fails stays at
# state 0 on the primary (an audit trigger sees no UPDATE), a session open
# through the proxy to it is not kicked, a hold is recorded but not
# applied, and --json status says the router cannot act (ring_synced
# false, ring_state "not_synced") while it is reachable.
# shellcheck source=SCRIPTDIR/../lib/testbed.sh
. "$(dirname "$0")/../lib/testbed.sh"
# shellcheck source=SCRIPTDIR/../lib/sqldb.sh
. "$(dirname "$0")/../lib/sqldb.sh"
# shellcheck source=SCRIPTDIR/../lib/luaproxy.sh
. "$(dirname "$0")/../lib/luaproxy.sh"
# shellcheck source=SCRIPTDIR/../lib/poolmon.sh
. "$(dirname "$0")/../lib/poolmon.sh"

P1=127.0.9.1
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
sq_pg_standby db sb 127.0.8.2 || tb_fail "standby"
sq_wait_replayed db sb 20 || tb_fail "standby replay"
# The proxy places users on the primary; poolmond reads the standby (the
# monitor role and its password came with the base backup).
sq_lua_conf db dovecot "$TB_DIR/lua-director.conf" 2 || tb_fail "settings file"
lp_start p1 "$P1" "$TB_DIR/lua-director.conf" || tb_fail "proxy p1"
DSN="$(sq_dsn sb monitor)?passfile=$(sq_secret db monitor)"
lp_pm_start "$DSN" "$(lp_conf p1)" -d -i 1 -t 1 --retries=0 -p 143 || tb_fail "poolmond"
pm_wait_json '.scans_completed >= 1 and .router.reachable' 20 || tb_fail "no first scan"
tb_pass "poolmond on the standby $DSN"

out=$(lp_imap_login "$P1" user1 testpass) || tb_fail "login of user1: $out"
tb_assert_eq "$(sq_user_backend db user1)" 1 "user1 placed on backend 1 (on the primary)"
lp_session_open "$P1" user1 testpass || tb_fail "session of user1"
s1=$LP_SESSION

lp_refuse 127.0.3.1 || tb_fail "refuse"
pm_wait_backend 127.0.3.1 '.healthy == false' 10 || tb_fail "backend 1 not seen failing"
n=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((n + 3))" 20 || tb_fail "no scans"
st=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status)
echo "    --json status: $(jq -c '{router, ring_synced, ring_state, director_reachable}' <<<"$st")"
tb_assert_eq "$(jq -c '[.router.reachable, .ring_synced, .ring_state]' <<<"$st")" \
	'[true,false,"not_synced"]' "status: the router is reachable but cannot act (ring_synced false, not_synced)"
tb_assert_eq "$(jq -c '.backends[] | select(.address == "127.0.3.1") | [.healthy, .router_state, .director_state, .owner]' <<<"$st")" \
	'[false,0,"up",null]' "status: backend 1 failing, still at state 0, nobody's"
tb_assert_eq "$(sq_state db 1) $(sq_count db 1)" "0 1" "on the primary: backend 1 still at state 0, its row kept"
tb_assert_eq "$(sq_sql db "SELECT count(*) FROM backends_audit")" 0 "no UPDATE of backends at all"
tb_assert_eq "$(lp_session_state "$s1")" open "user1's session to backend 1 not kicked"

out=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" hold 127.0.3.2 2>&1)
rc=$?
tb_assert_eq "$rc" 1 "a hold on a standby: recorded, not applied, exit 1 ($out)"
n=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((n + 2))" 20 || tb_fail "no scans"
tb_assert_eq "$(sq_state db 2)" 0 "backend 2 still at state 0 on the primary"

pm_stop 10 || tb_fail "poolmond did not exit 0 on SIGTERM"
if grep -q -E "Sanitizer|runtime error" "$TB_DIR/poolmond.out" 2>/dev/null; then
	head -n 40 "$TB_DIR/poolmond.out" >&2
	tb_fail "a sanitizer reported an error"
fi
tb_pass "poolmond stopped cleanly"
