#!/bin/bash
# A lean root daemon (issue 21): poolmond maps the libraries its
# configuration uses and no other. Checking a real backend over IMAP with
# STARTTLS and login and over IMAPS, with --ssl-name and no
# --metrics-listen, the idle daemon and its check processes (one caught
# in its sandbox: Seccomp 2) map no libmicrohttpd, no TLS library but
# OpenSSL's (GnuTLS and what comes with it), no libseccomp (it compiled
# the filter at start-up and was unloaded), no c-ares (PTR names do not
# count with --ssl-name) and no NSS module; and the checks pass (the
# backend's health is ok, up in the director). With --metrics-listen the
# daemon maps libmicrohttpd and serves /metrics. With libmicrohttpd
# hidden (an empty file bound over it in a mount namespace), poolmond
# --metrics-listen exits 1 at start naming the option and the package to
# install, and without the option it starts and answers.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
: "${POOLMONCTL:?}"

GOOD=127.0.22.1 SLOW=127.0.22.2 DIR_IP=127.0.22.100
LISTEN=127.0.22.50:9095
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }

# Libraries none of these configurations needs.
UNUSED='libmicrohttpd|libgnutls|libnettle|libhogweed|libp11-kit|libgmp|libtasn1|libidn2|libunistring|libffi|libseccomp|libcares|libnss_'

tb_init || tb_fail "tb_init"
tb_backend_start good "$GOOD" || tb_fail "backend good"
tb_director_start "$DIR_IP" "$GOOD $SLOW" || tb_fail "director"
# SLOW's packets are dropped: its check processes live for the timeout,
# long enough to read their maps.
tb_block "$SLOW" || tb_fail "tb_block $SLOW"
printf '%s\n%s\n' "$TB_USER" "$TB_PASS" >"$TB_DIR/cred"
chmod 600 "$TB_DIR/cred"
OPTS=(-i 1 -t 3 --retries 0 --max-down=100 -p 143 -s 993
	-c "$TB_DIR/cred" --ssl-ca="$TB_DIR/ca.pem" --ssl-name=backend.test)

# libs PID: the shared objects PID maps, one basename a line.
libs() {
	awk '$6 ~ /\.so/ { n = split($6, p, "/"); print p[n] }' "/proc/$1/maps" |
		sort -u
}

# assert_lean WHO PID: PID maps OpenSSL and none of UNUSED.
assert_lean() {
	local l
	l=$(libs "$2")
	grep -q '^libssl\.so' <<<"$l" || tb_fail "$1 maps no libssl: $l"
	if grep -Eq "^($UNUSED)" <<<"$l"; then
		tb_fail "$1 maps $(grep -E "^($UNUSED)" <<<"$l" | tr '\n' ' ')"
	fi
	tb_pass "$1 maps none of libmicrohttpd, GnuTLS and its dependencies, libseccomp, c-ares, NSS modules"
}

# A check process of SLOW in its sandbox (Seccomp 2), within SECS.
sandboxed_child() {
	local end=$((SECONDS + $1)) c
	while [ "$SECONDS" -lt "$end" ]; do
		# shellcheck disable=SC2013 # one pid a word
		for c in $(cat "/proc/$PM_PID/task/$PM_PID/children" 2>/dev/null); do
			if [ "$(awk '$1 == "Seccomp:" { print $2 }' "/proc/$c/status" 2>/dev/null)" = 2 ] &&
				libs "$c" >/dev/null 2>&1; then
				echo "$c"
				return 0
			fi
		done
		sleep 0.05
	done
	return 1
}

# 1. No --metrics-listen: a lean daemon, lean check processes.
pm_start "${OPTS[@]}"
pm_wait_backend "$GOOD" '.health == "ok"' 30 || tb_fail "$GOOD never checked ok"
tb_assert_eq "$(tb_host_state "$GOOD")" U "$GOOD up in the director"
child=$(sandboxed_child 20) || tb_fail "no check process seen in its sandbox"
# Read at once: the process lives for the check's timeout.
child_libs=$(libs "$child") || tb_fail "check process $child gone before its maps were read"
grep -q '^libssl\.so' <<<"$child_libs" || tb_fail "check process maps no libssl: $child_libs"
if grep -Eq "^($UNUSED)" <<<"$child_libs"; then
	tb_fail "check process maps $(grep -E "^($UNUSED)" <<<"$child_libs" | tr '\n' ' ')"
fi
tb_pass "a check process in its sandbox maps none of them either"
assert_lean "the daemon" "$PM_PID"
pm_stop || tb_fail "poolmond did not stop cleanly"

# 2. --metrics-listen: the library is loaded, and serves.
pm_start "${OPTS[@]}" --metrics-listen="$LISTEN"
pm_wait_backend "$GOOD" '.health == "ok"' 30 || tb_fail "$GOOD never checked ok with metrics"
body=$(curl -sS -m 10 "http://$LISTEN/metrics") || tb_fail "no metrics on $LISTEN"
grep -q "^poolmon_backend_healthy{.*backend=\"$GOOD\".*} 1\$" <<<"$body" ||
	tb_fail "metrics do not show $GOOD healthy: $body"
libs "$PM_PID" | grep -q '^libmicrohttpd\.so' ||
	tb_fail "--metrics-listen served without mapping libmicrohttpd?"
tb_pass "--metrics-listen loads libmicrohttpd and serves /metrics"
pm_stop || tb_fail "poolmond with metrics did not stop cleanly"

# 3. libmicrohttpd missing: a clear error at start, only when it is needed.
lib=$(ldconfig -p | awk '$1 ~ /^libmicrohttpd\.so\./ { print $NF; exit }')
[ -n "$lib" ] || tb_fail "libmicrohttpd not found by ldconfig"
: >"$TB_DIR/empty"
# hidden CMD...: CMD run (exec'ed: its pid is the caller's $!) with the
# library an empty file, in a mount namespace of its own.
# shellcheck disable=SC2016 # expanded by the inner bash
HIDE='mount --bind "$1" "$2" && shift 2 && exec "$@"'
hidden() {
	exec unshare -m bash -c "$HIDE" _ "$TB_DIR/empty" "$lib" "$@"
}
out=$( (hidden "$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/hidden.pid" \
	-l "$TB_DIR/hidden.log" --state-file "$TB_DIR/state" \
	--control-socket "$TB_DIR/hidden.sock" "${OPTS[@]}" \
	--metrics-listen="$LISTEN" </dev/null 2>&1) )
rc=$?
tb_assert_eq "$rc" 1 "--metrics-listen without libmicrohttpd exits 1"
grep -q -- '--metrics-listen' <<<"$out" || tb_fail "the error names no option: $out"
grep -q 'libmicrohttpd12' <<<"$out" || tb_fail "the error names no package: $out"
tb_pass "the error says what to install: $out"
(hidden "$POOLMOND" -f -S "$TB_DIRECTOR_SOCKET" -k "$TB_DIR/hidden.pid" \
	-l "$TB_DIR/hidden.log" --state-file "$TB_DIR/state" \
	--control-socket "$TB_DIR/hidden.sock" "${OPTS[@]}" </dev/null >/dev/null 2>&1) &
hidden_pid=$!
tb_track_pid "$hidden_pid"
ok=
for _ in $(seq 1 100); do
	"$POOLMONCTL" -s "$TB_DIR/hidden.sock" version >/dev/null 2>&1 && { ok=1; break; }
	kill -0 "$hidden_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$ok" ] || tb_fail "without --metrics-listen poolmond did not start with the library hidden"
kill -TERM "$hidden_pid"
wait "$hidden_pid"
tb_assert_eq "$?" 0 "poolmond without the library exits 0 on TERM"
echo "t_lean: all passed"
exit 0
