#!/bin/bash
# The Debian package, on this machine, with dpkg: "make deb" builds
# poolmon_VERSION_ARCH.deb (the version of common/version.h, the Build-
# Depends of scripts/deps.sh's build set) and lintian finds no error or
# warning in it. Installed: the binaries, the poolmon link, the man pages,
# the unit (enabled), the completion, the conffiles, the poolmon system
# user and group, the group poolmonctl (the check and hook user is no
# member), /var/lib/poolmon. The installed poolmond, run with the
# packaged OPTIONS against a real director, reports the backend healthy; a
# member of the group poolmonctl holds it (kept in the state file), a
# non-member cannot reach the daemon; the completion offers poolmonctl's
# commands, options and the daemon's backends. An upgrade to a newer
# version (built from a copy of the tree) keeps an edited conffile and the
# state; remove keeps both; purge removes them, the log and the unit's
# enablement, and keeps the system user (Debian practice).
# The machine is left as found: the package is purged on any exit, and the
# poolmon user and group are deleted if the test created them. The test is
# skipped when poolmon is installed here already.
# runs long
# runs heavy
# runs with lock dpkg
# runs with packages deb
. "$(dirname "$0")/../lib/testbed.sh"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B1=127.0.14.1 DIR_IP=127.0.14.100

# What the package installs or creates: none may exist beforehand, or the
# purge would take the machine's own files with it.
OWN="/usr/sbin/poolmond /usr/sbin/poolmon /usr/bin/poolmonctl
/etc/dovecot/poolmon.conf /etc/logrotate.d/poolmon
/lib/systemd/system/poolmond.service /var/lib/poolmon /var/log/poolmon.log
/usr/share/bash-completion/completions/poolmonctl"
for f in $OWN; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	echo "$f exists on this machine: not installing a package over it"
	exit 77
done
if dpkg-query -W -f '${db:Status-Status}' poolmon 2>/dev/null |
	grep -qv '^not-installed$'; then
	echo "the package poolmon is on this machine: not touching it"
	exit 77
fi
had_user=0 had_group=0
getent passwd poolmon >/dev/null && had_user=1
getent group poolmon >/dev/null && had_group=1
had_ctl_group=0
getent group poolmonctl >/dev/null && had_ctl_group=1

T=$(mktemp -d /tmp/poolmon-deb.XXXXXX)
PM=""
installed=0
cleanup() {
	local rc=$?
	if [ -n "$PM" ]; then
		kill -TERM "$PM" 2>/dev/null
		wait "$PM" 2>/dev/null
	fi
	(exit "$rc")
	tb_cleanup
	if [ "$installed" = 1 ]; then
		dpkg -P poolmon >/dev/null 2>&1 || echo "cleanup: dpkg -P poolmon failed" >&2
	fi
	# None of them was here before the test; a failed purge leaves them.
	# shellcheck disable=SC2086
	rm -rf $OWN /var/log/poolmon.log.*
	[ "$had_user" = 1 ] || userdel poolmon 2>/dev/null
	[ "$had_group" = 1 ] || groupdel poolmon 2>/dev/null
	[ "$had_ctl_group" = 1 ] || groupdel poolmonctl 2>/dev/null
	rm -rf "$T"
	exit "$rc"
}
tb_init || tb_fail "tb_init"
trap cleanup EXIT

pass() { tb_pass "$@"; }
fail() { tb_fail "$@"; }

# make deb as a developer runs it: not with the flags of the make check
# that runs this test (SANITIZE=1 must not reach the package).
# On every CPU (DEB_BUILD_OPTIONS parallel=N): this test, two package
# builds and lintian, is the longest of make check.
make_deb() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u CFLAGS \
		-u LDFLAGS DEB_BUILD_OPTIONS="parallel=$(nproc)" \
		make -C "$1" deb >"$T/build.log" 2>&1 ||
		fail "make deb in $1: $(tail -n 30 "$T/build.log")"
}
deb_version() {
	sed -n 's/^#define POOLMON_VERSION "\(.*\)"$/\1/p' "$1/common/version.h"
}
status_of() {
	dpkg-query -W -f '${db:Status-Abbrev}' poolmon 2>/dev/null | tr -d ' '
}

V=$(deb_version "$ROOT")
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH) || fail "dpkg-architecture"
[ -n "$V" ] || fail "no POOLMON_VERSION in common/version.h"

# 1. The build: one version, the Build-Depends of deps.sh.
rm -f "$ROOT/poolmon_${V}_$ARCH.deb"
make_deb "$ROOT"
DEB=$ROOT/poolmon_${V}_$ARCH.deb
[ -s "$DEB" ] || fail "make deb did not make $DEB"
tb_assert_eq "$(dpkg-deb -f "$DEB" Package Version Architecture | tr '\n' ' ')" \
	"Package: poolmon Version: $V Architecture: $ARCH " \
	"make deb: poolmon_${V}_$ARCH.deb, the version of common/version.h"
build_pkgs=$(sed -n 's/^build_pkgs="\(.*\)"$/\1/p' "$ROOT/scripts/deps.sh")
[ -n "$build_pkgs" ] || fail "no build_pkgs in scripts/deps.sh"
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$ROOT/debian/control")
for p in $build_pkgs; do
	# build-essential; and deps.sh's own "build_pkgs="$build_pkgs ..."".
	case $p in gcc | make | '$build_pkgs') continue ;; esac
	grep -qE "(^|[ ,])$p( |,|$)" <<<"$bdeps" ||
		fail "debian/control: Build-Depends lacks $p (scripts/deps.sh build)"
done
pass "Build-Depends has scripts/deps.sh's build packages"

# 2. lintian: no error, no warning (informational tags are shown).
lintian --display-info --fail-on error,warning "$DEB" >"$T/lintian" 2>&1
rc=$?
sed 's/^/    lintian: /' "$T/lintian"
grep -q '^[EW]: ' "$T/lintian" && fail "lintian reports errors or warnings"
[ "$rc" -eq 0 ] || fail "lintian exit $rc"
pass "lintian: no error, no warning"

# 3. Install.
dpkg -i "$DEB" </dev/null >"$T/dpkg.log" 2>&1 || {
	installed=1
	fail "dpkg -i: $(cat "$T/dpkg.log")"
}
installed=1
tb_assert_eq "$(status_of)" ii "dpkg -i: installed"
for f in /usr/sbin/poolmond /usr/bin/poolmonctl; do
	[ -x "$f" ] || fail "$f missing"
done
tb_assert_eq "$(readlink /usr/sbin/poolmon)" poolmond "/usr/sbin/poolmon -> poolmond"
for f in /usr/share/man/man8/poolmond.8.gz /usr/share/man/man8/poolmonctl.8.gz \
	/usr/share/man/man8/poolmon.8.gz /lib/systemd/system/poolmond.service \
	/usr/share/bash-completion/completions/poolmonctl \
	/usr/share/doc/poolmon/copyright /etc/logrotate.d/poolmon; do
	[ -s "$f" ] || fail "$f missing"
done
grep -q '^ExecStart=/usr/sbin/poolmond -f \$OPTIONS$' /lib/systemd/system/poolmond.service ||
	fail "the unit does not start /usr/sbin/poolmond"
out=$(/usr/sbin/poolmond --version 2>&1) || fail "poolmond --version: $out"
grep -qw "$V" <<<"$out" || fail "poolmond --version: '$out', expected $V"
out=$(/usr/sbin/poolmon --version 2>&1) || fail "poolmon --version: $out"
grep -qw "$V" <<<"$out" || fail "poolmon --version: '$out', expected $V"
pass "files in place; /usr/sbin/poolmond and poolmon --version say $V"
# The Lua director's script, schemas and snippets (dovecot/), each as
# the tree has it.
for f in "$ROOT"/dovecot/*; do
	cmp -s "$f" "/usr/share/poolmon/dovecot/${f##*/}" ||
		fail "/usr/share/poolmon/dovecot/${f##*/} missing or not the tree's"
done
pass "the Lua director's files in /usr/share/poolmon/dovecot/: $(ls /usr/share/poolmon/dovecot | tr '\n' ' ')"

conffiles=$(dpkg-query -W -f '${Conffiles}' poolmon)
for f in /etc/dovecot/poolmon.conf /etc/logrotate.d/poolmon; do
	grep -q "^ $f " <<<"$conffiles" || fail "$f is not a conffile: $conffiles"
done
opts=$(sed -n 's/^OPTIONS="\(.*\)"$/\1/p' /etc/dovecot/poolmon.conf)
grep -q -- '--control-group=poolmonctl' <<<"$opts" ||
	fail "packaged OPTIONS lack --control-group=poolmonctl: $opts"
pass "conffiles /etc/dovecot/poolmon.conf, /etc/logrotate.d/poolmon; OPTIONS: $opts"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd poolmon) ||
	fail "no user poolmon"
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "poolmon uid $uid is not a system uid"
tb_assert_eq "$(getent group poolmon | cut -d: -f3)" "$gid" "group poolmon is the user's group"
case $shell in */nologin | */false) ;; *) fail "poolmon's shell is $shell" ;; esac
[ -e "$home" ] && fail "poolmon's home $home exists"
pass "system user poolmon (uid $uid, shell $shell, home $home)"
# Hooks run as poolmon: it must not be able to steer poolmond.
getent group poolmonctl >/dev/null || fail "no group poolmonctl"
id -nG poolmon | grep -qw poolmonctl && fail "poolmon is in group poolmonctl: hooks could steer poolmond"
pass "group poolmonctl, without the check and hook user poolmon"
tb_assert_eq "$(stat -c '%U:%G %a' /var/lib/poolmon)" "root:root 750" "/var/lib/poolmon"

if [ -d /run/systemd/system ]; then
	systemctl is-active -q poolmond || fail "poolmond.service is not running"
	pass "poolmond.service runs"
	# The daemon below uses the same state and log files.
	systemctl stop poolmond || fail "systemctl stop poolmond"
else
	echo "NOTE: systemd is not PID 1 here: the service is not started"
fi
[ -L /etc/systemd/system/multi-user.target.wants/poolmond.service ] ||
	fail "poolmond.service is not enabled"
pass "poolmond.service enabled"

# 4. The installed daemon with the packaged OPTIONS (log in
#    /var/log/poolmon.log, state in /var/lib/poolmon, control group
#    poolmon) against a real director.
tb_backend_start b1 "$B1" || fail "backend b1"
tb_director_start "$DIR_IP" "$B1" || fail "director"
CTL=$TB_DIR/ctl/ctl.sock
# shellcheck disable=SC2086
/usr/sbin/poolmond -f $opts -i 3600 -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" \
	--control-socket "$CTL" </dev/null >"$T/poolmond.out" 2>&1 &
PM=$!
ctl() { /usr/bin/poolmonctl -s "$CTL" "$@"; }
for _ in $(seq 1 75); do
	out=$(ctl --json status 2>/dev/null) && [ -n "$out" ] &&
		jq -e '.scans_completed >= 1' >/dev/null 2>&1 <<<"$out" && break
	out=""
	sleep 0.2
done
[ -n "$out" ] || fail "poolmonctl status never showed a scan: $(cat "$T/poolmond.out")"
jq -e --arg b "$B1" '[.backends[] | select(.address == $b and .healthy == true)] | length == 1' \
	>/dev/null <<<"$out" || fail "$B1 not reported healthy: $out"
pass "installed poolmond (packaged OPTIONS) checks $B1 through the director"
[ -s /var/log/poolmon.log ] || fail "nothing in /var/log/poolmon.log"
pass "it logs to /var/log/poolmon.log"

as_member() { setpriv --reuid=nobody --regid=nogroup --groups=poolmonctl -- "$@"; }
as_other() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
out=$(as_member /usr/bin/poolmonctl -s "$CTL" hold "$B1" --reason=t_deb 2>&1) ||
	fail "a member of group poolmonctl: hold refused: $out"
tb_wait_host_state "$B1" D 10 || fail "the director does not show $B1 down after hold"
grep -qF "$B1" /var/lib/poolmon/state 2>/dev/null ||
	fail "the hold is not in /var/lib/poolmon/state"
out=$(as_other /usr/bin/poolmonctl -s "$CTL" status 2>&1)
rc=$?
[ "$rc" -eq 3 ] || fail "a user outside group poolmonctl: status exit $rc, expected 3: $out"
pass "group poolmonctl steers poolmond (hold $B1, kept in /var/lib/poolmon/state); others cannot reach it"

# The completion, as bash runs it: _poolmonctl on words typed so far.
cat >"$T/complete.bash" <<'EOF'
. /usr/share/bash-completion/bash_completion
. /usr/share/bash-completion/completions/poolmonctl
compopt() { :; }   # only valid inside a real completion
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_poolmonctl poolmonctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	echo "${COMPREPLY[*]}"
}
complete_words "$@"
EOF
completions() { PATH=/usr/bin:/bin bash "$T/complete.bash" "$@" 2>&1; }
cmds=$(/usr/bin/poolmonctl --help | awk '/^Commands/ { c = 1; next } /^[^ ]/ { c = 0 } c && /^  [a-z]/ { printf "%s ", $1 }')
for c in status show recheck dry-run reload version hold release; do
	grep -qw -- "$c" <<<"$cmds" || fail "poolmonctl --help does not list $c"
done
tb_assert_eq "$(completions poolmonctl '') " "$cmds" "completion: the commands of poolmonctl --help"
tb_assert_eq "$(completions poolmonctl -j rel)" "reload release" "completion: a prefix"
tb_assert_eq "$(completions poolmonctl dry-run '')" "on off" "completion: dry-run on|off"
tb_assert_eq "$(completions poolmonctl d '')" "on off" "completion: d, a prefix of dry-run"
out=$(completions poolmonctl --)
for o in --socket= --json --timeout= --no-wait --help --version; do
	grep -qw -- "$o" <<<"$out" || fail "completion of --: no $o in '$out'"
done
out=$(completions poolmonctl hold "$B1" --)
for o in --reason= --flush; do
	grep -qw -- "$o" <<<"$out" || fail "completion of hold --: no $o in '$out'"
done
pass "completion: options, and hold's --reason= --flush"
tb_assert_eq "$(completions poolmonctl -s "$CTL" show '')" "$B1" \
	"completion: show offers the backend poolmond reports"
tb_assert_eq "$(completions poolmonctl --socket="$CTL" recheck "$B1" '')" "$B1" \
	"completion: recheck offers more backends"

kill -TERM "$PM"
wait "$PM"
rc=$?
PM=""
[ "$rc" -eq 0 ] || fail "poolmond exit $rc: $(cat "$T/poolmond.out")"

# 5. Upgrade to a newer version built from a copy of the tree: an edited
#    conffile and the state stay.
SRC=$T/src
mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./.git --exclude='./build*' --exclude='./*.deb' \
	-cf - . | tar -C "$SRC" -xf - || fail "copy of the tree"
V2=$V+upgradetest1
sed -i "s/^#define POOLMON_VERSION \".*\"$/#define POOLMON_VERSION \"$V2\"/" \
	"$SRC/common/version.h"
# A version without its changelog entry is refused.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$SRC" deb >"$T/build.log" 2>&1 &&
	fail "make deb built $V2 without a changelog entry"
grep -q "debian/changelog says $V, common/version.h $V2" "$T/build.log" ||
	fail "make deb without a changelog entry: $(tail -n 5 "$T/build.log")"
pass "make deb refuses a version.h that debian/changelog does not have"
{
	printf 'poolmon (%s) unstable; urgency=medium\n\n  * t_deb: an upgrade.\n\n' "$V2"
	printf ' -- t_deb <t_deb@localhost.invalid>  %s\n\n' "$(date -R)"
	cat "$ROOT/debian/changelog"
} >"$SRC/debian/changelog"
make_deb "$SRC"
DEB2=$SRC/poolmon_${V2}_$ARCH.deb
[ -s "$DEB2" ] || fail "no $DEB2"
echo '# edited by t_deb' >>/etc/dovecot/poolmon.conf
edited=$(cat /etc/dovecot/poolmon.conf)
dpkg -i "$DEB2" </dev/null >"$T/dpkg.log" 2>&1 || fail "upgrade: $(cat "$T/dpkg.log")"
tb_assert_eq "$(dpkg-query -W -f '${Version}' poolmon)" "$V2" "upgraded to $V2"
grep -qw -- "$V2" <<<"$(/usr/sbin/poolmond --version 2>&1)" ||
	fail "after the upgrade poolmond --version does not say $V2"
tb_assert_eq "$(cat /etc/dovecot/poolmon.conf)" "$edited" "the upgrade keeps the edited conffile"
grep -qF "$B1" /var/lib/poolmon/state 2>/dev/null ||
	fail "the upgrade lost the hold in /var/lib/poolmon/state"
pass "the upgrade keeps the state"

# 6. Remove: the programs go, configuration and state stay.
dpkg -r poolmon </dev/null >"$T/dpkg.log" 2>&1 || fail "dpkg -r: $(cat "$T/dpkg.log")"
tb_assert_eq "$(status_of)" rc "dpkg -r: config-files left"
for f in /usr/sbin/poolmond /usr/sbin/poolmon /usr/bin/poolmonctl \
	/lib/systemd/system/poolmond.service \
	/usr/share/bash-completion/completions/poolmonctl \
	/usr/share/man/man8/poolmond.8.gz; do
	[ -e "$f" ] || [ -L "$f" ] && fail "dpkg -r left $f"
done
tb_assert_eq "$(cat /etc/dovecot/poolmon.conf)" "$edited" "dpkg -r keeps the edited conffile"
[ -e /var/lib/poolmon/state ] || fail "dpkg -r removed the state"
pass "dpkg -r: binaries, unit, man pages, completion gone; conffile and state kept"

# 7. Purge: configuration, state, log and enablement go; the user stays.
dpkg -P poolmon </dev/null >"$T/dpkg.log" 2>&1 || fail "dpkg -P: $(cat "$T/dpkg.log")"
installed=0
case $(status_of) in "" | un) ;; *) fail "dpkg -P: poolmon is $(status_of)" ;; esac
for f in $OWN /etc/systemd/system/multi-user.target.wants/poolmond.service \
	/var/lib/systemd/deb-systemd-helper-enabled/poolmond.service.dsh-also \
	/usr/lib/sysusers.d/poolmon.conf /usr/lib/tmpfiles.d/poolmon.conf; do
	[ -e "$f" ] || [ -L "$f" ] && fail "dpkg -P left $f"
done
ls /var/log/poolmon.log* >/dev/null 2>&1 && fail "dpkg -P left /var/log/poolmon.log*"
getent passwd poolmon >/dev/null || fail "dpkg -P removed the system user poolmon"
pass "dpkg -P: conffiles, /var/lib/poolmon, the log, the enablement gone; user poolmon kept"
echo "t_deb: all passed"
exit 0
