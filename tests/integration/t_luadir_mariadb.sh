#!/bin/bash
# poolmond's Lua director driver over MariaDB (t_luadir.inc), then a
# read-only server (the gate is closed, nothing is changed) and a server
# that stops and comes back under one router.
# runs long
# shellcheck source=SCRIPTDIR/t_luadir.inc
. "$(dirname "$0")/t_luadir.inc" mariadb

# -------------------------------------------------------------- read-only

sq_sql db "SET GLOBAL read_only = 1" || tb_fail "read_only"
out=$("$RUN" "$DSN" gate list 2>>"$TB_DIR/luadir-run.err")
tb_assert_eq "$(head -n 1 <<<"$out")" "gate ok can_act=0 read-only: read_only is set" \
	"a read-only MariaDB: the gate is closed and says why"
before=$(sq_state db 2)
out=$("$RUN" "$DSN" down 127.0.3.2 2>>"$TB_DIR/luadir-run.err")
case $out in "down error=-30 "*) tb_pass "a command fails (read-only): $out" ;; *) tb_fail "down when read-only: $out" ;; esac
tb_assert_eq "$(sq_state db 2)" "$before" "and changes nothing"
sq_sql db "SET GLOBAL read_only = 0" || tb_fail "read_only off"
run gate || tb_fail "gate: $out"
tb_assert_eq "$out" "gate ok can_act=1 read-write" "writable again: the gate opens"

# -------------------------------------------------------------- a server gone and back

server_gone_and_back

no_sanitizer_reports
