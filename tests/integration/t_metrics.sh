#!/bin/bash
# Prometheus metrics against a real director: --metrics-listen serves GET
# /metrics with Content-Type "text/plain; version=0.0.4", its values match
# the director's HOST-LIST (a stopped backend is down_by_poolmond, the
# HOST-DOWN and HOST-FLUSH counted), promtool finds the text clean, other
# paths get 404 and other methods 405; poolmonctl metrics prints the same
# families; 50 idle connections neither stop status answering nor a later
# scrape succeeding; bad option values exit 1 naming the option; an IPv6
# address serves too; the port is free again after the daemon stops.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
: "${POOLMONCTL:?}"

B1=127.0.13.1 B2=127.0.13.2 B3=127.0.13.3 DIR_IP=127.0.13.100
LISTEN=127.0.13.50:9095
URL=http://$LISTEN/metrics
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
command -v promtool >/dev/null || { echo "promtool is not installed"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

# 1. Bad values: exit 1, the option named, nothing started.
for bad in 127.0.0.1 127.0.0.1:0 127.0.0.1:70000 localhost:9095 ::1:9095 \
	"[127.0.0.1]:9095" "[::1]" ""; do
	out=$("$POOLMOND" -f --metrics-listen="$bad" -k /nonexistent/pid 2>&1)
	rc=$?
	tb_assert_eq "$rc" 1 "--metrics-listen='$bad' exits 1"
	grep -q -- "--metrics-listen" <<<"$out" || tb_fail "message does not name the option: $out"
done
tb_pass "bad --metrics-listen values refused"

tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.13.$i" || tb_fail "backend b$i"
done
tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "director"
tb_assert_eq "$(tb_dcmd HOST-REMOVE "$B3")" OK "HOST-REMOVE $B3"
tb_assert_eq "$(tb_dcmd HOST-SET "$B3@blue" 100)" OK "HOST-SET $B3@blue"

pm_start -d -i 2 -t 2 --retries 1 --retry-delay 100 -p 143 -p 110 \
	--metrics-listen="$LISTEN"

ctl() {
	"$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"
}

# scrape [CURL ARGS]: the body on stdout, headers in $TB_DIR/headers.
scrape() {
	curl -sS -m 10 -D "$TB_DIR/headers" "$@" "$URL"
}

# value TEXT SAMPLE: the value of the sample written exactly so.
value() {
	awk -v s="$2" '$1 == s { print $2 }' <<<"$1"
}

# wait_metric SAMPLE AWK_CONDITION SECS: until the scraped value holds.
wait_metric() {
	local i v
	for i in $(seq 1 $(($3 * 5))); do
		v=$(value "$(scrape 2>/dev/null)" "$1")
		[ -n "$v" ] && awk -v v="$v" "BEGIN { exit !(v $2) }" && return 0
		sleep 0.2
	done
	echo "$1 never $2 (last '$v')" >&2
	return 1
}

wait_metric poolmon_scans_total ">= 1" 15 || tb_fail "no scan counted"
body=$(scrape) || tb_fail "scrape failed"
ctype=$(tr -d '\r' <"$TB_DIR/headers" | awk -F': ' 'tolower($1) == "content-type" { print $2 }')
tb_assert_eq "$ctype" "text/plain; version=0.0.4" "Content-Type"
grep -q "^HTTP/1.1 200" "$TB_DIR/headers" || tb_fail "not 200: $(head -1 "$TB_DIR/headers")"
promtool check metrics <<<"$body" >"$TB_DIR/promtool.out" 2>&1 ||
	tb_fail "promtool check metrics: $(cat "$TB_DIR/promtool.out")"
tb_pass "GET /metrics: 200, Content-Type, promtool clean"

# 2. Values against the director's HOST-LIST.
tb_assert_eq "$(value "$body" poolmon_up)" 1 "poolmon_up"
tb_assert_eq "$(value "$body" poolmon_director_reachable)" 1 "director reachable"
tb_assert_eq "$(value "$body" poolmon_ring_synced)" 1 "ring synced"
tb_assert_eq "$(value "$body" poolmon_dry_run)" 0 "dry-run off"
want=$(tb_dcmd HOST-LIST | awk -F'\t' '{ printf "poolmon_backend_director_up{backend=\"%s\",tag=\"%s\"} %d\n", $1, $4, $5 == "U" }' | sort)
got=$(grep '^poolmon_backend_director_up{' <<<"$body" | sort)
tb_assert_eq "$got" "$want" "poolmon_backend_director_up matches HOST-LIST"
for ip in $B1 $B2; do
	tb_assert_eq "$(value "$body" "poolmon_backend_state{backend=\"$ip\",tag=\"\",state=\"up\"}")" 1 "$ip state up"
	tb_assert_eq "$(value "$body" "poolmon_backend_healthy{backend=\"$ip\",tag=\"\"}")" 1 "$ip healthy"
	tb_assert_eq "$(grep -c "^poolmon_backend_state{backend=\"$ip\"" <<<"$body")" 4 "$ip: four state samples"
done
tb_assert_eq "$(value "$body" "poolmon_backend_state{backend=\"$B3\",tag=\"blue\",state=\"up\"}")" 1 "$B3 (tag blue) up"
for p in IMAP:143 POP3:110; do
	v=$(value "$body" "poolmon_check_duration_seconds{backend=\"$B1\",port=\"$p\"}")
	[[ $v =~ ^[0-9]+\.[0-9]{3}$ ]] || tb_fail "check duration of $B1 $p: '$v'"
	tb_assert_eq "$(value "$body" "poolmon_check_failures_total{backend=\"$B1\",port=\"$p\"}")" 0 "$B1 $p no failures"
done
tb_pass "values match the director"

# 3. A backend stops: HOST-DOWN and HOST-FLUSH, down_by_poolmond.
tb_backend_stop b2 || tb_fail "stop b2"
tb_wait_host_state "$B2" D 15 || tb_fail "$B2 not taken down"
wait_metric 'poolmon_actions_total{action="flush",result="ok"}' ">= 1" 10 ||
	tb_fail "no flush counted"
body=$(scrape) || tb_fail "scrape failed"
tb_assert_eq "$(tb_host_state "$B2")" D "$B2 down in HOST-LIST"
tb_assert_eq "$(value "$body" "poolmon_backend_state{backend=\"$B2\",tag=\"\",state=\"down_by_poolmond\"}")" 1 "$B2 down_by_poolmond"
tb_assert_eq "$(value "$body" "poolmon_backend_state{backend=\"$B2\",tag=\"\",state=\"up\"}")" 0 "$B2 not up"
tb_assert_eq "$(value "$body" "poolmon_backend_director_up{backend=\"$B2\",tag=\"\"}")" 0 "$B2 director_up 0"
tb_assert_eq "$(value "$body" "poolmon_backend_healthy{backend=\"$B2\",tag=\"\"}")" 0 "$B2 healthy 0"
v=$(value "$body" 'poolmon_actions_total{action="down",result="ok"}')
[ "${v:-0}" -ge 1 ] || tb_fail "actions down ok: '$v'"
v=$(value "$body" "poolmon_check_failures_total{backend=\"$B2\",port=\"IMAP:143\"}")
[ "${v:-0}" -ge 1 ] || tb_fail "check failures of $B2 IMAP:143: '$v'"
tb_assert_eq "$(value "$body" 'poolmon_actions_total{action="down",result="error"}')" 0 "no failed HOST-DOWN"
promtool check metrics <<<"$body" >"$TB_DIR/promtool.out" 2>&1 ||
	tb_fail "promtool check metrics: $(cat "$TB_DIR/promtool.out")"
tb_pass "stopped backend: down_by_poolmond, HOST-DOWN and HOST-FLUSH counted"

tb_backend_restart b2 || tb_fail "restart b2"
tb_wait_host_state "$B2" U 15 || tb_fail "$B2 not back up"
wait_metric 'poolmon_actions_total{action="up",result="ok"}' ">= 1" 10 ||
	tb_fail "no HOST-UP counted"
wait_metric "poolmon_backend_state{backend=\"$B2\",tag=\"\",state=\"up\"}" "== 1" 10 ||
	tb_fail "$B2 not up in the metrics"
tb_pass "restarted backend: up, HOST-UP counted"

# 4. Anything but GET /metrics.
for path in / /metrics/ /metricsx /metrics/x /favicon.ico; do
	code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$LISTEN$path")
	tb_assert_eq "$code" 404 "GET $path"
done
for m in POST PUT DELETE HEAD OPTIONS; do
	if [ "$m" = HEAD ]; then
		code=$(curl -s -m 10 -I -o /dev/null -w '%{http_code}' "$URL")
	else
		code=$(curl -s -m 10 -X "$m" -d x -o /dev/null -w '%{http_code}' "$URL")
	fi
	tb_assert_eq "$code" 405 "$m /metrics"
done
tb_pass "404 for other paths, 405 for other methods"

# 5. poolmonctl metrics: the same families, clean too.
text=$(ctl metrics) || tb_fail "poolmonctl metrics exit $?"
promtool check metrics <<<"$text" >"$TB_DIR/promtool.out" 2>&1 ||
	tb_fail "promtool on poolmonctl metrics: $(cat "$TB_DIR/promtool.out")"
body=$(scrape) || tb_fail "scrape failed"
tb_assert_eq "$(grep '^# TYPE' <<<"$text")" "$(grep '^# TYPE' <<<"$body")" "same families over HTTP and the socket"
tb_assert_eq "$(grep -v '^#' <<<"$text" | sed 's/ .*//' | sort)" \
	"$(grep -v '^#' <<<"$body" | sed 's/ .*//' | sort)" "same samples over HTTP and the socket"
tb_assert_eq "$(value "$text" "poolmon_backend_state{backend=\"$B3\",tag=\"blue\",state=\"up\"}")" 1 "poolmonctl metrics: $B3 up"
jtext=$(ctl --json metrics) || tb_fail "poolmonctl --json metrics exit $?"
tb_assert_eq "$(grep -c '^# TYPE' <<<"$jtext")" "$(grep -c '^# TYPE' <<<"$text")" "--json metrics prints the text"
ctl metrics extra >/dev/null 2>&1
tb_assert_eq "$?" 2 "metrics takes no argument"
tb_pass "poolmonctl metrics"

# The documentation's examples: its rules and scrape configuration pass
# promtool, its textfile script writes a clean file.
DOC=$(cd "$(dirname "$0")/../.." && pwd)/docs/monitoring.md
doc_block() {
	awk -v lang="$1" -v want="$2" '$0 == "```" lang { n++; if (n == want) { f = 1; next } }
		/^```/ { f = 0 } f' "$DOC"
}
doc_block yaml 1 >"$TB_DIR/prometheus.yml"
doc_block yaml 2 >"$TB_DIR/rules.yml"
promtool check config --syntax-only "$TB_DIR/prometheus.yml" >"$TB_DIR/promtool.out" 2>&1 ||
	tb_fail "docs scrape config: $(cat "$TB_DIR/promtool.out")"
promtool check rules "$TB_DIR/rules.yml" >"$TB_DIR/promtool.out" 2>&1 ||
	tb_fail "docs rules: $(cat "$TB_DIR/promtool.out")"
grep -q "3 rules found" "$TB_DIR/promtool.out" || tb_fail "docs rules: $(cat "$TB_DIR/promtool.out")"
mkdir -p "$TB_DIR/bin" "$TB_DIR/textfile"
doc_block sh 2 >"$TB_DIR/bin/poolmon-textfile"
printf '#!/bin/sh\nexec "%s" -s "%s" "$@"\n' "$POOLMONCTL" "$TB_DIR/ctl.sock" >"$TB_DIR/bin/poolmonctl"
chmod +x "$TB_DIR/bin/poolmonctl" "$TB_DIR/bin/poolmon-textfile"
PATH=$TB_DIR/bin:$PATH "$TB_DIR/bin/poolmon-textfile" "$TB_DIR/textfile" ||
	tb_fail "docs textfile script failed"
tb_assert_eq "$(ls "$TB_DIR/textfile")" poolmon.prom "textfile script: one file, no temporary left"
promtool check metrics <"$TB_DIR/textfile/poolmon.prom" >"$TB_DIR/promtool.out" 2>&1 ||
	tb_fail "textfile: $(cat "$TB_DIR/promtool.out")"
tb_pass "docs/monitoring.md: scrape config, 3 rules and the textfile script work"

# 6. Idle connections that never send: the loop still answers poolmonctl,
# keeps scanning, and a scrape gets through once their timeouts free the
# connection slots.
scans=$(value "$(scrape)" poolmon_scans_total)
idle=()
for i in $(seq 1 50); do
	exec {fd}<>"/dev/tcp/${LISTEN%:*}/${LISTEN#*:}" || tb_fail "idle connection $i"
	idle+=("$fd")
done
json=$(timeout 20 "$POOLMONCTL" -s "$TB_DIR/ctl.sock" -t 15 --json status) ||
	tb_fail "status did not answer with 50 idle metrics connections"
tb_assert_eq "$(jq -r .backends_total <<<"$json")" 3 "status answers with 50 idle connections"
for i in $(seq 1 50); do
	out=$(ctl --json status 2>/dev/null) &&
		[ "$(jq -r .scans_completed <<<"$out")" -gt "$scans" ] && break
	sleep 0.2
done
[ "$(jq -r .scans_completed <<<"$out")" -gt "$scans" ] || tb_fail "no scan while idle connections were open"
body=$(curl -sS -m 90 "$URL") || tb_fail "no scrape once the idle connections timed out"
tb_assert_eq "$(value "$body" poolmon_up)" 1 "scrape after the idle connections"
for fd in "${idle[@]}"; do
	exec {fd}>&-
done
n=$(pm_count_log "metrics http:")
[ "$n" -le 11 ] || tb_fail "$n MHD messages logged: not rate-limited"
tb_pass "50 idle connections: status answers, scans go on, a later scrape succeeds"

# 7. The daemon stops cleanly and the port is free.
pm_stop || tb_fail "poolmond did not exit 0 on TERM"
curl -s -m 5 -o /dev/null "$URL" && tb_fail "still served after stop"
tb_pass "clean stop, port closed"

# 8. An IPv6 address.
pm_start -i 2 -t 2 -p 143 --metrics-listen="[::1]:9095"
for i in $(seq 1 50); do
	body=$(curl -sS -g -m 5 "http://[::1]:9095/metrics" 2>/dev/null) && break
	sleep 0.2
done
tb_assert_eq "$(value "$body" poolmon_up)" 1 "scrape over [::1]:9095"
# The address is taken: a second poolmond says so on the terminal.
out=$("$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/pid2" -l "$TB_DIR/log2" \
	--state-file "$TB_DIR/state2" --control-socket "$TB_DIR/ctl2.sock" \
	--metrics-listen="[::1]:9095" 2>&1)
rc=$?
tb_assert_eq "$rc" 1 "a second poolmond on the same address exits 1"
grep -q -- "--metrics-listen '\[::1\]:9095': Address already in use" <<<"$out" ||
	tb_fail "busy address message: $out"
pm_stop || tb_fail "poolmond did not exit 0 on TERM"
tb_pass "IPv6 listen address; a busy address is refused"
