# shellcheck shell=bash
# tests/lib/fleet.sh - a fleet of poolmonds on a real three-director ring
# for the fleet's integration tests (issue 15). Source after testbed.sh and
# poolmon.sh, then call fl_ring (which calls tb_init):
#
#   fl_ring NET BACKENDS   three directors 127.0.20.<NET+1..3> in one ring,
#                        BACKENDS backends 127.0.21.<NET+1..>; sets
#                        FL_DIR_IP[1..3], FL_BACKEND[1..], FL_KEY (a key
#                        file, 48 random bytes, mode 0600)
#   fl_key FILE          write another key file
#   fl_start I [ARGS...] poolmond I beside director I: --fleet-listen and
#                        --source-address on the director's address, its
#                        own log, state file, control socket and lockfile;
#                        --fleet-peer=ring and --fleet-key=$FL_KEY unless
#                        ARGS give --fleet-peer/--fleet-key; then $FL_ARGS
#                        and ARGS
#   fl_kill I [SIGNAL]   signal poolmond I (TERM) and wait until it is gone;
#                        fails if it does not go, if SIGTERM does not make
#                        it exit 0, or if its stderr has a sanitizer report
#   fl_ctl I ARGS...     poolmonctl on monitor I's control socket
#   fl_json I            its `poolmonctl --json status` (fails if empty)
#   fl_wait_json I FILTER SECS   until its status satisfies jq -e FILTER
#   fl_wait_more_scans N SECS I...   until each monitor I has completed N
#                        more scans than when called (counted for all
#                        first, so the monitors' scans overlap the wait)
#   fl_wait_trusted I... SECS    until each monitor I trusts every one of the
#                        others given, and has heard from each
#   fl_wait_actor IP SECS   until monitors 1-3 name the same actor for IP;
#                        prints its I
#   fl_addr I            monitor I's fleet address "ADDR:9094"
#   fl_index ADDR:PORT   the I of a monitor's fleet address
#   fl_log I             monitor I's log file (restarts append to it)
#   fl_count I|all REGEX lines of monitor I's log (or all three) matching
#   fl_wait_count I|all REGEX N SECS   until fl_count is at least N
#   fl_down_re IP / fl_up_re IP   the actor's "<ip> down: ..." / "<ip> up:"
#                        log line (the others log other words)
#   fl_dir_state I IP    U or D on director I (its own admin socket)
#   fl_dir_changes IP down|up [I...]   how many directors (of I..., else all) logged a change of IP
#                        made through their own admin socket (a command a
#                        monitor sent; changes arriving over the ring are
#                        not logged that way)
#   fl_states IP         "S1 S2 S3": the host's state on every director
#   fl_wait_states IP "S1 S2 S3" SECS
#   fl_block SRC DST / fl_unblock SRC DST   drop TCP from SRC to DST
#                        (tagged: tb_cleanup removes what is left)
#
# Monitor I's files are under $TB_DIR/mon<I>/. Every wait is bounded.

: "${POOLMONCTL:?POOLMONCTL must point at the poolmonctl binary}"

FL_PORT=9094
FL_DIR_IP=()
FL_BACKEND=()
FL_PID=()
FL_KEY=""
# Options every monitor gets (a test may change them before fl_start).
FL_ARGS=(-d -i 1 -t 1 --retries=0 -p 143)

fl_ring() {
	local net=$1 nb=$2 i ring servers first last
	command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
	command -v iptables >/dev/null || { echo "iptables is not installed"; exit 77; }
	tb_init || tb_fail "tb_init"
	for i in 1 2 3; do
		FL_DIR_IP[i]=127.0.20.$((net + i))
		mkdir -p "$TB_DIR/mon$i" || tb_fail "mkdir mon$i"
	done
	for i in $(seq 1 "$nb"); do
		FL_BACKEND[i]=127.0.21.$((net + i))
		tb_backend_start "b$i" "${FL_BACKEND[i]}" || tb_fail "backend b$i"
	done
	first=${FL_BACKEND[1]} last=${FL_BACKEND[nb]}
	servers="$first-$last"
	ring="director_servers = ${FL_DIR_IP[1]}:9090 ${FL_DIR_IP[2]}:9090 ${FL_DIR_IP[3]}:9090"
	tb_peer_start d2 "${FL_DIR_IP[2]}" "$servers" "$ring" || tb_fail "director 2"
	tb_peer_start d3 "${FL_DIR_IP[3]}" "$servers" "$ring" || tb_fail "director 3"
	tb_director_start "${FL_DIR_IP[1]}" "$servers" "$ring" || tb_fail "director 1"
	# Directors 2 and 3 must know every host too before a test starts.
	for i in 2 3; do
		_fl_wait_hosts "$i" "$nb" || tb_fail "director $i never listed $nb hosts"
	done
	FL_KEY=$TB_DIR/fleet.key
	fl_key "$FL_KEY" || tb_fail "fleet key"
}

fl_key() {
	(umask 077 && head -c 48 /dev/urandom >"$1") && chmod 0600 "$1"
}

_fl_sock() {
	if [ "$1" = 1 ]; then
		echo "$TB_DIR/director/run/director-admin"
	else
		echo "$TB_DIR/peer-d$1/run/director-admin"
	fi
}

_fl_dcmd() {
	local i=$1
	shift
	TB_DIRECTOR_SOCKET=$(_fl_sock "$i") tb_dcmd "$@"
}

_fl_wait_hosts() {
	local i=$1 n=$2 k
	for k in $(seq 1 75); do
		[ "$(_fl_dcmd "$i" HOST-LIST 2>/dev/null | grep -c .)" -eq "$n" ] && return 0
		sleep 0.2
	done
	return 1
}

fl_addr() {
	echo "${FL_DIR_IP[$1]}:$FL_PORT"
}

fl_index() {
	local i
	for i in 1 2 3; do
		[ "$(fl_addr "$i")" = "$1" ] && { echo "$i"; return 0; }
	done
	return 1
}

fl_log() {
	echo "$TB_DIR/mon$1/poolmond.log"
}

fl_start() {
	local i=$1 a peer=1 key=1 d
	shift
	d=$TB_DIR/mon$i
	for a in "$@"; do
		case $a in
		--fleet-peer=*) peer="" ;;
		--fleet-key=*) key="" ;;
		esac
	done
	"$POOLMOND" -f -S "$(_fl_sock "$i")" -k "$d/poolmond.pid" \
		-l "$d/poolmond.log" --state-file "$d/state" \
		--control-socket "$d/ctl.sock" \
		--fleet-listen="$(fl_addr "$i")" --source-address="${FL_DIR_IP[i]}" \
		${peer:+--fleet-peer=ring} ${key:+--fleet-key="$FL_KEY"} \
		"${FL_ARGS[@]}" "$@" </dev/null >>"$d/poolmond.out" 2>&1 &
	FL_PID[i]=$!
	tb_track_pid "${FL_PID[i]}"
}

# A monitor's first scans: started, and its control socket answers.
fl_wait_scans() {
	local i=$1 n=${2:-1}
	fl_wait_json "$i" ".scans_completed >= $n" 20 ||
		tb_fail "monitor $i: no scan; log: $(tail -n 20 "$(fl_log "$i")"; cat "$TB_DIR/mon$i/poolmond.out")"
}

fl_kill() {
	local i=$1 sig=${2:-TERM} pid=${FL_PID[$1]} k rc
	[ -n "$pid" ] || return 1
	kill -"$sig" "$pid" 2>/dev/null
	for k in $(seq 1 100); do
		_tb_alive "$pid" || break
		sleep 0.1
	done
	_tb_alive "$pid" && return 1
	# (braces: no "Killed" job notice from bash)
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	FL_PID[i]=""
	_fl_clean_stderr "$i" || return 1
	# Stopped by SIGTERM, it must exit 0 (a sanitizer's leak report would
	# make it fail); a SIGKILL's 137 is expected.
	[ "$sig" != TERM ] || [ "$rc" = 0 ] || {
		echo "monitor $i exited $rc on SIGTERM" >&2
		return 1
	}
	return 0
}

# Nothing on a monitor's stderr from the sanitizers (make SANITIZE=1).
_fl_clean_stderr() {
	local out=$TB_DIR/mon$1/poolmond.out
	if grep -qE 'Sanitizer|runtime error:' "$out" 2>/dev/null; then
		echo "monitor $1's stderr has a sanitizer report:" >&2
		head -n 40 "$out" >&2
		return 1
	fi
	return 0
}

fl_ctl() {
	local i=$1
	shift
	"$POOLMONCTL" -s "$TB_DIR/mon$i/ctl.sock" "$@"
}

fl_json() {
	local out
	out=$(fl_ctl "$1" --json status 2>/dev/null) && [ -n "$out" ] || return 1
	echo "$out"
}

# Only on a reply (jq -e on empty input would succeed).
fl_wait_json() {
	local i=$1 filter=$2 secs=$3 k out
	for k in $(seq 1 $((secs * 5))); do
		out=$(fl_json "$i") && jq -e "$filter" >/dev/null 2>&1 <<<"$out" && return 0
		sleep 0.2
	done
	echo "monitor $i: status never matched $filter; --json status:" >&2
	fl_json "$i" >&2
	return 1
}

fl_wait_more_scans() {
	local n=$1 secs=$2 i out
	local -A at=()
	shift 2
	for i in "$@"; do
		out=$(fl_json "$i") || return 1
		at[$i]=$(jq .scans_completed <<<"$out")
	done
	for i in "$@"; do
		fl_wait_json "$i" ".scans_completed >= $((at[$i] + n))" "$secs" || return 1
	done
}

# fl_wait_trusted I... SECS: each monitor I lists every other I given as a
# live, trusted peer it has heard from (last_seen set, no error).
fl_wait_trusted() {
	local args=("$@") secs i j filter
	secs=${args[-1]}
	unset 'args[-1]'
	for i in "${args[@]}"; do
		filter=".fleet != null and .fleet.self == \"$(fl_addr "$i")\""
		for j in "${args[@]}"; do
			[ "$i" = "$j" ] && continue
			filter+=" and any(.fleet.peers[]; .address == \"$(fl_addr "$j")\" and .live and .trusted and .last_seen != null and .error == null)"
		done
		fl_wait_json "$i" "$filter" "$secs" || return 1
	done
}

fl_wait_actor() {
	local ip=$1 secs=$2 _ actors i
	for _ in $(seq 1 $((secs * 5))); do
		actors=$(for i in 1 2 3; do fl_backend_json "$i" "$ip" .actor 2>/dev/null || echo none; done | sort -u)
		if [ "$(grep -c . <<<"$actors")" = 1 ] && [[ $actors == \"* ]]; then
			fl_index "$(jq -r . <<<"$actors")"
			return
		fi
		sleep 0.2
	done
	echo "monitors never agreed on the actor of $ip: $actors" >&2
	return 1
}

_fl_re_ip() {
	echo "${1//./\\.}"
}

# The lines of the monitor that sent the command: "<ip> down: <reason>
# (N of M monitors)" / "<ip> up: ...", as log lines "...]: LEVEL: <ip> ...".
fl_down_re() {
	echo "\]: [a-z]+: $(_fl_re_ip "$1") down: "
}

fl_up_re() {
	echo "\]: [a-z]+: $(_fl_re_ip "$1") up: "
}

fl_count() {
	local which=$1 re=$2 i n=0 c
	if [ "$which" = all ]; then which="1 2 3"; fi
	for i in $which; do
		c=$(grep -Ec -- "$re" "$(fl_log "$i")" 2>/dev/null)
		n=$((n + ${c:-0}))
	done
	echo "$n"
}

fl_wait_count() {
	local _
	for _ in $(seq 1 $(($4 * 5))); do
		[ "$(fl_count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.2
	done
	echo "logs of monitors '$1' never had $3 lines matching '$2'" >&2
	return 1
}

fl_dir_state() {
	TB_DIRECTOR_SOCKET=$(_fl_sock "$1") tb_host_state "$2"
}

fl_dir_changes() {
	local ip=$1 how=$2 i n=0 log re
	shift 2
	[ $# -gt 0 ] || set -- 1 2 3
	re="doveadm: Host $(_fl_re_ip "$ip") changed $how"
	for i in "$@"; do
		if [ "$i" = 1 ]; then log=$TB_DIR/director/dovecot.log
		else log=$TB_DIR/peer-d$i/dovecot.log; fi
		n=$((n + $(grep -Ec -- "$re" "$log")))
	done
	echo "$n"
}

fl_states() {
	local i out=()
	for i in 1 2 3; do
		out+=("$(fl_dir_state "$i" "$1" 2>/dev/null || echo '?')")
	done
	echo "${out[*]}"
}

fl_wait_states() {
	local ip=$1 want=$2 secs=$3 deadline
	deadline=$(($(_tb_now_ms) + secs * 1000))
	while :; do
		[ "$(fl_states "$ip")" = "$want" ] && return 0
		[ "$(_tb_now_ms)" -ge "$deadline" ] && break
		sleep 0.2
	done
	echo "host $ip: directors show '$(fl_states "$ip")', not '$want' after ${secs}s" >&2
	return 1
}

fl_block() {
	iptables -w 5 -I INPUT -s "$1/32" -d "$2/32" -p tcp \
		-m comment --comment "$_TB_TAG" -j DROP
}

fl_unblock() {
	while iptables -w 5 -D INPUT -s "$1/32" -d "$2/32" -p tcp \
		-m comment --comment "$_TB_TAG" -j DROP 2>/dev/null; do
		:
	done
	return 0
}

# fl_backend_json I IP FILTER: a jq expression on monitor I's backend IP.
fl_backend_json() {
	fl_json "$1" | jq -c --arg ip "$2" ".backends[] | select(.address == \$ip) | $3"
}

# A failing test shows what the monitors saw.
fl_dump() {
	local i
	for i in 1 2 3; do
		[ -f "$(fl_log "$i")" ] || continue
		echo "---- monitor $i ($(fl_addr "$i")) log tail:" >&2
		tail -n 25 "$(fl_log "$i")" >&2
		echo "---- monitor $i --json status:" >&2
		fl_json "$i" 2>/dev/null | jq -c '{fleet, backends: [.backends[] | {address, director_state, owner, actor, verdicts}]}' >&2
	done
}

fl_fail() {
	fl_dump
	tb_fail "$*"
}
