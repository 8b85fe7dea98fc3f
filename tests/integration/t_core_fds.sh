#!/bin/bash
# Inherited descriptors (issue 19 item 10): poolmond started with a
# descriptor above stderr that holds a flock(2) lock (as a test harness's
# lock once did, for 17 minutes) closes it at start. Asserts, against a
# real director, while poolmond runs and scans: none of its descriptors
# above 2 points at the lock file, and `flock -n` on the file succeeds
# (nobody holds the lock any more) once the shell that started it has
# closed its own copy.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
command -v flock >/dev/null || { echo "flock is not installed"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

B1=127.0.23.11
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
tb_director_start 127.0.23.10 "$B1" || tb_fail "director"
LOCK=$TB_DIR/lock

# The lock is taken on descriptor 9, poolmond inherits it, then this shell
# closes its copy: only poolmond's copy can hold the lock after that.
exec 9>"$LOCK" || tb_fail "open $LOCK"
flock -n 9 || tb_fail "flock $LOCK"
pm_start -d -i 1 -t 1 --retries=0 -p 143
exec 9>&-
pm_wait_json '.scans_completed >= 2' 15 || tb_fail "poolmond never scanned"
kill -0 "$PM_PID" || tb_fail "poolmond died"

held=""
for fd in /proc/"$PM_PID"/fd/*; do
	n=${fd##*/}
	[ "$n" -gt 2 ] || continue
	[ "$(readlink "$fd")" = "$LOCK" ] && held+=" $n"
done
tb_assert_eq "${held:-none}" none "poolmond holds no descriptor of the lock file"
flock -n "$LOCK" true || tb_fail "the lock is still held while poolmond runs"
tb_pass "the lock is free while poolmond runs"
kill -0 "$PM_PID" || tb_fail "poolmond died"
pm_stop || tb_fail "poolmond did not stop cleanly"
