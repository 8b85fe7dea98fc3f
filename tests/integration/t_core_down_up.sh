#!/bin/bash
# A backend whose service stops is taken down (within 5 s with -i 2 -t 2)
# and flushed: a user mapped to it is re-routed to a live backend. When it
# comes back it is brought up again. Asserted on the director's own state
# and on poolmonctl's.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.7.$i" || tb_fail "backend b$i"
done
tb_director_start 127.0.7.100 "127.0.7.1-127.0.7.3" || tb_fail "director"

pm_start -i 2 -t 2 -p 143 -p 110 -p 24 -d
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 0' 15 ||
	tb_fail "first scan"
for i in 1 2 3; do
	tb_assert_eq "$(tb_host_state "127.0.7.$i")" U "127.0.7.$i up after a healthy scan"
done

# Map a user, then kill the backend it is mapped to.
tb_user_login user1 testpass || tb_fail "login through the director"
victim=$(tb_user_backend user1)
[ -n "$victim" ] || tb_fail "user1 has no mapping after login"
name=b${victim##*.}
tb_pass "user1 mapped to $victim"

t0=$(date +%s%N)
tb_backend_stop "$name" || tb_fail "stop $name"
tb_wait_host_state "$victim" D 5 || tb_fail "$victim not down within 5 s"
t1=$(date +%s%N)
tb_pass "$victim down $(( (t1 - t0) / 1000000 )) ms after its service stopped"

# HOST-FLUSH follows HOST-DOWN: the mapping to the dead host is gone, and a
# new login lands on a live backend.
for i in $(seq 1 25); do
	[ "$(tb_user_backend user1)" != "$victim" ] && break
	sleep 0.2
done
now=$(tb_user_backend user1)
[ "$now" != "$victim" ] || tb_fail "user1 still mapped to dead $victim"
pm_wait_backend "$victim" '.flush_pending == false' 5 || tb_fail "flush still pending"
tb_user_login user1 testpass || tb_fail "re-login through the director"
now=$(tb_user_backend user1)
[ -n "$now" ] && [ "$now" != "$victim" ] || tb_fail "user1 re-routed to '$now'"
tb_pass "user1 re-routed from $victim to $now"

pm_wait_backend "$victim" '.health == "failed" and .owner == "poolmond" and
    (.reason | test("^(POP3:110|IMAP:143|LMTP:24) connect: Connection refused")) and
    ([.checks[] | select(.ok == false) | .tries] | length > 0 and all(. == 4))' 5 ||
	tb_fail "status lacks the failure, its reason or its tries"
tb_pass "status names port, step and tries of the failure"

# The others stayed up throughout.
for i in 1 2 3; do
	[ "127.0.7.$i" = "$victim" ] && continue
	tb_assert_eq "$(tb_host_state "127.0.7.$i")" U "127.0.7.$i still up"
done

tb_backend_restart "$name" || tb_fail "restart $name"
tb_wait_host_state "$victim" U 8 || tb_fail "$victim not back up"
pm_wait_backend "$victim" '.health == "ok" and .owner == null and
    ([.checks[] | select(.ok == true)] | length == 3)' 5 ||
	tb_fail "status: $victim not healthy and poolmond's no more"
tb_pass "$victim up again after restart"

pm_stop || tb_fail "poolmond did not exit 0 on TERM"
[ ! -e "$TB_DIR/poolmond.pid" ] || tb_fail "pidfile left behind"
tb_pass "clean stop"
