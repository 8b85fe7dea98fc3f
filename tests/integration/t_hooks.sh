#!/bin/bash
# Change hooks (--on-change): after every action poolmond runs the program,
# without a shell, with the event in its environment, as the unprivileged
# check user. A backend stopped: the hook sees "down" (and "flush") for it
# with the reason; its output is logged. A hook that fails (exit 3) or
# hangs (killed at --timeout, what it started too) changes nothing: the
# director still gets HOST-FLUSH and HOST-UP. A hold is an event too.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

B1=127.0.16.1 B2=127.0.16.2 B3=127.0.16.3 DIR_IP=127.0.16.100
tb_init || tb_fail "tb_init"
# The hook runs as the check user: its files where that user can reach.
HOOKDIR=$(mktemp -d /tmp/poolmon-hook.XXXXXX)
# (The test's exit status passed on: a failed test keeps its logs.)
trap 'rc=$?; rm -rf "$HOOKDIR"; (exit "$rc"); tb_cleanup' EXIT
chmod 755 "$HOOKDIR"
mkdir -m 1777 "$HOOKDIR/out"
cat >"$HOOKDIR/hook" <<HOOK
#!/bin/sh
f=$HOOKDIR/out/\$(date +%s%N).\$\$
{
	echo "event=\$POOLMON_EVENT"
	echo "host=\$POOLMON_HOST"
	echo "tag=\$POOLMON_TAG"
	echo "reason=\$POOLMON_REASON"
	echo "dry=\$POOLMON_DRY_RUN"
	echo "uid=\$(id -u)"
	echo "path=\$PATH"
	echo "secret=\${POOLMON_TEST_SECRET:-}"
} >"\$f.tmp" && mv "\$f.tmp" "\$f"
echo "hook saw \$POOLMON_EVENT \$POOLMON_HOST"
case \$POOLMON_EVENT in
flush) exit 3 ;;
up) sleep 300.$$ ;;
esac
exit 0
HOOK
chmod 755 "$HOOKDIR/hook"

for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.16.$i" || tb_fail "backend b$i"
done
tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "director"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }
# event_file EVENT HOST: the newest record of that event for that host
# (whole records only: a .tmp is one being written, renamed when done)
event_file() {
	grep -l -x --exclude='*.tmp' "event=$1" "$HOOKDIR"/out/* 2>/dev/null |
		xargs -r grep -l -x "host=$2" 2>/dev/null | tail -n 1
}
wait_event() {
	for _ in $(seq 1 50); do [ -n "$(event_file "$1" "$2")" ] && return 0; sleep 0.2; done
	echo "no $1 event for $2; events: $(cat "$HOOKDIR"/out/* 2>/dev/null | tr '\n' ' ')" >&2
	return 1
}

# Refused at start when the program cannot be run.
out=$("$POOLMOND" -f --on-change="$HOOKDIR/nonexistent" -S "$TB_DIRECTOR_SOCKET" 2>&1)
[ $? -eq 1 ] && [[ $out == *"--on-change"* ]] || tb_fail "a missing hook program: $out"
tb_pass "a missing hook program is refused at start, naming the option"

POOLMON_TEST_SECRET=leak pm_start -d -i 1 -t 2 --retries 0 -p 143 -p 110 \
	--on-change="$HOOKDIR/hook"
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 0' 15 || tb_fail "first scan"
[ -z "$(ls "$HOOKDIR/out")" ] || tb_fail "hooks ran without an action: $(ls "$HOOKDIR/out")"

tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state "$B2" D 10 || tb_fail "$B2 not taken down"
wait_event down "$B2" || tb_fail "no down event"
f=$(event_file down "$B2")
grep -q -x "dry=0" "$f" || tb_fail "down event: $(cat "$f")"
# The failure reason, as logged with HOST-DOWN (the port and the step).
grep -q "^reason=IMAP:143 [a-z]*: " "$f" || tb_fail "down event reason: $(cat "$f")"
uid=$(sed -n 's/^uid=//p' "$f")
[ -n "$uid" ] && [ "$uid" != 0 ] || tb_fail "the hook ran as uid '$uid'"
grep -q -x "secret=" "$f" || tb_fail "the daemon's environment leaked into the hook: $(cat "$f")"
tb_pass "down event for $B2 with its reason, as uid $uid, a clean environment"
# The flush hook exits 3: logged, and the flush was done all the same.
wait_event flush "$B2" || tb_fail "no flush event"
pm_wait_log "hook flush $B2: exit status 3" 10 || tb_fail "a failing hook not logged"
pm_wait_log "hook down $B2: hook saw down $B2" 5 || tb_fail "hook output not logged"
tb_pass "a failing hook is logged; its output too"

# The up hook hangs: killed at the timeout with what it started; HOST-UP
# went through regardless.
tb_backend_restart b2 || tb_fail "restart b2"
tb_wait_host_state "$B2" U 10 || tb_fail "$B2 not brought up"
wait_event up "$B2" || tb_fail "no up event"
pm_wait_log "hook up $B2: killed after 2000 ms" 10 || tb_fail "a hanging hook not killed"
# 300.PID: this run's, not another run's hook on the machine. Killed with
# the hook, it is gone once the kernel has torn it down.
for _ in $(seq 1 50); do
	pgrep -f "^sleep 300\.$$\$" >/dev/null || break
	sleep 0.1
done
pgrep -f "^sleep 300\.$$\$" >/dev/null && tb_fail "the hanging hook's sleep survived it"
tb_pass "a hanging hook is killed at --timeout, with what it started"

# A hold is an event, with its reason.
ctl hold "$B3" --reason "disk swap" >/dev/null || tb_fail "hold"
wait_event hold "$B3" || tb_fail "no hold event"
grep -q -x "reason=disk swap" "$(event_file hold "$B3")" || tb_fail "hold reason: $(cat "$(event_file hold "$B3")")"
ctl release "$B3" >/dev/null || tb_fail "release"
wait_event release "$B3" || tb_fail "no release event"
tb_pass "hold and release are events"
tb_assert_eq "$(tb_host_state "$B1")" U "$B1 untouched"
pm_stop || tb_fail "poolmond exit status"
echo "t_hooks: all passed"
exit 0
