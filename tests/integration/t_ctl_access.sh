#!/bin/bash
# Who may do what on the control socket, and the socket's life: its
# directory is created 0750 and the socket is 0660, both with the
# --control-group; a peer that is neither root nor in that group (nobody)
# gets status, show and version but is refused recheck, dry-run and reload;
# a member of the group (supplementary or primary) may; a live socket of
# another instance is never taken over, a stale one is, and a path that
# is not a socket is left alone.
. "$(dirname "$0")/../lib/testbed.sh"
: "${POOLMOND:?}" "${POOLMONCTL:?}"

B1=127.0.6.6 DIR_IP=127.0.6.100 GROUP=mail
command -v setpriv >/dev/null || { echo "setpriv is not installed"; exit 77; }
getent group "$GROUP" >/dev/null || { echo "no group $GROUP"; exit 77; }

tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_director_start "$DIR_IP" "$B1" || tb_fail "director"

CTL_DIR=$TB_DIR/ctl CTL=$TB_DIR/ctl/ctl.sock
# A copy every user may run, wherever the build tree is.
install -m 0755 "$POOLMONCTL" "$TB_DIR/poolmonctl"

start_pm() {	# start_pm NAME EXTRA_ARGS...: sets PM
	local name=$1
	shift
	"$POOLMOND" -f -i 3600 -t 2 --retries 0 -p 143 -S "$TB_DIRECTOR_SOCKET" \
		-k "$TB_DIR/$name.pid" -l "$TB_DIR/$name.log" \
		--state-file "$TB_DIR/$name.state" --control-socket "$CTL" \
		--control-group "$GROUP" "$@" </dev/null >>"$TB_DIR/$name.out" 2>&1 &
	PM=$!
	tb_track_pid "$PM"
}
wait_socket() {
	local i
	for i in $(seq 1 50); do
		"$POOLMONCTL" -s "$CTL" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
# as USER_ARGS... -- poolmonctl ARGS...
as() {
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	setpriv "${opts[@]}" "$TB_DIR/poolmonctl" -s "$CTL" "$@"
}

start_pm one
wait_socket || tb_fail "poolmond not listening"
tb_assert_eq "$(stat -c '%a %U %G' "$CTL_DIR")" "750 root $GROUP" "socket directory created 0750, group $GROUP"
tb_assert_eq "$(stat -c '%a %U %G %F' "$CTL")" "660 root $GROUP socket" "socket 0660, group $GROUP"

# nobody cannot even connect through 0750/0660.
out=$(as --reuid=nobody --regid=nogroup --clear-groups -- status 2>&1); rc=$?
tb_assert_eq "$rc" 3 "nobody cannot reach a 0660 socket: exit 3"
grep -qF "$CTL" <<<"$out" || tb_fail "exit 3 without the path: $out"

# The operator opens the socket to everyone: read-only requests only.
chmod o+x "$CTL_DIR"
chmod o+rw "$CTL"
NOBODY=(--reuid=nobody --regid=nogroup --clear-groups --)
as "${NOBODY[@]}" status >"$TB_DIR/st.out" || tb_fail "status as nobody: exit $?"
grep -q "^$B1 " "$TB_DIR/st.out" || tb_fail "status as nobody lacks $B1"
as "${NOBODY[@]}" show "$B1" >/dev/null || tb_fail "show as nobody"
as "${NOBODY[@]}" version >/dev/null || tb_fail "version as nobody"
tb_pass "nobody: status, show and version"
for cmd in "recheck" "recheck $B1" "dry-run on" "reload"; do
	# shellcheck disable=SC2086
	out=$(as "${NOBODY[@]}" $cmd 2>&1); rc=$?
	tb_assert_eq "$rc" 1 "nobody: $cmd refused with exit 1"
	grep -q "permission denied: .* needs root or group $GROUP" <<<"$out" ||
		tb_fail "nobody: $cmd: $out"
done
tb_assert_eq "$("$POOLMONCTL" -s "$CTL" --json status | jq -r .dry_run)" false "refused dry-run changed nothing"
grep -q "control: recheck refused to uid 65534" "$TB_DIR/one.log" || tb_fail "no refusal in the log"

# Members of the control group may.
tb_assert_eq "$(as --reuid=nobody --regid=nogroup --groups="$GROUP" -- dry-run on)" \
	"dry-run on (was off)" "supplementary member of $GROUP: dry-run on"
tb_assert_eq "$(as --reuid=nobody --regid="$GROUP" --clear-groups -- dry-run off)" \
	"dry-run off (was on)" "primary member of $GROUP: dry-run off"
as --reuid=nobody --regid=nogroup --groups="$GROUP" -- recheck "$B1" >/dev/null ||
	tb_fail "member of $GROUP: recheck"
tb_pass "control group members may change things"

# A second instance (its own pidfile) must not take over a live socket.
PM1=$PM
start_pm two
wait "$PM"
tb_assert_eq "$?" 1 "second instance on a live socket: exit 1"
grep -q "control socket $CTL is in use" "$TB_DIR/two.out" || tb_fail "second instance: $(cat "$TB_DIR/two.out")"
"$POOLMONCTL" -s "$CTL" version | grep -q "pid $PM1\$" || tb_fail "first instance lost its socket"
tb_pass "a live socket is never unlinked"

# A crashed instance leaves a stale socket: the next one replaces it.
kill -KILL "$PM1"
wait "$PM1" 2>/dev/null
[ -S "$CTL" ] || tb_fail "SIGKILL removed the socket?"
start_pm three
wait_socket || tb_fail "no instance on the stale socket: $(cat "$TB_DIR/three.out")"
"$POOLMONCTL" -s "$CTL" version | grep -q "pid $PM\$" || tb_fail "stale socket not replaced"
grep -q "removed stale control socket $CTL" "$TB_DIR/three.log" || tb_fail "no stale-socket line"
tb_assert_eq "$(stat -c '%a %G' "$CTL")" "660 $GROUP" "new socket 0660 again"
kill -TERM "$PM"
wait "$PM"
tb_assert_eq "$?" 0 "third instance exit"
tb_pass "a stale socket is replaced"

# Not a socket: refused, left alone.
echo keep >"$TB_DIR/plain"
"$POOLMOND" -f -i 3600 -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/four.pid" \
	-l "$TB_DIR/four.log" --state-file "$TB_DIR/four.state" \
	--control-socket "$TB_DIR/plain" </dev/null >"$TB_DIR/four.out" 2>&1
tb_assert_eq "$?" 1 "a regular file at the socket path: exit 1"
grep -q "exists and is not a socket" "$TB_DIR/four.out" || tb_fail "plain file: $(cat "$TB_DIR/four.out")"
tb_assert_eq "$(cat "$TB_DIR/plain")" keep "the file is left alone"
"$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/five.pid" \
	-l "$TB_DIR/five.log" --control-group no-such-group-here \
	--control-socket "$TB_DIR/five.sock" </dev/null >"$TB_DIR/five.out" 2>&1
tb_assert_eq "$?" 1 "unknown --control-group: exit 1"
grep -q "no such group" "$TB_DIR/five.out" || tb_fail "unknown group: $(cat "$TB_DIR/five.out")"
tb_pass "bad socket path and group refused at start"
echo "t_ctl_access: all passed"
exit 0
