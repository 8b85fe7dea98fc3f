#!/bin/bash
# The man pages: clean under "mandoc -Tlint -Wwarning"; poolmond.8 names
# every option poolmond --help lists and every check status of check.c;
# poolmonctl.8 names every command and option of poolmonctl --help.
# runs without root
: "${POOLMOND:?}" "${POOLMONCTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$ROOT/man/poolmond.8 C=$ROOT/man/poolmonctl.8

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v mandoc >/dev/null || { echo "mandoc is not installed"; exit 77; }

out=$(mandoc -Tlint -Wwarning "$D" "$C" 2>&1)
rc=$?
[ "$rc" -eq 0 ] && [ -z "$out" ] || fail "mandoc -Tlint (exit $rc): $out"
pass "mandoc -Tlint -Wwarning: nothing to report"

for sec in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" "SEE ALSO"; do
	grep -q "^\.Sh $sec\$" "$D" || fail "poolmond.8 lacks $sec"
	grep -q "^\.Sh $sec\$" "$C" || fail "poolmonctl.8 lacks $sec"
done
for sec in SIGNALS FILES DIAGNOSTICS; do
	grep -q "^\.Sh $sec\$" "$D" || fail "poolmond.8 lacks $sec"
done
for sec in COMMANDS EXAMPLES; do
	grep -q "^\.Sh $sec\$" "$C" || fail "poolmonctl.8 lacks $sec"
done
pass "sections"

# Every option of --help, long and short, in the OPTIONS list.
missing=
for o in $("$POOLMOND" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
	grep -q "^\.It .*Fl \\\\${o#-}\( \|\$\)" "$D" || missing+=" $o"
done
for o in $("$POOLMOND" --help | grep -o -- '^  -[a-zA-Z],' | tr -d ' ,' | sort -u); do
	grep -q "^\.It Fl ${o#-}\( \|\$\)" "$D" || missing+=" $o"
done
[ -z "$missing" ] || fail "poolmond.8 does not document:$missing"
pass "poolmond.8 documents every option of poolmond --help"

# Every check status string of check.c in DIAGNOSTICS.
missing=
while IFS= read -r s; do
	grep -qx "\.It $s" "$D" || missing+=" '$s'"
done < <(sed -n 's/^\t\[CHECK_[A-Z]*\] = "\(.*\)",$/\1/p' "$ROOT/poolmond/check.c")
[ -n "$(sed -n 's/^\t\[CHECK_[A-Z]*\] = "\(.*\)",$/\1/p' "$ROOT/poolmond/check.c")" ] ||
	fail "no status strings found in check.c"
[ -z "$missing" ] || fail "poolmond.8 DIAGNOSTICS lacks:$missing"
pass "poolmond.8 lists every check status"

missing=
for cmd in status show recheck dry-run reload version hold release metrics; do
	grep -q "^\.It Ic $cmd\( \|\$\)" "$C" || missing+=" $cmd"
	"$POOLMONCTL" --help | grep -q "^  $cmd\b" || fail "poolmonctl --help lacks $cmd"
done
for o in $("$POOLMONCTL" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
	grep -q "^\.It .*Fl \\\\${o#-}\( \|\$\)" "$C" || missing+=" $o"
done
[ -z "$missing" ] || fail "poolmonctl.8 does not document:$missing"
pass "poolmonctl.8 documents every command and option"
echo "t_man: all passed"
exit 0
