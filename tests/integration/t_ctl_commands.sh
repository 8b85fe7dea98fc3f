#!/bin/bash
# poolmonctl against a running poolmond and a real director: status and
# show match the director's HOST-LIST; --json parses (jq) with the stable
# keys; version; with -i 3600 a recheck finds a dead backend at once (and
# named hosts, unknown hosts, --no-wait); dry-run on leaves a dying backend
# up, dry-run off takes it down; usage errors exit 2, an unreachable
# daemon 3; the socket goes away with the daemon.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
: "${POOLMOND:?}" "${POOLMONCTL:?}"

B1=127.0.6.1 B2=127.0.6.2 B3=127.0.6.3 DIR_IP=127.0.6.100
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.6.$i" || tb_fail "backend b$i"
done
tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "director"
# A tag, so the tag column has something to match (a host's tag is set
# only when it is added).
tb_assert_eq "$(tb_dcmd HOST-REMOVE "$B2")" OK "HOST-REMOVE $B2"
tb_assert_eq "$(tb_dcmd HOST-SET "$B2@blue" 50)" OK "HOST-SET $B2@blue"

CTL=$TB_DIR/ctl.sock
# A generous timeout and a retry: on a loaded machine a live backend must
# not fail; a dead one refuses at once anyway.
"$POOLMOND" -f -d -i 3600 -t 5 --retries 1 --retry-delay 100 --max-down 100 \
	-p 143 -p 110 \
	-S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid" -l "$TB_DIR/poolmond.log" \
	--state-file "$TB_DIR/state" --control-socket "$CTL" \
	</dev/null >>"$TB_DIR/out" 2>&1 &
PM=$!
tb_track_pid "$PM"

ctl() {
	"$POOLMONCTL" -s "$CTL" "$@"
}


pm_wait_json '.scans_completed >= 1' 15 || tb_fail "no first scan"
tb_pass "first scan done"

# 1. status matches HOST-LIST: address, vhosts, users, state, tag.
json=$(ctl --json status) || tb_fail "status --json exit $?"
[ -n "$json" ] && jq -e . >/dev/null <<<"$json" || tb_fail "status --json does not parse"
want=$(tb_dcmd HOST-LIST | awk -F'\t' '{ printf "%s %s %s %s [%s]\n", $1, $2, $3, ($5 == "U" ? "up" : "down"), $4 }' | sort)
got=$(jq -r '.backends[] | "\(.address) \(.vhost_count) \(.users) \(.director_state) [\(.tag)]"' <<<"$json" | sort)
tb_assert_eq "$got" "$want" "status matches HOST-LIST"
tb_assert_eq "$(jq -r '[.backends[] | select(.address == "'$B2'")][0].tag' <<<"$json")" blue "tag of $B2"
tb_assert_eq "$(jq -r '.dry_run, .director_reachable, .backends_total, .backends_healthy' <<<"$json" | tr '\n' ' ')" \
	"false true 3 3 " "summary: dry-run off, director reachable, 3 healthy"
tb_assert_eq "$(jq -r '[.backends[] | .healthy] | all' <<<"$json")" true "every backend healthy"
tb_assert_eq "$(jq -r '[.backends[].checks[] | "\(.port)/\(.protocol)/\(.tls)/\(.ok)/\(.latency_ms|type)/\(.error)"] | unique | join(" ")' <<<"$json")" \
	"110/POP3/false/true/number/null 143/IMAP/false/true/number/null" "checks: port, protocol, tls, ok, latency_ms, error"
jq -e '.backends[] | .last_check | type == "number"' >/dev/null <<<"$json" || tb_fail "last_check not a unix time"
for k in dry_run scans_completed backends address tag director_state vhost_count users healthy reason last_check checks; do
	grep -q "\"$k\":" <<<"$json" || tb_fail "status --json lacks key $k"
done
text=$(ctl status) || tb_fail "status exit $?"
for ip in $B1 $B2 $B3; do
	grep -q "^$ip " <<<"$text" || tb_fail "text status lacks a row for $ip"
done
grep -q "^dry-run: *off" <<<"$text" || tb_fail "text status lacks dry-run"
grep -q "reachable" <<<"$text" || tb_fail "text status lacks the director's state"
tb_pass "status (text and JSON) matches the director"

# 2. show: one backend, each port's last result and latency.
json=$(ctl --json show "$B2") || tb_fail "show exit $?"
tb_assert_eq "$(jq -r '"\(.address) \(.vhost_count) \(.director_state) \(.healthy) \(.checks | length)"' <<<"$json")" \
	"$B2 50 up true 2" "show --json $B2"
text=$(ctl sh "$B2") || tb_fail "show (prefix sh) exit $?"
grep -q "IMAP:143 *ok" <<<"$text" && grep -q "POP3:110 *ok" <<<"$text" ||
	tb_fail "show lacks the port results: $text"
grep -q "vhost count: *50" <<<"$text" || tb_fail "show lacks the vhost count"
out=$(ctl show 127.0.6.9 2>&1); rc=$?
tb_assert_eq "$rc" 1 "show of a host the director lacks: exit 1"
grep -q "not in the director's host list" <<<"$out" || tb_fail "show unknown: $out"
tb_pass "show"

# 3. version.
text=$(ctl version) || tb_fail "version exit $?"
grep -q "^poolmond [0-9.]*, protocol 1, pid $PM$" <<<"$text" || tb_fail "version: $text"
tb_assert_eq "$(ctl --json v | jq -r '"\(.protocol_version) \(.client_protocol_version) \(.pid)"')" \
	"1 1 $PM" "version --json"

# 4. recheck with -i 3600: a dead backend is found at once.
tb_backend_stop b3 || tb_fail "stop b3"
start=$(date +%s)
json=$(ctl --json recheck) || tb_fail "recheck exit $?"
took=$(($(date +%s) - start))
[ "$took" -le 10 ] || tb_fail "recheck took ${took}s"
tb_assert_eq "$(tb_host_state "$B3")" D "$B3 down in the director right after recheck"
tb_assert_eq "$(jq -r '.backends[] | select(.address == "'$B3'") | "\(.healthy) \(.director_state)"' <<<"$json")" \
	"false down" "recheck reply: $B3 failed and down"
jq -r '.backends[] | select(.address == "'$B3'") | .reason' <<<"$json" | grep -q "IMAP:143 connect" ||
	tb_fail "recheck reply lacks the reason"
tb_assert_eq "$(jq -r '.backends | length' <<<"$json")" 3 "a full recheck covers every backend"
json=$(ctl --json recheck "$B1") || tb_fail "recheck $B1 exit $?"
tb_assert_eq "$(jq -r '[.backends[].address] | join(" ")' <<<"$json")" "$B1" "recheck HOST covers that host only"
out=$(ctl --json recheck "$B1" 127.0.6.9 2>"$TB_DIR/err"); rc=$?
tb_assert_eq "$rc" 1 "recheck of an unknown host: exit 1"
tb_assert_eq "$(jq -r '.not_found | join(" ")' <<<"$out")" 127.0.6.9 "not_found lists it"
grep -q "not in the director's host list: 127.0.6.9" "$TB_DIR/err" || tb_fail "recheck unknown: $(cat "$TB_DIR/err")"
tb_assert_eq "$(ctl recheck --no-wait)" "recheck queued" "recheck --no-wait"
tb_pass "recheck"

# 5. dry-run: a dying backend stays up, then goes down when it is off.
tb_backend_start b3 "$B3" || tb_fail "restart b3"
ctl recheck "$B3" >/dev/null || tb_fail "recheck b3"
tb_assert_eq "$(tb_host_state "$B3")" U "$B3 up again"
tb_assert_eq "$(ctl dry-run on)" "dry-run on (was off)" "dry-run on"
tb_assert_eq "$(ctl --json status | jq -r .dry_run)" true "status shows dry-run on"
ctl status | grep -q "^dry-run: *on" || tb_fail "text status lacks dry-run on"
tb_backend_stop b2 || tb_fail "stop b2"
json=$(ctl --json recheck "$B2") || tb_fail "recheck in dry-run"
tb_assert_eq "$(jq -r '.backends[0] | "\(.healthy) \(.director_state)"' <<<"$json")" "false up" "dry-run: failed but left up"
tb_assert_eq "$(tb_host_state "$B2")" U "dry-run: $B2 still up in the director"
grep -q "dry-run: would mark $B2 down" "$TB_DIR/poolmond.log" || tb_fail "no dry-run log line"
tb_assert_eq "$(ctl --json d of | jq -r '"\(.dry_run) \(.previous)"')" "false true" "dry-run off"
ctl recheck "$B2" >/dev/null || tb_fail "recheck after dry-run off"
tb_assert_eq "$(tb_host_state "$B2")" D "dry-run off: $B2 down"
tb_pass "dry-run on/off at run time"

# 6. Usage errors exit 2, an unreachable daemon 3.
for args in "" "bogus" "s" "status extra" "show" "show nohost" "dry-run maybe" "--bogus status" "--no-wait status"; do
	# shellcheck disable=SC2086
	ctl $args >/dev/null 2>&1
	tb_assert_eq "$?" 2 "usage error: '$args'"
done
out=$("$POOLMONCTL" -s "$TB_DIR/nosuch.sock" status 2>&1); rc=$?
tb_assert_eq "$rc" 3 "no daemon: exit 3"
grep -qF "$TB_DIR/nosuch.sock" <<<"$out" || tb_fail "exit 3 message lacks the path: $out"

# 7. TERM: the daemon exits 0 and removes its socket.
kill -TERM "$PM"
wait "$PM"
tb_assert_eq "$?" 0 "poolmond exit status"
[ ! -e "$CTL" ] || tb_fail "control socket left behind"
tb_pass "socket removed on exit"
echo "t_ctl_commands: all passed"
exit 0
