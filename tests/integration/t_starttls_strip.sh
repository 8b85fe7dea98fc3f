#!/bin/bash
# Credentials never go where they should not. A backend offers STARTTLS:
# poolmond logs in through it and remembers the offer in the state file.
# The backend is restarted without TLS, as an attacker on the path who
# strips the capability would make it look: poolmond does not log in in
# clear, the check fails ("STARTTLS no longer offered") and the director
# takes the host down, the memory coming from the state file. A backend
# that never offered TLS gets the 0.7 cleartext login, said once; with
# --require-tls it fails with a reason naming the option.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
B1=127.0.5.18 B2=127.0.5.19 B3=127.0.5.20 DIR_IP=127.0.5.102
tb_init || tb_fail "tb_init"
PLAIN="disable_plaintext_auth = no"
tb_backend_start b1 "$B1" "$PLAIN" || tb_fail "backend b1"
tb_backend_start b2 "$B2" "$PLAIN" || tb_fail "backend b2"
tb_backend_start b3 "$B3" "$PLAIN
ssl = no" || tb_fail "backend b3"
tb_director_start "$DIR_IP" "$B1-$B3" || tb_fail "director"
CRED=$TB_DIR/cred
(umask 077 && printf '%s\n%s\n' "$TB_USER" "$TB_PASS" >"$CRED")
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }
health() { ctl --json show "$1" 2>/dev/null | jq -r '.backend.health // .health'; }
reason() { ctl --json show "$1" 2>/dev/null | jq -r '.backend.reason // .reason'; }
ARGS=(-d -i 1 -t 2 --retries 0 --fall=1 --max-down=100 -p 143 -c "$CRED"
	--ssl-ca "$TB_DIR/ca.pem" --no-ptr)

pm_start "${ARGS[@]}"
for _ in $(seq 1 50); do [ "$(health "$B1")" = ok ] && break; sleep 0.2; done
tb_assert_eq "$(health "$B1")" ok "$B1 healthy through STARTTLS"
for _ in $(seq 1 50); do
	grep -q "^tls	$B1\$" "$TB_DIR/state" 2>/dev/null && break
	sleep 0.1
done
grep -q "^tls	$B1\$" "$TB_DIR/state" 2>/dev/null ||
	tb_fail "the STARTTLS offer of $B1 is not in the state file: $(cat "$TB_DIR/state")"
tb_pass "$B1's STARTTLS offer remembered in the state file"
# b3 never offered TLS: cleartext as in 0.7, said once.
tb_assert_eq "$(health "$B3")" ok "$B3 (no TLS at all) logged in as 0.7 did"
pm_wait_log "$B3 offers no STARTTLS/STLS: the check's credentials went in clear" 5 ||
	tb_fail "no cleartext note for $B3"
pm_wait_scans 2 10 || tb_fail "scans stopped"
tb_assert_eq "$(pm_count_log "$B3 offers no STARTTLS")" 1 "the cleartext note said once"

# Logins are in b1's log: what poolmond sent shows there.
B1LOG=$TB_DIR/backend-b1/dovecot.log
logins() { grep -c "Login: user=<$TB_USER>" "$B1LOG" 2>/dev/null; }
[ "$(logins)" -ge 1 ] || tb_fail "no login of $TB_USER in $B1LOG"
pm_stop || tb_fail "poolmond exit status"

# The offer disappears (as an attacker on the path would strip it): a
# restarted poolmond remembers it from the state file, sends no login in
# clear, and the host goes down.
echo "ssl = no" >>"$TB_DIR/backend-b1/dovecot.conf"
tb_backend_restart b1 || tb_fail "restart b1 without TLS"
timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/143"; IFS= read -r -t 4 l <&3; [[ $l != *STARTTLS* ]]' _ "$B1" ||
	tb_fail "$B1 still offers STARTTLS"
before=$(logins)
pm_start "${ARGS[@]}"
tb_wait_host_state "$B1" D 10 || tb_fail "$B1 not taken down once STARTTLS went"
r=$(reason "$B1")
[[ $r == *"STARTTLS no longer offered"* ]] || tb_fail "reason: $r"
tb_pass "$B1 down: $r"
pm_wait_scans 2 10 || tb_fail "scans stopped"
tb_assert_eq "$(logins)" "$before" "no login reached $B1 without STARTTLS"
tb_assert_eq "$(tb_host_state "$B2")" U "$B2 up"
pm_stop || tb_fail "poolmond exit status"

# --require-tls: never in clear, even for a backend that never had TLS.
pm_start "${ARGS[@]}" --require-tls
for _ in $(seq 1 50); do [ "$(health "$B3")" = failed ] && break; sleep 0.2; done
tb_assert_eq "$(health "$B3")" failed "$B3 fails with --require-tls"
[[ $(reason "$B3") == *"--require-tls"* ]] || tb_fail "reason: $(reason "$B3")"
tb_pass "--require-tls: $(reason "$B3")"
tb_assert_eq "$(health "$B2")" ok "$B2 (STARTTLS) still healthy with --require-tls"
pm_stop || tb_fail "poolmond exit status"
echo "t_starttls_strip: all passed"
exit 0
