#!/bin/bash
# --source-address: every check connects from the given local address.
# Proven on the director's state: TCP from 127.0.19.50 to one backend is
# dropped. Checks from the kernel's choice of address, or from another
# --source-address, leave that backend up; checks from 127.0.19.50 take it
# (and only it) down, for a timeout. An address this machine does not have
# is refused at start-up, naming the option.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

SRC=127.0.19.50
OTHER=127.0.19.51
# A documentation address (RFC 5737): on no interface here.
NOT_LOCAL=198.51.100.7

tb_init || tb_fail "tb_init"
tb_backend_start b1 127.0.19.1 || tb_fail "backend b1"
tb_backend_start b2 127.0.19.2 || tb_fail "backend b2"
tb_director_start 127.0.19.100 "127.0.19.1-127.0.19.2" || tb_fail "director"
tb_block_from "$SRC" 127.0.19.1 || tb_fail "iptables block from $SRC"

# The block is as narrow as meant: from SRC it hangs, from OTHER it connects.
timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.19.1/143' 2>/dev/null ||
	tb_fail "127.0.19.1:143 unreachable without the block's source"

# Three scans each: -t 1 --retries=0 --fall=1 fails a blocked backend in the
# first, so two more are ample for a check from SRC to have shown.
three_scans_up() {
	pm_wait_json '.scans_completed >= 3' 20 || tb_fail "$1: 3 scans"
	tb_assert_eq "$(tb_host_state 127.0.19.1)" U "$1: 127.0.19.1 stays up"
	tb_assert_eq "$(tb_host_state 127.0.19.2)" U "$1: 127.0.19.2 stays up"
	pm_wait_json '[.backends[] | select(.healthy)] | length == 2' 5 ||
		tb_fail "$1: both healthy in status"
	pm_stop || tb_fail "$1: poolmond did not stop cleanly"
}

pm_start -i 1 -t 1 --retries=0 --fall=1 -p 143 -p 110
three_scans_up "no --source-address"

pm_start -i 1 -t 1 --retries=0 --fall=1 -p 143 -p 110 --source-address="$OTHER"
three_scans_up "--source-address=$OTHER"

pm_start -i 1 -t 1 --retries=0 --fall=1 -p 143 -p 110 --source-address="$SRC"
tb_wait_host_state 127.0.19.1 D 10 ||
	tb_fail "checks from $SRC did not take the blocked backend down"
tb_pass "--source-address=$SRC: 127.0.19.1 down (its checks came from $SRC)"
pm_wait_json '.backends[] | select(.address == "127.0.19.1") |
	.reason | test("connect: timed out")' 5 ||
	tb_fail "reason of 127.0.19.1 is not a connect timeout"
tb_pass "the reason is the dropped connect"
pm_wait_json '.scans_completed >= 3' 20 || tb_fail "3 scans from $SRC"
tb_assert_eq "$(tb_host_state 127.0.19.2)" U "unblocked 127.0.19.2 stays up"

# The block lifted: the same checks bring it back.
tb_unblock_from "$SRC" 127.0.19.1
tb_wait_host_state 127.0.19.1 U 10 || tb_fail "not back up after unblock"
tb_pass "127.0.19.1 up again once $SRC may reach it"
pm_stop || tb_fail "poolmond did not stop cleanly"

# Start-up refuses an address it cannot bind: exit non-zero, the option
# named, and no director command (it never runs).
out=$(timeout 10 "$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" \
	-k "$TB_DIR/refused.pid" -l "$TB_DIR/refused.log" \
	--state-file "$TB_DIR/refused.state" \
	--control-socket "$TB_DIR/refused.sock" -p 143 \
	--source-address="$NOT_LOCAL" 2>&1 </dev/null)
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
	tb_fail "--source-address=$NOT_LOCAL: exit $rc, expected a refusal"
grep -q -- "--source-address $NOT_LOCAL" <<<"$out" ||
	tb_fail "refusal does not name --source-address: $out"
tb_pass "--source-address=$NOT_LOCAL refused at start-up (exit $rc): $out"
[ ! -e "$TB_DIR/refused.sock" ] || tb_fail "refused poolmond opened its socket"
