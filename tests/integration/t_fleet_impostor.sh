#!/bin/bash
# The fleet authenticates both ends (issue 19 item 1). Monitors 1 and 2
# share the key; monitor 3 does not run.
# (a) An impostor at monitor 3's fleet address: a TLS 1.3 server with a
#     certificate and no key (openssl s_server, printing whatever it
#     reads). Asserts: monitors 1 and 2 show peer 3 not trusted, with the
#     error "authentication failed"; the impostor read not one byte (no
#     offer); monitors 1 and 2 trust each other, and a stopped backend
#     goes down on every director.
# (b) As server: a TLS 1.3 client without the key (openssl s_client) at
#     monitor 1's fleet port gets no handshake, so no offer.
# (c) A flood of keyless connections (tests/tools/fleetflood): 200 at each
#     of monitors 1 and 2 from 200 addresses that are no peer's, and 3
#     more from the other monitor's own address, held open without a byte
#     and opened again whenever closed. Asserts, while it lasts: each of
#     monitors 1 and 2 hears from the other again and again (last_seen
#     advances three times), and a backend stopped during the flood goes
#     down on every director.
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"
command -v ss >/dev/null || { echo "ss (iproute2) is not installed"; exit 77; }

FLOOD=$(tb_tool fleetflood)

fl_ring 100 4
M1=$(fl_addr 1) M3=$(fl_addr 3)
# -t 5: a keyless connection holds its slot for 5 s, as it may in production.
FL_ARGS=(-d -i 1 -t 5 --retries=0 -p 143 --max-down=100)

# (a) The impostor: stdin a FIFO that stays open (s_server ends at EOF on
# its stdin), stdout what it reads from its clients.
mkfifo "$TB_DIR/impostor.in" || tb_fail "mkfifo"
exec 7<>"$TB_DIR/impostor.in"
openssl s_server -tls1_3 -cert "$TB_DIR/server.pem" -key "$TB_DIR/server.key" \
	-accept "$M3" -quiet <&7 >"$TB_DIR/impostor.out" 2>"$TB_DIR/impostor.err" &
IMPOSTOR=$!
tb_track_pid "$IMPOSTOR"
exec 7>&-
for _ in $(seq 1 50); do _tb_port_open "${FL_DIR_IP[3]}" "$FL_PORT" && break; sleep 0.1; done
_tb_port_open "${FL_DIR_IP[3]}" "$FL_PORT" || tb_fail "the impostor does not listen: $(cat "$TB_DIR/impostor.err")"
fl_start 1
fl_start 2
for i in 1 2; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 20 || fl_fail "monitors 1 and 2 never trusted each other"
for i in 1 2; do
	fl_wait_json "$i" ".fleet.peers[] | select(.address == \"$M3\") |
	    .trusted == false and .error == \"authentication failed\"" 10 ||
		fl_fail "monitor $i does not refuse the impostor at $M3"
done
tb_pass "monitors 1 and 2: peer 3 (the impostor) not trusted, authentication failed"
# Each monitor knocks at every interval: a few more tries, still nothing.
fl_wait_more_scans 3 15 1 2 || fl_fail "a monitor stopped scanning"
tb_assert_eq "$(stat -c %s "$TB_DIR/impostor.out")" 0 "the impostor read no byte of an offer"
kill -0 "$IMPOSTOR" || tb_fail "the impostor died: $(cat "$TB_DIR/impostor.err")"
tb_backend_stop b1 || tb_fail "stop b1"
fl_wait_states "${FL_BACKEND[1]}" "D D D" 15 || fl_fail "b1 not taken down beside the impostor"
tb_pass "monitors 1 and 2 act normally beside the impostor"
for i in 1 2; do
	fl_wait_json "$i" ".fleet.peers[] | select(.address == \"$M3\") | .trusted == false" 1 ||
		fl_fail "monitor $i trusts the impostor"
done

# (b) A client without the key.
out=$(timeout 10 openssl s_client -tls1_3 -connect "$M1" </dev/null 2>&1)
[[ $out == *"Cipher is (NONE)"* ]] || fl_fail "a keyless client got a handshake from monitor 1: $out"
tb_pass "a keyless client gets no handshake from monitor 1"
kill "$IMPOSTOR"
tb_assert_eq "$(stat -c %s "$TB_DIR/impostor.out")" 0 "the impostor never read a byte"

# (c) The flood.
SECS=30
"$FLOOD" -r 100 -p "${FL_DIR_IP[2]}" -P 3 "${FL_DIR_IP[1]}" "$FL_PORT" 200 "$SECS" \
	>"$TB_DIR/flood1.out" 2>&1 &
F1=$!
tb_track_pid "$F1"
"$FLOOD" -r 100 -p "${FL_DIR_IP[1]}" -P 3 "${FL_DIR_IP[2]}" "$FL_PORT" 200 "$SECS" \
	>"$TB_DIR/flood2.out" 2>&1 &
F2=$!
tb_track_pid "$F2"
flooding() {
	ss -Htn state established "( dport = :$FL_PORT and dst $1 )" | grep -c ' 127\.0\.99\.'
}
for _ in $(seq 1 50); do
	grep -qs '^flooding' "$TB_DIR/flood1.out" && grep -qs '^flooding' "$TB_DIR/flood2.out" && break
	sleep 0.1
done
grep -qs '^flooding' "$TB_DIR/flood1.out" && grep -qs '^flooding' "$TB_DIR/flood2.out" ||
	tb_fail "the flood never got going"
echo "# established from the flood's addresses: $(flooding "${FL_DIR_IP[1]}") to monitor 1, $(flooding "${FL_DIR_IP[2]}") to monitor 2"
tb_pass "flood under way"
seen() { fl_json "$1" | jq --arg p "$(fl_addr "$2")" '.fleet.peers[] | select(.address == $p) | .last_seen // 0'; }
tb_backend_stop b2 || tb_fail "stop b2"
for _ in 1 2 3; do
	for i in 1 2; do
		j=$((3 - i))
		s=$(seen "$i" "$j")
		fl_wait_json "$i" ".fleet.peers[] | select(.address == \"$(fl_addr "$j")\") |
		    .trusted and .last_seen > $s" 5 ||
			fl_fail "monitor $i does not hear from monitor $j during the flood"
	done
done
tb_pass "monitors 1 and 2 keep exchanging during the flood"
fl_wait_states "${FL_BACKEND[2]}" "D D D" 10 || fl_fail "b2, stopped during the flood, not taken down"
tb_pass "b2, stopped during the flood, went down"
kill -0 "$F1" && kill -0 "$F2" || tb_fail "the flood ended before the checks: a longer one is needed"
kill "$F1" "$F2"
wait "$F1" "$F2"
echo "# flood at monitor 1: $(tail -n 1 "$TB_DIR/flood1.out"); at monitor 2: $(tail -n 1 "$TB_DIR/flood2.out")"
for i in 1 2; do kill -0 "${FL_PID[i]}" || tb_fail "monitor $i died"; done
for i in 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
