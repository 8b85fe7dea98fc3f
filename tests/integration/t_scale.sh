#!/bin/bash
# Many backends at once: 300 hosts answered by one listen=* Dovecot, five
# ports with logins, TLS verification and an LMTP transaction, --max-children
# smaller than the pool. Every scan must see every backend healthy: a
# report lost between a check process's exit and the daemon reading it
# (a race once seen here) would fail a healthy backend.
# runs heavy
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

n=300
tb_init || tb_fail "tb_init"
tb_pool_start || tb_fail "pool backend"
tb_director_start 127.0.11.1 "$(tb_pool_addresses $n | tr '\n' ' ')" || tb_fail "director"
printf 'testuser\ntestpass\n' >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"

pm_start -d -i 3600 -t 10 --max-children=64 -c "$TB_DIR/cred" \
	-p IMAP:10143 -p POP3:10110 -p LMTP:10024 -s IMAP:10993 -s POP3:10995 \
	--lmtp-to=testuser --ssl-ca "$TB_DIR/ca.pem" --ssl-name backend.test
pm_wait_log "scan complete: $n backends, 0 failed" 120 || tb_fail "first scan not all healthy"
ctl=$TB_DIR/ctl.sock
for i in 1 2; do
	"$POOLMONCTL" -s "$ctl" recheck >/dev/null || tb_fail "recheck $i"
done
tb_assert_eq "$(pm_count_log "scan complete: $n backends, 0 failed")" 3 \
	"three scans of $n backends, none failed"
tb_assert_eq "$(pm_count_log 'without a result|killed at its deadline')" 0 \
	"no check result lost"
tb_assert_eq "$(tb_dcmd HOST-LIST | awk -F'\t' '$5 == "U"' | wc -l)" "$n" "all $n up"
forked=$("$POOLMONCTL" -s "$ctl" --json status | jq .children_forked)
tb_assert_eq "$forked" $((3 * n)) "one check process per backend per scan"
pm_stop || tb_fail "stop"
