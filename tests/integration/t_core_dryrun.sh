#!/bin/bash
# --dry-run logs what it would do and changes nothing in the director.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
tb_backend_start b1 127.0.7.11 || tb_fail "backend b1"
tb_backend_start b2 127.0.7.12 || tb_fail "backend b2"
tb_director_start 127.0.7.100 "127.0.7.11-127.0.7.12" || tb_fail "director"

# One host the director has down although it is healthy: dry-run must not
# bring it up either.
tb_dcmd HOST-DOWN 127.0.7.12 >/dev/null || tb_fail "HOST-DOWN by the test"
tb_backend_stop b1 || tb_fail "stop b1"

pm_start -n -d -i 1 -t 1 --retries=0 --max-down=100 --adopt-down -p 143
pm_wait_log "dry-run: would mark 127.0.7.11 down: IMAP:143 connect: Connection refused" 10 ||
	tb_fail "no dry-run down line"
pm_wait_log "dry-run: would mark 127.0.7.12 up" 10 || tb_fail "no dry-run up line"
pm_wait_json '.dry_run == true' 5 || tb_fail "status does not say dry-run"
pm_wait_backend 127.0.7.11 '.health == "failed"' 5 || tb_fail "status: b1 not failed"
pm_wait_backend 127.0.7.12 '.health == "ok" and .director_state == "down"' 5 ||
	tb_fail "status: b2 not healthy and down"
# Give it a few more scans to misbehave.
scans=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((scans + 3))" 10 || tb_fail "scans stopped"
tb_assert_eq "$(tb_host_state 127.0.7.11)" U "dead host left up in dry-run"
tb_assert_eq "$(tb_host_state 127.0.7.12)" D "healthy down host left down in dry-run"
n=$(tb_dcmd HOST-LIST | awk -F'\t' '$1 == "127.0.7.11" { print $2 }')
tb_assert_eq "$n" 100 "vhost count untouched"
pm_stop || tb_fail "stop"
