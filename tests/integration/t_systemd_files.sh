#!/bin/bash
# systemd/poolmond.service and systemd/poolmon.conf: the unit has what the
# service needs (Type=notify, the 0.7-style EnvironmentFile with $OPTIONS,
# ExecReload via poolmonctl, RuntimeDirectory, a watchdog, Restart, the
# hardening) and "systemd-analyze verify" accepts it, binaries and man
# pages included; the example OPTIONS are valid poolmond options; "make
# install" puts everything in place and keeps an existing poolmon.conf.
# Without systemd-analyze a small parser checks the unit's syntax instead
# and the test says so.
# runs without root
: "${POOLMOND:?}" "${POOLMONCTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=$ROOT/systemd/poolmond.service CONF=$ROOT/systemd/poolmon.conf
T=$(mktemp -d /tmp/poolmon-sd.XXXXXX)
trap 'rm -rf "$T"' EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# value KEY: the unit's setting (last one wins, as in systemd).
value() {
	awk -v k="$1" 'index($0, k "=") == 1 { v = substr($0, length(k) + 2) } END { print v }' "$UNIT"
}
expect() {
	[ "$(value "$1")" = "$2" ] || fail "$1=$(value "$1"), expected $2"
}

# 1. What the service needs.
expect Type notify
expect EnvironmentFile -/etc/dovecot/poolmon.conf
expect ExecStart '/usr/sbin/poolmond -f $OPTIONS'
expect ExecReload '/usr/bin/poolmonctl reload'
expect RuntimeDirectory poolmon
expect Restart on-failure
expect NotifyAccess main
[ -n "$(value WatchdogSec)" ] || fail "no WatchdogSec"
for kv in ProtectSystem=strict NoNewPrivileges=yes ProtectHome=yes \
	PrivateTmp=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
	ProtectControlGroups=yes RestrictSUIDSGID=yes LockPersonality=yes \
	MemoryDenyWriteExecute=yes RestrictNamespaces=yes \
	SystemCallArchitectures=native; do
	expect "${kv%%=*}" "${kv#*=}"
done
case $(value RestrictAddressFamilies) in
*AF_UNIX*AF_INET*AF_INET6*) ;;
*) fail "RestrictAddressFamilies lacks AF_UNIX/AF_INET/AF_INET6" ;;
esac
for p in /run /var/log; do
	case " $(value ReadWritePaths) " in
	*" $p "*) ;;
	*) fail "ReadWritePaths lacks $p: the pidfile and the log must be written" ;;
	esac
done
# Check processes switch to --user and load a seccomp filter (issue 12).
for cap in CAP_SETUID CAP_SETGID; do
	case " $(value CapabilityBoundingSet) " in
	*" $cap "*) ;;
	*) fail "CapabilityBoundingSet lacks $cap: check processes switch to --user" ;;
	esac
done
# And poolmond kills them at their deadline, and its spawn server and
# hooks when needed: processes of another user, which root may signal
# only with CAP_KILL.
case " $(value CapabilityBoundingSet) " in
*" CAP_KILL "*) ;;
*) fail "CapabilityBoundingSet lacks CAP_KILL: check processes run as --user and are killed at their deadline" ;;
esac
# Allow-lists add up: @system-service has the setuid family and prctl.
grep -q '^SystemCallFilter=@system-service$' "$UNIT" ||
	fail "SystemCallFilter lacks @system-service (setuid family, prctl)"
grep -Eq '^SystemCallFilter=(.* )?seccomp( |$)' "$UNIT" ||
	fail "SystemCallFilter lacks seccomp: check processes load their filter"
pass "unit settings: notify, EnvironmentFile, ExecStart/ExecReload, watchdog, hardening"

# 2. Syntax: systemd-analyze verify, or our own parser without it.
sed -e "s|/usr/sbin/poolmond|$POOLMOND|" -e "s|/usr/bin/poolmonctl|$POOLMONCTL|" \
	"$UNIT" >"$T/poolmond.service"
mkdir -p "$T/man/man8"
cp "$ROOT"/man/*.8 "$T/man/man8/"
if command -v systemd-analyze >/dev/null; then
	# The unit as "make install" writes it for this build: verify checks
	# that the binaries exist, and finds the man pages through MANPATH
	# (with man(1) only: without it, it would fail on Documentation=).
	man=--man=yes
	command -v man >/dev/null || {
		man=--man=no
		echo "NOTE: man(1) is not installed: Documentation= not checked"
	}
	out=$(MANPATH=$T/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$man" "$T/poolmond.service" 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (exit $rc): $out"
	pass "systemd-analyze verify accepts the unit"
	if out=$(systemd-analyze security --offline=true "$T/poolmond.service" 2>/dev/null); then
		score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
		[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' ||
			fail "systemd-analyze security: exposure ${score:-unknown}, above 3.0"
		pass "systemd-analyze security: exposure $score"
	fi
else
	echo "NOTE: systemd-analyze is not installed: checking the unit's syntax with a fallback parser"
	awk '
		/^[ \t]*($|[#;])/ { next }
		/^\[(Unit|Service|Install)\]$/ { s = $0; seen[s] = 1; next }
		/^\[/ { print "unknown section " $0; bad = 1; next }
		s == "" { print "setting outside a section: " $0; bad = 1; next }
		!/^[A-Za-z]+=/ { print "not KEY=VALUE: " $0; bad = 1 }
		END { if (!seen["[Unit]"] || !seen["[Service]"] || !seen["[Install]"]) { print "missing section"; bad = 1 } exit bad }
	' "$UNIT" || fail "unit syntax"
	pass "unit syntax (fallback parser)"
fi

# 3. The example configuration: OPTIONS as 0.7 had it, valid for poolmond.
grep -q '^OPTIONS="[^"]*"$' "$CONF" || fail "poolmon.conf: no OPTIONS=\"...\" line"
opts=$(sed -n 's/^OPTIONS="\(.*\)"$/\1/p' "$CONF")
# shellcheck disable=SC2086
out=$("$POOLMOND" -f $opts --version 2>&1) || fail "poolmon.conf OPTIONS refused: $out"
pass "poolmon.conf OPTIONS are valid: $opts"

# 4. make install: everything in place, an existing poolmon.conf kept.
san=
[ "${BUILD:-build}" = build-san ] && san=1
# After "make all" (make check does it) this only copies files.
make -C "$ROOT" -s install SANITIZE=$san DESTDIR="$T/root" PREFIX=/usr \
	>"$T/install.out" 2>&1 || fail "make install: $(cat "$T/install.out")"
for f in usr/sbin/poolmond usr/bin/poolmonctl usr/share/man/man8/poolmond.8 \
	usr/share/man/man8/poolmonctl.8 lib/systemd/system/poolmond.service \
	etc/dovecot/poolmon.conf; do
	[ -s "$T/root/$f" ] || fail "make install did not install /$f"
done
cmp -s "$UNIT" "$T/root/lib/systemd/system/poolmond.service" ||
	fail "installed unit differs with PREFIX=/usr"
echo 'OPTIONS="-p 143"' >"$T/root/etc/dovecot/poolmon.conf"
make -C "$ROOT" -s install SANITIZE=$san DESTDIR="$T/root" PREFIX=/usr \
	>"$T/install.out" 2>&1 || fail "second make install"
[ "$(cat "$T/root/etc/dovecot/poolmon.conf")" = 'OPTIONS="-p 143"' ] ||
	fail "make install replaced an existing poolmon.conf"
make -C "$ROOT" -s install SANITIZE=$san DESTDIR="$T/local" \
	>"$T/install.out" 2>&1 || fail "make install (PREFIX /usr/local)"
grep -q '^ExecStart=/usr/local/sbin/poolmond -f \$OPTIONS$' \
	"$T/local/lib/systemd/system/poolmond.service" ||
	fail "the unit does not name /usr/local/sbin/poolmond"
pass "make install: binaries, man pages, unit, poolmon.conf (kept when present)"
echo "t_systemd_files: all passed"
exit 0
