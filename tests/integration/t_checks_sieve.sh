#!/bin/bash
# ManageSieve (SIEVE:4190) against real Dovecot backends with
# dovecot-managesieved, in a real director that proxies ManageSieve too
# (managesieve-login given the director executable). b1 and b2 offer
# STARTTLS and implicit TLS on 5190, b3 has no TLS, b4 runs no sieve
# service (its IMAP works, so the director keeps mapping users to it).
# 1. A user the director maps to b4 cannot log in over ManageSieve through
#    the director; poolmond -p 4190 -c takes b4 down ("connect: Connection
#    refused"), and that user's ManageSieve login through the director then
#    lands on a live backend. The logins went through STARTTLS on b1 and b2
#    (Dovecot logs them with TLS; the offer is in the state file), in clear
#    on b3 (said once).
# 2. -s SIEVE:5190: implicit TLS passes on b1 and b2 (reported SIEVES:5190).
# 3. A wrong password fails with Dovecot's reply (b1, whose second passdb
#    knows that password, stays up).
# 4. b1 restarted without TLS, as an attacker on the path would strip
#    STARTTLS: no login in clear, b1 down; --require-tls fails b3.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"

command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
[ -x /usr/lib/dovecot/managesieve-login ] ||
	{ echo "dovecot-managesieved is not installed"; exit 77; }

B1=127.0.21.1 B2=127.0.21.2 B3=127.0.21.3 B4=127.0.21.4 DIR_IP=127.0.21.100
tb_init || tb_fail "tb_init"

# sieve_conf [TLS_PORT]: a sieve service on 4190 (and implicit TLS on
# TLS_PORT); no failure delay, no auth penalty, so a wrong password is
# answered at once, scan after scan.
sieve_conf() {
	cat <<-EOF
		protocols = imap pop3 lmtp sieve
		auth_failure_delay = 0
		service anvil {
		  unix_listener anvil-auth-penalty {
		    mode = 0
		  }
		}
		service managesieve-login {
		  inet_listener sieve {
		    port = 4190
		  }
		  $([ -n "${1:-}" ] && printf 'inet_listener sieves {\n    port = %s\n    ssl = yes\n  }' "$1")
		  service_count = 0
		  process_limit = 2
		}
		plugin {
		  sieve = file:~/sieve;active=~/.dovecot.sieve
		}
	EOF
}
# b1 also knows testuser with the password OtherPass (a second passdb).
echo "testuser:{PLAIN}OtherPass::::::" >"$TB_DIR/passwd.b1"
chmod 0644 "$TB_DIR/passwd.b1"
tb_backend_start b1 "$B1" "$(sieve_conf 5190)
passdb {
  driver = passwd-file
  args = scheme=PLAIN $TB_DIR/passwd.b1
}" || tb_fail "backend b1"
tb_backend_start b2 "$B2" "$(sieve_conf 5190)" || tb_fail "backend b2"
tb_backend_start b3 "$B3" "$(sieve_conf)
ssl = no" || tb_fail "backend b3"
tb_backend_start b4 "$B4" || tb_fail "backend b4"
tb_director_start "$DIR_IP" "$B1-$B4" "protocols = imap pop3 sieve
service managesieve-login {
  executable = managesieve-login director
  inet_listener sieve {
    port = 4190
  }
}" || tb_fail "director"

CRED=$TB_DIR/cred
# write_cred USER PASS
write_cred() {
	rm -f "$CRED"
	(umask 077 && printf '%s\n%s\n' "$1" "$2" >"$CRED")
}
# sieve_login IP USER: ManageSieve AUTHENTICATE PLAIN (password testpass)
# and LOGOUT; prints the reply to AUTHENTICATE.
sieve_login() {
	local b64
	b64=$(printf '\0%s\0%s' "$2" "$TB_PASS" | base64 -w0)
	timeout 15 bash -c '
		exec 3<>"/dev/tcp/$1/4190" || exit 1
		while IFS= read -r -t 5 l <&3; do
			case $l in OK*) break ;; NO* | BYE*) exit 1 ;; esac
		done
		printf "AUTHENTICATE \"PLAIN\" \"%s\"\r\n" "$2" >&3
		IFS= read -r -t 10 l <&3 || exit 1
		echo "${l%$'"'"'\r'"'"'}"
		printf "LOGOUT\r\n" >&3
		IFS= read -r -t 5 l <&3
		exit 0' _ "$1" "$b64"
}
ctl() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" "$@"; }
logins() { grep -c "managesieve-login: Info: Login: user=<$TB_USER>, method=PLAIN" "$TB_DIR/backend-$1/dovecot.log"; }
# Each poolmond run gets a log of its own, so no wait matches an older run.
RUN=0
restart_log() {
	pm_stop || tb_fail "poolmond exit"
	mv "$(pm_log)" "$(pm_log).$((++RUN))"
}
ARGS=(-d -i 1 -t 3 --retries 0 --max-down=100 -c "$CRED"
	--ssl-ca "$TB_DIR/ca.pem" --ssl-name backend.test)

# A user the director maps to b4: its ManageSieve login through the
# director fails, b4 having no sieve service.
victim=
for i in $(seq 1 20); do
	tb_user_login "user$i" "$TB_PASS" || tb_fail "IMAP login of user$i"
	[ "$(tb_user_backend "user$i")" = "$B4" ] && { victim=user$i; break; }
done
[ -n "$victim" ] || tb_fail "no user of 20 mapped to $B4"
r=$(sieve_login "$DIR_IP" "$victim")
[[ $r == NO* ]] || tb_fail "$victim's ManageSieve login through the director: '$r'"
tb_pass "$victim, mapped to $B4, cannot log in over ManageSieve: $r"

# 1. Plain port: STARTTLS where offered, then AUTHENTICATE.
write_cred "$TB_USER" "$TB_PASS"
pm_start "${ARGS[@]}" -p 4190
tb_wait_host_state "$B4" D 10 || tb_fail "$B4 (no sieve service) not taken down"
pm_wait_backend "$B4" '.health == "failed" and .reason == "SIEVE:4190 connect: Connection refused"' 5 ||
	tb_fail "$B4's reason"
for ip in "$B1" "$B2" "$B3"; do
	pm_wait_backend "$ip" '.health == "ok" and
	    [.checks[] | [.protocol, .port, .ok]] == [["SIEVE", 4190, true]]' 5 ||
		tb_fail "$ip not healthy on SIEVE:4190"
	tb_assert_eq "$(tb_host_state "$ip")" U "$ip up"
done
tb_pass "SIEVE:4190: b1-b3 ok, $B4 down: SIEVE:4190 connect: Connection refused"
for b in b1 b2; do
	grep -q "managesieve-login: Info: Login: user=<$TB_USER>, method=PLAIN.*, TLS" \
		"$TB_DIR/backend-$b/dovecot.log" || tb_fail "no ManageSieve login over TLS on $b"
done
# in_state LINE: the state file has LINE (it is written after the scan).
in_state() {
	for _ in $(seq 1 25); do
		grep -qx "$1" "$TB_DIR/state" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
for ip in "$B1" "$B2"; do
	in_state "tls	$ip" || tb_fail "the STARTTLS offer of $ip is not in the state file"
done
tb_pass "AUTHENTICATE through STARTTLS on b1 and b2; their offers in the state file"
[ "$(logins b3)" -ge 1 ] || tb_fail "no ManageSieve login on b3"
grep "managesieve-login: Info: Login: user=<$TB_USER>" "$TB_DIR/backend-b3/dovecot.log" |
	grep -q ', TLS' && tb_fail "b3 has no TLS, yet a login over TLS"
pm_wait_log "$B3 offers no STARTTLS/STLS: the check's credentials went in clear" 5 ||
	tb_fail "no cleartext note for $B3"
tb_pass "b3 (no TLS): AUTHENTICATE in clear, as IMAP and POP3 do, said once"

# Flushed: the user lands on a live backend, ManageSieve works for it.
for _ in $(seq 1 25); do
	[ "$(tb_user_backend "$victim")" != "$B4" ] && break
	sleep 0.2
done
r=$(sieve_login "$DIR_IP" "$victim")
tb_assert_eq "$r" 'OK "Logged in."' "$victim's ManageSieve login through the director"
now=$(tb_user_backend "$victim")
[ -n "$now" ] && [ "$now" != "$B4" ] || tb_fail "$victim mapped to '$now'"
tb_pass "$victim re-routed from $B4 to $now, ManageSieve through the director works"
restart_log

# 2. Implicit TLS: no port means SIEVE with it, so -s SIEVE:5190.
pm_start "${ARGS[@]}" -s SIEVE:5190
for ip in "$B1" "$B2"; do
	pm_wait_backend "$ip" '.health == "ok" and
	    [.checks[] | [.protocol, .port, .tls, .ok]] == [["SIEVE", 5190, true, true]]' 10 ||
		tb_fail "$ip not healthy on SIEVES:5190"
done
pm_wait_backend "$B3" '.health == "failed" and .reason == "SIEVES:5190 connect: Connection refused"' 5 ||
	tb_fail "$B3 on SIEVES:5190"
tb_pass "-s SIEVE:5190: implicit TLS passes on b1 and b2"
restart_log

# 3. A wrong password: Dovecot's reply is the reason; b1's second passdb
# takes that password, so b1 stays up while b2 goes down.
write_cred "$TB_USER" OtherPass
pm_start "${ARGS[@]}" -p 4190
tb_wait_host_state "$B2" D 10 || tb_fail "$B2 not down with a wrong password"
pm_wait_backend "$B2" '.health == "failed" and .reason == "SIEVE:4190 AUTHENTICATE: NO \"Authentication failed.\""' 5 ||
	tb_fail "$B2's reason for a wrong password"
pm_wait_backend "$B1" '.health == "ok"' 5 || tb_fail "$B1 failed with its own password"
tb_assert_eq "$(tb_host_state "$B1")" U "$B1 up: it takes that password"
tb_pass "wrong password: $B2 down, SIEVE:4190 AUTHENTICATE: NO \"Authentication failed.\""
restart_log

# 4. b1 without TLS: its offer is remembered, so no login in clear.
write_cred "$TB_USER" "$TB_PASS"
echo "ssl = no" >>"$TB_DIR/backend-b1/dovecot.conf"
tb_backend_restart b1 || tb_fail "restart b1 without TLS"
before=$(logins b1)
[ "$before" -ge 1 ] || tb_fail "no ManageSieve login on b1 before"
pm_start "${ARGS[@]}" -p 4190
tb_wait_host_state "$B1" D 10 || tb_fail "$B1 not taken down once STARTTLS went"
pm_wait_backend "$B1" '.reason == "SIEVE:4190 AUTHENTICATE: STARTTLS no longer offered (it was before): credentials not sent in clear"' 5 ||
	tb_fail "$B1's reason: $(ctl --json show "$B1" | jq -r '.backend.reason // .reason')"
tb_wait_host_state "$B2" U 10 || tb_fail "$B2 not back up with the right password"
scans=$(ctl --json status | jq .scans_completed)
pm_wait_json ".scans_completed >= $((scans + 2))" 10 || tb_fail "scans stopped"
tb_assert_eq "$(logins b1)" "$before" "no ManageSieve login reached $B1 without STARTTLS"
restart_log
pm_start "${ARGS[@]}" -p 4190 --require-tls
pm_wait_backend "$B3" '.health == "failed" and .reason == "SIEVE:4190 AUTHENTICATE: STARTTLS not offered: credentials are never sent without TLS (--require-tls)"' 10 ||
	tb_fail "$B3 with --require-tls"
pm_wait_backend "$B2" '.health == "ok"' 5 || tb_fail "$B2 (STARTTLS) not healthy with --require-tls"
tb_pass "--require-tls: $B3 fails, $B2 (STARTTLS) passes"
pm_stop || tb_fail "poolmond exit"
echo "t_checks_sieve: all passed"
exit 0
