#!/bin/bash
# Hysteresis: with --fall=3 a backend that fails now and then never goes
# down; one that keeps failing goes down after its third failed scan; with
# --rise=2 it comes back after two healthy scans.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.7.8$i" || tb_fail "backend b$i"
done
tb_director_start 127.0.7.100 "127.0.7.81-127.0.7.83" || tb_fail "director"
ip=127.0.7.83
fails() { pm_count_log "debug: $ip IMAP:143 connect: timed out"; }

pm_start -d -i 1 -t 1 --retries=0 --fall=3 --rise=2 -p 143
pm_wait_log "scan complete: 3 backends, 0 failed" 10 || tb_fail "first scan"

# Three short outages, each seen by at most two scans in a row.
for round in 1 2 3; do
	n=$(fails)
	tb_block "$ip" || tb_fail "block"
	for i in $(seq 1 50); do
		[ "$(fails)" -gt "$n" ] && break
		sleep 0.1
	done
	tb_unblock "$ip"
	[ "$(fails)" -gt "$n" ] || tb_fail "outage $round not seen by a scan"
	ok=$(pm_count_log "debug: $ip IMAP:143 ok")
	for i in $(seq 1 50); do
		[ "$(pm_count_log "debug: $ip IMAP:143 ok")" -gt "$ok" ] && break
		sleep 0.1
	done
done
tb_assert_eq "$(tb_host_state "$ip")" U "intermittent failures below --fall=3 never take it down"
grep -q "$ip down" "$(pm_log)" && tb_fail "taken down by short outages"

# A lasting failure: down only after the third failed scan in a row.
n=$(fails)
tb_block "$ip" || tb_fail "block"
tb_wait_host_state "$ip" D 10 || tb_fail "lasting failure not taken down"
seen=$(( $(fails) - n ))
[ "$seen" -ge 3 ] || tb_fail "down after $seen failed scans, expected 3"
tb_pass "down after $seen failed scans (--fall=3)"

# Recovery: up only after two healthy scans.
ok=$(pm_count_log "debug: $ip IMAP:143 ok")
tb_unblock "$ip"
tb_wait_host_state "$ip" U 10 || tb_fail "not back up"
seen=$(( $(pm_count_log "debug: $ip IMAP:143 ok") - ok ))
[ "$seen" -ge 2 ] || tb_fail "up after $seen healthy scans, expected 2"
tb_pass "up after $seen healthy scans (--rise=2)"
pm_stop || tb_fail "stop"
