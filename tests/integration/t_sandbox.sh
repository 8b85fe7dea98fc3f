#!/bin/bash
# Check processes do not run as root (issue 12, item 6). While checks run
# against a real Dovecot backend (STARTTLS + login on IMAP, IMAPS, LMTP
# with a recipient, the PTR lookup of --ssl-verify), every check process
# seen in its sandbox has non-root ids (all four Uid fields), no_new_privs
# and a seccomp filter (/proc/PID/status "Seccomp: 2"), and the checks
# still pass: the backend, down by the operator, is brought up.
#
# Then the test hook POOLMON_TEST_FORBIDDEN_SYSCALL=1 (a test hook, not
# for users: every check process makes one forbidden system call right
# after entering its sandbox) makes every check die of SIGSYS. That is
# poolmond's own fault, not the backend's: with --fall=1 the healthy
# backend must stay up in the director's HOST-LIST over several scans,
# and poolmonctl shows its health as "unknown".
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

GOOD=127.0.5.16 SLOW=127.0.5.17 DIR_IP=127.0.5.100

tb_init || tb_fail "tb_init"
tb_backend_start good "$GOOD" || tb_fail "backend good"
tb_director_start "$DIR_IP" "$GOOD $SLOW" || tb_fail "director"
# SLOW's packets are dropped: its check processes wait out the timeout,
# long enough to be sampled well after they entered their sandbox.
tb_block "$SLOW" || tb_fail "tb_block $SLOW"
printf '%s\n%s\n' "$TB_USER" "$TB_PASS" >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" -t 10 --json "$@"; }
OPTS=(-d -i 1 -t 2 --retries 0 --max-down=100 -p 143 -s 993 -p 24
	--lmtp-to="$TB_USER" -c "$TB_DIR/cred" --ssl-ca="$TB_DIR/ca.pem")

# sample_children DAEMON SECS: every check process's status, as fast as
# the shell can, one line "Uid|Gid|NoNewPrivs|Seccomp" per sample.
sample_children() {
	local end=$((SECONDS + $2)) c
	while [ "$SECONDS" -lt "$end" ]; do
		# shellcheck disable=SC2013 # one pid a word
		for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
			awk -F'\t' '
				$1 == "Uid:" { u = $2 " " $3 " " $4 " " $5 }
				$1 == "Gid:" { g = $2 " " $3 " " $4 " " $5 }
				$1 == "NoNewPrivs:" { n = $2 }
				$1 == "Seccomp:" { s = $2 }
				END { if (u != "") print u "|" g "|" n "|" s }
			' "/proc/$c/status" 2>/dev/null
		done
	done
}

# 1. The sandbox holds, and the checks pass in it.
tb_dcmd HOST-DOWN "$GOOD" >/dev/null
pm_start "${OPTS[@]}" --adopt-down
pm_wait_log "started as pid" 10 || tb_fail "poolmond did not start"
DAEMON=$PM_PID
sample_children "$DAEMON" 5 >"$TB_DIR/samples"
# A sample taken between fork and the sandbox shows the daemon's ids and
# no filter yet: only samples with the filter count.
[ -s "$TB_DIR/samples" ] || tb_fail "no check process sampled"
filtered=$(awk -F'|' '$4 == 2' "$TB_DIR/samples" | sort -u)
[ -n "$filtered" ] || tb_fail "no check process with Seccomp 2 in $(sort -u "$TB_DIR/samples")"
while IFS='|' read -r uid gid nnp _; do
	for id in $uid; do
		[ "$id" -ne 0 ] || tb_fail "a check process with a filter has Uid '$uid'"
	done
	for id in $gid; do
		[ "$id" -ne 0 ] || tb_fail "a check process with a filter has Gid '$gid'"
	done
	tb_assert_eq "$nnp" 1 "NoNewPrivs of a sandboxed check process (Uid $uid)"
done <<<"$filtered"
tb_pass "check processes: Seccomp 2, NoNewPrivs 1, Uid/Gid non-zero: $(tr '\n' ' ' <<<"$filtered")"
tb_wait_host_state "$GOOD" U 10 || tb_fail "$GOOD not brought up: sandboxed checks failed"
st=$(ctl status) || tb_fail "poolmonctl status"
tb_assert_eq "$(jq -r --arg ip "$GOOD" '.backends[] | select(.address == $ip) |
	[.health, ([.checks[].ok] | all)] | @tsv' <<<"$st")" "ok	true" \
	"IMAP STARTTLS+login, IMAPS+login and LMTP pass in the sandbox"
pm_stop || tb_fail "poolmond exit"

# An unknown --user is refused at start-up, naming the option.
out=$("$POOLMOND" -f --user=no-such-user-poolmon -p 143 2>&1)
rc=$?
tb_assert_eq "$rc" 1 "--user=no-such-user-poolmon: exit 1"
grep -q -- "^poolmond: --user=no-such-user-poolmon: " <<<"$out" ||
	tb_fail "--user message: $out"
tb_pass "unknown --user refused: $(head -n 1 <<<"$out")"

# 2. A forbidden system call kills the check (SIGSYS); the backend is not
# blamed. Several scans at --fall=1: one failure would take it down. GOOD
# alone in the pool: with two, every backend failing at once would spare
# both (the pool guard) and the test could not fail.
tb_unblock "$SLOW"
tb_dcmd HOST-REMOVE "$SLOW" >/dev/null
tb_host_state "$SLOW" 2>/dev/null && tb_fail "$SLOW still in HOST-LIST"
POOLMON_TEST_FORBIDDEN_SYSCALL=1 pm_start "${OPTS[@]}" --fall=1
pm_wait_log "started as pid" 10 || tb_fail "poolmond did not start"
n=0
for _ in $(seq 1 50); do
	n=$(pm_count_log "scan complete")
	[ "$n" -ge 4 ] && break
	sleep 0.2
done
[ "$n" -ge 4 ] || tb_fail "only $n scans with the test hook"
st=$(ctl status) || tb_fail "poolmonctl status"
reason=$(jq -r --arg ip "$GOOD" '.backends[] | select(.address == $ip) | .reason // ""' <<<"$st")
# The reason names the signal, however worded: its number or its name.
grep -Eq "signal $(kill -l SYS)([^0-9]|$)|SIGSYS|Bad system call" <<<"$reason" ||
	tb_fail "check processes did not die of SIGSYS: reason '$reason'"
tb_pass "with the test hook, check processes die of SIGSYS: '$reason'"
# Its checks' deaths are poolmond's own fault (an unknown result), not
# the backend's: no HOST-DOWN after those scans nor after two more (a
# failure counted against it would send one at once, at --fall=1, and
# nothing would bring it up again).
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD still up in HOST-LIST"
pm_wait_scans 2 10 || tb_fail "no two more scans"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD still up in HOST-LIST two scans later"
tb_assert_eq "$(jq -r --arg ip "$GOOD" '.backends[] | select(.address == $ip) | .health' <<<"$st")" \
	unknown "health of $GOOD while its checks die of SIGSYS"
pm_stop || tb_fail "poolmond exit"
echo "t_sandbox: all passed"
exit 0
