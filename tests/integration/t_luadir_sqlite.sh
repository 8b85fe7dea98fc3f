#!/bin/bash
# shellcheck disable=SC2015,SC2016
# (SC2015: a && b || fail; SC2016: bash -c scripts get their values as $1...)
# poolmond's Lua director driver over SQLite (t_luadir.inc), then what
# does not depend on the database: a missing or read-only file, rows
# checked at their hostname (resolved), and the kick itself: the
# doveadm commands of Dovecot 2.3 and 2.4, a doveadm that fails and one
# that hangs (fake doveadm and dovecot programs first in PATH).
# shellcheck source=SCRIPTDIR/t_luadir.inc
. "$(dirname "$0")/t_luadir.inc" sqlite

# -------------------------------------------------------------- the file

out=$("$RUN" "sqlite:$TB_DIR/nonexistent.db" list 2>>"$TB_DIR/luadir-run.err")
case $out in "list error=-2 unreachable=1: cannot open "*) tb_pass "a missing file: unreachable: $out" ;; *) tb_fail "missing file: $out" ;; esac
ls "$TB_DIR/nonexistent.db" 2>/dev/null && tb_fail "the missing file was created"
d=$(dirname "${DSN#sqlite:}")
out=$(unshare -m bash -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && "$2" "$3" gate list' \
	_ "$d" "$RUN" "$DSN" 2>>"$TB_DIR/luadir-run.err")
tb_assert_eq "$(head -n 1 <<<"$out")" "gate ok can_act=0 read-only: the file is not writable" \
	"a file on a read-only mount: the gate is closed and says why"

# -------------------------------------------------------------- hostnames

# Rows without hostip checked at their hostname's address (the hosts
# file of a mount namespace of their own); a name that resolves to
# nothing is left out, the others are listed.
sq_backend_add db 5 b5.test "" && sq_backend_add db 6 b6.test "" &&
	sq_backend_add db 7 nowhere.invalid "" || tb_fail "rows 5-7"
printf '127.0.0.1 localhost\n127.0.3.5 b5.test\n127.0.3.1 b6.test\n' >"$TB_DIR/hosts"
out=$(unshare -m bash -c 'mount --bind "$1" /etc/hosts && "$2" -t 3000 "$3" list' \
	_ "$TB_DIR/hosts" "$RUN" "$DSN" 2>"$TB_DIR/names.err")
tb_assert_eq "$(host_of "$out" 127.0.3.5)" "127.0.3.5,up,0,0,-" "a row without hostip is checked at its hostname's address"
tb_assert_eq "$(wc -w <<<"${out#list ok }")" 4 "a name resolving to another backend's address joins it; one resolving to nothing is left out"
grep -q "left out: no address (the first: nowhere.invalid)" "$TB_DIR/names.err" ||
	tb_fail "the row left out is not logged: $(cat "$TB_DIR/names.err")"
tb_pass "and it is logged"
sq_sql db "DELETE FROM backends WHERE id IN (5, 6, 7)" >/dev/null || tb_fail "delete rows 5-7"

# -------------------------------------------------------------- the kick's commands

# fake VERSION RC [SLEEP]: dovecot --version says VERSION; doveadm writes
# its arguments to kick.args and exits RC (after SLEEP seconds).
fake() {
	mkdir -p "$TB_DIR/fakebin"
	printf '#!/bin/sh\necho "%s (fake)"\n' "$1" >"$TB_DIR/fakebin/dovecot"
	printf '#!/bin/sh\necho "$*" >>%s/kick.args\n[ -n "%s" ] && exec sleep %s\necho "fake doveadm says no"\nexit %s\n' \
		"$TB_DIR" "${3:-}" "${3:-0}" "$2" >"$TB_DIR/fakebin/doveadm"
	chmod +x "$TB_DIR/fakebin/dovecot" "$TB_DIR/fakebin/doveadm"
	rm -f "$TB_DIR/kick.args"
}
frun() {
	out=$(PATH="$TB_DIR/fakebin:$PATH" timeout 60 "$RUN" "$@" 2>>"$TB_DIR/luadir-run.err")
}

fake 2.4.1 0
frun -p "$PCONF" -p /etc/other.conf "$DSN" downflush 127.0.3.1
case $out in "downflush OK flushed=1: "*) ;; *) tb_fail "2.4 downflush: $out" ;; esac
tb_assert_eq "$(cat "$TB_DIR/kick.args")" "-c $PCONF kick -h 127.0.3.1
-c /etc/other.conf kick -h 127.0.3.1" "Dovecot 2.4: doveadm -c CONF kick -h IP on every proxy"
run up 127.0.3.1 || tb_fail "up: $out"

fake 2.3.21 0
frun -p "$PCONF" "$DSN" downflush 127.0.3.1
tb_assert_eq "$(cat "$TB_DIR/kick.args")" "-c $PCONF proxy kick -h b1.test
-c $PCONF proxy kick -h b1-alias
-c $PCONF proxy kick -h 127.0.3.1" "Dovecot 2.3: proxy kick -h each host string (both hostnames, and the address)"
frun -p "$PCONF" "$DSN" downflush 127.0.3.3
tb_assert_eq "$(sed -n 4p "$TB_DIR/kick.args")" "-c $PCONF proxy kick -h 127.0.3.3" \
	"a hostname that is the address: kicked once"
tb_assert_eq "$(grep -c . "$TB_DIR/kick.args")" 4 "and only once"
run up 127.0.3.1 && run up 127.0.3.3 || tb_fail "up: $out"

fake 2.3.21 75
frun -p "$PCONF" "$DSN" downflush 127.0.3.1
case $out in
"downflush OK flushed=0: "*"(not flushed: kicking its sessions failed: "*"exit status 75: fake doveadm says no)")
	tb_pass "a doveadm that fails: the down stands, the flush is still owed: $out" ;;
*) tb_fail "failing doveadm: $out" ;;
esac
tb_assert_eq "$(sq_state db 1)" 2 "the state change stands"
fake 2.3.21 0
frun -p "$PCONF" "$DSN" flush 127.0.3.1
case $out in "flush OK flushed=1: "*) tb_pass "the owed flush, again: done: $out" ;; *) tb_fail "flush again: $out" ;; esac
run up 127.0.3.1 || tb_fail "up: $out"

# 987.PID: this run's hanging doveadm, not another run's on the machine.
fake 2.3.21 0 "987.$$"
start=$(_tb_now_ms)
frun -t 1500 -p "$PCONF" "$DSN" downflush 127.0.3.1
took=$(($(_tb_now_ms) - start))
case $out in
"downflush OK flushed=0: "*"(not flushed: "*) tb_pass "a doveadm that hangs is given up at the deadline: $out" ;;
*) tb_fail "hanging doveadm: $out" ;;
esac
[ "$took" -lt 2500 ] || tb_fail "a hanging doveadm took $took ms (timeout 1500)"
tb_pass "within the timeout + 1 s ($took ms)"
pgrep -x -f "sleep 987\.$$" >/dev/null && tb_fail "the hanging doveadm was not killed"
tb_pass "and it was killed"
run up 127.0.3.1 || tb_fail "up: $out"

fake garbage 0
frun -p "$PCONF" "$DSN" downflush 127.0.3.1
case $out in "downflush OK flushed=0: "*"(not flushed: "*"no version in"*) tb_pass "no version to be had: no kick, owed: $out" ;; *) tb_fail "no version: $out" ;; esac
run up 127.0.3.1 || tb_fail "up: $out"

no_sanitizer_reports
