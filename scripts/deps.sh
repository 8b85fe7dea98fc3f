#!/bin/sh
# Installs the Debian packages poolmon needs that are missing, when run as
# root: "build" for building, "test" for make check and make demo too,
# "fuzz" for make fuzz (clang and libFuzzer), "deb" for make deb (debhelper)
# and its test (lintian, bash-completion).
# Says what it installs; as another user it only says what is missing.
set -u

build_pkgs="gcc make pkg-config libssl-dev libprotobuf-c-dev protobuf-c-compiler libsystemd-dev libmicrohttpd-dev libc-ares-dev libseccomp-dev"
# Headers of the Lua director's database clients (loaded at run time).
build_pkgs="$build_pkgs libsqlite3-dev libpq-dev libmariadb-dev"
test_pkgs="dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-managesieved openssl iptables iproute2 mandoc jq valgrind curl prometheus"
# t_fleet_clock runs a monitor whose clock is five minutes fast.
test_pkgs="$test_pkgs faketime"
# The Lua director's tests: a Dovecot proxy running the routing script over
# SQLite, PostgreSQL and MariaDB servers the tests start themselves.
test_pkgs="$test_pkgs dovecot-auth-lua lua5.4 lua-dbi-sqlite3 lua-dbi-postgresql lua-dbi-mysql sqlite3 postgresql mariadb-server"

fuzz_pkgs="clang libclang-rt-14-dev"

# dpkg-buildpackage needs no fakeroot: debian/control says
# Rules-Requires-Root: no.
deb_pkgs="debhelper dpkg-dev lintian bash-completion"

case "${1:-build}" in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs" ;;
fuzz) want="$build_pkgs $fuzz_pkgs" ;;
deb) want="$build_pkgs $deb_pkgs" ;;
*) echo "usage: $0 build|test|fuzz|deb" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	s=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)
	[ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run 'make deps' (or apt-get install) as root" >&2
	exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
	echo "deps: no apt-get; install by hand:$missing" >&2
	exit 1
}
echo "deps: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# Package lists may be absent on a fresh machine.
apt-get update -qq || exit 1
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
# Debian starts the system Dovecot on install; tests run their own.
if [ -n "$(echo "$missing" | grep dovecot)" ]; then
	doveadm stop >/dev/null 2>&1 || true
fi
# The same for the database servers: the tests start their own, as an
# unprivileged user in a temporary directory.
for svc in postgresql mariadb; do
	case " $missing " in
	*" $svc "* | *" $svc-server "*)
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			systemctl stop "$svc" >/dev/null 2>&1 || true
		else
			service "$svc" stop >/dev/null 2>&1 || true
		fi
		;;
	esac
done
echo "deps: installed:$missing"
