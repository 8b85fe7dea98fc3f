#!/bin/bash
# poolmond's Lua director driver over PostgreSQL (t_luadir.inc), then a
# hot standby (read-only: the gate is closed, nothing is changed) and a
# server that stops and comes back under one router.
# runs long
# shellcheck source=SCRIPTDIR/t_luadir.inc
. "$(dirname "$0")/t_luadir.inc" postgresql

# -------------------------------------------------------------- a standby

sq_pg_standby db sb 127.0.8.2 || tb_fail "standby"
sq_wait_replayed db sb 20 || tb_fail "standby replay"
# The role and its password came with the base backup.
SB_DSN="postgresql://monitor@127.0.8.2:5432/poolmon?passfile=$(sq_secret db monitor)"
out=$("$RUN" "$SB_DSN" gate list 2>>"$TB_DIR/luadir-run.err")
tb_assert_eq "$(head -n 1 <<<"$out")" "gate ok can_act=0 read-only: a standby" \
	"a standby: the gate is closed and says why"
case $(sed -n 2p <<<"$out") in "list ok "*) tb_pass "a standby is still listed" ;; *) tb_fail "standby list: $out" ;; esac
before=$(sq_state db 2)
out=$("$RUN" "$SB_DSN" down 127.0.3.2 2>>"$TB_DIR/luadir-run.err")
case $out in "down error=-30 "*) tb_pass "a command on the standby fails (read-only): $out" ;; *) tb_fail "down on a standby: $out" ;; esac
tb_assert_eq "$(sq_state db 2)" "$before" "and changes nothing"
sq_stop sb || tb_fail "stop standby"

# -------------------------------------------------------------- a server gone and back

server_gone_and_back

no_sanitizer_reports
