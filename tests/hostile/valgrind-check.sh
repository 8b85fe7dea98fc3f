#!/bin/bash
# make valgrind-check: poolmond under valgrind's memcheck against a real
# director for a dozen scans, every code path of a normal life exercised:
# IMAP, POP3 and IMAPS checks with a login, a hostile backend (a 10 MB
# banner), a dead one, HOST-DOWN/HOST-FLUSH/HOST-UP, every poolmonctl
# request, SIGHUP, then SIGTERM; and a fleet: a peer monitor it agrees
# with, and one with a wrong key that it refuses. Fails on any invalid access or use of
# uninitialised memory (in the daemon or in a check process - forked
# children run under valgrind too), on a definite leak, or on a descriptor
# the daemon leaves open at exit. Needs root (real Dovecot instances);
# takes about a minute. Not part of make check: run it on its own.
#
#   BUILD=build POOLMOND=... POOLMONCTL=... TOOLS=... valgrind-check.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in
*san*) echo "valgrind-check: a sanitizer build cannot run under valgrind; use make valgrind-check without SANITIZE" >&2; exit 1 ;;
esac
export POOLMOND=${POOLMOND:-$PWD/$BUILD/poolmond}
export POOLMONCTL=${POOLMONCTL:-$PWD/$BUILD/poolmonctl}
export TOOLS=${TOOLS:-$PWD/$BUILD/tests}
[ "$(id -u)" = 0 ] || { echo "valgrind-check: needs root (it starts Dovecot instances)" >&2; exit 1; }
# As make does for the other packages it needs: say so, then install.
if ! command -v valgrind >/dev/null && command -v apt-get >/dev/null; then
	echo "valgrind-check: installing the Debian package valgrind"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null; }
fi
command -v valgrind >/dev/null || { echo "valgrind-check: valgrind is not installed" >&2; exit 1; }
# Its 127.x addresses in a network namespace of its own, as make check's
# tests have (tests/run.sh); the install above needed the machine's.
if [ -z "${VG_NETNS:-}" ] &&
	unshare -n sh -c 'ip link set lo up && ip addr add 192.0.2.1/32 dev lo' 2>/dev/null; then
	exec env VG_NETNS=1 unshare -n sh -c \
		'ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec "$@"' isolate \
		bash "$PWD/tests/hostile/valgrind-check.sh" "$@"
fi
. tests/lib/testbed.sh
. tests/lib/poolmon.sh
. tests/hostile/lib.sh

B1=127.0.8.1 HOSTILE=127.0.8.2 DEAD=127.0.8.3 B4=127.0.8.4 DIR_IP=127.0.8.100
tb_init || tb_fail "tb_init"
tb_backend_start b1 "$B1" || tb_fail "backend b1"
# Stays healthy: with b1 down too, not every backend has failed.
tb_backend_start b4 "$B4" || tb_fail "backend b4"
hs_server "$HOSTILE" 143 'send:* OK ' bulk:10485760:x || tb_fail "hostile"
hs_server "$HOSTILE" 110 'line:+OK hi' 'expect:CAPA' 'line:-ERR no' 'expect:USER' \
	'line:+OK' 'expect:PASS' 'line:-ERR \xff\0bad' hang || tb_fail "hostile"
hs_server "$HOSTILE" 993 recv 'bulk:1048576:\x16\x03\x03\x40\x00' || tb_fail "hostile"
tb_director_start "$DIR_IP" "$B1-$B4" || tb_fail "director"
printf '%s\n%s\n' "$TB_USER" "$TB_PASS" >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"
# The fleet: this daemon, a peer beside the same director, and a monitor
# whose key is not the fleet's.
PEER_IP=127.0.8.101 STRANGER_IP=127.0.8.102
head -c 48 /dev/urandom >"$TB_DIR/fleet.key"
head -c 48 /dev/urandom >"$TB_DIR/wrong.key"
chmod 600 "$TB_DIR/fleet.key" "$TB_DIR/wrong.key"
CHECKS=(-i 1 -t 5 --retries 1 --retry-delay 100 --max-down=100
	-p 143 -p 110 -s 993 -v 0 -c "$TB_DIR/cred")
fleet_monitor() {
	local name=$1 ip=$2 key=$3
	"$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/$name.pid" \
		-l "$TB_DIR/$name.log" --state-file "$TB_DIR/$name.state" \
		--control-socket "$TB_DIR/$name.sock" "${CHECKS[@]}" \
		--fleet-listen="$ip" --fleet-peer="$DIR_IP" --fleet-key="$key" \
		</dev/null >>"$TB_DIR/$name.out" 2>&1 &
	tb_track_pid $!
}
fleet_monitor peer "$PEER_IP" "$TB_DIR/fleet.key"
PEER_PID=$!
fleet_monitor stranger "$STRANGER_IP" "$TB_DIR/wrong.key"

VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite --show-leak-kinds=definite
	--track-origins=yes --track-fds=yes --num-callers=30
	--suppressions=tests/hostile/valgrind.supp
	--log-file="$TB_DIR/vg/vg.%p.log")
# The check processes are forked by the spawn server, which runs as the
# check user: valgrind opens each one's log as that user.
chmod 711 "$TB_DIR"
mkdir -m 1777 "$TB_DIR/vg"
"${VG[@]}" "$POOLMOND" -f -d -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/poolmond.pid" \
	-l "$(pm_log)" --state-file "$TB_DIR/state" --control-socket "$TB_DIR/ctl.sock" \
	"${CHECKS[@]}" --metrics-listen="$DIR_IP:9095" \
	--fleet-listen="$DIR_IP" --fleet-peer="$PEER_IP" --fleet-peer="$STRANGER_IP" \
	--fleet-key="$TB_DIR/fleet.key" \
	</dev/null >>"$TB_DIR/poolmond.out" 2>&1 &
PM_PID=$!
tb_track_pid "$PM_PID"
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" -t 60 "$@"; }

pm_wait_log "scan complete: 4 backends, 2 failed" 60 || tb_fail "no scan under valgrind"
tb_wait_host_state "$DEAD" D 20 || tb_fail "$DEAD not taken down"
tb_wait_host_state "$HOSTILE" D 20 || tb_fail "$HOSTILE not taken down"
ctl status >/dev/null && ctl --json status >/dev/null && ctl show "$B1" >/dev/null &&
	ctl version >/dev/null && ctl dry-run on >/dev/null && ctl dry-run off >/dev/null &&
	ctl reload >/dev/null && ctl recheck >/dev/null && ctl recheck "$B1" 10.9.9.9 >/dev/null
[ $? -le 1 ] || tb_fail "poolmonctl under valgrind"
# Metrics over HTTP (one connection left open at exit) and the socket.
curl -sf -m 60 "http://$DIR_IP:9095/metrics" >/dev/null &&
	curl -s -m 60 -X POST -d x "http://$DIR_IP:9095/metrics" >/dev/null &&
	curl -s -m 60 "http://$DIR_IP:9095/x" >/dev/null && ctl metrics >/dev/null ||
	tb_fail "metrics under valgrind"
exec {idle_fd}<>"/dev/tcp/$DIR_IP/9095"
"$TOOLS/ctl-raw" "$TB_DIR/ctl.sock" garbage >/dev/null
"$TOOLS/ctl-raw" "$TB_DIR/ctl.sock" truncated >/dev/null
kill -HUP "$PM_PID"
# Down and up again: HOST-DOWN, HOST-FLUSH, HOST-UP.
tb_backend_stop b1 || tb_fail "stop b1"
tb_wait_host_state "$B1" D 30 || tb_fail "$B1 not taken down"
tb_backend_restart b1 2>/dev/null || tb_backend_start b1 "$B1" || tb_fail "start b1"
tb_wait_host_state "$B1" U 30 || tb_fail "$B1 not brought up"
# The fleet as status shows it: the peer trusted, the stranger not.
ctl --json status | jq -e --arg p "$PEER_IP:9094" --arg s "$STRANGER_IP:9094" \
	'(.fleet.peers[] | select(.address == $p) | .trusted) and
	 (.fleet.peers[] | select(.address == $s) | .trusted | not)' >/dev/null ||
	tb_fail "fleet status under valgrind: $(ctl --json status | jq -c .fleet)"
curl -sf -m 60 "http://$DIR_IP:9095/metrics" | grep -qx "poolmon_fleet_peers_trusted 1" ||
	tb_fail "fleet metrics under valgrind"
grep -q "refused $STRANGER_IP: authentication failed" "$(pm_log)" ||
	tb_fail "the stranger was not refused"
# A hold, kept by the peer too, and released.
ctl hold "$B4" >/dev/null || tb_fail "hold under valgrind"
for i in $(seq 1 100); do
	"$POOLMONCTL" -s "$TB_DIR/peer.sock" --json status |
		jq -e --arg h "$B4" '.backends[] | select(.address == $h) | .owner == "hold"' >/dev/null && break
	sleep 0.2
done
ctl release "$B4" >/dev/null || tb_fail "release under valgrind"
tb_wait_host_state "$B4" U 30 || tb_fail "$B4 not brought up after its release"
n=$(pm_count_log "scan complete")
hs_wait_count "scan complete" $((n + 2)) 30 || tb_fail "scans stopped"

vglog=$TB_DIR/vg/vg.$PM_PID.log
pm_stop 60
rc=$?
[ -s "$vglog" ] || tb_fail "no valgrind log for the daemon"

# The daemon: no error, no definite leak, only the standard descriptors.
fail=0
if [ "$rc" -ne 0 ]; then
	echo "poolmond under valgrind exited $rc"
	fail=1
fi
grep -q "ERROR SUMMARY: 0 errors" "$vglog" || fail=1
# Descriptors open at exit that poolmond opened itself (not inherited).
open=$(awk '/^==[0-9]+== Open (file|AF_UNIX socket|AF_INET socket|pipe|socket)/ { fd = $0; next }
	fd != "" { if ($0 !~ /inherited from parent/) print fd; fd = "" }' "$vglog" |
	grep -v "descriptor [012]:" || true)
if [ -n "$open" ]; then
	echo "descriptors left open at exit:"
	echo "$open"
	fail=1
fi
# The check processes: no error in any of them. Those the daemon killed
# at TERM wrote no summary; they must not have reported an error either.
children=0 killed=0
for f in "$TB_DIR"/vg/vg.*.log; do
	[ "$f" = "$vglog" ] && continue
	if grep -q "ERROR SUMMARY:" "$f"; then
		children=$((children + 1))
		grep -q "ERROR SUMMARY: 0 errors" "$f" && continue
	else
		killed=$((killed + 1))
		grep -Eq "== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination|Process terminating)" "$f" ||
			continue
	fi
	echo "check process $(basename "$f"):"
	head -n 80 "$f"
	fail=1
done
[ "$children" -ge 20 ] || { echo "only $children check processes ran under valgrind"; fail=1; }
grep -E "definitely lost|ERROR SUMMARY|in use at exit|FILE DESCRIPTORS" "$vglog" | sed 's/^==[0-9]*== //'
if [ "$fail" -ne 0 ]; then
	cat "$vglog"
	tb_fail "valgrind found problems (logs above)"
fi
tb_pass "poolmond under valgrind: $(pm_count_log "scan complete") scans, $children check processes (and $killed killed at TERM), no error, no definite leak, no descriptor left open"
echo "valgrind-check: all passed"
exit 0
