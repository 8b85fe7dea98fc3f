#!/bin/bash
# No HOST-DOWN without its intent on disk (issue 19 item 8). poolmond's
# state file lives on a tmpfs of its own (a private mount namespace: the
# mount never leaves poolmond's process), remounted read-only after the
# first scans. A backend stopped then: asserts that over several scans the
# real director shows it up and logged no HOST-DOWN for it, that poolmond
# keeps running and sees it failed (owner null: nothing recorded); once the
# tmpfs is writable again, the next scans take it down (director D, owner
# "poolmond", the state file records it).
. "$(dirname "$0")/../lib/testbed.sh"
. "$(dirname "$0")/../lib/poolmon.sh"
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
command -v unshare >/dev/null && command -v nsenter >/dev/null ||
	{ echo "unshare/nsenter (util-linux) not installed"; exit 77; }

B1=127.0.23.21 B2=127.0.23.22 B3=127.0.23.23
tb_init || tb_fail "tb_init"
for i in 1 2 3; do
	tb_backend_start "b$i" "127.0.23.2$i" || tb_fail "backend b$i"
done
tb_director_start 127.0.23.20 "$B1-$B3" || tb_fail "director"
ST=$TB_DIR/st
mkdir -p "$ST" || tb_fail "mkdir $ST"

# poolmond in a mount namespace of its own, with a tmpfs on $ST there.
cat >"$TB_DIR/pm-wrap" <<EOF || tb_fail "wrapper"
#!/bin/sh
exec unshare -m --propagation private sh -c \
	'mount -t tmpfs -o size=1m,mode=0755 tmpfs "\$0" && exec "\$@"' \
	"$ST" "$POOLMOND" "\$@"
EOF
chmod +x "$TB_DIR/pm-wrap"
REAL=$POOLMOND
POOLMOND="$TB_DIR/pm-wrap"
pm_start -d -i 1 -t 1 --retries=0 --max-down=100 -p 143 \
	--state-file "$ST/state"
POOLMOND=$REAL
in_ns() { nsenter -t "$PM_PID" -m "$@"; }
backend() { "$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq -c --arg ip "$1" ".backends[] | select(.address == \$ip) | $2"; }
pm_wait_json '.scans_completed >= 1 and .backends_failed == 0' 15 || tb_fail "first scan"
tb_assert_eq "$(in_ns findmnt -n -o FSTYPE "$ST")" tmpfs "poolmond's state directory is its own tmpfs"
[ -z "$(findmnt -n "$ST")" ] || tb_fail "the tmpfs is visible outside poolmond's namespace"

in_ns mount -o remount,ro "$ST" || tb_fail "remount read-only"
in_ns sh -c ": >'$ST/probe'" 2>/dev/null && tb_fail "the state directory is still writable"
tb_pass "state directory read-only"
n=$("$POOLMONCTL" -s "$TB_DIR/ctl.sock" --json status | jq .scans_completed)
tb_backend_stop b2 || tb_fail "stop b2"
pm_wait_backend "$B2" '.health == "failed"' 10 || tb_fail "$B2 never seen failed"
pm_wait_json ".scans_completed >= $((n + 5))" 15 || tb_fail "poolmond stopped scanning"
kill -0 "$PM_PID" || tb_fail "poolmond died with its state file unwritable"
tb_assert_eq "$(tb_host_state "$B2")" U "$B2 still up on the director: no HOST-DOWN without its intent"
tb_assert_eq "$(grep -Ec "doveadm: Host $B2 changed down" "$TB_DIR/director/dovecot.log")" 0 \
	"the director logged no HOST-DOWN for $B2"
tb_assert_eq "$(backend "$B2" .owner)" null "$B2 is not recorded as poolmond's"

in_ns mount -o remount,rw "$ST" || tb_fail "remount read-write"
tb_wait_host_state "$B2" D 10 || tb_fail "$B2 not taken down once the state file is writable"
pm_wait_backend "$B2" '.owner == "poolmond"' 5 || tb_fail "$B2 not poolmond's"
in_ns grep -q "$B2" "$ST/state" || tb_fail "the state file does not record $B2: $(in_ns cat "$ST/state")"
tb_pass "once writable, $B2 went down, recorded as poolmond's"
tb_assert_eq "$(tb_host_state "$B1") $(tb_host_state "$B3")" "U U" "the healthy backends stay up"
pm_stop || tb_fail "poolmond did not stop cleanly"
