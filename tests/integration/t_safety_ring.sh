#!/bin/bash
# Ring-sync gate: with the peer director of a two-director ring stopped,
# the local ring is not synced and HOST-DOWN would hang for 30 s. poolmond
# defers its actions (logged once), keeps scanning without blocking, and
# acts as soon as the ring is synced again.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

ring="director_servers = 127.0.7.101:9090 127.0.7.102:9090"
servers="127.0.7.51-127.0.7.53"
tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.7.5$i" || tb_fail "backend b$i"
done
tb_peer_start p2 127.0.7.102 "$servers" "$ring" || tb_fail "peer director"
tb_director_start 127.0.7.101 "$servers" "$ring" || tb_fail "director"

pm_start -d -i 1 -t 1 --retries=0 -p 143
pm_wait_json '.scans_completed >= 1 and .backends_total == 3 and .backends_failed == 0' 10 ||
	tb_fail "first scan"

tb_peer_stop p2 || tb_fail "stop peer"
for i in $(seq 1 50); do
	tb_ring_synced || break
	sleep 0.2
done
tb_ring_synced && tb_fail "ring still synced without its peer"
tb_pass "ring not synced with the peer stopped"

tb_backend_stop b3 || tb_fail "stop b3"
pm_wait_json '.ring_state == "not_synced" and .ring_synced == false' 10 ||
	tb_fail "status does not show the ring unsynced"
pm_wait_backend 127.0.7.53 '.health == "failed" and .failing_count >= 1' 10 ||
	tb_fail "status: b3 not failed"
pm_wait_log "director ring not synced \(ring sync" 10 || tb_fail "deferral not logged"
scans() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed; }
before=$(scans)
# Two scans within 4 s (-i 1 -t 1), while actions wait for the ring.
pm_wait_json ".scans_completed >= $((before + 2))" 4
after=$(scans)
[ "$after" -ge $((before + 2)) ] || tb_fail "scans stalled while the ring was unsynced ($before -> $after)"
tb_pass "scans go on while actions are deferred ($before -> $after)"
tb_assert_eq "$(tb_host_state 127.0.7.53)" U "dead backend not acted on while unsynced"
tb_assert_eq "$(pm_count_log 'director ring not synced')" 1 "deferral logged once per episode"
grep -q "HOST-DOWN 127.0.7.53" "$(pm_log)" && tb_fail "HOST-DOWN sent to an unsynced ring"
tb_pass "no command sent to the unsynced ring"
tb_assert_eq "$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .ring_synced)" false \
	"status shows the ring as not synced"

tb_peer_start p2 127.0.7.102 "$servers" "$ring" || tb_fail "peer director again"
tb_wait_host_state 127.0.7.53 D 20 || tb_fail "not acted on after the ring synced"
pm_wait_json '.ring_state == "synced"' 2 || tb_fail "status: ring not synced again"
tb_pass "dead backend taken down once the ring synced again"
tb_assert_eq "$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .ring_synced)" true \
	"status shows the ring synced again"
pm_stop || tb_fail "stop"
