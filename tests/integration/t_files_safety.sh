#!/bin/bash
# Files and core dumps (issue 12). Started in its directory with relative
# paths only and without -f, poolmond daemonizes (and changes to /), yet
# reaches the director, takes a failing backend down, writes its state
# file, and re-reads its credential file on HUP, all where they were
# named. Neither the daemon nor a check process may dump core: RLIMIT_CORE
# is 0 and both are non-dumpable. A symlinked credential file, one owned
# by another user, and a symlinked control socket directory are refused.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v setpriv >/dev/null || { echo "setpriv is not installed"; exit 77; }
B1=127.0.12.21 B2=127.0.12.22
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_backend_start b2 "$B2" || tb_fail "backend b2"
tb_director_start 127.0.12.100 "$B1 $B2" || tb_fail "director"

cd "$TB_DIR" || tb_fail "cd $TB_DIR"
DSOCK=${TB_DIRECTOR_SOCKET#"$TB_DIR"/}
[ "$DSOCK" != "$TB_DIRECTOR_SOCKET" ] || tb_fail "director socket outside $TB_DIR"
write_cred() {
	rm -f cred
	(umask 077 && printf '%s\n%s\n' "$1" "$2" >cred)
}
write_cred "$TB_USER" "$TB_PASS"

# 1. Refused at start-up, with the file named by its absolute path.
refused() {
	"$POOLMOND" -f -S "$DSOCK" -k x.pid -l x.log --state-file x.state \
		--control-socket x/ctl.sock "$@" </dev/null 2>&1
}
ln -s cred credlink
out=$(refused -c credlink)
tb_assert_eq "$?:$out" "1:poolmond: credential file $TB_DIR/credlink: is a symbolic link; give the file itself" \
	"a symlinked credential file is refused"
cp cred credother && chown nobody credother
out=$(refused -c credother)
tb_assert_eq "$?:$out" "1:poolmond: credential file $TB_DIR/credother: owned by uid 65534, neither root nor poolmond's user (uid 0); run chown root on it" \
	"a credential file of another user is refused"
mkdir victim && chmod 0700 victim && chgrp nogroup victim && ln -s victim ctldir
out=$(refused -c cred --control-socket ctldir/ctl.sock)
tb_assert_eq "$?:$out" "1:poolmond: control socket directory $TB_DIR/ctldir: is a symbolic link; give the directory itself" \
	"a symlinked control socket directory is refused"
tb_assert_eq "$(stat -c %a:%G victim):$(ls -A victim)" "700:nogroup:" "what the symlink names is untouched"

# 2. A daemon with relative paths only. Its effective group is nogroup:
# files of /proc/PID are then owned root:nogroup, unless the process is
# non-dumpable, when the kernel makes them root:root (proc(5)).
owner() { stat -c %U:%G "/proc/$1/status" 2>/dev/null; }
setpriv --regid=nogroup --clear-groups sleep 30 &
probe=$!
tb_track_pid "$probe"
# Once setpriv has become sleep, its group is set.
for _ in $(seq 1 50); do
	[ "$(cat "/proc/$probe/comm" 2>/dev/null)" = sleep ] && break
	sleep 0.05
done
tb_assert_eq "$(owner "$probe")" root:nogroup "a dumpable process of group nogroup shows as root:nogroup"
kill "$probe"
setpriv --regid=nogroup --clear-groups "$POOLMOND" -S "$DSOCK" -k poolmon.pid \
	-l poolmon.log --state-file state --control-socket ctl.sock -c cred \
	-i 1 -t 2 --retries 0 --fall 1 --rise 1 -p 143 -v 0 -d </dev/null >start.out 2>&1
tb_assert_eq "$?" 0 "daemon start with relative paths returns 0"
pid=$(cat poolmon.pid) || tb_fail "no pidfile in $TB_DIR"
tb_track_pid "$pid"
tb_assert_eq "$(readlink "/proc/$pid/cwd")" / "the daemon runs in /"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }
for _ in $(seq 1 75); do
	json=$(ctl --json status 2>/dev/null) &&
		[ "$(jq -r .scans_completed <<<"$json")" -ge 1 ] && break
	sleep 0.2
done
tb_assert_eq "$(jq -r '.director_reachable, .backends_total, .backends_healthy' <<<"$json" | tr '\n' ' ')" \
	"true 2 2 " "status: director reached through a relative -S, 2 healthy backends"
grep -q "scan complete" poolmon.log || tb_fail "no scan in the relative -l log"

# 3. Core dumps: the daemon, and a check process caught while it waits on
# a backend whose packets are dropped.
tb_assert_eq "$(owner "$pid")" root:root "the daemon is not dumpable"
grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits" ||
	tb_fail "daemon: $(grep core "/proc/$pid/limits")"
tb_pass "the daemon's core file size limit is 0"
tb_block "$B2" || tb_fail "block $B2"
child="" cown="" climits=""
for _ in $(seq 1 100); do
	for c in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
		cown=$(owner "$c") && climits=$(grep 'Max core' "/proc/$c/limits") &&
			[ "$(awk '{ print $4 }' "/proc/$c/stat" 2>/dev/null)" = "$pid" ] &&
			child=$c && break 2
	done
	sleep 0.05
done
[ -n "$child" ] || tb_fail "no check process caught"
tb_assert_eq "$cown" root:root "check process $child is not dumpable"
[[ $climits =~ ^Max\ core\ file\ size\ +0\ +0\  ]] || tb_fail "check process: $climits"
tb_pass "check process $child: core file size limit 0"

# 4. The failing backend goes down; the state file is the relative one.
tb_wait_host_state "$B2" D 30 || tb_fail "$B2 not taken down"
grep -qx "down	$B2" state || tb_fail "state file $TB_DIR/state: $(cat state 2>&1)"
tb_pass "$B2 down in the director and in $TB_DIR/state"
tb_unblock "$B2"
tb_wait_host_state "$B2" U 30 || tb_fail "$B2 not brought back"

# 5. HUP re-reads the relative credential file: with a wrong password
# there every login fails (the pool guard then takes none down), with the
# right one they pass again.
# healthy IP: the backend's "healthy" and "reason" from status --json
healthy() {
	ctl --json status | jq -r --arg ip "$1" \
		'.backends[] | select(.address == $ip) | "\(.healthy) \(.reason)"'
}
wait_healthy() {	# IP REGEX
	local h
	for _ in $(seq 1 100); do
		h=$(healthy "$1")
		[[ $h =~ $2 ]] && return 0
		sleep 0.2
	done
	echo "$1: $h" >&2
	return 1
}
write_cred "$TB_USER" "not-$TB_PASS"
kill -HUP "$pid"
wait_healthy "$B1" "^false .*LOGIN" || tb_fail "wrong password in $TB_DIR/cred not used after HUP"
write_cred "$TB_USER" "$TB_PASS"
kill -HUP "$pid"
wait_healthy "$B1" "^true " || tb_fail "right password not used after HUP"
tb_assert_eq "$(tb_host_state "$B1")" U "$B1 stayed up in the director"
tb_pass "HUP re-read $TB_DIR/cred: a wrong password failed the logins, the right one passes"

kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && tb_fail "daemon still running after TERM"
[ ! -e poolmon.pid ] || tb_fail "pidfile left after TERM"
tb_pass "stopped; pidfile removed"
echo "t_files_safety: all passed"
exit 0
