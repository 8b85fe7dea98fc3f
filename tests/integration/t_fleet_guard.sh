#!/bin/bash
# --max-down holds across the fleet (issue 19 item 7). Three monitors with
# --max-down=50; four backends b1-b4 in one tag, two healthy ones b5-b6 in
# another (so not every backend fails). The addresses are chosen so that
# b3 and b4 are monitor 2's to act on, b1 and b2 monitors 1's and 3's.
# Monitor 2 alone sees b3 and b4 fail for a few scans first (its checks of
# them blocked: a fault on its path, not enough for a quorum), so that its
# own failure counts rank them first; then all four hang for everyone
# (TCP dropped, so every scan's checks take the --timeout and the
# monitors decide on what their directors showed when the scan began).
# Asserts: exactly two of the four end down on the directors, and it
# stays two over several intervals; b5 and b6 stay up. (Each monitor
# sparing in an order of its own, the fleet took three or four down.)
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fl_ring 180 6
QUAD=("${FL_BACKEND[@]:1:4}")
for b in 5 6; do
	ip=${FL_BACKEND[b]}
	_fl_dcmd 1 HOST-REMOVE "$ip" >/dev/null && _fl_dcmd 1 HOST-SET "$ip@other" 100 >/dev/null ||
		tb_fail "tag b$b"
done
tagged() {
	local i
	for i in 1 2 3; do
		[ "$(_fl_dcmd "$i" HOST-LIST | awk -F'\t' '$4 == "other"' | wc -l)" = 2 ] || return 1
	done
}
for _ in $(seq 1 50); do tagged && break; sleep 0.2; done
tagged || tb_fail "b5 and b6 not tagged 'other' on every director"
# quad_down: how many of b1-b4 director I shows down.
quad_down() {
	local b n=0
	for b in "${QUAD[@]}"; do [ "$(fl_dir_state "$1" "$b")" = D ] && n=$((n + 1)); done
	echo "$n"
}

FL_ARGS=(-d -i 1 -t 1 --retries=0 -p 143 --max-down=50)
for i in 1 2 3; do fl_start "$i"; done
for i in 1 2 3; do fl_wait_scans "$i" 1; done
fl_wait_trusted 1 2 3 20 || fl_fail "the monitors never trusted each other"
for b in 1 2 3 4; do
	a=$(fl_wait_actor "${FL_BACKEND[b]}" 10) || fl_fail "no agreed actor for b$b"
	echo "# b$b ${FL_BACKEND[b]}: actor monitor $a"
	got[b]=$a
done
[ "${got[3]}${got[4]}" = 22 ] && [ "${got[1]}" != 2 ] && [ "${got[2]}" != 2 ] ||
	fl_fail "the actors are not as this test's addresses were chosen for"

# Monitor 2 alone sees b3 and b4 fail for a few scans.
for b in 3 4; do fl_block "${FL_DIR_IP[2]}" "${FL_BACKEND[b]}" || tb_fail "block"; done
fl_wait_json 2 "[.backends[] | select(.address == \"${FL_BACKEND[3]}\" or .address == \"${FL_BACKEND[4]}\") |
    .health] == [\"failed\", \"failed\"]" 10 || fl_fail "monitor 2 does not see b3 and b4 fail"
fl_wait_more_scans 3 15 2 || fl_fail "monitor 2 stopped scanning"
tb_assert_eq "$(quad_down 1)" 0 "none down while only monitor 2 sees b3 and b4 fail"

for b in "${QUAD[@]}"; do tb_block "$b" || tb_fail "block $b"; done
tb_pass "b1-b4 hang for every monitor"
for _ in $(seq 1 75); do [ "$(quad_down 1)" -ge 2 ] && break; sleep 0.2; done
[ "$(quad_down 1)" -ge 2 ] || fl_fail "the failed backends never went down"
fl_wait_more_scans 4 30 1 2 3 || fl_fail "a monitor stopped scanning"
for i in 1 2 3; do
	tb_assert_eq "$(quad_down "$i")" 2 "director $i: exactly 2 of the 4 failed backends down"
done
for b in "${QUAD[@]}"; do echo "# $b: $(fl_states "$b")"; done
fl_wait_more_scans 3 30 1 2 3 || fl_fail "a monitor stopped scanning"
for i in 1 2 3; do
	tb_assert_eq "$(quad_down "$i")" 2 "director $i: still 2 down after several more intervals"
done
for b in 5 6; do
	tb_assert_eq "$(fl_states "${FL_BACKEND[b]}")" "U U U" "b$b (the other tag) stays up"
done
for i in 3 2 1; do fl_kill "$i" || tb_fail "monitor $i did not stop"; done
