#!/bin/bash
# Check processes hold no fleet secret (issue 19 item 9). Two fleet
# monitors share a key (the second in dry-run: it is there so that the
# first has live TLS sessions with a peer); a backend whose TCP is dropped
# keeps each scan's check process waiting for its --timeout (2 s). The
# memory of every check process of monitor 1 is read through
# /proc/PID/mem (tests/tools/memscan) for the derived PSK (HKDF-SHA256 of
# the key file, info "poolmon fleet v1") and for the key file's bytes.
# Asserts: the daemon itself holds the PSK (the positive control: the tool
# finds what is there), at least three check processes were read, and
# neither secret is in any of them.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

MEMSCAN=$(tb_tool memscan)

OK=127.0.23.41 HANG=127.0.23.42 M1=127.0.23.45 M2=127.0.23.46
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$OK" || tb_fail "backend b1"
tb_director_start 127.0.23.40 "$OK $HANG" || tb_fail "director"
KEY=$TB_DIR/fleet.key
(umask 077 && head -c 48 /dev/urandom >"$KEY") || tb_fail "key"
KEYHEX=$(od -An -tx1 -v "$KEY" | tr -d ' \n')
PSK=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$KEYHEX" \
	-kdfopt 'info:poolmon fleet v1' HKDF | tr -d ':\n' | tr A-F a-f)
[ ${#PSK} = 64 ] || tb_fail "openssl kdf gave no PSK: '$PSK'"
# Connects to the hanging backend wait for the --timeout.
tb_block "$HANG" || tb_fail "block $HANG"

fleet=(-d -i 1 -t 2 --retries=0 -p 143 --fleet-key="$KEY")
PM_CTL=$TB_DIR/ctl2.sock
"$POOLMOND" -f -S "$TB_DIR/director/run/director-admin" -k "$TB_DIR/pm2.pid" \
	-l "$TB_DIR/pm2.log" --state-file "$TB_DIR/state2" --control-socket "$PM_CTL" \
	-n --fleet-listen="$M2:9094" --fleet-peer="$M1:9094" "${fleet[@]}" \
	</dev/null >>"$TB_DIR/pm2.out" 2>&1 &
tb_track_pid $!
PM_CTL=""
pm_start --fleet-listen="$M1:9094" --fleet-peer="$M2:9094" "${fleet[@]}"
pm_wait_json ".fleet.peers[0].trusted == true and .scans_completed >= 1" 20 ||
	tb_fail "monitor 1 never trusted its peer"
tb_pass "monitor 1 trusts its peer: TLS sessions with the key"

out=$("$MEMSCAN" "$PM_PID" "$PSK")
tb_assert_eq "$?:$out" "0:found 1" "the daemon holds the PSK (memscan finds what is there)"

# The check processes: children of the daemon that run for the --timeout.
scanned=0 deadline=$(($(_tb_now_ms) + 20000))
declare -A seen=()
while [ "$scanned" -lt 3 ] && [ "$(_tb_now_ms)" -lt "$deadline" ]; do
	for pid in $(pgrep -P "$PM_PID"); do
		[ -n "${seen[$pid]:-}" ] && continue
		out=$("$MEMSCAN" "$pid" "$PSK" "$KEYHEX")
		rc=$?
		# 2: it ended while read; another one comes next scan.
		[ "$rc" = 2 ] && continue
		seen[$pid]=1
		held=""
		[[ $out == *"found 1"* ]] && held+=" the fleet's PSK"
		[[ $out == *"found 2"* ]] && held+="${held:+ and} the key file's bytes"
		[ -z "$held" ] || tb_fail "check process $pid holds$held"
		[ "$rc" = 1 ] || tb_fail "memscan $pid: exit $rc: $out"
		scanned=$((scanned + 1))
		echo "# check process $pid: neither the PSK nor the key"
	done
	sleep 0.2
done
[ "$scanned" -ge 3 ] || tb_fail "only $scanned check processes could be read"
tb_pass "no secret in any of $scanned check processes"
kill -0 "$PM_PID" || tb_fail "poolmond died"
pm_stop || tb_fail "poolmond did not stop cleanly"
