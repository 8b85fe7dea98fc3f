#!/bin/bash
# Control client slots (issue 12): one uid other than root holds at most
# half of the 32, and root always gets a slot. uid nobody and uid daemon
# each flood the socket (which the operator opened to everyone) with 40
# connections at once: nobody is served 16 and told "too many control
# clients" for the rest, daemon 12 (the last 4 slots stay root's); a third
# uid is refused meanwhile, and root is answered at once.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../hostile/lib.sh"

ABUSE=$TOOLS/ctl-abuse
[ -x "$ABUSE" ] || tb_fail "ctl-abuse not built (make tests)"
command -v setpriv >/dev/null || { echo "setpriv is not installed"; exit 77; }
id daemon >/dev/null 2>&1 && id bin >/dev/null 2>&1 && id nobody >/dev/null 2>&1 ||
	{ echo "users daemon, bin and nobody are needed"; exit 77; }

B1=127.0.12.41
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend"
tb_director_start 127.0.12.140 "$B1" || tb_fail "director"

CTL=$TB_DIR/ctl.sock
hs_pm_start -d -i 2 -t 3 -p 143 || tb_fail "poolmond"
pm_wait_json '.scans_completed >= 1 and .backends_total == 1 and .backends_failed == 0' 15 || tb_fail "first scan"
cp "$ABUSE" "$TB_DIR/ctl-abuse" && chmod 0755 "$TB_DIR/ctl-abuse"
chmod 0666 "$CTL"
# as USER ctl-abuse ARGS...
as() {
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
		"$TB_DIR/ctl-abuse" "$CTL" "$@"
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# Each flood holds its connections 3 s, well inside the 5 s client idle
# timeout, so what is open at its end is what it was given.
# Each flood in turn once its slots are taken (a flood's clients that do
# not get one are closed as soon as they are accepted).
as nobody flood 40 3 >"$TB_DIR/nobody.out" &
NOBODY=$!
pm_wait_ctl_clients 16 3 || tb_fail "uid nobody never held 16 slots"
as daemon flood 40 3 >"$TB_DIR/daemon.out" &
DAEMON=$!
pm_wait_ctl_clients 28 3 || tb_fail "uids nobody and daemon never held 28 slots"
out=$(as bin status)
[[ $out =~ ^status\ code=16\  ]] || tb_fail "uid bin while the others fill their slots: $out"
tb_pass "a third uid is told the slots are taken: $out"
out=$("$ABUSE" "$CTL" status)
[[ $out =~ ^status\ code=0\ backends=1\ ms=([0-9]+)$ ]] || tb_fail "root during the floods: $out"
tb_pass "root is served beside 28 clients of others: $out"
json=$("$POOLMONCTL" -s "$CTL" --json status) || tb_fail "poolmonctl as root during the floods"
tb_assert_eq "$(jq -r .backends_total <<<"$json")" 1 "poolmonctl --json status as root during the floods"
wait "$NOBODY" "$DAEMON"

out=$(cat "$TB_DIR/nobody.out")
[ "$(field "$out" connected)" = 40 ] && [ "$(field "$out" open)" = 16 ] &&
	[ "$(field "$out" refused)" = 24 ] || tb_fail "uid nobody: $out"
tb_pass "uid nobody holds 16 of 32 slots: $out"
out=$(cat "$TB_DIR/daemon.out")
[ "$(field "$out" connected)" = 40 ] && [ "$(field "$out" open)" = 12 ] &&
	[ "$(field "$out" refused)" = 28 ] || tb_fail "uid daemon: $out"
tb_pass "uid daemon gets 12, the last 4 slots stay root's: $out"

# Root itself may use every slot (t_ctl_abuse floods as root).
out=$("$ABUSE" "$CTL" flood 40 2)
[ "$(field "$out" open)" = 32 ] && [ "$(field "$out" refused)" = 8 ] || tb_fail "root flood: $out"
tb_pass "root may hold all 32: $out"
kill -0 "$PM_DAEMON" || tb_fail "poolmond died"
pm_stop || tb_fail "poolmond exit status"
echo "t_ctl_slots: all passed"
exit 0
