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

sq_stop db || tb_fail "stop"
rm -f "$TB_DIR/restarted"
start=$(_tb_now_ms)
timeout 90 "$RUN" -t 2000 "$DSN" list wait-file "$TB_DIR/restarted" list \
	>"$TB_DIR/gone.out" 2>>"$TB_DIR/luadir-run.err" &
gone=$!
tb_track_pid "$gone"
for i in $(seq 1 100); do
	[ -s "$TB_DIR/gone.out" ] && break
	sleep 0.05
done
took=$(($(_tb_now_ms) - start))
case $(head -n 1 "$TB_DIR/gone.out") in
"list error="*" unreachable=1: "*) tb_pass "server stopped: unreachable ($took ms): $(head -n 1 "$TB_DIR/gone.out")" ;;
*) tb_fail "server stopped: $(cat "$TB_DIR/gone.out")" ;;
esac
[ "$took" -lt 3000 ] || tb_fail "server stopped: took $took ms"
sq_restart db || tb_fail "restart"
touch "$TB_DIR/restarted"
wait "$gone"
case $(sed -n 2p "$TB_DIR/gone.out") in
"list ok "*) tb_pass "back: the same router lists again" ;;
*) tb_fail "after the restart: $(cat "$TB_DIR/gone.out")" ;;
esac

no_sanitizer_reports
