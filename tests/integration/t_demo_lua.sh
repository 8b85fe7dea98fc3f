#!/bin/bash
# "make demo-lua" (scripts/demo-lua.sh) runs to its end within 3 minutes
# and leaves nothing behind: its working directory removed, no firewall
# rule, no process of it. The demo checks each step itself (state 2 in
# the table, the rows gone, the session kicked, the next login elsewhere,
# state 0 again) and exits non-zero when one does not happen.
: "${POOLMOND:?}" "${POOLMONCTL:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

for p in dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-auth-lua \
	lua-dbi-sqlite3 sqlite3 iptables jq; do
	if [ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
		echo "$p is not installed (make test-deps)"
		exit 77
	fi
done

out=$(timeout -k 10 180 "$ROOT/scripts/demo-lua.sh" "$POOLMOND" "$POOLMONCTL" 2>&1 </dev/null)
rc=$?
while IFS= read -r l; do echo "    $l"; done <<<"$out"
[ "$rc" = 0 ] || fail "the demo exited $rc"
grep -q "^==> Demo finished.$" <<<"$out" || fail "the demo did not finish"
pass "the demo ran to its end (exit 0)"

dir=$(sed -n 's/^    working directory: \(\/tmp\/poolmon-tb\.[A-Za-z0-9]*\) .*/\1/p' <<<"$out")
[ -n "$dir" ] || fail "the demo named no working directory"
[ ! -e "$dir" ] || fail "$dir is left behind"
pass "its working directory $dir is removed"
if iptables -w 5 -S INPUT | grep -qF "poolmon-tb:${dir##*/}"; then
	fail "a firewall rule of the demo is left: $(iptables -w 5 -S INPUT | grep -F "poolmon-tb:${dir##*/}")"
fi
pass "no firewall rule left"
if pgrep -f -- "$dir" >/dev/null; then
	fail "processes left: $(pgrep -a -f -- "$dir")"
fi
pass "no process left"
