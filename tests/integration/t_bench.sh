#!/bin/bash
# make bench in small: scripts/bench.sh with 10 backends (its detection
# runs use the 7th and the 9th), one scan, a 3 s interval for detection,
# the detection table at 10 backends in two rounds, and the floor section
# at 10 backends in one turn. It must print a full row (figures, not "-"
# or "> limit"), 10 forks a scan, no backend failed, detection of the
# stopped and the blackholed backend, the detection table's row in full
# (each column a figure or a "median [min-max]": every round saw its
# backend's verdict and HOST-DOWN), the calibration lines with
# check_floor and check_floor_at_once, poolmond's row against the floor
# (CPU per backend, its ratio, idle and scan memory), its like-for-like
# row (one check at a time against check_floor, a recheck against
# check_floor_at_once), the plain idle memory, the paired table (two
# pairs of each kind: rechecks, spread, one at a time, each a figure
# and its ratios to both floors) and the line saying poolmon 0.7 was not
# run, and exit 0.
# Figures are not judged: the benchmark reports, it never fails on one.
# runs long
. "$(dirname "$0")/../lib/testbed.sh"

detect_log=$(mktemp)
trap 'rm -f "$detect_log"' EXIT
out=$(BENCH_DETECT_LOG=$detect_log BENCH_SIZES=10 BENCH_SCANS=1 BENCH_INTERVAL=3 BENCH_FLOOR_N=10 BENCH_FLOOR_ROUNDS=1 BENCH_FLOOR_INTERVAL=2 BENCH_FLOOR_PAIRS=2 \
	BENCH_DETECT_SIZES=10 BENCH_DETECT_ROUNDS=2 \
	"$(dirname "$0")/../../scripts/bench.sh" "$BUILD" 2>&1)
rc=$?
tb_assert_eq "$rc" 0 "bench.sh exit status"
# The sizes' table comes first, the detection table after its header.
row=$(sed '/^Detection at /q' <<<"$out" | grep -E '^\| +10 \|') ||
	tb_fail "no row for N = 10: $out"
# | N | cpu | per | dovecot | wall | MiB | child | forks | failed | st | st busy | stopped | black |
num='[0-9]+(\.[0-9]+)?'
IFS='|' read -r _ n cpu perb server wall mib child forks failed lat busylat stopped black _ <<<"$row"
for f in "$cpu" "$perb" "$server" "$wall" "$mib" "$child" "$lat" "$busylat" "$stopped" "$black"; do
	[[ $(echo $f) =~ ^$num$ ]] || tb_fail "not a figure: '$f' in $row"
done
tb_assert_eq "$(echo $forks)" 10 "forks per scan"
tb_assert_eq "$(echo $failed)" 0 "backends failed"
# Detection: at most interval + (retries + 1) x timeout + a scan, not the limit.
awk -v s="$stopped" -v b="$black" 'BEGIN { exit !(s > 0 && s <= 3 + 20 + 5 && b > 0 && b <= 3 + 20 + 5) }' ||
	tb_fail "detection: stopped $stopped s, blackhole $black s: $out
poolmond's log of the detection runs, the blackholed 127.1.0.9 and the spawn server:
$(grep -aE '127\.1\.0\.9|spawn|scan' "$detect_log" | tail -60)"
# | N | -i | checks/interval | check ms | alive median | alive max |
# expected | first scan max | failed check s | bound s | to verdict s |
# to HOST-DOWN s | verdict to HOST-DOWN ms | director's own ms | window ms |
grep -qE '^Detection at -i 3 ' <<<"$out" || tb_fail "no detection table: $out"
det=$(sed -n '/^Detection at /,$p' <<<"$out" | grep -E '^\| +10 \|') ||
	tb_fail "no detection row for N = 10: $out"
fig='[0-9]+\.[0-9]+ \[[0-9.]+-[0-9.]+\]'
int='[0-9]+ \[[0-9]+-[0-9]+\]'
IFS='|' read -r _ n i checks t alive_med alive_max expected first failedc bound \
	verdict down after director window _ <<<"$det"
tb_assert_eq "$(echo $n) $(echo $i)" "10 3" "detection row's size and interval"
for f in "$checks" "$alive_med" "$alive_max" "$first" "$window"; do
	[[ $(echo $f) =~ ^[0-9]+$ ]] || tb_fail "not a count: '$f' in $det"
done
for f in "$t" "$expected" "$failedc" "$bound"; do
	[[ $(echo $f) =~ ^$num$ ]] || tb_fail "not a figure: '$f' in $det"
done
for f in "$verdict" "$down"; do
	[[ $(echo $f) =~ ^$fig$ ]] || tb_fail "not a median [min-max] of seconds: '$f' in $det"
done
for f in "$after" "$director"; do
	[[ $(echo $f) =~ ^$int$ ]] || tb_fail "not a median [min-max] of ms: '$f' in $det"
done
tb_pass "detection row: $(echo $det | tr -s ' ')"
grep -q '^Machine floor' <<<"$out" && grep -qE '^  tls_fresh [0-9.]+ ms ' <<<"$out" &&
	grep -qE '^  check_floor [0-9.]+ ms ' <<<"$out" &&
	grep -qE '^  check_floor_at_once [0-9.]+ ms ' <<<"$out" || tb_fail "no machine floor: $out"
# | this | ms [..] | x [..] | ms, spread [..] | x, spread [..] | idle RSS [..] |
#   idle private [..] | scan RSS [..] | scan private [..] |
#   spawn server idle RSS [..] | its private [..] | PSS of both [..] |
grep -qE "^\| this \| $fig \| $fig \| $fig \| $fig \| $fig \| $fig \| $fig \| $fig \| $fig \| $fig \| $fig \|$" <<<"$out" ||
	tb_fail "no row of poolmond against the floor: $out"
grep -qE '^Idle with .*RSS [0-9.]+ MiB, private [0-9.]+ MiB \(its spawn server: RSS [0-9.]+ MiB, private [0-9.]+ MiB\)$' <<<"$out" ||
	tb_fail "no idle memory of the plain configuration: $out"
# Like for like: | this | one at a time [..] | x check_floor [..] |
#   all at once [..] | x check_floor_at_once [..] |
grep -q '^Like for like: ' <<<"$out" &&
	sed -n '/^Like for like: /,$p' <<<"$out" |
	grep -qE "^\| this \| $fig \| $fig \| $fig \| $fig \|$" ||
	tb_fail "no like-for-like row of poolmond against the floor: $out"
# Paired: | kind | pairs | ms [..] | check_floor [..] | x [..] | sums |
#   check_floor_at_once [..] | x [..] | sums |
paired=$(sed -n '/^Paired with the floor: /,$p' <<<"$out")
for kind in rechecks spread "one at a time"; do
	grep -qE "^\| $kind \| 2 \| $fig \| $fig \| $fig \| $num \| $fig \| $fig \| $num \|$" <<<"$paired" ||
		tb_fail "no paired row of $kind with two pairs: $out"
done
grep -q '^poolmon 0.7, the Perl script: not run ' <<<"$out" ||
	tb_fail "no line on poolmon 0.7: $out"
tb_pass "floor: $(grep -E '^\| this \|' <<<"$out" | tr -s ' ')"
tb_pass "paired: $(grep -E '^\| rechecks \|' <<<"$paired" | tr -s ' ')"
tb_pass "bench row: $(echo $row | tr -s ' ')"
echo "t_bench: all passed"
exit 0
