#!/bin/bash
# shellcheck disable=SC2015,SC2016
# (SC2015: a && b || fail; SC2016: bash -c scripts get their values as $1...)
# poolmond's start-up refusals of --lua-director: a DSN holding a password
# (in the URI or as an option) and DSNs that do not parse exit non-zero
# with an error naming the option and never the password; --lua-director
# with -S, and --proxy without it, name both options. As root also a
# client library that cannot be loaded: the error names the option and
# the package to install. A refused DSN starts nothing: no pid file, no
# socket.
# runs without root
: "${POOLMOND:?}"
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

D=$(mktemp -d /tmp/poolmon-luadsn.XXXXXX) || fail "mktemp"
trap 'rm -rf "$D"' EXIT

# refused WANT MSG ARGS...: poolmond exits non-zero and says WANT and
# --lua-director on stderr, nothing with the password s3cret, and makes
# none of its files.
refused() {
	local want=$1 msg=$2 out rc
	shift 2
	out=$(timeout 10 "$POOLMOND" -f -k "$D/pid" --state-file "$D/state" \
		--control-socket "$D/ctl.sock" "$@" 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$msg: exit $rc: $out"
	grep -q -- "--lua-director" <<<"$out" || fail "$msg: the error does not name --lua-director: $out"
	grep -q -- "$want" <<<"$out" || fail "$msg: the error does not say '$want': $out"
	if grep -q "s3cret" <<<"$out"; then fail "$msg: the password is printed: $out"; fi
	[ -z "$(ls -A "$D")" ] || fail "$msg: files made: $(ls -A "$D")"
	pass "$msg (exit $rc): $(head -n 1 <<<"$out")"
}

refused "password file" "a PostgreSQL DSN with a password" \
	--lua-director=postgresql://monitor:s3cret@127.0.8.1/poolmon
refused "password file" "a PostgreSQL password given as an option" \
	"--lua-director=postgresql://monitor@127.0.8.1/poolmon?sslmode=disable&password=s3cret"
refused "option file" "a MariaDB DSN with a password" \
	--lua-director mariadb://monitor:s3cret@127.0.8.1:3306/poolmon
refused "not a DSN" "a DSN of no known kind" --lua-director=mysqlx://monitor@127.0.8.1/poolmon
refused "not a DSN" "a word" --lua-director=poolmon
refused "absolute path" "a relative SQLite path" --lua-director=sqlite:lua-director.db
refused "database name" "a PostgreSQL DSN without a database" --lua-director=postgresql://monitor@127.0.8.1
refused "port" "a MariaDB DSN with a bad port" --lua-director=mariadb://monitor@127.0.8.1:99999/poolmon
refused "--socket" "--lua-director with -S" --lua-director=sqlite:/var/lib/poolmon/lua-director.db \
	-S /run/dovecot/director-admin
out=$("$POOLMOND" -f --proxy=/etc/dovecot/dovecot.conf 2>&1)
rc=$?
[ "$rc" -ne 0 ] && grep -q -- "--proxy needs --lua-director" <<<"$out" ||
	fail "--proxy without --lua-director: exit $rc: $out"
pass "--proxy without --lua-director (exit $rc): $(head -n 1 <<<"$out")"

# -------------------------------------------------------------- a client library missing

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	pass "(not root: the missing library's case left out)"
	exit 0
fi
lib=$(ldconfig -p | awk '$1 == "libpq.so.5" { print $NF; exit }')
[ -n "$lib" ] || { pass "(libpq.so.5 not installed: the missing library's case left out)"; exit 0; }
# An empty file in its place, in a mount namespace of its own.
out=$(unshare -m bash -c 'mount --bind /dev/null "$1" && shift && exec timeout 10 "$@"' _ "$lib" \
	"$POOLMOND" -f -k "$D/pid" --state-file "$D/state" --control-socket "$D/ctl.sock" \
	--lua-director=postgresql://monitor@127.0.8.1/poolmon 2>&1)
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "libpq missing: exit $rc: $out"
grep -q -- "--lua-director" <<<"$out" && grep -q "install the package libpq5" <<<"$out" ||
	fail "libpq missing: the error does not name --lua-director and libpq5: $out"
pass "libpq missing: exit $rc, $(grep -- --lua-director <<<"$out" | head -n 1)"
