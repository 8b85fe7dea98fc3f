#!/bin/bash
# Pool-wide guard: with 4 backends and --max-down=50, killing 3 leaves
# exactly 2 down and the guard reported; all 4 failing at once takes none
# down (the fault is assumed to be on poolmond's side).
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

tb_init || tb_fail "tb_init"
for i in 1 2 3 4; do
	tb_backend_start "b$i" "127.0.7.6$((i + 3))" || tb_fail "backend b$i"
done
tb_director_start 127.0.7.100 "127.0.7.64-127.0.7.67" || tb_fail "director"

down_count() {
	tb_dcmd HOST-LIST | awk -F'\t' '$5 == "D"' | wc -l
}

pm_start -d -i 1 -t 1 --retries=0 --max-down=50 -p 143
pm_wait_json '.scans_completed >= 1 and .backends_total == 4 and .backends_failed == 0' 10 ||
	tb_fail "first scan"

for i in 1 2 3; do
	tb_backend_stop "b$i" || tb_fail "stop b$i"
done
pm_wait_json '.guard_active == true and .backends_failed == 3 and
    [.backends[] | select(.spared == true) | [.health, .director_state]] ==
    [["failed", "up"]]' 10 ||
	tb_fail "status does not show the guard sparing one failed host"
# Three more scans: the guard holds at each.
pm_wait_scans 3 15 || tb_fail "scans stopped"
tb_assert_eq "$(down_count)" 2 "exactly 2 of 4 down with --max-down=50"
tb_assert_eq "$(tb_host_state 127.0.7.67)" U "the healthy backend stays up"
json=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status) || tb_fail "poolmonctl status"
tb_assert_eq "$(jq .guard_active <<<"$json")" true "status reports the guard as active"
tb_assert_eq "$(jq '[.backends[] | select(.spared == true)] | length' <<<"$json")" 1 \
	"status marks the one spared host"
n=$(pm_count_log "pool guard")
[ "$n" -ge 2 ] || tb_fail "guard logged once only ($n), not per scan"
tb_pass "guard logged at every scan ($n)"
pm_stop || tb_fail "stop"
# The next instance's lines only: "scan complete" must be its own.
mv "$(pm_log)" "$(pm_log).first"

# All four failing at once: none taken down.
tb_director_restart || tb_fail "director restart"
for i in 1 2 3; do
	tb_backend_restart "b$i" || tb_fail "restart b$i"
done
rm -f "$TB_DIR/state"
# Scans only on request (-i 3600 after the first), so that no scan is under
# way while the block goes in: one rule for all four, then the rechecks.
pm_start -d -i 3600 -t 1 --retries=0 --max-down=100 -p 143
pm_wait_json '.scans_completed >= 1 and .backends_total == 4 and .backends_failed == 0' 10 ||
	tb_fail "scan with all healthy"
tb_block 127.0.7.64/30 || tb_fail "block"
for i in 1 2 3; do
	"$POOLMONCTL" -s "$TB_DIR/ctl.sock" recheck >/dev/null
done
n=$(pm_count_log "every backend failed this scan: assuming a fault on poolmond's side")
[ "$n" -ge 3 ] || tb_fail "all-failed logged $n times for 3 rechecks"
tb_pass "every all-failed scan logged ($n)"
tb_assert_eq "$(down_count)" 0 "none taken down when every backend fails"
tb_assert_eq "$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .all_failed)" true \
	"status reports that every backend failed"
pm_stop || tb_fail "stop"
